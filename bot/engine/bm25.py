"""The BM25 core: rank_bm25's BM25Okapi scores, computed from postings instead of a Python loop.

``BM25Okapi.get_scores`` walks every passage for every query term (about 350 ms a question at
100k passages). This index keeps the same statistics in arrays and adds up, per query term,
precomputed ``tf`` parts over only the passages that contain the term. The scores are the same
floating-point numbers as ``BM25Okapi.get_scores`` on the same terms: the idf comes from
rank_bm25's own ``_calc_idf`` (fed the document frequencies in the order rank_bm25 would see
them), and the per-posting arithmetic is rank_bm25's expression, term by term, in query order.
tests/engine/test_bm25.py checks this against BM25Okapi on random corpora.

Ranking ties (equal scores) are broken by passage position: the earlier passage first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi


@dataclass(frozen=True, slots=True)
class Postings:
    """Inverted lists in CSR form: term t's passages are ``passage[ptr[t]:ptr[t + 1]]``."""

    ptr: np.ndarray  # int64, one more than the number of terms
    passage: np.ndarray  # int32, passage positions, ascending within each term
    tf_part: np.ndarray  # float64, rank_bm25's  tf*(k1+1) / (tf + k1*(1-b+b*dl/avgdl))


def okapi_idf(document_frequencies: Sequence[int], corpus_size: int, epsilon: float) -> np.ndarray:
    """rank_bm25's idf for terms 0..V-1 (negative idfs floored to epsilon * average idf).

    Calls BM25Okapi's own ``_calc_idf`` so the numbers are exactly its numbers; the dict must be
    in the order rank_bm25 builds it (first occurrence in the corpus), which term ids follow.
    """
    okapi = BM25Okapi.__new__(BM25Okapi)
    okapi.corpus_size, okapi.epsilon, okapi.idf = corpus_size, epsilon, {}
    okapi._calc_idf(dict(enumerate(int(df) for df in document_frequencies)))
    return np.array([okapi.idf[t] for t in range(len(document_frequencies))], dtype=np.float64)


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
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.corpus_size = len(offsets) - 1
        self.vocabulary_size = vocabulary_size
        doc_len = np.diff(offsets).astype(np.int64)
        self.doc_len = doc_len
        if self.corpus_size == 0 or vocabulary_size == 0:  # nothing to find (rank_bm25 would divide by 0)
            self.avgdl = float(doc_len.mean()) if self.corpus_size else 0.0
            self.idf = np.zeros(vocabulary_size)
            self.postings = Postings(np.zeros(vocabulary_size + 1, np.int64), np.zeros(0, np.int32), np.zeros(0))
            return
        # rank_bm25: avgdl = num_doc / corpus_size, with num_doc the sum of lengths (an int).
        self.avgdl = int(doc_len.sum()) / self.corpus_size

        # One (term, passage) pair per distinct term in a passage, with its count.
        passage_of_token = np.repeat(np.arange(self.corpus_size, dtype=np.int64), doc_len)
        keys = tokens.astype(np.int64) * self.corpus_size + passage_of_token
        pair_keys, tf = np.unique(keys, return_counts=True)  # sorted by term, then passage
        pair_term = pair_keys // self.corpus_size
        pair_passage = (pair_keys % self.corpus_size).astype(np.int32)
        df = np.bincount(pair_term, minlength=vocabulary_size)
        self.idf = okapi_idf(df, self.corpus_size, epsilon)

        # rank_bm25's expression, evaluated once per posting instead of once per query.
        q_freq = tf
        dl = doc_len[pair_passage]
        tf_part = q_freq * (k1 + 1) / (q_freq + k1 * (1 - b + b * dl / self.avgdl))
        ptr = np.zeros(vocabulary_size + 1, np.int64)
        np.cumsum(df, out=ptr[1:])
        self.postings = Postings(ptr, pair_passage, tf_part)

    @classmethod
    def from_arrays(
        cls, *, doc_len: np.ndarray, idf: np.ndarray, postings: Postings, k1: float, b: float, epsilon: float = 0.25
    ) -> BM25Core:
        """A core from the arrays a previous one computed (an index snapshot), without recomputing."""
        core = cls.__new__(cls)
        core.k1, core.b, core.epsilon = k1, b, epsilon
        core.corpus_size = len(doc_len)
        core.vocabulary_size = len(idf)
        core.doc_len = doc_len
        core.avgdl = int(doc_len.sum()) / core.corpus_size if core.corpus_size else 0.0
        core.idf = idf
        core.postings = postings
        return core

    def term_postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(passages, tf parts) of one term."""
        lo, hi = self.postings.ptr[term], self.postings.ptr[term + 1]
        return self.postings.passage[lo:hi], self.postings.tf_part[lo:hi]

    def scores(self, query_terms: Sequence[int], idf: np.ndarray | None = None) -> np.ndarray:
        """Every passage's score, equal to ``BM25Okapi.get_scores`` on the same terms.

        Unknown terms are given as -1 and add nothing, as in rank_bm25. ``idf`` lets a caller
        substitute its own idf per term (the quality layer does); by default rank_bm25's.
        """
        idf = self.idf if idf is None else idf
        scores = np.zeros(self.corpus_size)
        for term in query_terms:
            if term < 0:
                continue
            passages, tf_part = self.term_postings(term)
            # Passages are unique within one term's list, so fancy-index += is exact.
            scores[passages] += idf[term] * tf_part
        return scores

    def top_k(self, query_terms: Sequence[int], k: int) -> list[tuple[int, float]]:
        """The k best (passage, score), ties broken by passage position."""
        return rank(self.scores(query_terms), k)


def rank(scores: np.ndarray, k: int, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Top k of ``scores`` (restricted to ``candidates`` if given): score desc, then position asc."""
    idx = np.arange(len(scores)) if candidates is None else candidates
    if k <= 0 or len(idx) == 0:
        return []
    values = scores[idx]
    if k < len(idx):
        threshold = np.partition(values, len(values) - k)[len(values) - k]
        keep = values >= threshold
        idx, values = idx[keep], values[keep]
    order = np.lexsort((idx, -values))[:k]
    return [(int(idx[i]), float(values[i])) for i in order]
