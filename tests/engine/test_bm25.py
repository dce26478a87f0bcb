"""The BM25 core must give exactly rank_bm25's BM25Okapi scores, and rank them deterministically."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from bot.engine.bm25 import BM25Core, build_postings, okapi_idf, rank, rank_positive
from bot.engine.maxscore import MaxScore
from bot.settings import Settings

DEFAULTS = Settings.model_construct()  # field defaults only; no environment, no store
WORDS = list("abcdefg")
ABSENT = ["x", "y", "zz"]


def build_core(corpus: list[list[str]], k1: float, b: float) -> tuple[BM25Core, dict[str, int]]:
    """Term ids in order of first occurrence, as the core requires (and PassageIndex does)."""
    ids: dict[str, int] = {}
    flat = [ids.setdefault(word, len(ids)) for doc in corpus for word in doc]
    offsets = np.zeros(len(corpus) + 1, np.int64)
    np.cumsum([len(doc) for doc in corpus], out=offsets[1:])
    return BM25Core(np.array(flat, np.int32), offsets, len(ids), k1=k1, b=b), ids


def core_scores(corpus, query, k1, b) -> np.ndarray:
    core, ids = build_core(corpus, k1, b)
    return core.scores([ids.get(word, -1) for word in query])


docs = st.lists(st.sampled_from(WORDS), max_size=12)
corpora = st.lists(docs, min_size=1, max_size=9).filter(lambda c: any(c))


@st.composite
def half_corpora(draw):
    """Corpora where the term "h" is in exactly half the documents (rank_bm25's idf is 0)."""
    n = draw(st.integers(min_value=1, max_value=5)) * 2
    corpus = [draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8)) for _ in range(n)]
    chosen = draw(st.permutations(range(n)))[: n // 2]
    for i in chosen:
        position = draw(st.integers(min_value=0, max_value=len(corpus[i])))
        corpus[i] = corpus[i][:position] + ["h"] + corpus[i][position:]
    return corpus


queries = st.lists(st.sampled_from(WORDS + ["h"] + ABSENT), max_size=8)
k1s = st.sampled_from([DEFAULTS.k1, 1.5, 0.5, 2.0]) | st.floats(min_value=0.01, max_value=5)
bs = st.sampled_from([DEFAULTS.b, 0.0, 1.0]) | st.floats(min_value=0, max_value=1)


@given(corpus=corpora | half_corpora(), query=queries, k1=k1s, b=bs)
@example(corpus=[["a", "b"], ["c"]], query=["a", "a", "x"], k1=DEFAULTS.k1, b=DEFAULTS.b)  # idf exactly 0
@example(corpus=[["a", "b"], ["a"], ["a", "c"]], query=["a", "c", "a"], k1=1.2, b=0.75)  # negative idf
@example(corpus=[["a"], [], ["b", "b", "a"]], query=["b"], k1=1.2, b=0.75)  # an empty document
@hsettings(max_examples=400, deadline=None)
def test_scores_equal_rank_bm25_exactly(corpus, query, k1, b):
    # rank_bm25 divides 0 by 0 (NaN) for an empty document when b == 1; the core gives 0 there.
    assume(not (b == 1.0 and any(not doc for doc in corpus)))
    expected = BM25Okapi(corpus, k1=k1, b=b).get_scores(query)
    actual = core_scores(corpus, query, k1, b)
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected), (actual, expected)


@given(corpus=half_corpora(), query=queries)
@hsettings(max_examples=100, deadline=None)
def test_half_corpora_at_default_parameters(corpus, query):
    okapi = BM25Okapi(corpus, k1=DEFAULTS.k1, b=DEFAULTS.b)
    assert okapi.idf["h"] == 0.0
    expected = okapi.get_scores(query + ["h"])
    assert np.array_equal(core_scores(corpus, query + ["h"], DEFAULTS.k1, DEFAULTS.b), expected)


def test_idf_equals_rank_bm25_including_negative_floor():
    corpus = [["a", "b"], ["a"], ["a", "c"], ["d"]]
    core, ids = build_core(corpus, DEFAULTS.k1, DEFAULTS.b)
    okapi = BM25Okapi(corpus)
    assert okapi.idf["a"] < 0 or okapi.idf["a"] == okapi.epsilon * okapi.average_idf
    assert [core.idf[ids[w]] for w in "abcd"] == [okapi.idf[w] for w in "abcd"]


def test_okapi_idf_is_order_sensitive_like_rank_bm25():
    # rank_bm25 sums idfs in first-occurrence order; the helper must be fed that order.
    dfs = [3, 1, 2, 4, 1]
    okapi = BM25Okapi([["t0", "t1", "t2", "t3"], ["t0", "t2", "t3"], ["t0", "t3", "t4"], ["t3"], []])
    assert list(okapi_idf(dfs, 5, 0.25)) == [okapi.idf[f"t{i}"] for i in range(5)]


@given(
    dfs=st.lists(st.integers(1, 40), min_size=1, max_size=300),
    extra=st.integers(0, 40),
    epsilon=st.sampled_from([0.25, 0.5, 1.0]),
)
@hsettings(max_examples=100, deadline=None)
def test_okapi_idf_is_calc_idf_bit_for_bit(dfs, extra, epsilon):
    corpus_size = max(dfs) + extra
    okapi = BM25Okapi.__new__(BM25Okapi)
    okapi.corpus_size, okapi.epsilon, okapi.idf = corpus_size, epsilon, {}
    okapi._calc_idf(dict(enumerate(dfs)))
    assert okapi_idf(dfs, corpus_size, epsilon).tolist() == [okapi.idf[t] for t in range(len(dfs))]


def test_unknown_and_empty_queries_score_zero():
    core, ids = build_core([["a", "b"], ["c"]], 1.2, 0.75)
    assert np.array_equal(core.scores([-1, -1]), np.zeros(2))
    assert np.array_equal(core.scores([]), np.zeros(2))


def test_empty_corpus():
    core = BM25Core(np.zeros(0, np.int32), np.zeros(1, np.int64), 0)
    assert core.scores([]).shape == (0,)
    assert MaxScore(core).top_k([], 3) == []


def test_term_postings_lists_only_containing_passages():
    core, ids = build_core([["a", "b"], ["c"], ["a", "a"]], 1.2, 0.75)
    passages, parts = core.term_postings(ids["a"])
    assert list(passages) == [0, 2]
    assert parts[1] > parts[0]  # two occurrences in a document of the same length



def test_tf_parts_asked_from_several_threads_at_once_are_each_averages_own():
    """The index is shared by the event loop and worker threads; its tf parts per average length
    (one per server's view) are made on first use and the oldest dropped. Threads asking for
    many averages at once, with thread switches as frequent as Python allows, each get their
    average's parts. (Dropping the oldest by a dict's first key raised "dictionary changed size
    during iteration" here within a few hundred calls.)"""
    corpus = [["a", "b", "a"], ["c"], ["a", "c", "d", "d"]]
    core, _ = build_core(corpus, 1.2, 0.75)
    averages = [1.0 + i / 8 for i in range(12_000)]
    one_thread, _ = build_core(corpus, 1.2, 0.75)
    expected = [one_thread.tf_parts(avgdl).tolist() for avgdl in averages]
    found: dict[int, list[float]] = {}
    errors: list[Exception] = []

    def ask(first: int) -> None:
        try:
            for i in range(first, len(averages), 4):
                found[i] = core.tf_parts(averages[i]).tolist()
        except Exception as error:  # any error at all fails the test below
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=ask, args=(first,)) for first in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert [found[i] for i in range(len(averages))] == expected


# -- ranking ----------------------------------------------------------------------------------


def test_rank_breaks_ties_by_position():
    scores = np.array([1.0, 2.0, 2.0, 1.0, 2.0])
    assert rank(scores, 5) == [(1, 2.0), (2, 2.0), (4, 2.0), (0, 1.0), (3, 1.0)]
    assert rank(scores, 2) == [(1, 2.0), (2, 2.0)]
    assert rank(scores, 4) == [(1, 2.0), (2, 2.0), (4, 2.0), (0, 1.0)]


def test_rank_ties_at_the_cut():
    scores = np.array([3.0, 1.0, 1.0, 1.0, 1.0])
    assert rank(scores, 2) == [(0, 3.0), (1, 1.0)]


def test_rank_with_candidates():
    scores = np.array([5.0, 2.0, 2.0, 9.0, 2.0])
    assert rank(scores, 2, np.array([4, 2, 1])) == [(1, 2.0), (2, 2.0)]
    assert rank(scores, 10, np.array([4, 0])) == [(0, 5.0), (4, 2.0)]
    assert rank(scores, 3, np.array([], np.int64)) == []


@pytest.mark.parametrize("k", [0, -1])
def test_rank_non_positive_k(k):
    assert rank(np.array([1.0, 2.0]), k) == []


@given(
    values=st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.25]), min_size=1, max_size=30),
    k=st.integers(min_value=1, max_value=35),
    data=st.data(),
)
@hsettings(max_examples=200, deadline=None)
def test_rank_equals_stable_sort(values, k, data):
    scores = np.array(values)
    candidates = np.array(
        sorted(data.draw(st.sets(st.integers(0, len(values) - 1)))), np.int64
    )
    expected = [(int(i), float(scores[i])) for i in np.argsort(-scores, kind="stable")[:k]]
    assert rank(scores, k) == expected
    order = candidates[np.argsort(-scores[candidates], kind="stable")][:k]
    assert rank(scores, k, candidates) == [(int(i), float(scores[i])) for i in order]


@given(corpus=corpora | half_corpora(), query=queries, k=st.integers(min_value=1, max_value=12))
@hsettings(max_examples=200, deadline=None)
def test_top_k_equals_stable_sort_of_get_scores(corpus, query, k):
    core, ids = build_core(corpus, DEFAULTS.k1, DEFAULTS.b)
    expected_scores = BM25Okapi(corpus, k1=DEFAULTS.k1, b=DEFAULTS.b).get_scores(query)
    order = np.argsort(-expected_scores, kind="stable")[:k]
    expected = [(int(i), float(expected_scores[i])) for i in order]
    assert MaxScore(core).top_k([ids.get(w, -1) for w in query], k) == expected


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 10, 50])
def test_rank_positive_ranks_like_rank_over_every_positive_score(seed, k):
    """The sampled threshold never drops a passage of the top k, ties at the boundary included."""
    rng = np.random.default_rng(seed)
    size = 120_000
    scores = np.zeros(size)
    matching = rng.random(size) < [0.6, 0.02, 0.0004, 0.9, 0.3, 0.00005][seed]  # many to fewer than k
    # Few distinct values, so many passages tie, also with the k-th best.
    scores[matching] = rng.integers(1, [5, 50, 3, 1000, 2, 7][seed], size=int(matching.sum())) / 4
    expected = rank(scores, k, np.flatnonzero(scores > 0))
    assert rank_positive(scores, k) == expected
    assert len(expected) == min(k, int(matching.sum()))


@pytest.mark.parametrize("seed", range(4))
def test_rank_positive_over_some_rows_ranks_like_rank_over_those_rows(seed):
    """A server's visible rows: the same ranking as over every positive score among them."""
    rng = np.random.default_rng(seed)
    size = 150_000
    scores = np.where(rng.random(size) < 0.5, rng.integers(1, 6, size=size) / 2, 0.0)
    rows = np.flatnonzero(rng.random(size) < [0.9, 0.5, 0.001, 1.0][seed])
    expected = rank(scores, 10, rows[scores[rows] > 0])
    assert rank_positive(scores, 10, rows) == expected
    assert set(row for row, _ in expected) <= set(rows.tolist())


def reference_postings(tokens: np.ndarray, offsets: np.ndarray, vocabulary_size: int):
    """build_postings' arrays the plain way: every (term, passage) pair, one at a time."""
    doc_len = [int(offsets[i + 1] - offsets[i]) for i in range(len(offsets) - 1)]
    tf: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], int] = {}
    for passage in range(len(doc_len)):
        for position in range(int(offsets[passage]), int(offsets[passage + 1])):
            pair = (int(tokens[position]), passage)
            tf[pair] = tf.get(pair, 0) + 1
            first.setdefault(pair, position)
    pairs = sorted(tf)  # by term, then passage
    stride = max(doc_len, default=0) + 1
    shapes = sorted({tf[pair] * stride + doc_len[pair[1]] for pair in pairs})
    df = [sum(1 for term, _ in pairs if term == t) for t in range(vocabulary_size)]
    return {
        "ptr": np.array([0, *np.cumsum(df, dtype=np.int64)], np.int64),
        "passage": np.array([p for _, p in pairs], np.int32),
        "shape": np.array([shapes.index(tf[pair] * stride + doc_len[pair[1]]) for pair in pairs], np.int32),
        "shape_tf": np.array([s // stride for s in shapes], np.int64),
        "shape_dl": np.array([s % stride for s in shapes], np.int64),
        "first_position": np.array([first[pair] for pair in pairs], np.int64),
    }


@given(
    passages=st.lists(st.lists(st.integers(min_value=0, max_value=6), max_size=10), max_size=12),
    chunk_tokens=st.sampled_from([1, 2, 3, 7, 1 << 19]),
)
@hsettings(max_examples=300, deadline=None)
def test_build_postings_equals_a_plain_count_of_every_pair(passages, chunk_tokens):
    """Passages processed a run at a time give the same arrays, of the same types, as counting
    every (term, passage) pair one by one, whatever the runs' size."""
    tokens = np.array([t for passage in passages for t in passage], np.int32)
    offsets = np.zeros(len(passages) + 1, np.int64)
    np.cumsum([len(p) for p in passages], out=offsets[1:])
    postings, first_position = build_postings(tokens, offsets, 7, chunk_tokens=chunk_tokens)
    got = {name: getattr(postings, name) for name in ("ptr", "passage", "shape", "shape_tf", "shape_dl")}
    got["first_position"] = first_position
    for name, expected in reference_postings(tokens, offsets, 7).items():
        assert got[name].dtype == expected.dtype, name
        assert got[name].tolist() == expected.tolist(), name
