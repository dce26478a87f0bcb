"""The searchable index over all stored passages: analyzer terms, the BM25 core, and the
retrieval rules layered on top of it (who may see what, idf floor, candidates).

An index is immutable. Adding or removing documents makes a new one (``with_changes``), off the
event loop, and the engine swaps it in with one assignment; questions asked meanwhile are
answered from the old one.

A server searches a ``View``: the passages it sees, scored with their own statistics
(bot/engine/visible.py), so nothing it is shown depends on another server's documents.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.engine import analyzer, incremental
from bot.engine.bm25 import BM25Core, build_postings, rank
from bot.engine.maxscore import MaxScore
from bot.engine.visible import EMPTY_FLOOR, OwnerCounts, Statistics, statistics_of
from bot.store import BUNDLED, PassageRecord


# Follow-ups: an earlier question's terms count this much of the question's own, and a passage of
# the document the conversation is about counts this much more, so "why did it reopen?" after a
# question about the library prefers the library's passage when it matches too.
CONTEXT_WEIGHT = 0.3
PREFERRED_DOC_FACTOR = 1.5


def indexed_text(passage: PassageRecord) -> str:
    """What a passage is found by: its text, its section heading, and the title for the first."""
    parts = [passage.text]
    if passage.section:
        parts.append(passage.section)
    if passage.ordinal == 0:
        parts.append(passage.title)
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    row: int  # position in the index
    passage_id: int
    doc_id: int
    score: float


class PassageIndex:
    """Arrays only (no per-passage Python objects): memory grows with tokens, not passages."""

    def __init__(
        self,
        tokens: np.ndarray,
        offsets: np.ndarray,
        vocabulary: list[str],
        passage_ids: np.ndarray,
        doc_ids: np.ndarray,
        guild_ids: np.ndarray,
        *,
        k1: float,
        b: float,
        core: BM25Core | None = None,
        owners: OwnerCounts | None = None,
        term_ids: dict[str, int] | None = None,
    ) -> None:
        self.tokens, self.offsets = tokens, offsets
        self.vocabulary = vocabulary
        self.term_ids = {term: i for i, term in enumerate(vocabulary)} if term_ids is None else term_ids
        self.passage_ids, self.doc_ids, self.guild_ids = passage_ids, doc_ids, guild_ids
        self.k1, self.b = k1, b
        # A core and counts loaded from a snapshot skip recomputing the postings (the slow part of a build).
        if core is None or owners is None:
            postings, first_position = build_postings(tokens, offsets, len(vocabulary))
            doc_len = np.diff(offsets).astype(np.int64)
            core = BM25Core.from_postings(doc_len, postings, k1=k1, b=b)
            owners = OwnerCounts.count(postings, first_position, guild_ids, doc_len)
        self.core, self.owners = core, owners
        self.maxscore = MaxScore(core)  # the k best of the core's scores, pruned
        self.floor = _idf_floor(self.core.idf)
        self.ranking_idf = np.maximum(self.core.idf, self.floor)
        self._statistics: dict[tuple[int, ...], Statistics] = {}  # per visible set, made on first use
        self._visible_rows: dict[tuple[int, ...], np.ndarray] = {}  # the same sets' rows, ascending

    def __len__(self) -> int:
        return len(self.passage_ids)

    # -- building ------------------------------------------------------------------------

    @classmethod
    def build(cls, passages: Iterable[PassageRecord], *, k1: float, b: float) -> PassageIndex:
        builder = IndexBuilder()
        builder.add(passages)
        return builder.finish(k1=k1, b=b)

    @classmethod
    def empty(cls, *, k1: float, b: float) -> PassageIndex:
        none = np.zeros(0, np.int64)
        return cls(np.zeros(0, np.int32), np.zeros(1, np.int64), [], none, none, none, k1=k1, b=b)

    def with_changes(
        self, *, added: Iterable[PassageRecord] = (), removed_docs: Iterable[int] = ()
    ) -> PassageIndex:
        """A new index without the passages of ``removed_docs`` and with ``added`` appended.

        Costs analyzing ``added`` and a few copies of the arrays (bot/engine/incremental.py),
        not a build: adding a document at 100k passages takes a tenth of a second."""
        builder = IndexBuilder()
        builder.add(added)
        return builder.finish(self, removed_docs=removed_docs)

    def _with_appended(self, builder: IndexBuilder) -> PassageIndex:
        """This index with the builder's passages appended (their terms numbered in the builder's
        own vocabulary, which is in order of first occurrence in them)."""
        if not len(builder.lengths):
            return self
        if not len(self):
            return builder.finish(k1=self.k1, b=self.b)
        known = len(self.vocabulary)
        term_id = np.fromiter((self.term_ids.get(term, -1) for term in builder.vocabulary), np.int64, len(builder.vocabulary))
        # Terms new to the index first occur in the appended passages: numbered after every known one.
        new = np.flatnonzero(term_id < 0)
        term_id[new] = known + np.arange(len(new))
        new_terms = [builder.vocabulary[i] for i in new.tolist()]
        vocabulary = self.vocabulary + new_terms
        term_ids = dict(self.term_ids)
        term_ids.update(zip(new_terms, range(known, known + len(new_terms))))

        tokens = term_id[np.frombuffer(builder.tokens, dtype=np.int32)].astype(np.int32)
        lengths = np.frombuffer(builder.lengths, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        start = len(self.tokens)
        postings, added, first_position = incremental.appended_postings(
            self.core.postings, tokens, offsets, len(self), len(vocabulary)
        )
        guild_ids = np.frombuffer(builder.guild_ids, dtype=np.int64)
        later = OwnerCounts.count(added, first_position + start, guild_ids, lengths)
        doc_len = np.concatenate([self.core.doc_len, lengths])
        return PassageIndex(
            np.concatenate([self.tokens, tokens]),
            np.concatenate([self.offsets, start + offsets[1:]]),
            vocabulary,
            np.concatenate([self.passage_ids, np.frombuffer(builder.passage_ids, dtype=np.int64)]),
            np.concatenate([self.doc_ids, np.frombuffer(builder.doc_ids, dtype=np.int64)]),
            np.concatenate([self.guild_ids, guild_ids]),
            k1=self.k1,
            b=self.b,
            core=BM25Core.from_postings(doc_len, postings, k1=self.k1, b=self.b, epsilon=self.core.epsilon),
            owners=incremental.appended_counts(self.owners, later),
            term_ids=term_ids,
        )

    def _without(self, removed_docs: Iterable[int]) -> PassageIndex:
        """This index without the passages of ``removed_docs``."""
        keep = ~np.isin(self.doc_ids, np.fromiter(removed_docs, np.int64))
        if keep.all():
            return self
        if not keep.any():
            return PassageIndex.empty(k1=self.k1, b=self.b)
        removal = incremental.Removal(self, keep)
        return PassageIndex(
            removal.tokens,
            removal.offsets,
            removal.vocabulary,
            self.passage_ids[keep],
            self.doc_ids[keep],
            self.guild_ids[keep],
            k1=self.k1,
            b=self.b,
            core=BM25Core.from_postings(removal.doc_len, removal.postings, k1=self.k1, b=self.b, epsilon=self.core.epsilon),
            owners=removal.counts,
            term_ids=removal.term_ids,
        )

    def documents_present(self, doc_ids: Sequence[int]) -> set[int]:
        """Which of ``doc_ids`` have passages in this index."""
        if not len(doc_ids) or not len(self):
            return set()
        wanted = np.array(doc_ids, np.int64)
        return set(wanted[np.isin(wanted, self.doc_ids)].tolist())

    # -- searching -----------------------------------------------------------------------

    def term_ids_of(self, terms: Sequence[str]) -> list[int]:
        """Term ids for the core, -1 for terms no passage has."""
        return [self.term_ids.get(term, -1) for term in terms]

    def known_terms(self, terms: Iterable[str]) -> set[str]:
        """Terms some passage of any server has (``View.knows`` for one server's)."""
        return {term for term in terms if term in self.term_ids}

    def idf(self, term: str) -> float:
        """The ranking idf of a term over every passage (the rarest possible for an unknown term)."""
        term_id = self.term_ids.get(term)
        if term_id is None:
            return self.max_idf
        return float(self.ranking_idf[term_id])

    @property
    def max_idf(self) -> float:
        """The largest ranking idf (a term in one passage): scales idf-based features to 0..1."""
        return float(self.ranking_idf.max()) if len(self.ranking_idf) else 1.0

    def visible(self, guild_id: int | None, *, bundled: bool = True) -> np.ndarray:
        """Which passages a server sees: the bundled corpus and its own (only bundled in DMs).

        ``bundled=False``: a server whose admins turned the bundled article off sees only its own.
        """
        seen = np.zeros(len(self), bool)
        for owner in _owners(guild_id, bundled):
            seen |= self.guild_ids == owner
        return seen

    def has_statistics(self, guild_id: int | None, *, bundled: bool = True) -> bool:
        """Whether ``view`` has this server's statistics already (else it computes them)."""
        return _owners(guild_id, bundled) in self._statistics

    def view(self, guild_id: int | None, *, bundled: bool = True, everything: bool = False) -> View:
        """What ``guild_id`` sees, scored with the statistics of only that (``visible``).
        ``everything``: every server's passages (the command line and evaluation)."""
        if everything:
            return View(self, None, None)
        owners = _owners(guild_id, bundled)
        statistics = self._statistics.get(owners)
        if statistics is None:
            statistics = self._statistics[owners] = statistics_of(self.owners, owners, self.core.epsilon)
        rows = self._visible_rows.get(owners)
        if rows is None:  # kept per visible set (the index never changes): no pass over every passage per question
            rows = self._visible_rows[owners] = np.flatnonzero(self.visible(guild_id, bundled=bundled))
        return View(self, rows, statistics)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Ranking scores over every passage: BM25Okapi with the idf floor (see ``_idf_floor``)."""
        return self.core.scores(self.term_ids_of(terms), idf=self.ranking_idf)

    def search(
        self, terms: Sequence[str], k: int, *, guild_id: int | None, everything: bool = False, bundled: bool = True
    ) -> list[Hit]:
        """The k best passages that contain at least one of ``terms`` and that ``guild_id`` sees."""
        return self.view(guild_id, bundled=bundled, everything=everything).search(terms, k)

    def search_documents(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best documents (all servers), each ranked by its best passage: (doc id, score)."""
        if not len(self) or not terms:
            return []
        scores = self.scores(terms)
        rows = np.flatnonzero(scores > 0)
        order = rows[np.lexsort((rows, -scores[rows]))]  # best passage first, ties by position
        _, first = np.unique(self.doc_ids[order], return_index=True)
        best_rows = order[np.sort(first)][:k]
        return [(int(self.doc_ids[row]), float(scores[row])) for row in best_rows]


class View:
    """The passages one server sees (``rows``, their positions ascending; None: all) and their
    statistics (None: every passage's, the core's own). Made per question; cheap."""

    def __init__(self, index: PassageIndex, rows: np.ndarray | None, statistics: Statistics | None) -> None:
        self.index, self.rows, self.statistics = index, rows, statistics

    def __len__(self) -> int:
        return len(self.index) if self.rows is None else len(self.rows)

    def _okapi_idf(self, term_id: int) -> float | None:
        """rank_bm25's idf of a term over what this view sees; None when nothing it sees has it."""
        if term_id < 0:
            return None
        if self.statistics is None:
            return float(self.index.core.idf[term_id])
        return self.statistics.okapi_idf(term_id)

    @property
    def _floor(self) -> float:
        return self.index.floor if self.statistics is None else self.statistics.floor

    @property
    def _avgdl(self) -> float:
        return self.index.core.avgdl if self.statistics is None else self.statistics.avgdl

    @property
    def max_idf(self) -> float:
        """The largest ranking idf (a term in one passage): scales idf-based features to 0..1."""
        return self.index.max_idf if self.statistics is None else self.statistics.max_idf

    def knows(self, term: str) -> bool:
        """Whether a passage this view sees has ``term``."""
        return self._okapi_idf(self.index.term_ids.get(term, -1)) is not None

    def idf(self, term: str) -> float:
        """The ranking idf of a term (the rarest possible for one no passage here has)."""
        idf = self._okapi_idf(self.index.term_ids.get(term, -1))
        return self.max_idf if idf is None else max(idf, self._floor)

    def okapi_scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25Okapi's scores over the passages seen (the other rows' numbers mean nothing)."""
        return self._scores(terms, floored=False)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Ranking scores: BM25Okapi with the idf floor (see ``_idf_floor``)."""
        return self._scores(terms, floored=True)

    def _scores(self, terms: Sequence[str], *, floored: bool) -> np.ndarray:
        return self.index.core.weighted_scores(self._weighted(terms, floored=floored), self._avgdl)

    def _weighted(self, terms: Sequence[str], *, floored: bool) -> list[tuple[int, float]]:
        """(term id, idf) of the terms this view knows, in query order."""
        weighted = []
        for term_id in self.index.term_ids_of(terms):
            idf = self._okapi_idf(term_id)
            if idf is not None:
                weighted.append((term_id, max(idf, self._floor) if floored else idf))
        return weighted

    def _matching(self, scores: np.ndarray) -> np.ndarray:
        # every matching passage scores > 0 thanks to the idf floor
        if self.rows is None:
            return np.flatnonzero(scores > 0)
        return self.rows[scores[self.rows] > 0]

    def _hits(self, scores: np.ndarray, k: int, candidates: np.ndarray) -> list[Hit]:
        index = self.index
        ranked = rank(scores, k, candidates)
        return [Hit(row, int(index.passage_ids[row]), int(index.doc_ids[row]), score) for row, score in ranked]

    def search(self, terms: Sequence[str], k: int) -> list[Hit]:
        """The k best passages seen that contain at least one of ``terms``."""
        if not len(self.index) or not terms:
            return []
        index = self.index
        # Exactly rank_positive over the full scores, mostly without computing them (maxscore.py).
        ranked = index.maxscore.top_positive(self._weighted(terms, floored=True), self._avgdl, k, self.rows)
        return [Hit(row, int(index.passage_ids[row]), int(index.doc_ids[row]), score) for row, score in ranked]

    def search_in_conversation(
        self, terms: Sequence[str], k: int, *, context_terms: Sequence[str], prefer_docs: Iterable[int]
    ) -> list[Hit]:
        """Like ``search``, for a follow-up: only passages with one of the question's own ``terms``,
        ranked with the earlier questions' terms at CONTEXT_WEIGHT and the conversation's
        documents (``prefer_docs``) raised by PREFERRED_DOC_FACTOR."""
        if not len(self.index) or not terms:
            return []
        scores = self.scores(terms)
        candidates = self._matching(scores)
        if context_terms:
            scores = scores + CONTEXT_WEIGHT * self.scores(context_terms)
        doc_ids = self.index.doc_ids
        preferred = np.isin(doc_ids, np.fromiter(prefer_docs, dtype=doc_ids.dtype))
        scores = np.where(preferred, scores * PREFERRED_DOC_FACTOR, scores)
        return self._hits(scores, k, candidates)


def _owners(guild_id: int | None, bundled: bool) -> tuple[int, ...]:
    """Whose passages a server sees: the bundled ones and its own (DMs: the bundled ones)."""
    if guild_id is None or guild_id == BUNDLED:
        return (BUNDLED,)
    return (BUNDLED, guild_id) if bundled else (guild_id,)


class IndexBuilder:
    """Analyzes passages into arrays a batch at a time, so a build never holds every passage's
    text: the engine streams the store's passages through ``add`` and then calls ``finish``.

    Terms are numbered as they first occur, which is the order rank_bm25 gives its idf (bm25.py),
    so a whole build's index takes the builder's tokens and vocabulary as they are."""

    def __init__(self) -> None:
        self.vocabulary: list[str] = []
        self.term_ids: dict[str, int] = {}
        # array.array, not lists: turning a list of millions of ints into numpy is one C call
        # that holds the GIL for ~100 ms and stalls the event loop; these buffers are shared as is.
        self.tokens = array.array("i")
        self.lengths = array.array("q")
        self.passage_ids = array.array("q")
        self.doc_ids = array.array("q")
        self.guild_ids = array.array("q")
        self.finished = False

    def add(self, passages: Iterable[PassageRecord]) -> None:
        if self.finished:
            # The finished index holds this builder's vocabulary and term ids: a new term here
            # would give the index a term id past its arrays.
            raise RuntimeError("IndexBuilder.add after finish: the index holds this builder's buffers")
        term_ids, vocabulary = self.term_ids, self.vocabulary
        for passage in passages:
            terms = analyzer.analyze(indexed_text(passage))
            for term in terms:
                if term not in term_ids:
                    term_ids[term] = len(vocabulary)
                    vocabulary.append(term)
            self.tokens.extend([term_ids[term] for term in terms])
            self.lengths.append(len(terms))
            self.passage_ids.append(passage.id)
            self.doc_ids.append(passage.doc_id)
            self.guild_ids.append(passage.guild_id)

    def finish(self, base: PassageIndex | None = None, *, removed_docs: Iterable[int] = (), k1: float = 1.5, b: float = 0.75) -> PassageIndex:
        """The index: ``base`` (if any) without ``removed_docs``, then the passages added here.
        The builder can not be added to afterwards."""
        self.finished = True
        if base is not None and len(base):
            return base._without(removed_docs)._with_appended(self)
        if base is not None:
            k1, b = base.k1, base.b
        # A whole build: the index's arrays, vocabulary and term ids are the builder's, not copies.
        tokens = np.frombuffer(self.tokens, dtype=np.int32)
        lengths = np.frombuffer(self.lengths, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return PassageIndex(
            tokens,
            offsets,
            self.vocabulary,
            np.frombuffer(self.passage_ids, dtype=np.int64),
            np.frombuffer(self.doc_ids, dtype=np.int64),
            np.frombuffer(self.guild_ids, dtype=np.int64),
            k1=k1,
            b=b,
            term_ids=self.term_ids,
        )


def _idf_floor(idf: np.ndarray) -> float:
    """The lowest ranking idf, so a matching passage never loses to a non-matching one.

    BM25Okapi gives a term in exactly half the passages idf 0, and more common terms
    epsilon * average idf, which is negative when the average is (rank_bm25 issues #29, #39):
    in a one-article corpus "talks" would then push a passage down for containing it.
    The floor is half the smallest positive idf, which keeps rarer terms weighing more
    (bot/engine/visible.py computes the same per visible set).
    """
    positive = idf[idf > 0]
    return float(positive.min()) / 2 if len(positive) else EMPTY_FLOOR
