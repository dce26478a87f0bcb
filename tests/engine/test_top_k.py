"""The k best passages found by pruning (MaxScore, bot/engine/maxscore.py) are exactly those of full
scoring: the same passages, in the same order (score desc, then position), with the same floats."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine import maxscore
from bot.engine.analyzer import analyze
from bot.engine.bm25 import BM25Core, rank, rank_positive
from bot.engine.index import PassageIndex
from bot.engine.maxscore import MaxScore
from bot.store import BUNDLED, PassageRecord

A, B = 111, 222


def zipf_corpus(passages: int, vocabulary: int, exponent: float, longest: int, seed: int) -> list[list[int]]:
    """Passages of words 0..vocabulary-1, word w drawn with weight 1 / (w + 1) ** exponent:
    a few words in most passages, most words in few (exponent 0: all alike)."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, vocabulary + 1) ** exponent
    lengths = rng.integers(0, longest + 1, passages)
    words = rng.choice(vocabulary, size=int(lengths.sum()), p=weights / weights.sum())
    return [chunk.tolist() for chunk in np.split(words, np.cumsum(lengths)[:-1])]


@st.composite
def skewed_corpora(draw) -> list[list[int]]:
    """Small vocabularies (many passages tie) to Zipf-like ones (long and short lists)."""
    return zipf_corpus(
        passages=draw(st.integers(1, 400)),
        vocabulary=draw(st.integers(1, 60)),
        exponent=draw(st.sampled_from([0.0, 0.7, 1.1, 1.6])),
        longest=draw(st.integers(0, 25)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def core_of(corpus: list[list[int]]) -> tuple[BM25Core, dict[int, int]]:
    """The core over ``corpus``, its terms numbered by first occurrence (as the core requires)."""
    ids: dict[int, int] = {}
    tokens = [ids.setdefault(word, len(ids)) for passage in corpus for word in passage]
    offsets = np.zeros(len(corpus) + 1, np.int64)
    np.cumsum([len(passage) for passage in corpus], out=offsets[1:])
    return BM25Core(np.array(tokens, np.int32), offsets, len(ids), k1=1.5, b=0.75), ids


# Words of the corpus, repeated or not, and words no passage has (-1 once looked up).
queries = st.lists(st.integers(-2, 70), min_size=1, max_size=10)
ks = st.sampled_from([1, 2, 3, 10]) | st.integers(1, 500)


@st.composite
def weighted_queries(draw, core: BM25Core, ids: dict[int, int]) -> list[tuple[int, float]]:
    """(term, idf > 0) pairs as a server's view makes them: its own idfs, ties among them likely."""
    terms = [ids[w] for w in draw(queries) if w in ids]
    idfs = st.sampled_from([0.25, 1.0, 1.0, 3.5]) | st.floats(1e-3, 20)
    return [(term, draw(idfs)) for term in terms]


@st.composite
def visible_rows(draw, size: int) -> np.ndarray | None:
    """None (every passage), all of them, or an ascending subset (a server's view)."""
    kind = draw(st.sampled_from(["none", "all", "some"]))
    if kind == "none":
        return None
    if kind == "all":
        return np.arange(size, dtype=np.int64)
    keep = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random(size) < draw(st.sampled_from([0.05, 0.5, 0.95]))
    return np.flatnonzero(keep).astype(np.int64)


@given(corpus=skewed_corpora(), k=ks, data=st.data())
@hsettings(max_examples=300, deadline=None)
def test_pruned_top_k_equals_full_scoring_and_rank(corpus, k, data):
    core, ids = core_of(corpus)
    weighted = data.draw(weighted_queries(core, ids))
    rows = data.draw(visible_rows(core.corpus_size))
    avgdl = data.draw(st.sampled_from([core.avgdl, 1.0, 7.5]))
    expected = rank_positive(core.weighted_scores(weighted, avgdl), k, rows)
    pruning = MaxScore(core)
    assert pruning.top_positive(weighted, avgdl, k, rows) == expected
    with mock.patch.object(maxscore, "_PRUNE_FROM", 0):  # pruned however small the corpus
        assert pruning.top_positive(weighted, avgdl, k, rows) == expected
    if not weighted:
        return
    # MaxScore itself, never giving up for the full path, from no seed theta to a seed of everything.
    for seed in (0, 1, 7, 100_000):
        assert pruning.search(weighted, avgdl, k, rows, budget=math.inf, seed=seed) == expected, seed


@given(corpus=skewed_corpora(), query=queries, k=ks)
@example(corpus=[[0, 1], [1], [0, 1, 1]], query=[0, 0, 5], k=5)  # k larger than the matches: 0.0s by position
@example(corpus=[[0], [0], [0], [1]], query=[0, 1], k=2)  # a term in most passages: negative idf
@hsettings(max_examples=300, deadline=None)
def test_top_k_equals_rank_of_every_score(corpus, query, k):
    """``top_k`` ranks every passage, those without the terms at 0.0 too, with rank_bm25's idf
    (0 or negative for terms in half the passages or more)."""
    core, ids = core_of(corpus)
    term_ids = [ids.get(word, -1) for word in query]
    expected = rank(core.scores(term_ids), k)
    assert MaxScore(core).top_k(term_ids, k) == expected
    with mock.patch.object(maxscore, "_PRUNE_FROM", 0):
        assert MaxScore(core).top_k(term_ids, k) == expected


def test_a_common_terms_list_is_not_walked_when_its_bound_is_below_theta():
    """2000 passages have "common", 5 also "rare": the 3 best need only the rare list and five
    lookups in the common one (a budget of 100 postings would not cover walking it)."""
    corpus = [[0] + ([1] if i % 400 == 7 else []) for i in range(2000)]
    core, ids = core_of(corpus)
    weighted = [(ids[0], 0.1), (ids[1], 5.0)]
    expected = rank_positive(core.weighted_scores(weighted, core.avgdl), 3)
    assert [row for row, _ in expected] == [7, 407, 807]
    pruning = MaxScore(core)
    assert pruning.search(weighted, core.avgdl, 3, None, budget=100, seed=0) == expected
    # With k beyond the rare passages, the common passages rank too: its list must be walked.
    assert pruning.search(weighted, core.avgdl, 6, None, budget=100, seed=0) is None
    with mock.patch.object(maxscore, "_PRUNE_FROM", 0):
        assert pruning.top_positive(weighted, core.avgdl, 6) == rank_positive(core.weighted_scores(weighted, core.avgdl), 6)


# -- a server's view: its rows and its own statistics ------------------------------------------

WORDS = [f"w{i}" for i in range(40)]


@given(
    corpus=skewed_corpora(),
    owners=st.lists(st.sampled_from([BUNDLED, BUNDLED, A, B]), min_size=400, max_size=400),
    query=st.lists(st.sampled_from([*WORDS, "absent"]), min_size=1, max_size=8),
    k=ks,
)
@hsettings(max_examples=100, deadline=None)
def test_each_views_search_ranks_like_full_scoring_of_what_it_sees(corpus, owners, query, k):
    passages = [
        PassageRecord(i + 1, i + 1, owners[i], 0, 1, None, 0, 1, " ".join(WORDS[w % 40] for w in words), "", None, None)
        for i, words in enumerate(corpus)
    ]
    index = PassageIndex.build(passages, k1=1.2, b=0.75)
    terms = analyze(" ".join(query))
    for guild_id, bundled in [(None, True), (A, True), (A, False), (B, True), (333, True)]:
        view = index.view(guild_id, bundled=bundled)
        full = rank_positive(view.scores(terms), k, view.rows)
        assert [(hit.row, hit.score) for hit in view.search(terms, k)] == full, (guild_id, bundled)
        with mock.patch.object(maxscore, "_PRUNE_FROM", 0):
            assert [(hit.row, hit.score) for hit in view.search(terms, k)] == full, (guild_id, bundled)
        weighted = view._weighted(terms, floored=True)
        if weighted:
            found = index.maxscore.search(weighted, view._avgdl, k, view.rows, budget=math.inf, seed=3)
            assert found == full, (guild_id, bundled)
