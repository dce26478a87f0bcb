"""The searchable index over all stored passages: analyzer terms, the BM25 core, and the
retrieval rules layered on top of it (who may see what, idf floor, candidates).

An index is immutable. Adding or removing documents makes a new one (``with_changes``), off the
event loop, and the engine swaps it in with one assignment; questions asked meanwhile are
answered from the old one.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.engine import analyzer
from bot.engine.bm25 import BM25Core, rank
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
    ) -> None:
        self.tokens, self.offsets = tokens, offsets
        self.vocabulary = vocabulary
        self.term_ids = {term: i for i, term in enumerate(vocabulary)}
        self.passage_ids, self.doc_ids, self.guild_ids = passage_ids, doc_ids, guild_ids
        self.k1, self.b = k1, b
        # A core loaded from a snapshot skips recomputing the postings (the slow part of a build).
        self.core = core if core is not None else BM25Core(tokens, offsets, len(vocabulary), k1=k1, b=b)
        self.ranking_idf = _floored_idf(self.core.idf)

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
        """A new index without the passages of ``removed_docs`` and with ``added`` appended."""
        builder = IndexBuilder(self.vocabulary)
        builder.add(added)
        return builder.finish(self, removed_docs=removed_docs)

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
        return {term for term in terms if term in self.term_ids}

    def idf(self, term: str) -> float:
        """The ranking idf of a term (the rarest possible for an unknown term)."""
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
        if guild_id is None:
            return self.guild_ids == BUNDLED
        if not bundled:
            return self.guild_ids == guild_id
        return (self.guild_ids == BUNDLED) | (self.guild_ids == guild_id)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Ranking scores: BM25Okapi with the idf floor (see ``_floored_idf``)."""
        return self.core.scores(self.term_ids_of(terms), idf=self.ranking_idf)

    def search(
        self, terms: Sequence[str], k: int, *, guild_id: int | None, everything: bool = False, bundled: bool = True
    ) -> list[Hit]:
        """The k best passages that contain at least one of ``terms`` and that ``guild_id`` sees.

        ``everything`` searches all servers' passages (the command line and evaluation).
        """
        if not len(self) or not terms:
            return []
        scores = self.scores(terms)
        matched = scores > 0  # every matching passage scores > 0 thanks to the idf floor
        if not everything:
            matched &= self.visible(guild_id, bundled=bundled)
        ranked = rank(scores, k, np.flatnonzero(matched))
        return [Hit(row, int(self.passage_ids[row]), int(self.doc_ids[row]), score) for row, score in ranked]

    def search_in_conversation(
        self,
        terms: Sequence[str],
        k: int,
        *,
        context_terms: Sequence[str],
        prefer_docs: Iterable[int],
        guild_id: int | None,
        everything: bool = False,
        bundled: bool = True,
    ) -> list[Hit]:
        """Like ``search``, for a follow-up: only passages with one of the question's own ``terms``,
        ranked with the earlier questions' terms at CONTEXT_WEIGHT and the conversation's
        documents (``prefer_docs``) raised by PREFERRED_DOC_FACTOR."""
        if not len(self) or not terms:
            return []
        scores = self.scores(terms)
        matched = scores > 0
        if not everything:
            matched &= self.visible(guild_id, bundled=bundled)
        if context_terms:
            scores = scores + CONTEXT_WEIGHT * self.scores(context_terms)
        preferred = np.isin(self.doc_ids, np.fromiter(prefer_docs, dtype=self.doc_ids.dtype))
        scores = np.where(preferred, scores * PREFERRED_DOC_FACTOR, scores)
        ranked = rank(scores, k, np.flatnonzero(matched))
        return [Hit(row, int(self.passage_ids[row]), int(self.doc_ids[row]), score) for row, score in ranked]

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


class IndexBuilder:
    """Analyzes passages into arrays a batch at a time, so a build never holds every passage's
    text: the engine streams the store's passages through ``add`` and then calls ``finish``."""

    def __init__(self, vocabulary: Sequence[str] = ()) -> None:
        self.vocabulary = list(vocabulary)
        self.term_ids = {term: i for i, term in enumerate(self.vocabulary)}
        # array.array, not lists: turning a list of millions of ints into numpy is one C call
        # that holds the GIL for ~100 ms and stalls the event loop; these buffers are shared as is.
        self.tokens = array.array("i")
        self.lengths = array.array("q")
        self.passage_ids = array.array("q")
        self.doc_ids = array.array("q")
        self.guild_ids = array.array("q")

    def add(self, passages: Iterable[PassageRecord]) -> None:
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
        """The index: ``base`` (if any) without ``removed_docs``, then the passages added here."""
        base = base if base is not None else PassageIndex.empty(k1=k1, b=b)
        keep = ~np.isin(base.doc_ids, np.fromiter(removed_docs, np.int64))
        tokens = base.tokens[np.repeat(keep, np.diff(base.offsets))]
        lengths = np.diff(base.offsets)[keep]
        tokens = np.concatenate([tokens, np.frombuffer(self.tokens, dtype=np.int32)])
        lengths = np.concatenate([lengths, np.frombuffer(self.lengths, dtype=np.int64)])
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens, vocabulary = _renumber_by_first_occurrence(tokens, self.vocabulary)

        def joined(old: np.ndarray, new: array.array) -> np.ndarray:
            return np.concatenate([old[keep], np.frombuffer(new, dtype=np.int64)])

        return PassageIndex(
            tokens,
            offsets,
            vocabulary,
            joined(base.passage_ids, self.passage_ids),
            joined(base.doc_ids, self.doc_ids),
            joined(base.guild_ids, self.guild_ids),
            k1=base.k1,
            b=base.b,
        )


def _floored_idf(idf: np.ndarray) -> np.ndarray:
    """rank_bm25's idf with a positive floor, so a matching passage never loses to a non-matching one.

    BM25Okapi gives a term in exactly half the passages idf 0, and more common terms
    epsilon * average idf, which is negative when the average is (rank_bm25 issues #29, #39):
    in a one-article corpus "talks" would then push a passage down for containing it.
    The floor is half the smallest positive idf, which keeps rarer terms weighing more.
    """
    positive = idf[idf > 0]
    floor = float(positive.min()) / 2 if len(positive) else 0.1
    return np.maximum(idf, floor)


def _renumber_by_first_occurrence(tokens: np.ndarray, vocabulary: list[str]) -> tuple[np.ndarray, list[str]]:
    """Drop unused terms and number the rest by first occurrence, as rank_bm25 orders its idf."""
    if len(tokens) == 0:
        return tokens, []
    used, first = np.unique(tokens, return_index=True)
    order = used[np.argsort(first, kind="stable")]
    new_id = np.full(len(vocabulary), -1, np.int32)
    new_id[order] = np.arange(len(order), dtype=np.int32)
    return new_id[tokens], [vocabulary[i] for i in order]
