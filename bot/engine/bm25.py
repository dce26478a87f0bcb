"""The BM25 core: rank_bm25's BM25Okapi scores, computed from postings instead of a Python loop.

``BM25Okapi.get_scores`` walks every passage for every query term (about 350 ms a question at
100k passages). This index keeps the same statistics in arrays and adds up, per query term,
rank_bm25's term weight over only the passages that contain the term. The scores are the same
floating-point numbers as ``BM25Okapi.get_scores`` on the same terms: the idf is ``_calc_idf``'s
arithmetic (on the document frequencies in the order rank_bm25 would see them), and the
per-posting arithmetic is rank_bm25's expression, term by term, in query order.
tests/engine/test_bm25.py checks this against BM25Okapi on random corpora.

Ranking ties (equal scores) are broken by passage position: the earlier passage first. Finding
the k best without scoring every posting is bot/engine/maxscore.py's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


TF_PARTS_KEPT = 64  # tf-part tables kept per core: one per average length (server view) in use


@dataclass(frozen=True, slots=True)
class Postings:
    """Inverted lists in CSR form: term t's passages are ``passage[ptr[t]:ptr[t + 1]]``.

    A posting's weight depends only on its term frequency and its passage's length, and few such
    pairs occur; each posting names its pair (``shape``), so a set of passages with its own
    average length (a server's, bot/engine/visible.py) computes one weight per pair, not per posting.
    """

    ptr: np.ndarray  # int64, one more than the number of terms
    passage: np.ndarray  # int32, passage positions, ascending within each term
    shape: np.ndarray  # int32 per posting: its (tf, length) pair, an index into shape_tf and shape_dl
    shape_tf: np.ndarray  # int64 per pair: how often the term is in the passage
    shape_dl: np.ndarray  # int64 per pair: the passage's length


# Passages are turned into postings this many tokens at a time: each step then holds numpy's
# temporaries for half a million tokens, not for every token, and each numpy call that keeps the
# GIL (np.repeat, np.unique's bookkeeping) keeps it a few milliseconds, not hundreds.
CHUNK_TOKENS = 1 << 19


def row_runs(ptr: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Runs of consecutive rows of a CSR ``ptr`` (passages of ``offsets``, terms of postings)
    holding at most ``size`` entries each (a larger row alone)."""
    rows = len(ptr) - 1
    found, first = [], 0
    while first < rows:
        last = int(np.searchsorted(ptr, ptr[first] + size, side="right")) - 1
        last = min(max(last, first + 1), rows)
        found.append((first, last))
        first = last
    return found


def build_postings(
    tokens: np.ndarray, offsets: np.ndarray, vocabulary_size: int, *, chunk_tokens: int = CHUNK_TOKENS
) -> tuple[Postings, np.ndarray]:
    """The postings of passages given as term ids, and for each posting the position in ``tokens``
    of the term's first occurrence in that passage (the index orders terms per server with it).

    Two passes over runs of passages (``CHUNK_TOKENS``): the first finds each run's postings,
    sorted by term, and counts every term's passages; the second copies each run's postings to
    where its terms' lists continue. Runs come in passage order, so each list ends up in passage
    order, as one sort of every token by term would leave it, without that sort's copies.
    """
    corpus_size = len(offsets) - 1
    doc_len = np.diff(offsets).astype(np.int64)
    stride = int(doc_len.max()) + 1 if corpus_size else 1  # (tf, length) pairs as tf * stride + length
    df = np.zeros(vocabulary_size, np.int64)
    runs, pair_keys = [], []
    for first, last in row_runs(offsets, chunk_tokens):
        start, end = int(offsets[first]), int(offsets[last])
        size = end - start
        if not size:
            continue
        # Term-major, position-minor keys are distinct, so a plain sort orders by term, then position.
        key = tokens[start:end].astype(np.int64)
        key *= size
        key += np.arange(size)
        key.sort()
        term = key // size
        position = key - term * size
        passage = np.repeat(np.arange(first, last, dtype=np.int32), doc_len[first:last])[position]
        new_pair = np.empty(size, bool)
        new_pair[0] = True
        new_pair[1:] = (term[1:] != term[:-1]) | (passage[1:] != passage[:-1])
        starts = np.flatnonzero(new_pair)
        pair_term = term[starts]
        pair_passage = passage[starts]
        tf = np.diff(np.append(starts, size)).astype(np.int32)
        first_at = position[starts].astype(np.int32)  # from the run's start: half the memory of int64
        del key, term, position, passage, new_pair
        new_term = np.empty(len(starts), bool)
        new_term[0] = True
        new_term[1:] = pair_term[1:] != pair_term[:-1]
        term_starts = np.flatnonzero(new_term)
        terms = pair_term[term_starts]
        counts = np.diff(np.append(term_starts, len(starts)))
        df[terms] += counts
        pair_keys.append(np.unique(tf.astype(np.int64) * stride + doc_len[pair_passage]))
        runs.append((start, terms, counts, pair_passage, tf, first_at))
    ptr = np.zeros(vocabulary_size + 1, np.int64)
    np.cumsum(df, out=ptr[1:])
    del df
    pairs = np.unique(np.concatenate(pair_keys)) if pair_keys else np.zeros(0, np.int64)
    total = int(ptr[-1])
    passage = np.empty(total, np.int32)
    shape = np.empty(total, np.int32)
    first_position = np.empty(total, np.int64)
    filled = ptr[:-1].copy()  # where each term's list continues
    runs.reverse()
    while runs:  # popped as copied: a run's arrays are freed as soon as they are in place
        start, terms, counts, pair_passage, tf, first_at = runs.pop()
        # A run's postings of one term go to consecutive places, in the run's (passage) order.
        at = np.repeat(filled[terms] - (np.cumsum(counts) - counts), counts)
        at += np.arange(len(at))
        filled[terms] += counts
        passage[at] = pair_passage
        shape[at] = np.searchsorted(pairs, tf.astype(np.int64) * stride + doc_len[pair_passage])
        first_position[at] = first_at + np.int64(start)
    postings = Postings(ptr, passage, shape, pairs // stride, pairs % stride)
    return postings, first_position


def okapi_term_idf(corpus_size: int, document_frequency: int) -> float:
    """rank_bm25's idf of one term before its floor (the expression of ``BM25Okapi._calc_idf``)."""
    return math.log(corpus_size - document_frequency + 0.5) - math.log(document_frequency + 0.5)


def okapi_idf(document_frequencies: Sequence[int], corpus_size: int, epsilon: float) -> np.ndarray:
    """rank_bm25's idf for terms 0..V-1 (negative idfs floored to epsilon * average idf).

    The numbers are exactly ``BM25Okapi._calc_idf``'s: each distinct document frequency's idf is
    its expression (``okapi_term_idf``), and the average adds the idfs one by one in the order
    of the dict rank_bm25 builds (first occurrence in the corpus, which term ids follow), without
    its Python loop over every term (0.3 s at 69,000 terms).
    """
    idf, epsilon_idf = okapi_idfs(np.asarray(document_frequencies, dtype=np.int64), corpus_size, epsilon)
    return np.where(idf < 0, epsilon_idf, idf)


def okapi_idfs(dfs: np.ndarray, corpus_size: int, epsilon: float) -> tuple[np.ndarray, float]:
    """(each term's idf before the floor, the floor epsilon * average idf) for document
    frequencies ``dfs`` given in rank_bm25's order (first occurrence)."""
    if not len(dfs):
        return np.zeros(0), 0.0
    # Terms sharing a document frequency share an idf, so each is computed once, with math.log.
    distinct = np.flatnonzero(np.bincount(dfs))
    table = np.zeros(int(distinct[-1]) + 1)
    for df in distinct.tolist():
        table[df] = okapi_term_idf(corpus_size, df)
    idf = table[dfs]
    average = float(np.add.accumulate(idf)[-1]) / len(idf)  # accumulate adds left to right, as the loop
    return idf, epsilon * average


class BM25Core:
    """Exact BM25Okapi over passages given as arrays of term ids.

    ``tokens`` holds every passage's term ids back to back; passage i is
    ``tokens[offsets[i]:offsets[i + 1]]``. Term ids must be numbered in order of first
    occurrence in ``tokens`` (see ``okapi_idf``).
    """

    def __init__(
        self,
        tokens: np.ndarray,
        offsets: np.ndarray,
        vocabulary_size: int,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
    ) -> None:
        postings, _ = build_postings(tokens, offsets, vocabulary_size)
        self._set(np.diff(offsets).astype(np.int64), postings, None, k1=k1, b=b, epsilon=epsilon)

    @classmethod
    def from_postings(
        cls, doc_len: np.ndarray, postings: Postings, *, k1: float, b: float, epsilon: float = 0.25
    ) -> BM25Core:
        """A core over postings already built (``build_postings``)."""
        core = cls.__new__(cls)
        core._set(doc_len, postings, None, k1=k1, b=b, epsilon=epsilon)
        return core

    @classmethod
    def from_arrays(
        cls, *, doc_len: np.ndarray, idf: np.ndarray, postings: Postings, k1: float, b: float, epsilon: float = 0.25
    ) -> BM25Core:
        """A core from the arrays a previous one computed (an index snapshot), without recomputing."""
        core = cls.__new__(cls)
        core._set(doc_len, postings, idf, k1=k1, b=b, epsilon=epsilon)
        return core

    def _set(self, doc_len: np.ndarray, postings: Postings, idf: np.ndarray | None, *, k1: float, b: float, epsilon: float) -> None:
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self._tf_parts_at = _tf_parts_cache(postings, k1, b)
        self.doc_len = doc_len
        self.corpus_size = len(doc_len)
        self.vocabulary_size = len(postings.ptr) - 1
        self.postings = postings
        # rank_bm25: avgdl = num_doc / corpus_size, with num_doc the sum of lengths (an int).
        self.avgdl = int(doc_len.sum()) / self.corpus_size if self.corpus_size else 0.0
        if idf is None:
            if self.corpus_size and self.vocabulary_size:
                idf = okapi_idf(np.diff(postings.ptr), self.corpus_size, epsilon)
            else:  # nothing to find (rank_bm25 would divide by 0)
                idf = np.zeros(self.vocabulary_size)
        self.idf = idf

    def term_postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(passages, term frequencies) of one term."""
        postings = self.postings
        lo, hi = postings.ptr[term], postings.ptr[term + 1]
        return postings.passage[lo:hi], postings.shape_tf[postings.shape[lo:hi]]

    def tf_parts(self, avgdl: float) -> np.ndarray:
        """rank_bm25's tf part of each (tf, length) pair at average length ``avgdl`` (read-only)."""
        return self._tf_parts_at(avgdl)

    def scores(self, query_terms: Sequence[int], idf: np.ndarray | None = None) -> np.ndarray:
        """Every passage's score, equal to ``BM25Okapi.get_scores`` on the same terms.

        Unknown terms are given as -1 and add nothing, as in rank_bm25. ``idf`` lets a caller
        substitute its own idf per term (the quality layer does); by default rank_bm25's.
        """
        idf = self.idf if idf is None else idf
        return self.weighted_scores([(term, float(idf[term])) for term in query_terms if term >= 0], self.avgdl)

    def weighted_scores(self, weighted_terms: Sequence[tuple[int, float]], avgdl: float) -> np.ndarray:
        """Every passage's sum of idf * rank_bm25's tf part over (term, idf) pairs, in order, with
        average length ``avgdl``: a server's scores use its own idfs and average (bot/engine/visible.py)."""
        postings = self.postings
        if not weighted_terms:
            return np.zeros(self.corpus_size)
        parts = self.tf_parts(avgdl)
        ptr = postings.ptr
        total = sum(int(ptr[term + 1] - ptr[term]) for term, _ in weighted_terms)
        # Every term's postings back to back, then one bincount: it adds each passage's parts in
        # the order given (the terms' order) starting from 0.0, so the sums are the same floats
        # as adding term by term, and faster (2.0 to 0.8 ms a question at 100k passages).
        rows = np.empty(total, np.intp)  # bincount's own index type: no conversion copy
        weights = np.empty(total)
        at = 0
        for term, idf in weighted_terms:
            lo, hi = ptr[term], ptr[term + 1]
            rows[at : at + hi - lo] = postings.passage[lo:hi]
            np.multiply(idf, parts[postings.shape[lo:hi]], out=weights[at : at + hi - lo])
            at += hi - lo
        return np.bincount(rows, weights=weights, minlength=self.corpus_size).astype(np.float64, copy=False)


def _tf_parts_cache(postings: Postings, k1: float, b: float) -> Callable[[float], np.ndarray]:
    """rank_bm25's tf part of each (tf, length) pair by average length, the TF_PARTS_KEPT last used
    kept. A table is made by the first search that needs it, on whatever thread that runs:
    functools.lru_cache stays consistent when threads fill it at once (two may each make the same
    table). The function holds the postings, not the core, so no reference cycle keeps an old
    core's arrays alive after an index change."""

    @functools.lru_cache(maxsize=TF_PARTS_KEPT)
    def tf_parts(avgdl: float) -> np.ndarray:
        # rank_bm25's expression, operation for operation on the same integer types: its floats.
        q_freq, doc_len = postings.shape_tf, postings.shape_dl
        parts = q_freq * (k1 + 1) / (q_freq + k1 * (1 - b + b * doc_len / avgdl))
        parts.flags.writeable = False  # shared by every search at this average length
        return parts

    return tf_parts


# Above this many passages, rank_positive first finds a threshold from a sample of them.
_SAMPLE_ABOVE = 50_000
_SAMPLE_SIZE = 10_000


def rank_positive(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
    """``rank`` over the passages scoring above 0 (of ``rows``, ascending positions, if given),
    without gathering and partitioning all of them.

    The k-th best positive score of an evenly spaced sample of them is at most the k-th best of
    all, so every passage of the top k (ties at the boundary included) scores at least that:
    only those are ranked. Exact; at a million passages it ranks about a thousand.
    """
    everywhere = rows is None or len(rows) == len(scores)  # every passage: no gather needed
    count = len(scores) if everywhere else len(rows)
    threshold = None
    if count > _SAMPLE_ABOVE and k > 0:
        step = count // _SAMPLE_SIZE
        sample = scores[::step] if everywhere else scores[rows[::step]]
        positive = sample[sample > 0]
        if len(positive) >= k:
            threshold = np.partition(positive, len(positive) - k)[len(positive) - k]
    if everywhere:
        return rank(scores, k, np.flatnonzero(scores >= threshold if threshold is not None else scores > 0))
    values = scores[rows]
    return rank(scores, k, rows[values >= threshold if threshold is not None else values > 0])


def rank(scores: np.ndarray, k: int, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Top k of ``scores`` (restricted to ``candidates`` if given): score desc, then position asc."""
    idx = np.arange(len(scores)) if candidates is None else candidates
    return rank_rows(idx, scores[idx], k)


def rank_rows(idx: np.ndarray, values: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Top k of passages ``idx`` (distinct positions) scoring ``values``: score desc, then position asc."""
    if k <= 0 or len(idx) == 0:
        return []
    if k < len(idx):
        threshold = np.partition(values, len(values) - k)[len(values) - k]
        keep = values >= threshold
        idx, values = idx[keep], values[keep]
    order = np.lexsort((idx, -values))[:k]
    return [(int(idx[i]), float(values[i])) for i in order]
