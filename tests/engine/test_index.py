"""The passage index: the retrieval rules on top of BM25 (idf floor, who sees what, changes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from bot.engine.analyzer import analyze
from bot.engine.index import PassageIndex, indexed_text
from bot.store import BUNDLED, PassageRecord

K1, B = 1.2, 0.75


def passage(pid: int, text: str, *, doc: int | None = None, guild: int = BUNDLED, ordinal: int = 1,
            section: str | None = None, title: str = "Untitled") -> PassageRecord:
    doc = pid if doc is None else doc
    return PassageRecord(pid, doc, guild, ordinal, ordinal + 1, section, 0, len(text), text, title, None, None)


def build(*passages: PassageRecord) -> PassageIndex:
    return PassageIndex.build(list(passages), k1=K1, b=B)


def found(index: PassageIndex, query: str, *, guild_id: int | None = None, everything: bool = True, k: int = 10):
    return [hit.passage_id for hit in index.search(analyze(query), k, guild_id=guild_id, everything=everything)]


# -- the rank_bm25 idf quirk --------------------------------------------------------------


def test_term_in_exactly_half_the_passages_still_finds_them():
    index = build(passage(1, "The talks resumed."), passage(2, "A weather report."))
    # rank_bm25 alone gives the term idf 0: both passages score 0, nothing to tell them apart
    assert np.array_equal(BM25Okapi([["talk", "resum"], ["weather", "report"]]).get_scores(["talk"]), [0.0, 0.0])
    assert found(index, "talks") == [1]
    scores = index.scores(analyze("talks"))
    assert scores[0] > scores[1] == 0


def test_term_in_most_passages_ranks_matching_above_non_matching():
    index = build(
        passage(1, "talks defense"),
        passage(2, "talks defense"),
        passage(3, "weather"),
        passage(4, "talks defense talks"),
    )
    # The raw BM25Okapi scores of the matching passages are negative here: below the passage
    # that does not contain the term at all.
    raw = index.core.scores(index.term_ids_of(["talk"]))
    assert raw[0] < 0 and raw[2] == 0
    assert sorted(found(index, "talks")) == [1, 2, 4]
    assert 3 not in found(index, "talks defense")
    scores = index.scores(["talk"])
    assert min(scores[[0, 1, 3]]) > scores[2]


def test_rarer_term_still_weighs_more_than_a_floored_common_one():
    index = build(passage(1, "talks defense"), passage(2, "talks defense"), passage(3, "talks taiwan"),
                  passage(4, "weather"))
    assert found(index, "talks taiwan")[0] == 3
    assert index.idf("taiwan") > index.idf("talk") > 0


def test_non_matching_passages_are_never_returned():
    index = build(passage(1, "Talks resumed at the Pentagon."), passage(2, "China canceled the talks."),
                  passage(3, "A weather report for Paris."))
    assert found(index, "pentagon") == [1]
    assert found(index, "pizza") == []
    assert index.search([], 10, guild_id=None, everything=True) == []
    assert 3 not in found(index, "talks canceled")


def test_search_ranks_best_match_first_and_respects_k():
    index = build(passage(1, "talks"), passage(2, "talks canceled talks canceled"), passage(3, "talks again"))
    assert found(index, "why were talks canceled?")[0] == 2
    assert len(found(index, "talks", k=2)) == 2


def test_unknown_term_gets_the_highest_idf():
    index = build(passage(1, "talks resumed"), passage(2, "talks halted"), passage(3, "weather"))
    assert index.idf("pizza") == max(index.idf(t) for t in index.vocabulary)


def test_section_and_title_are_searchable():
    first = passage(1, "Officials met.", ordinal=0, title="Pentagon Meeting", section="Background")
    second = passage(2, "They talked.", ordinal=1, title="Pentagon Meeting", section="Taiwan Question")
    assert "Pentagon Meeting" in indexed_text(first) and "Pentagon Meeting" not in indexed_text(second)
    index = build(first, second)
    assert found(index, "pentagon") == [1]  # the title counts for the first passage only
    assert found(index, "taiwan") == [2]
    assert found(index, "background") == [1]


# -- visibility -------------------------------------------------------------------------------


def visibility_index() -> PassageIndex:
    return build(
        passage(1, "bundled talks article", guild=BUNDLED),
        passage(2, "server A talks notes", guild=111),
        passage(3, "server B talks notes", guild=222),
    )


def test_guild_sees_bundled_and_its_own():
    index = visibility_index()
    assert sorted(found(index, "talks", guild_id=111, everything=False)) == [1, 2]
    assert sorted(found(index, "talks", guild_id=222, everything=False)) == [1, 3]


def test_guild_never_sees_another_guilds_passage():
    index = visibility_index()
    assert found(index, "notes", guild_id=222, everything=False) == [3]
    assert found(index, "notes", guild_id=333, everything=False) == []


def test_direct_messages_see_only_bundled():
    index = visibility_index()
    assert found(index, "talks", guild_id=None, everything=False) == [1]
    assert found(index, "notes", guild_id=None, everything=False) == []


def test_everything_searches_all_servers():
    index = visibility_index()
    assert sorted(found(index, "talks", everything=True)) == [1, 2, 3]


def test_visible_mask():
    index = visibility_index()
    assert list(index.visible(None)) == [True, False, False]
    assert list(index.visible(111)) == [True, True, False]
    assert list(index.visible(BUNDLED)) == [True, False, False]


# -- changes ----------------------------------------------------------------------------------


def assert_same_index(a: PassageIndex, b: PassageIndex, queries) -> None:
    assert list(a.passage_ids) == list(b.passage_ids)
    assert list(a.doc_ids) == list(b.doc_ids)
    assert list(a.guild_ids) == list(b.guild_ids)
    assert a.vocabulary == b.vocabulary
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.offsets, b.offsets)
    for q in queries:
        terms = analyze(q)
        assert np.array_equal(a.scores(terms), b.scores(terms))
        assert a.search(terms, 10, guild_id=None, everything=True) == b.search(terms, 10, guild_id=None, everything=True)


def test_with_changes_removes_and_appends_like_a_fresh_build():
    p1 = passage(1, "Talks resumed at the Pentagon.", doc=10)
    p2 = passage(2, "China canceled the talks over Taiwan.", doc=10)
    p3 = passage(3, "The weather in Paris is mild.", doc=20)
    p4 = passage(4, "Philippine vessels were harassed.", doc=30)
    p5 = passage(5, "New talks on Taiwan are planned.", doc=40, guild=7)
    old = build(p1, p2, p3, p4)
    new = old.with_changes(removed_docs=[10], added=[p5])

    assert list(new.passage_ids) == [3, 4, 5]
    assert found(new, "pentagon") == []
    assert "pentagon" not in new.vocabulary
    assert found(new, "taiwan") == [5]
    assert_same_index(new, build(p3, p4, p5), ["talks taiwan", "weather", "pentagon", "vessels paris"])
    # the old index is unchanged (questions in flight keep using it)
    assert list(old.passage_ids) == [1, 2, 3, 4]
    assert found(old, "pentagon") == [1]


def test_removing_every_document_gives_an_empty_index():
    index = build(passage(1, "talks", doc=1)).with_changes(removed_docs=[1])
    assert len(index) == 0
    assert found(index, "talks") == []


def test_adding_to_an_empty_index():
    index = PassageIndex.empty(k1=K1, b=B).with_changes(added=[passage(1, "talks resumed")])
    assert found(index, "talks") == [1]


content_words = st.lists(st.sampled_from(["talks", "china", "US", "taiwan", "pentagon"]), min_size=1, max_size=6)
stop_words = st.lists(st.sampled_from(["the", "us", "of"]), max_size=2)


@given(
    texts=st.lists(st.tuples(content_words, stop_words), min_size=1, max_size=8),
    docs=st.lists(st.integers(1, 4), min_size=8, max_size=8),
    removed=st.sets(st.integers(1, 4)),
    n_added=st.integers(0, 3),
)
@hsettings(max_examples=60, deadline=None)
def test_with_changes_equals_fresh_build_on_random_corpora(texts, docs, removed, n_added):
    passages = [passage(i + 1, " ".join(words + extra), doc=docs[i]) for i, (words, extra) in enumerate(texts)]
    n_added = min(n_added, len(passages) - 1)
    base, added = passages[: len(passages) - n_added], passages[len(passages) - n_added :]
    changed = build(*base).with_changes(removed_docs=removed, added=added)
    fresh = build(*[p for p in base if p.doc_id not in removed], *added)
    assert_same_index(changed, fresh, ["talks", "china taiwan", "US pentagon talks", "us"])


def test_index_of_passages_with_no_terms_can_be_built():
    """Regression: a corpus whose passages (and first-passage titles) are only stop words has no
    vocabulary, and BM25Core hands rank_bm25's _calc_idf an empty dict: ZeroDivisionError."""
    index = build(passage(1, "It is what it is.", ordinal=0, title="Why not"))
    assert len(index) == 1
    assert found(index, "anything") == []


def first_occurrence_order(tokens: list[int]) -> list[int]:
    seen: list[int] = []
    for token in tokens:
        if token not in seen:
            seen.append(token)
    return seen


def test_a_whole_build_keeps_the_builders_numbers():
    """The builder numbers terms as they come, which is the first-occurrence order a build needs."""
    from bot.engine.index import IndexBuilder

    passages = [passage(i, text) for i, text in enumerate(["the talks in Beijing", "talks resumed", "Beijing wins"], 1)]
    builder = IndexBuilder()
    builder.add(passages)
    index = builder.finish(k1=1.2, b=0.75)
    assert index.vocabulary == first_occurrence_order([t for p in passages for t in analyze(indexed_text(p))])
    assert index.term_ids == {term: i for i, term in enumerate(index.vocabulary)}


def test_adding_to_a_finished_builder_is_refused_and_leaves_its_index_answering():
    """A whole build's index holds its builder's vocabulary and term ids: an add after finish must
    not give the index a term it has no arrays for (every question with it would fail)."""
    from bot.engine.index import IndexBuilder

    builder = IndexBuilder()
    builder.add([passage(1, "The talks resumed.")])
    index = builder.finish(k1=K1, b=B)
    vocabulary = list(index.vocabulary)
    with pytest.raises(RuntimeError, match="after finish"):
        builder.add([passage(2, "A ferry sank in the typhoon.")])
    assert index.vocabulary == vocabulary
    assert found(index, "ferry typhoon") == []
    assert found(index, "talks") == [1]
