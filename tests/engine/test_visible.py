"""Statistics per visible set (issue 16, item 5): a server's scores are BM25Okapi over exactly the
passages it sees, so another server's adds and removes change nothing it is shown."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from bot.engine import snapshot
from bot.engine.analyzer import analyze
from bot.engine.index import PassageIndex, indexed_text
from bot.engine.service import Engine
from bot.settings import Settings
from bot.store import BUNDLED, PassageRecord

K1, B = 1.2, 0.75
A, B_SERVER, NOBODY = 111, 222, 333
WORDS = ["talks", "china", "taiwan", "pentagon", "nightjar", "heath", "survey", "ferry", "typhoon"]
QUERY_WORDS = [*WORDS, "absent"]


def passage(pid: int, text: str, *, guild: int, doc: int | None = None) -> PassageRecord:
    doc = pid if doc is None else doc
    return PassageRecord(pid, doc, guild, 1, 2, None, 0, len(text), text, "Untitled", None, None)


def build(passages: list[PassageRecord]) -> PassageIndex:
    return PassageIndex.build(passages, k1=K1, b=B)


# The views a server can have: (guild, shows the bundled article).
VIEWS = [(None, True), (A, True), (A, False), (B_SERVER, True), (B_SERVER, False), (NOBODY, True)]


def sees(guild_id: int | None, bundled: bool, p: PassageRecord) -> bool:
    if guild_id is None:
        return p.guild_id == BUNDLED
    return p.guild_id == guild_id or (bundled and p.guild_id == BUNDLED)


def okapi_over(passages: list[PassageRecord], k1: float = K1, b: float = B) -> BM25Okapi | None:
    """rank_bm25 over the passages, tokenized by the product's analyzer; None if it has no terms."""
    corpus = [analyze(indexed_text(p)) for p in passages]
    return BM25Okapi(corpus, k1=k1, b=b) if any(corpus) else None


def rows_of(index: PassageIndex, passages: list[PassageRecord]) -> np.ndarray:
    position = {int(pid): row for row, pid in enumerate(index.passage_ids)}
    return np.array([position[p.id] for p in passages], np.int64)


def shown(index: PassageIndex, guild_id: int | None, bundled: bool, terms: list[str]):
    """Everything a server's member is shown that the statistics decide: the ranking (passage,
    score), the scores of what it sees, each term's idf, whether it is known, the largest idf."""
    view = index.view(guild_id, bundled=bundled)
    rows = view.rows  # positions of the passages it sees, ascending
    assert np.array_equal(rows, np.flatnonzero(index.visible(guild_id, bundled=bundled)))
    visible = {int(index.passage_ids[row]): float(score) for row, score in zip(rows, view.scores(terms)[rows])}
    hits = [(h.passage_id, h.doc_id, h.score) for h in view.search(terms, 10)]
    per_term = [(view.idf(t), view.knows(t)) for t in terms]
    return hits, visible, per_term, view.max_idf, len(view)


owners = st.sampled_from([BUNDLED, BUNDLED, A, B_SERVER])
texts = st.lists(st.sampled_from([*WORDS, "the", "of"]), max_size=7)
corpora = st.lists(st.tuples(texts, owners), min_size=1, max_size=12)
queries = st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=4)


@given(corpus=corpora, removed=st.sets(st.integers(1, 12), max_size=3), query=queries, split=st.integers(0, 12))
@example(  # bundled and A share "talks"; A's rows make it common, so its idf is epsilon * average idf
    corpus=[(["talks", "china"], BUNDLED), (["taiwan"], BUNDLED), (["talks"], A), (["talks", "heath"], A)],
    removed=set(),
    query=["talks", "china"],
    split=2,
)
@hsettings(max_examples=150, deadline=None)
def test_each_servers_scores_are_rank_bm25_over_what_it_sees(corpus, removed, query, split):
    passages = [passage(i + 1, " ".join(words), guild=owner) for i, (words, owner) in enumerate(corpus)]
    # Built in two steps with removals, as a running bot changes its index.
    index = build(passages[:split]).with_changes(added=passages[split:], removed_docs=removed)
    present = [p for p in passages[:split] if p.doc_id not in removed] + passages[split:]
    terms = analyze(" ".join(query))
    for guild_id, bundled in VIEWS:
        seen = [p for p in present if sees(guild_id, bundled, p)]
        view = index.view(guild_id, bundled=bundled)
        assert len(view) == len(seen)
        okapi = okapi_over(seen)
        if okapi is None:
            assert view.search(terms, 10) == []
            continue
        rows = rows_of(index, seen)
        expected = okapi.get_scores(terms)
        assert np.array_equal(view.okapi_scores(terms)[rows], expected), (guild_id, bundled)
        # The ranking's idf: rank_bm25's, floored at half its smallest positive idf.
        positive = [idf for idf in okapi.idf.values() if idf > 0]
        floor = min(positive) / 2 if positive else 0.1
        for term in terms:
            assert view.knows(term) == (term in okapi.idf)
            if term in okapi.idf:
                assert view.idf(term) == max(okapi.idf[term], floor)
        assert view.max_idf == max(max(okapi.idf.values()), floor)


@given(
    base=corpora,
    private=st.lists(texts, min_size=1, max_size=5),
    query=queries,
)
@hsettings(max_examples=100, deadline=None)
def test_another_servers_adds_and_removes_change_nothing_a_server_is_shown(base, private, query):
    passages = [passage(i + 1, " ".join(words), guild=owner) for i, (words, owner) in enumerate(base)]
    before = build(passages)
    added = [passage(100 + i, " ".join(words), guild=A) for i, words in enumerate(private)]
    after = before.with_changes(added=added)
    removed_again = after.with_changes(removed_docs=[p.doc_id for p in added])
    terms = analyze(" ".join(query))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index.npz"
        snapshot.save(after, path, {"test": 1}, change=1)
        loaded, _ = snapshot.load(path, {"test": 1}, k1=K1, b=B)
    for bundled in (True, False):
        expected = shown(before, B_SERVER, bundled, terms)
        assert shown(after, B_SERVER, bundled, terms) == expected
        assert shown(removed_again, B_SERVER, bundled, terms) == expected
        assert shown(loaded, B_SERVER, bundled, terms) == expected
    assert shown(loaded, A, True, terms) == shown(after, A, True, terms)


def test_a_private_operation_nightjar_changes_nothing_another_server_is_shown():
    heath = passage(1, "The nightjar survey counted forty birds on the heath.", guild=B_SERVER)
    bundled = passage(2, "Defense talks resumed at the Pentagon.", guild=BUNDLED)
    before = build([bundled, heath])
    secret = passage(3, "Operation Nightjar: nightjar nightjar codename plans.", guild=A)
    ferry = passage(4, "The ferry timetable for the harbor.", guild=A)
    after = before.with_changes(added=[secret, ferry])
    terms = analyze("nightjar survey")
    assert shown(after, B_SERVER, True, terms) == shown(before, B_SERVER, True, terms)
    # Global statistics would have told B: over every server's passages, its passage's score moves.
    def heath_score(index: PassageIndex) -> float:
        return next(h.score for h in index.search(terms, 5, guild_id=None, everything=True) if h.passage_id == 1)

    assert heath_score(after) != heath_score(before)
    # A, which sees its memo, gets the statistics of what it sees: rank_bm25's over those three.
    okapi = okapi_over([bundled, secret, ferry])
    assert after.view(A).idf("nightjar") == okapi.idf["nightjar"] > 0


RANGER_LOG = """Ranger Log

The nightjar nightjar nightjar calls were recorded at dusk by the rangers.

The survey covered the heath and the burned heath near the old quarry this summer.

Counting stopped because a fire burned the heath where the nightjar nests.
"""
OPERATION = "Operation Nightjar\n\n" + "\n\n".join(f"Nightjar phase {i}: the nightjar unit moves." for i in range(8))


async def test_counts_follow_another_processs_adds_and_removes(any_settings: Settings):
    """The serving process learns of another process's changes from the store's changes feed; its
    counts per server stay exact: B's scores do not move, A's are rank_bm25's over what A sees."""
    serving = await Engine.open(any_settings)
    other = await Engine.open(any_settings)  # the command line, or another shard group
    try:
        await serving.add_text(RANGER_LOG, guild_id=B_SERVER, added_by="t")

        async def b_sees() -> list[tuple[int, int, float]]:
            return [(h.doc_id, h.paragraph, h.score) for h in (await serving.search("nightjar heath", guild_id=B_SERVER)).hits]

        before = await b_sees()
        memo = await other.add_text(OPERATION, guild_id=A, added_by="t")
        assert await serving.catch_up() >= 1
        assert await b_sees() == before

        index = serving.index
        seen = [p for p in await serving.store.all_passages() if p.guild_id in (BUNDLED, A)]
        terms = analyze("nightjar heath")
        rows = rows_of(index, seen)
        okapi = okapi_over(seen, serving.settings.k1, serving.settings.b)
        assert np.array_equal(index.view(A).okapi_scores(terms)[rows], okapi.get_scores(terms))

        await other.remove(memo.id, removed_by="t")
        assert await serving.catch_up() >= 1
        assert await b_sees() == before
        assert not serving.index.view(A).knows("nightjar")
    finally:
        await other.close()
        await serving.close()


def reference_counts(passages: list[list[int]], guilds: list[int]) -> dict[str, list]:
    """OwnerCounts' arrays the plain way: each owner's passages and terms, one at a time."""
    owner_ids = sorted(set(guilds))
    fields: dict[str, list] = {name: [] for name in ("passages", "lengths", "term", "df", "first", "by_first")}
    fields["ptr"] = [0]
    position = 0
    first: dict[tuple[int, int], int] = {}
    df: dict[tuple[int, int], int] = {}
    for terms, guild in zip(passages, guilds):
        for term in set(terms):
            df[guild, term] = df.get((guild, term), 0) + 1
        for offset, term in enumerate(terms):
            first.setdefault((guild, term), position + offset)
        position += len(terms)
    for owner in owner_ids:
        fields["passages"].append(guilds.count(owner))
        fields["lengths"].append(sum(len(p) for p, g in zip(passages, guilds) if g == owner))
        terms = sorted(term for guild, term in df if guild == owner)
        start = len(fields["term"])
        fields["term"] += terms
        fields["df"] += [df[owner, t] for t in terms]
        fields["first"] += [first[owner, t] for t in terms]
        fields["by_first"] += sorted(range(start, start + len(terms)), key=lambda e: fields["first"][e])
        fields["ptr"].append(len(fields["term"]))
    return {"owner_ids": owner_ids} | fields


@given(
    corpus=st.lists(
        st.tuples(st.lists(st.integers(min_value=0, max_value=5), max_size=8), st.sampled_from([BUNDLED, A, B_SERVER])),
        max_size=12,
    ),
    chunk_postings=st.sampled_from([1, 2, 5, 1 << 19]),
)
@hsettings(max_examples=300, deadline=None)
def test_owner_counts_equal_a_plain_count_of_each_owners_passages(corpus, chunk_postings):
    """Counted a run of terms at a time, the counts per owner are the plain count's, array for array."""
    from bot.engine.bm25 import build_postings
    from bot.engine.visible import OwnerCounts

    passages, guilds = [p for p, _ in corpus], [g for _, g in corpus]
    tokens = np.array([t for p in passages for t in p], np.int32)
    offsets = np.zeros(len(passages) + 1, np.int64)
    np.cumsum([len(p) for p in passages], out=offsets[1:])
    postings, first_position = build_postings(tokens, offsets, 6)
    counts = OwnerCounts.count(
        postings, first_position, np.array(guilds, np.int64), np.diff(offsets), chunk_postings=chunk_postings
    )
    for name, expected in reference_counts(passages, guilds).items():
        array = getattr(counts, name)
        assert array.dtype == (np.int32 if name == "term" else np.int64), name
        assert array.tolist() == expected, name
