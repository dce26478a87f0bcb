"""Adds and removes edit the index's arrays in place of a build (bot/engine/incremental.py): after
any sequence of them the index is the one a fresh build over the same passages gives, array for
array, and every server is shown the same rankings, scores and idfs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine import incremental, snapshot
from bot.engine.analyzer import analyze
from bot.engine.index import PassageIndex
from bot.store import BUNDLED, PassageRecord

K1, B = 1.2, 0.75
A, B_SERVER, NOBODY = 111, 222, 333
VIEWS = [(None, True), (A, True), (A, False), (B_SERVER, True), (B_SERVER, False), (NOBODY, True)]
# Few words, so terms are shared and first occurrences move; the rare ones come and go.
WORDS = ["talks", "china", "taiwan", "pentagon", "ferry", "typhoon", "the", "nightjar", "heath", "quorum", "zyxwvut"]
QUERIES = ["talks", "china taiwan", "ferry typhoon talks", "nightjar heath", "quorum zyxwvut pentagon", "absent"]


def passage(pid: int, doc: int, guild: int, words: list[str], ordinal: int) -> PassageRecord:
    text = " ".join(words)
    return PassageRecord(pid, doc, guild, ordinal, ordinal + 1, None, 0, len(text), text, f"Title {doc}", None, None)


def build(passages: list[PassageRecord]) -> PassageIndex:
    return PassageIndex.build(passages, k1=K1, b=B)


documents = st.tuples(
    st.sampled_from([BUNDLED, BUNDLED, A, B_SERVER]),
    st.lists(st.lists(st.sampled_from(WORDS), max_size=6), min_size=1, max_size=3),  # its passages
)
# A step adds documents (those given) or removes some present ones (by their rank among them).
steps = st.one_of(
    st.tuples(st.just("add"), st.lists(documents, min_size=1, max_size=3)),
    st.tuples(st.just("remove"), st.lists(st.integers(0, 20), min_size=1, max_size=3)),
)


class Corpus:
    """The passages an index should hold, in order, with fresh ids for every document added."""

    def __init__(self) -> None:
        self.passages: list[PassageRecord] = []
        self.next_doc = self.next_passage = 1

    def make(self, docs) -> list[PassageRecord]:
        made = []
        for guild, texts in docs:
            for ordinal, words in enumerate(texts):
                made.append(passage(self.next_passage, self.next_doc, guild, words, ordinal))
                self.next_passage += 1
            self.next_doc += 1
        self.passages += made
        return made

    def pick(self, ranks: list[int]) -> set[int]:
        present = sorted({p.doc_id for p in self.passages})
        removed = {present[r % len(present)] for r in ranks} if present else set()
        self.passages = [p for p in self.passages if p.doc_id not in removed]
        return removed


def assert_same_arrays(changed: PassageIndex, fresh: PassageIndex) -> None:
    for name in ("tokens", "offsets", "passage_ids", "doc_ids", "guild_ids"):
        assert np.array_equal(getattr(changed, name), getattr(fresh, name)), name
    assert changed.vocabulary == fresh.vocabulary
    assert changed.term_ids == fresh.term_ids
    a, b = changed.core, fresh.core
    assert np.array_equal(a.doc_len, b.doc_len) and a.avgdl == b.avgdl
    assert np.array_equal(a.idf, b.idf)
    assert np.array_equal(a.postings.ptr, b.postings.ptr)
    assert np.array_equal(a.postings.passage, b.postings.passage)
    # Pairs are numbered as they came: each posting's (tf, length) is the same.
    assert np.array_equal(a.postings.shape_tf[a.postings.shape], b.postings.shape_tf[b.postings.shape])
    assert np.array_equal(a.postings.shape_dl[a.postings.shape], b.postings.shape_dl[b.postings.shape])
    for name, array in fresh.owners.arrays().items():
        assert np.array_equal(getattr(changed.owners, name), array), name
    assert changed.floor == fresh.floor and np.array_equal(changed.ranking_idf, fresh.ranking_idf)


def shown(index: PassageIndex, guild_id: int | None, bundled: bool, terms: list[str]):
    view = index.view(guild_id, bundled=bundled)
    hits = [(h.row, h.passage_id, h.doc_id, h.score) for h in view.search(terms, 10)]
    statistics = view.statistics
    figures = (statistics.passages, statistics.avgdl, statistics.epsilon_idf, statistics.floor, statistics.max_idf)
    return hits, view.scores(terms).tolist(), [(view.idf(t), view.knows(t)) for t in terms], figures


def assert_same_answers(changed: PassageIndex, fresh: PassageIndex) -> None:
    for query in QUERIES:
        terms = analyze(query)
        for guild_id, bundled in VIEWS:
            assert shown(changed, guild_id, bundled, terms) == shown(fresh, guild_id, bundled, terms), (query, guild_id)
        everything = changed.search(terms, 10, guild_id=None, everything=True)
        assert everything == fresh.search(terms, 10, guild_id=None, everything=True)


@given(initial=st.lists(documents, max_size=4), changes=st.lists(steps, min_size=1, max_size=6))
@example(  # the first document goes: "talks" and "china" first occur later, in another owner's passage
    initial=[(BUNDLED, [["talks", "china"]]), (A, [["ferry", "china"]]), (BUNDLED, [["the", "talks"]])],
    changes=[("remove", [0])],
)
@example(  # a removal and an add in one change, the add bringing back a term the removal dropped
    initial=[(A, [["nightjar", "heath"]]), (BUNDLED, [["talks"]])],
    changes=[("remove", [0]), ("add", [(B_SERVER, [["heath", "talks"], ["nightjar"]])])],
)
@hsettings(max_examples=150, deadline=None)
def test_any_adds_and_removes_give_the_index_a_fresh_build_gives(initial, changes):
    corpus = Corpus()
    index = build(corpus.make(initial))
    for kind, argument in changes:
        if kind == "add":
            index = index.with_changes(added=corpus.make(argument))
        else:
            index = index.with_changes(removed_docs=corpus.pick(argument))
        fresh = build(corpus.passages)
        assert_same_arrays(index, fresh)
    assert_same_answers(index, fresh)


@given(
    initial=st.lists(documents, min_size=1, max_size=8),
    removed=st.lists(st.integers(0, 20), max_size=3),
    added=st.lists(documents, max_size=3),
    scan_rows=st.sampled_from([1, 2, incremental.FIRST_SCAN_ROWS]),
)
@hsettings(max_examples=80, deadline=None)
def test_a_removal_and_an_add_in_one_change(initial, removed, added, scan_rows):
    corpus = Corpus()
    index = build(corpus.make(initial))
    gone = corpus.pick(removed)
    # A small first scan: first occurrences are found again over several growing chunks.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(incremental, "FIRST_SCAN_ROWS", scan_rows)
        changed = index.with_changes(removed_docs=gone, added=corpus.make(added))
    fresh = build(corpus.passages)
    assert_same_arrays(changed, fresh)
    assert_same_answers(changed, fresh)


@given(initial=st.lists(documents, min_size=1, max_size=4), changes=st.lists(steps, min_size=1, max_size=4))
@hsettings(max_examples=30, deadline=None)
def test_a_changed_index_saves_and_loads_as_it_is(initial, changes):
    corpus = Corpus()
    index = build(corpus.make(initial))
    for kind, argument in changes:
        index = index.with_changes(added=corpus.make(argument)) if kind == "add" else index.with_changes(removed_docs=corpus.pick(argument))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index.npz"
        snapshot.save(index, path, {"test": 1}, change=1)
        loaded, _ = snapshot.load(path, {"test": 1}, k1=K1, b=B)
    assert_same_arrays(loaded, index)
    assert np.array_equal(loaded.core.postings.shape, index.core.postings.shape)
    assert_same_answers(loaded, build(corpus.passages))


def every_array(index: PassageIndex) -> list[np.ndarray]:
    postings = index.core.postings
    return [
        index.tokens, index.offsets, index.passage_ids, index.doc_ids, index.guild_ids,
        index.core.doc_len, index.core.idf, index.ranking_idf,
        postings.ptr, postings.passage, postings.shape, postings.shape_tf, postings.shape_dl,
        *index.owners.arrays().values(),
    ]


@given(initial=st.lists(documents, max_size=4), changes=st.lists(steps, min_size=1, max_size=4))
@hsettings(max_examples=60, deadline=None)
def test_a_change_never_writes_to_the_old_index(initial, changes):
    """Questions being answered keep using the old index while a change is made: every array of
    it is made read-only (numpy raises on any write), and its vocabulary and term ids stay."""
    corpus = Corpus()
    index = build(corpus.make(initial))
    for kind, argument in changes:
        for array in every_array(index):
            array.flags.writeable = False
        vocabulary, term_ids = list(index.vocabulary), dict(index.term_ids)
        answers_before = shown(index, A, True, analyze("talks china"))
        if kind == "add":
            changed = index.with_changes(added=corpus.make(argument))
        else:
            changed = index.with_changes(removed_docs=corpus.pick(argument))
        assert index.vocabulary == vocabulary and index.term_ids == term_ids
        assert shown(index, A, True, analyze("talks china")) == answers_before
        index = changed


@given(
    array=st.lists(st.integers(-5, 5), max_size=30),
    at=st.lists(st.integers(0, 30), max_size=10),
    data=st.data(),
)
def test_inserted_is_np_insert_for_ascending_points(array, at, data):
    array = np.array(array, np.int32)
    at = np.sort(np.minimum(np.array(at, np.int64), len(array)))
    values = np.array(data.draw(st.lists(st.integers(-9, 9), min_size=len(at), max_size=len(at))), np.int32)
    assert np.array_equal(incremental.inserted(array, at, values), np.insert(array, at, values))
