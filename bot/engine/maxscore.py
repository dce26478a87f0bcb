"""The k best passages without scoring every posting: MaxScore (Turtle & Flood 1995, as in Lucene
and PISA), exactly the passages, order and floats of full scoring (bot/engine/bm25.py).

A term adds at most its bound to a passage's score: its idf times the largest tf part among its
postings. The terms' lists are opened rarest first. A passage is scored the first time a list
names it: the later lists are searched for it one by one, and it is dropped as soon as what it
has plus the bounds of the lists still ahead cannot reach theta, the k-th best exact score found
yet. Once the bounds of the lists not yet opened add up to less than theta, no passage only they
name can rank: the long lists of common terms are then only searched, never walked. The passages
kept are scored again term by term in query order from 0.0, the same floats as the full sums.

When theta stays low (few matches, or k about as many), pruning gives up after as much work as
scoring every posting, and does that instead. tests/engine/test_top_k.py checks both agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from bot.engine.bm25 import BM25Core, Postings, rank, rank_positive, rank_rows

# Full scoring costs about 5 ns per posting and passage; pruning's some fifty numpy calls about
# 2 ms whatever it saves: below this many postings and passages, scoring everything is faster
# (measured on the bench's questions at 100k passages).
_PRUNE_FROM = 400_000
# A lookup (a binary search) costs about this many postings added by full scoring: when pruning
# has done that much work without finishing, scoring every posting is the cheaper way.
_LOOKUP_COST = 10
_DENSE_LOOKUP_COST = 3  # a read in a table over every passage (see _DENSE_FROM)
# A list naming at least 1/_DENSE_FROM of the passages is looked up in a table over every passage
# (2 bytes a passage, made on first use): a binary search in a list that long costs about 100 ns
# in cache misses, a read in the table one. At most _DENSE_KEPT tables (64 MB at 1M passages).
_DENSE_FROM = 8
_DENSE_KEPT = 32
# A term with more postings than this keeps the set of its (tf, length) pairs, so its bound at a
# new average length costs a look at a few hundred pairs, not at every posting.
_PAIRS_KEPT_ABOVE = 1024
# The first theta comes from the rarest lists' first _SEED postings: the _SEED_TRIED passages with
# the most weight there are scored exactly (``_seed_theta``).
_SEED = 4096
_SEED_TRIED = 64
# Bounds and partial sums are added in another order than the exact scores, so comparisons with
# theta give way by this relative slack, far above the rounding of a question's few hundred terms
# (n * 2**-53 each). Slack only keeps more passages: their exact scores decide.
_SLACK = 1e-9


class MaxScore:
    """The k best passages of one core's scores by MaxScore, with the tables it makes on first use
    (each long list's (tf, length) pairs, the longest lists' pairs per passage)."""

    def __init__(self, core: BM25Core) -> None:
        self.core = core
        self._term_pairs: dict[int, np.ndarray] = {}  # one assignment per term: safe from any thread
        self._dense_pairs = _dense_pairs_cache(core.postings, core.corpus_size)

    def top_k(self, query_terms: Sequence[int], k: int) -> list[tuple[int, float]]:
        """``rank(core.scores(query_terms), k)``: the k best (passage, score) with rank_bm25's idf,
        ties broken by position, passages without any query term (score 0.0) too when fewer than
        k have one."""
        core = self.core
        weighted = [(term, float(core.idf[term])) for term in query_terms if term >= 0]
        if k <= 0 or any(not idf > 0 for _, idf in weighted):
            # rank_bm25's idf is 0 or negative for terms in half the passages or more: a passage
            # with the term can score at or below one without it, so only full scores rank.
            return rank(core.scores(query_terms), k)
        found = self.top_positive(weighted, core.avgdl, k)
        if len(found) < k:  # every passage scoring above 0 is found: then the first 0.0s by position
            zero = np.arange(min(core.corpus_size, k + len(found)))
            zero = np.setdiff1d(zero, np.array([row for row, _ in found], np.int64))[: k - len(found)]
            found += [(int(row), 0.0) for row in zero]
        return found

    def top_positive(
        self, weighted_terms: Sequence[tuple[int, float]], avgdl: float, k: int, rows: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """``rank_positive(core.weighted_scores(weighted_terms, avgdl), k, rows)``, the same list,
        mostly without scoring every posting."""
        if k <= 0 or not weighted_terms:
            return []
        core = self.core
        # Pruning may spend as much as scoring every posting costs, no more.
        budget = sum(self._length(term) for term, _ in weighted_terms)
        worth_pruning = budget + core.corpus_size >= _PRUNE_FROM
        if worth_pruning and all(idf > 0 for _, idf in weighted_terms):  # the bounds need weights >= 0
            found = self.search(list(weighted_terms), avgdl, k, rows, budget=budget, seed=_SEED)
            if found is not None:
                return found
        return rank_positive(core.weighted_scores(weighted_terms, avgdl), k, rows)

    def search(
        self,
        weighted_terms: list[tuple[int, float]],
        avgdl: float,
        k: int,
        rows: np.ndarray | None,
        *,
        budget: float,
        seed: int,
    ) -> list[tuple[int, float]] | None:
        """``top_positive`` by MaxScore over (term, idf > 0) pairs, or None once it has walked
        ``budget`` postings (a lookup counts as several). ``seed``: how many postings of the rarest
        lists give the first theta (0: none)."""
        core = self.core
        postings, parts = core.postings, core.tf_parts(avgdl)
        # Rarest first: the fewest passages to walk, and the others' lists are searched for them.
        terms = sorted(weighted_terms, key=lambda pair: self._length(pair[0]))
        # ahead[j]: the most the lists terms[j:] can add to a passage's score.
        ahead = [0.0] * (len(terms) + 1)
        for j in range(len(terms) - 1, -1, -1):
            term, idf = terms[j]
            ahead[j] = ahead[j + 1] + idf * self._max_tf_part(term, parts)
        lookup_cost = [_DENSE_LOOKUP_COST if self._dense(term) else _LOOKUP_COST for term, _ in terms]
        visible = rows if rows is not None and len(rows) < core.corpus_size else None
        theta = self._seed_theta(weighted_terms, terms, parts, k, visible, seed)
        seen = np.zeros(core.corpus_size, bool)  # passages a list already named
        kept_rows, kept_sums = np.zeros(0, postings.passage.dtype), np.zeros(0)  # passages that may rank
        for j, (term, idf) in enumerate(terms):
            floor = theta * (1 - _SLACK)
            if ahead[j] < floor:
                break  # a passage no list so far named scores at most ahead[j] < theta
            lo, hi = postings.ptr[term], postings.ptr[term + 1]
            named = postings.passage[lo:hi]
            budget -= len(named)
            if budget < 0:
                return None
            new = ~seen[named]  # a passage named before has been scored or dropped already
            seen[named] = True
            found = named[new]
            sums = idf * parts[postings.shape[lo:hi][new]]
            if visible is not None:  # a passage the view does not see is never ranked
                shown = _members(visible, found)
                found, sums = found[shown], sums[shown]
            # Each later list adds its weight or nothing: drop a passage as soon as what it has
            # plus everything still ahead falls short of theta.
            for r in range(j + 1, len(terms)):
                can_reach = sums + ahead[r] >= floor
                found, sums = found[can_reach], sums[can_reach]
                if not len(found):
                    break
                budget -= len(found) * lookup_cost[r]
                if budget < 0:
                    return None
                later, later_idf = terms[r]
                sums += later_idf * self._parts_of(later, found, parts)
            can_reach = sums >= floor
            kept_rows = np.concatenate([kept_rows, found[can_reach]])
            kept_sums = np.concatenate([kept_sums, sums[can_reach]])
            if len(kept_sums) >= k:  # k passages score at least the k-th sum (less the slack)
                kth = float(np.partition(kept_sums, len(kept_sums) - k)[len(kept_sums) - k])
                theta = max(theta, kth * (1 - _SLACK))
                can_reach = kept_sums >= theta * (1 - _SLACK)
                kept_rows, kept_sums = kept_rows[can_reach], kept_sums[can_reach]
        scores = self._exact_scores(weighted_terms, kept_rows, parts)
        positive = scores > 0  # as rank_positive (a weight can only underflow to 0.0)
        return rank_rows(kept_rows[positive], scores[positive], k)

    def _seed_theta(
        self,
        weighted_terms: list[tuple[int, float]],
        rarest_first: list[tuple[int, float]],
        parts: np.ndarray,
        k: int,
        visible: np.ndarray | None,
        seed: int,
    ) -> float:
        """A first theta, so that pruning starts with the first list: the exact k-th best score of
        the passages with the most weight in the rarest lists' first ``seed`` postings (usually
        those with several rare terms). 0.0 when fewer than k passages are there."""
        postings = self.core.postings
        named, weights, taken = [np.zeros(0, postings.passage.dtype)], [np.zeros(0)], 0
        for term, idf in rarest_first:
            if taken >= seed:
                break
            lo = postings.ptr[term]
            hi = min(postings.ptr[term + 1], lo + seed - taken)
            named.append(postings.passage[lo:hi])
            weights.append(idf * parts[postings.shape[lo:hi]])
            taken += hi - lo
        found, weight = np.concatenate(named), np.concatenate(weights)
        if visible is not None:
            shown = _members(visible, found)
            found, weight = found[shown], weight[shown]
        found, first = np.unique(found, return_inverse=True)
        if len(found) < k:
            return 0.0
        sums = np.bincount(first, weights=weight)
        # The best sums so far need not be the best scores: a few more than k cost nothing.
        tried = min(len(found), max(k, _SEED_TRIED))
        best = found[np.argpartition(sums, len(sums) - tried)[len(sums) - tried :]]
        best.sort()  # the lists are searched for them in order
        scores = self._exact_scores(weighted_terms, best, parts)
        return float(np.partition(scores, tried - k)[tried - k])

    def _length(self, term: int) -> int:
        """How many passages the term's list names."""
        ptr = self.core.postings.ptr
        return int(ptr[term + 1] - ptr[term])

    def _max_tf_part(self, term: int, parts: np.ndarray) -> float:
        """The largest tf part among the term's postings (exactly one of them, so a true bound)."""
        postings = self.core.postings
        lo, hi = postings.ptr[term], postings.ptr[term + 1]
        if hi - lo <= _PAIRS_KEPT_ABOVE:
            return float(parts[postings.shape[lo:hi]].max()) if hi > lo else 0.0
        pairs = self._term_pairs.get(term)
        if pairs is None:
            pairs = np.flatnonzero(np.bincount(postings.shape[lo:hi], minlength=len(parts)))
            self._term_pairs[term] = pairs
        return float(parts[pairs].max())

    def _dense(self, term: int) -> bool:
        """Whether the term's list is looked up in a table over every passage (``_dense_pairs``)."""
        return self._length(term) * _DENSE_FROM >= self.core.corpus_size > 0

    def _parts_of(self, term: int, rows: np.ndarray, parts: np.ndarray) -> np.ndarray:
        """The term's tf part in each of ``rows`` (distinct passages), 0.0 where it is absent."""
        postings = self.core.postings
        lo, hi = postings.ptr[term], postings.ptr[term + 1]
        if hi == lo:
            return np.zeros(len(rows))
        if self._dense(term):
            return np.concatenate(([0.0], parts))[self._dense_pairs(term)[rows]]  # entry 0: absent
        at, present = _find(postings.passage[lo:hi], rows)
        found = np.zeros(len(rows))
        found[present] = parts[postings.shape[lo + at[present]]]
        return found

    def _exact_scores(
        self, weighted_terms: list[tuple[int, float]], rows: np.ndarray, parts: np.ndarray
    ) -> np.ndarray:
        """The scores of ``rows`` as ``BM25Core.weighted_scores`` adds them: from 0.0, term by term
        in query order (adding 0.0 for an absent term changes no bit of a sum >= 0)."""
        scores = np.zeros(len(rows))
        for term, idf in weighted_terms:
            scores += idf * self._parts_of(term, rows, parts)
        return scores


def _dense_pairs_cache(postings: Postings, corpus_size: int) -> Callable[[int], np.ndarray]:
    """Per passage, 1 + the (tf, length) pair of a term's posting in it, 0 where it has none; the
    _DENSE_KEPT last used kept (thread-safe, see ``bm25._tf_parts_cache``)."""

    @functools.lru_cache(maxsize=_DENSE_KEPT)
    def dense_pairs(term: int) -> np.ndarray:
        lo, hi = postings.ptr[term], postings.ptr[term + 1]
        table = np.zeros(corpus_size, np.uint16 if len(postings.shape_tf) < 65535 else np.uint32)
        table[postings.passage[lo:hi]] = postings.shape[lo:hi] + 1
        table.flags.writeable = False
        return table

    return dense_pairs


def _find(ascending: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where each of ``values`` is in the non-empty ascending array ``ascending``, meaningful
    only where it is there; whether it is there)."""
    at = np.searchsorted(ascending, values)
    np.minimum(at, len(ascending) - 1, out=at)
    return at, ascending[at] == values


def _members(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in the ascending array ``ascending`` (a boolean per value)."""
    if not len(ascending):
        return np.zeros(len(values), bool)
    return _find(ascending, values)[1]
