"""Statistics per visible set: what a server's BM25 scores are computed from.

A server sees the bundled passages and its own (only its own with the bundled article turned off;
a DM only the bundled ones). Its scores are BM25Okapi over exactly those passages: the number of
passages, the average length and each term's idf come from them alone, so another server's
documents change nothing it is shown (issue 16).

The index keeps counts per owner (BUNDLED or one server): passages, total length, and each term's
document frequency and first occurrence. A view adds up its owners' counts for the query's terms
only. The one figure that needs the whole visible vocabulary is rank_bm25's average idf (the idf
it gives terms in more than half the passages), with the ranking floor and largest idf; a view
computes those once per index, in linear time, and the index caches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from bot.engine.bm25 import CHUNK_TOKENS, Postings, okapi_idfs, okapi_term_idf, row_runs

# The ranking floor when no term has a positive idf (see index._idf_floor).
EMPTY_FLOOR = 0.1


@dataclass(frozen=True)
class OwnerCounts:
    """Counts per owner. Owner i's terms are entries ``ptr[i]:ptr[i + 1]``, ascending by term."""

    owner_ids: np.ndarray  # int64, ascending
    passages: np.ndarray  # int64 per owner
    lengths: np.ndarray  # int64 per owner: terms in all its passages
    ptr: np.ndarray  # int64, one more than the owners
    term: np.ndarray  # int32 per entry
    df: np.ndarray  # int64 per entry: the owner's passages that have the term
    first: np.ndarray  # int64 per entry: index position of the term's first occurrence in them
    by_first: np.ndarray  # int64 entry numbers, each owner's in order of first occurrence

    @classmethod
    def count(
        cls,
        postings: Postings,
        first_position: np.ndarray,
        guild_ids: np.ndarray,
        doc_len: np.ndarray,
        *,
        chunk_postings: int = CHUNK_TOKENS,
    ) -> OwnerCounts:
        """The counts of an index from its postings (and their first positions, ``build_postings``).

        Postings are counted a run of terms at a time (``CHUNK_TOKENS`` postings): no copy of
        every posting's owner, term and first position at once, and no numpy call long enough
        to hold the GIL for more than a few milliseconds."""
        owner_ids, owner_of_row = np.unique(guild_ids, return_inverse=True)
        owner_of_row = owner_of_row.astype(np.int64)
        ptr = postings.ptr
        owners, terms, dfs, firsts = [], [], [], []
        for first_term, last_term in row_runs(ptr, chunk_postings):
            start, end = int(ptr[first_term]), int(ptr[last_term])
            if start == end:
                continue
            span = last_term - first_term
            local_term = np.repeat(np.arange(span, dtype=np.int64), np.diff(ptr[first_term : last_term + 1]))
            key = owner_of_row[postings.passage[start:end]]
            key *= span
            key += local_term
            # Stable: a term's postings in one owner stay in passage order, so the first holds
            # the term's first occurrence there.
            order = np.argsort(key, kind="stable")
            key = key[order]
            new_entry = np.empty(len(key), bool)
            new_entry[0] = True
            new_entry[1:] = key[1:] != key[:-1]
            starts = np.flatnonzero(new_entry)
            owner, term = np.divmod(key[starts], span)
            owners.append(owner)
            terms.append((term + first_term).astype(np.int32))
            dfs.append(np.diff(np.append(starts, len(key))))
            firsts.append(first_position[start + order[starts]])
        if not owners:
            owners, terms, dfs, firsts = [np.zeros(0, np.int64)], [np.zeros(0, np.int32)], [np.zeros(0, np.int64)], [np.zeros(0, first_position.dtype)]
        # Runs are ascending ranges of terms: a stable sort by owner leaves each owner's entries by term.
        entry_owner = np.concatenate(owners)
        by_owner = np.argsort(entry_owner, kind="stable")
        entry_owner = entry_owner[by_owner]
        first = np.concatenate(firsts)[by_owner]
        entries = np.zeros(len(owner_ids) + 1, np.int64)
        np.cumsum(np.bincount(entry_owner, minlength=len(owner_ids)), out=entries[1:])
        return cls(
            owner_ids=owner_ids.astype(np.int64),
            passages=np.bincount(owner_of_row, minlength=len(owner_ids)).astype(np.int64),
            lengths=np.bincount(owner_of_row, weights=doc_len, minlength=len(owner_ids)).astype(np.int64),
            ptr=entries,
            term=np.concatenate(terms)[by_owner],
            df=np.concatenate(dfs)[by_owner].astype(np.int64),
            first=first,
            by_first=np.lexsort((first, entry_owner)).astype(np.int64),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> OwnerCounts:
        counts = cls(**{field.name: arrays[field.name] for field in fields(cls)})
        sound = (
            len(counts.passages) == len(counts.lengths) == len(counts.owner_ids) == len(counts.ptr) - 1
            and counts.ptr[0] == 0
            and counts.ptr[-1] == len(counts.term) == len(counts.df) == len(counts.first) == len(counts.by_first)
        )
        if not sound:
            raise ValueError("owner counts that do not fit together")
        return counts

    def _position(self, owner_id: int) -> int | None:
        """Where ``owner_id`` is among the owners (None: it has no passages)."""
        at = int(np.searchsorted(self.owner_ids, np.int64(owner_id)))
        return at if at < len(self.owner_ids) and self.owner_ids[at] == owner_id else None

    def segment(self, owner_id: int) -> slice | None:
        """Where ``owner_id``'s entries are (None: it has no passages)."""
        at = self._position(owner_id)
        return None if at is None else slice(int(self.ptr[at]), int(self.ptr[at + 1]))

    def owner_passages(self, owner_id: int) -> tuple[int, int]:
        """(passages, total length) of one owner."""
        at = self._position(owner_id)
        return (0, 0) if at is None else (int(self.passages[at]), int(self.lengths[at]))


@dataclass(frozen=True)
class Statistics:
    """What one visible set's scores are computed from."""

    passages: int
    avgdl: float
    epsilon_idf: float  # rank_bm25's idf for a term in more than half the passages
    floor: float  # the ranking's lowest idf (index._idf_floor)
    max_idf: float  # the largest ranking idf
    segments: tuple[tuple[np.ndarray, np.ndarray], ...]  # each owner's (terms, dfs)

    def document_frequency(self, term_id: int) -> int:
        total = 0
        for terms, dfs in self.segments:
            # A scalar of the array's type: a Python int makes searchsorted convert the whole array.
            at = int(np.searchsorted(terms, terms.dtype.type(term_id)))
            if at < len(terms) and terms[at] == term_id:
                total += int(dfs[at])
        return total

    def okapi_idf(self, term_id: int) -> float | None:
        """rank_bm25's idf over the visible passages; None when none of them has the term."""
        if term_id < 0:
            return None
        df = self.document_frequency(term_id)
        if not df:
            return None
        idf = okapi_term_idf(self.passages, df)
        return self.epsilon_idf if idf < 0 else idf


def statistics_of(counts: OwnerCounts, owner_ids: Sequence[int], epsilon: float) -> Statistics:
    """The statistics of the passages of ``owner_ids`` (one or two owners), exactly rank_bm25's."""
    passages = lengths = 0
    for owner_id in owner_ids:
        n, length = counts.owner_passages(owner_id)
        passages, lengths = passages + n, lengths + length
    spans = [span for span in (counts.segment(o) for o in owner_ids) if span is not None]
    segments = tuple((counts.term[span], counts.df[span]) for span in spans)
    # rank_bm25: avgdl = num_doc / corpus_size, both ints.
    avgdl = lengths / passages if passages else 0.0
    dfs = _dfs_in_first_occurrence_order(counts, spans)
    if not len(dfs):
        return Statistics(passages, avgdl, 0.0, EMPTY_FLOOR, 1.0, segments)
    idf, epsilon_idf = okapi_idfs(dfs, passages, epsilon)
    idf = np.where(idf < 0, epsilon_idf, idf)
    positive = idf[idf > 0]
    floor = float(positive.min()) / 2 if len(positive) else EMPTY_FLOOR
    return Statistics(passages, avgdl, epsilon_idf, floor, float(max(idf.max(), floor)), segments)


def _dfs_in_first_occurrence_order(counts: OwnerCounts, spans: list[slice]) -> np.ndarray:
    """Every visible term's document frequency, in order of its first occurrence in the visible
    passages (the order of rank_bm25's idf dict). Linear in the larger owner's terms."""
    if not spans:
        return np.zeros(0, np.int64)
    spans = sorted(spans, key=lambda span: span.stop - span.start, reverse=True)
    big = spans[0]
    ordered = counts.by_first[big]
    if len(spans) == 1:
        return counts.df[ordered]
    if len(spans) > 2:
        raise ValueError("a server sees at most two owners' passages")
    small = spans[1]
    big_terms, small_terms = counts.term[big], counts.term[small]
    # Terms both owners have: one entry, with both counts and the earlier first occurrence.
    at = np.minimum(np.searchsorted(big_terms, small_terms), max(len(big_terms) - 1, 0))
    shared = big_terms[at] == small_terms if len(big_terms) else np.zeros(len(small_terms), bool)
    df = counts.df[small].copy()
    first = counts.first[small].copy()
    df[shared] += counts.df[big][at[shared]]
    first[shared] = np.minimum(first[shared], counts.first[big][at[shared]])
    # The larger owner's order without the shared terms, and the smaller's terms put in at their
    # first occurrence (positions are distinct, so the order is total).
    dropped = np.zeros(big.stop - big.start, bool)
    dropped[at[shared]] = True
    kept = ordered[~dropped[ordered - big.start]]
    by_first = np.argsort(first, kind="stable")
    where = np.searchsorted(counts.first[kept], first[by_first])
    return np.insert(counts.df[kept], where, df[by_first])
