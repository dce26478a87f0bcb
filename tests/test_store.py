"""The SQLite store: schema versions, WAL, seeding the bundled article, atomic adds and removes."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import warnings

import pytest

from bot.engine.documents import Passage, ParsedDocument, parse_text
from bot.engine.service import Engine
from bot.store import (
    BUNDLED,
    MIGRATIONS,
    ChangesPruned,
    DuplicateDocument,
    ServerFull,
    Store,
    StoreError,
    migration_statements,
    open_store,
)

TEXT = "Notes on the Meeting\n\nFirst paragraph about talks.\n\nSecond paragraph about Taiwan."


@pytest.fixture
async def store(store_target):
    """The SQLite store, then the PostgreSQL store: every test using it runs on both."""
    store = await open_store(store_target)
    try:
        yield store
    finally:
        await store.close()


def pragma(path, name):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


# -- schema -----------------------------------------------------------------------------------


async def test_migrations_set_user_version(tmp_path):
    store = await Store.open(tmp_path / "s.db")
    assert await store.schema_version() == len(MIGRATIONS) == 7
    await store.close()
    assert pragma(tmp_path / "s.db", "user_version") == len(MIGRATIONS)


async def test_reopening_is_idempotent_and_keeps_data(tmp_path):
    path = tmp_path / "s.db"
    store = await Store.open(path)
    record = await store.add_document(parse_text(TEXT), added_by="test")
    await store.set_value("k", "v")
    await store.close()

    for _ in range(2):
        store = await Store.open(path)
        assert await store.schema_version() == len(MIGRATIONS)
        assert [d.id for d in await store.list_documents()] == [record.id]
        assert await store.get_value("k") == "v"
        assert await store.integrity_check() == "ok"
        await store.close()


async def test_old_schema_is_migrated_forward(tmp_path):
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()

    store = await Store.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.set_value("after", "migration 2")  # the kv table of migration 2 exists
    assert await store.get_value("after") == "migration 2"
    await store.close()


@pytest.mark.parametrize("from_version", [0, 1, len(MIGRATIONS) - 1])
async def test_processes_starting_together_all_open_the_store_and_migrate_it_once(tmp_path, from_version):
    """Shards started at once on a new store (or after an upgrade): each read the schema version
    before taking the write lock, so all but the first applied the same migration again and
    stopped at start with "table documents already exists"."""
    path = tmp_path / "s.db"
    connection = sqlite3.connect(path)
    for migration in MIGRATIONS[:from_version]:
        for statement in migration_statements(migration, "sqlite"):
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {from_version}")
    connection.commit()
    connection.close()
    opened = await asyncio.gather(*(Store.open(path) for _ in range(4)), return_exceptions=True)
    try:
        assert [type(s).__name__ for s in opened] == ["Store"] * 4, opened
        assert await opened[0].schema_version() == len(MIGRATIONS)
        assert await opened[0].integrity_check() == "ok"
    finally:
        for store in opened:
            if isinstance(store, Store):
                await store.close()


async def test_store_from_a_newer_version_is_refused_and_closed(tmp_path):
    """Part BUG: the refusal works, but Store.open closes the connection only on sqlite3.Error, so
    the StoreError of _migrate ("from a newer TalksBot") leaks the aiosqlite connection."""
    path = tmp_path / "new.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(StoreError, match="newer"):
            await Store.open(path)
        gc.collect()
        await asyncio.sleep(0.05)  # let a leaked connection's thread finish while the loop runs
    assert pragma(path, "user_version") == len(MIGRATIONS) + 1  # left as it was
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not any("deleted before being closed" in leak for leak in leaks), leaks


async def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="damaged or not a TalksBot store"):
        await Store.open(path)


async def test_journal_mode_is_wal(tmp_path):
    store = await Store.open(tmp_path / "s.db")
    try:
        assert (await store._one("PRAGMA journal_mode"))[0] == "wal"
    finally:
        await store.close()
    assert pragma(tmp_path / "s.db", "journal_mode") == "wal"  # persistent in the file


async def test_store_creates_missing_folders(tmp_path):
    store = await Store.open(tmp_path / "a" / "b" / "s.db")
    await store.close()
    assert (tmp_path / "a" / "b" / "s.db").is_file()


# -- bundled corpus ---------------------------------------------------------------------------


async def test_bundled_article_is_seeded_once(any_settings):
    settings = any_settings
    engine = await Engine.open(settings)
    docs = await engine.store.list_documents()
    assert [(d.guild_id, d.date, d.passages) for d in docs] == [(BUNDLED, "2024-01-10", 5)]
    assert docs[0].title.startswith("Top U.S. and Chinese Defense Officials")
    await engine.close()

    for _ in range(2):
        engine = await Engine.open(settings)
        assert await engine.store.count_documents() == 1
        assert await engine.seed_bundled() == 0
        assert await engine.store.count_documents() == 1
        assert len(engine.index) == 5
        await engine.close()


async def test_removed_bundled_article_stays_removed(any_settings):
    settings = any_settings
    engine = await Engine.open(settings)
    (doc,) = await engine.store.list_documents()
    assert await engine.remove(doc.id, removed_by="admin") is not None
    await engine.close()

    engine = await Engine.open(settings)
    try:
        assert await engine.store.count_documents() == 0
        assert len(engine.index) == 0
        answer = await engine.ask("why were talks cancelled?")
        assert answer.answer is None
    finally:
        await engine.close()


# -- adding and removing ---------------------------------------------------------------------


async def test_add_stores_document_and_passages(store):
    parsed = parse_text(TEXT, date="2024-02-01")
    record = await store.add_document(parsed, guild_id=5, added_by="alice", url="https://example.com/a")
    assert (record.title, record.date, record.passages, record.guild_id) == ("Notes on the Meeting", "2024-02-01", 2, 5)
    assert await store.get_document(record.id) == record
    assert await store.document_body(record.id) == parsed.body
    passages = await store.document_passages(record.id)
    assert [p.text for p in passages] == ["First paragraph about talks.", "Second paragraph about Taiwan."]
    assert all(p.title == "Notes on the Meeting" and p.guild_id == 5 and p.url == "https://example.com/a" for p in passages)
    assert [(user, action, doc_id) for user, action, doc_id, _, _ in await store.audit_log(5)] == [
        ("alice", "add", record.id)
    ]


async def test_a_server_full_of_documents_is_refused_counting_utf8_bytes(store):
    """On both stores: the per-server limit counts the bodies' UTF-8 bytes ("é" is two)."""
    first = parse_text("Café Notes\n\nThe café opens at nine.")
    await store.add_document(first, guild_id=5, added_by="t", max_guild_bytes=1_000)
    assert await store.guild_bytes(5) == len(first.body.encode("utf-8")) > len(first.body)
    with pytest.raises(ServerFull):
        await store.add_document(parse_text("Other Notes\n\nSomething else."), guild_id=5, added_by="t",
                                 max_guild_bytes=len(first.body.encode("utf-8")) + 5)
    assert [d.title for d in await store.list_documents(5) if d.guild_id == 5] == ["Café Notes"]


async def test_two_processes_adding_to_one_server_at_once_cannot_take_it_over_its_limit(store_target):
    """Each document fits alone, not both: exactly one is refused, whichever process adds it.
    (On PostgreSQL both read the server's size before either committed, and both were stored.)"""
    stores = [await open_store(store_target) for _ in range(2)]
    try:
        docs = [parse_text(f"Notes {n}\n\n" + f"Paragraph {n} about the harbor ferry timetable. " * 20) for n in (1, 2)]
        limit = len(docs[0].body.encode()) + len(docs[1].body.encode()) - 1
        results = await asyncio.gather(
            *(s.add_document(d, guild_id=5, added_by="t", max_guild_bytes=limit) for s, d in zip(stores, docs)),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["DocumentRecord", "ServerFull"], results
        assert await stores[0].guild_bytes(5) <= limit
    finally:
        for s in stores:
            await s.close()


async def test_remove_deletes_passages_with_the_document(store):
    keep = await store.add_document(parse_text("Other Notes\n\nSomething else entirely."), added_by="t")
    record = await store.add_document(parse_text(TEXT), guild_id=5, added_by="alice")
    removed = await store.remove_document(record.id, removed_by="bob")
    assert removed == record
    assert await store.get_document(record.id) is None
    assert await store.document_passages(record.id) == []
    assert {p.doc_id for p in await store.all_passages()} == {keep.id}
    assert await store.remove_document(record.id, removed_by="bob") is None
    assert [action for _, action, *_ in await store.audit_log(5)] == ["add", "remove"]


async def test_two_processes_removing_one_document_at_once_remove_it_once(store_target):
    """Both had read the document; only the one whose delete took it reports it removed, and the
    server's log says it was removed once (it said twice, and both processes recorded the change)."""
    stores = [await open_store(store_target) for _ in range(2)]
    try:
        record = await stores[0].add_document(parse_text(TEXT), guild_id=5, added_by="alice")
        results = await asyncio.gather(*(s.remove_document(record.id, removed_by=who) for s, who in zip(stores, "bc")))
        assert sorted(r is None for r in results) == [False, True], results
        assert [action for _, action, *_ in await stores[0].audit_log(5)] == ["add", "remove"]
        assert [c.action for c in await stores[1].changes_since(0)] == ["add", "remove"]
    finally:
        for s in stores:
            await s.close()


async def test_failed_add_leaves_nothing_behind(store):
    bad = ParsedDocument(
        "Broken", None, "Some text. More text.",
        (Passage(0, 1, None, 0, 10, "Some text."), Passage(1, 2, None, 11, 21, None)),  # NOT NULL text
    )
    with pytest.raises(store.integrity_errors):  # sqlite3.IntegrityError, asyncpg's on PostgreSQL
        await store.add_document(bad, added_by="t")
    assert await store.count_documents() == 0
    assert await store.all_passages() == []
    # the connection is usable afterwards (no transaction left open)
    record = await store.add_document(parse_text(TEXT), added_by="t")
    assert record.passages == 2


async def test_failure_during_add_rolls_back_the_document(store, monkeypatch):
    async def broken_audit(*args):
        raise RuntimeError("disk went away")

    monkeypatch.setattr(store, "_audit", broken_audit)
    with pytest.raises(RuntimeError):
        await store.add_document(parse_text(TEXT), guild_id=9, added_by="t")
    assert await store.count_documents() == 0
    assert await store.all_passages() == []


async def test_failure_during_remove_keeps_document_and_passages(store, monkeypatch):
    record = await store.add_document(parse_text(TEXT), guild_id=9, added_by="t")

    async def broken_audit(*args):
        raise RuntimeError("disk went away")

    monkeypatch.setattr(store, "_audit", broken_audit)
    with pytest.raises(RuntimeError):
        await store.remove_document(record.id, removed_by="t")
    assert await store.get_document(record.id) == record
    assert len(await store.document_passages(record.id)) == 2


async def test_duplicate_content_in_the_same_guild_is_refused(store):
    first = await store.add_document(parse_text(TEXT), guild_id=5, added_by="t")
    # whitespace and case do not make it a different document
    same = TEXT.upper().replace("\n\n", "\n\n\n")
    with pytest.raises(DuplicateDocument) as info:
        await store.add_document(parse_text(same), guild_id=5, added_by="t")
    assert info.value.existing.id == first.id
    assert f"#{first.id}" in str(info.value)
    assert await store.count_documents() == 1


async def test_same_content_in_another_guild_is_allowed(store):
    a = await store.add_document(parse_text(TEXT), guild_id=5, added_by="t")
    b = await store.add_document(parse_text(TEXT), guild_id=6, added_by="t")
    c = await store.add_document(parse_text(TEXT), guild_id=BUNDLED, added_by="t")
    assert len({a.id, b.id, c.id}) == 3
    assert await store.count_documents() == 3


async def test_list_documents_by_guild(store):
    bundled = await store.add_document(parse_text("Bundled One\n\nText one."), added_by="t")
    mine = await store.add_document(parse_text("Mine\n\nText two."), guild_id=5, added_by="t")
    await store.add_document(parse_text("Theirs\n\nText three."), guild_id=6, added_by="t")
    assert [d.id for d in await store.list_documents(5)] == [bundled.id, mine.id]
    assert len(await store.list_documents()) == 3


async def test_get_passages_by_id(store):
    record = await store.add_document(parse_text(TEXT), added_by="t")
    passages = await store.document_passages(record.id)
    got = await store.get_passages([passages[1].id, 999], visible_in=None)
    assert list(got) == [passages[1].id]
    assert got[passages[1].id] == passages[1]
    assert await store.get_passages([], visible_in=None) == {}


async def test_passages_by_id_are_found_only_where_they_are_visible(store):
    bundled = await store.add_document(parse_text(TEXT), added_by="t")
    private = await store.add_document(parse_text("Memo\n\nThe merger with Initech is secret."), guild_id=7, added_by="t")
    [bundled_passage, *_] = await store.document_passages(bundled.id)
    [memo] = await store.document_passages(private.id)
    ids = [bundled_passage.id, memo.id]
    assert set(await store.get_passages(ids, visible_in=7)) == set(ids)
    assert set(await store.get_passages(ids, visible_in=8)) == {bundled_passage.id}  # another server
    assert set(await store.get_passages(ids, visible_in=BUNDLED)) == {bundled_passage.id}  # DMs
    assert set(await store.get_passages(ids, visible_in=None)) == set(ids)  # the command line


async def test_ids_of_removed_documents_and_passages_are_never_reused(store):
    first = await store.add_document(parse_text(TEXT), guild_id=1, added_by="a")
    old_passages = {p.id for p in await store.document_passages(first.id)}
    await store.remove_document(first.id, removed_by="a")
    second = await store.add_document(parse_text("Memo\n\nThe merger with Initech.\n\nBoard votes Friday."), guild_id=2, added_by="b")
    assert second.id > first.id
    new_passages = {p.id for p in await store.document_passages(second.id)}
    assert new_passages.isdisjoint(old_passages) and min(new_passages) > max(old_passages)


async def test_migration_3_keeps_ids_and_stops_reuse_of_ids_removed_before_it(tmp_path):
    """A version-2 store (ids reusable) is rebuilt with AUTOINCREMENT, every id kept, in one go."""
    path = tmp_path / "v2.db"
    connection = sqlite3.connect(path)
    for statements in MIGRATIONS[:2]:
        for statement in statements:
            connection.execute(statement)
    connection.execute("PRAGMA user_version = 2")
    connection.execute(
        "INSERT INTO documents VALUES (5, 9, 'Kept', NULL, NULL, 'a', '2024-01-01T00:00:00+00:00', 'h5', 'Body.')"
    )
    connection.execute('INSERT INTO passages VALUES (40, 5, 0, 1, NULL, 0, 5, \'Body.\')')
    # Document 8 was added and removed under version 2: only the audit log remembers its id.
    connection.execute("INSERT INTO audit_log (guild_id, user_id, action, doc_id, title, at) VALUES (9, 'a', 'remove', 8, 'Gone', 'x')")
    connection.commit()
    connection.close()

    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        [doc] = await store.list_documents()
        assert (doc.id, doc.title, doc.passages) == (5, "Kept", 1)
        assert [p.id for p in await store.document_passages(5)] == [40]
        added = await store.add_document(parse_text(TEXT), guild_id=9, added_by="b")
        assert added.id == 9  # never 6 or 8 again
        assert min(p.id for p in await store.document_passages(added.id)) == 41
        assert await store.integrity_check() == "ok"
        assert await store._all("PRAGMA foreign_key_check") == []
    finally:
        await store.close()


async def test_server_settings_and_feedback(store):
    await store.set_ask_channel(1, 10, True)
    await store.set_ask_channel(1, 10, True)
    await store.set_ask_channel(1, 11, True)
    await store.set_ask_channel(1, 11, False)
    assert await store.ask_channels(1) == {10}
    await store.set_admin_role(1, 42)
    await store.set_admin_role(1, 43)
    assert await store.admin_role(1) == 43
    assert await store.admin_role(2) is None
    await store.record_feedback(100, 7, "why?", True)
    await store.record_feedback(100, 7, "why?", False)
    assert await store.feedback() == [(100, 7, "why?", 0)]


async def test_sql_in_a_document_is_stored_as_text(any_settings):
    engine = await Engine.open(any_settings)
    try:
        title = "Robert'); DROP TABLE documents;-- ?"  # and a ? that is not a placeholder
        record = await engine.add_text("x'); DELETE FROM passages; -- ?\n\nThe ferry leaves at noon.", title=title, added_by="t")
        assert (await engine.store.get_document(record.id)).title == title
        assert len(await engine.documents(None)) == 2 and await engine.store.integrity_check() == "ok"
        assert "noon" in (await engine.ask("When does the ferry leave?")).answer
    finally:
        await engine.close()


# -- gaps and taught questions (both dialects) ---------------------------------------------------

HARBOR = "Harbor Notes\n\nThe festival was moved to Saturday because the storm damaged the pier.\n\nVolunteers meet at nine."


async def test_gaps_are_kept_per_server_and_a_vote_counts_once(store):
    await store.record_gap(7, "When is the fair?", "fair", [3, 1])
    await store.record_gap(7, "when is the fair", "fair", [])
    for _ in range(2):
        await store.record_gap(7, "Why?", "whi", [2], vote_key="10:1")
    await store.record_gap(8, "When is the fair?", "fair", [])
    assert [(g.question, g.closest) for g in await store.gaps(7)] == [
        ("When is the fair?", (3, 1)), ("when is the fair", ()), ("Why?", (2,))
    ]
    assert len(await store.gaps(None)) == 4
    assert await store.forget_gaps(7, "fair") == 2
    assert [g.question for g in await store.gaps(7)] == ["Why?"] and len(await store.gaps(8)) == 1


async def test_old_gaps_expire(store):
    await store.record_gap(7, "old?", "old", [], at="2020-01-01T00:00:00+00:00")
    await store.record_gap(7, "new?", "new", [])
    await store.expire_gaps("2021-01-01T00:00:00+00:00")
    assert [g.question for g in await store.gaps(7)] == ["new?"]


async def test_teaching_is_per_server_replaced_by_terms_and_goes_with_its_document(store):
    doc = await store.add_document(parse_text(HARBOR), guild_id=7, added_by="a")
    first, second = [p.id for p in await store.document_passages(doc.id)]
    taught = await store.teach(7, "When is the fair?", "fair", first, taught_by="admin")
    again = await store.teach(7, "when is the fair", "fair", second, taught_by="admin")
    assert again.id == taught.id and (again.question, again.passage_id) == ("when is the fair", second)
    assert await store.taught(8) == []
    assert await store.unteach(8, taught.id) is False
    other = await store.teach(7, "Who volunteers?", "volunt", second, taught_by="admin")
    assert await store.unteach(7, other.id) is True
    assert [t.question for t in await store.taught(7)] == ["when is the fair"]
    await store.remove_document(doc.id, removed_by="a")
    assert await store.taught(7) == []


# -- the changes table is pruned -----------------------------------------------------------------


async def test_changes_older_than_the_retention_are_deleted_by_the_next_add(store):
    """Both stores: changes older than ``changes_kept_s`` go with the next add or remove, the
    latest stays (so the last change id does not go back), and a reader behind them is told."""
    first = await store.add_document(parse_text("One Notes\n\nThe first one."), guild_id=5, added_by="t")
    second = await store.add_document(parse_text("Two Notes\n\nThe second one."), guild_id=5, added_by="t")
    assert [c.doc_id for c in await store.changes_since(0)] == [first.id, second.id]
    store.changes_kept_s = 3600  # an hour: nothing is that old yet, so nothing goes
    await store.remove_document(first.id, removed_by="t")
    assert len(await store.changes_since(0)) == 3
    latest = await store.last_change()

    await asyncio.sleep(0.01)
    store.changes_kept_s = 0  # everything recorded before now is old
    third = await store.add_document(parse_text("Three Notes\n\nThe third one."), guild_id=5, added_by="t")
    assert await store.last_change() > latest
    assert [c.doc_id for c in await store.changes_since(latest)] == [third.id]  # not behind: still served
    with pytest.raises(ChangesPruned):
        await store.changes_since(latest - 1)  # behind what was deleted: told, never silently missing
    assert await store.changes_since(await store.last_change()) == []

    # The latest change is never deleted, however old: last_change stays where it was.
    newest = await store.last_change()
    await asyncio.sleep(0.01)
    await store.add_documents([], by="t")
    assert await store.last_change() == newest
    assert [c.doc_id for c in await store.changes_since(latest)] == [third.id]
