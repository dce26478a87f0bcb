"""The index snapshot: a restart loads it instead of analyzing every passage again, and a
damaged, foreign or stale snapshot is never trusted: the answers are the store's."""

from __future__ import annotations

import shutil

import pytest

from bot.engine.documents import parse_text
from bot.engine.index import IndexBuilder, PassageIndex
from bot.engine.service import Engine
from bot.settings import Settings
from bot.store import Store

FERRY = "Harbor Report\n\nThe ferry service to Lamma Island was suspended because of the typhoon."
FERRY_Q = "Why was the ferry to Lamma Island suspended?"
BUNDLED_Q = "why were talks cancelled?"


async def answers(settings: Settings, question: str, guild_id: int | None = None) -> str | None:
    engine = await Engine.open(settings)
    try:
        return (await engine.ask(question, guild_id=guild_id)).answer
    finally:
        await engine.close()


def no_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, passages):
        raise AssertionError("the index was built from the passages' text again")

    monkeypatch.setattr(IndexBuilder, "add", refuse)


async def test_a_restart_loads_the_snapshot_instead_of_analyzing_again(settings, monkeypatch):
    engine = await Engine.open(settings)
    await engine.add_text(FERRY, guild_id=5, added_by="t")
    await engine.close()
    assert settings.snapshot_path().is_file()

    no_analysis(monkeypatch)
    assert "typhoon" in await answers(settings, FERRY_Q, 5)
    assert "abruptly halted in 2023" in await answers(settings, BUNDLED_Q, 5)


async def test_a_stale_snapshot_is_brought_up_to_date_from_the_store(settings):
    engine = await Engine.open(settings)  # saves the snapshot: the bundled article only
    (bundled,) = await engine.store.list_documents()
    await engine.close()
    store = await Store.open(settings.db)  # another process changes the store meanwhile
    await store.add_document(parse_text(FERRY), guild_id=5, added_by="other")
    await store.remove_document(bundled.id, removed_by="other")
    await store.close()

    assert "typhoon" in await answers(settings, FERRY_Q, 5)
    assert await answers(settings, BUNDLED_Q, 5) is None


@pytest.mark.parametrize("damage", ["flipped bytes", "cut short", "not a snapshot"])
async def test_a_damaged_snapshot_is_rebuilt(settings, damage):
    engine = await Engine.open(settings)
    await engine.add_text(FERRY, guild_id=5, added_by="t")
    await engine.close()
    path = settings.snapshot_path()
    data = bytearray(path.read_bytes())
    if damage == "flipped bytes":
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    elif damage == "cut short":
        data = data[: len(data) * 2 // 3]
    else:
        data = bytearray(b"PK\x03\x04 this is not an index" * 50)
    path.write_bytes(bytes(data))

    assert "typhoon" in await answers(settings, FERRY_Q, 5)
    assert "abruptly halted in 2023" in await answers(settings, BUNDLED_Q, 5)
    assert path.read_bytes() != bytes(data)  # and replaced by a sound one


async def test_a_snapshot_of_another_store_or_setting_is_not_used(tmp_path):
    mine, theirs = Settings(db=tmp_path / "mine.db"), Settings(db=tmp_path / "theirs.db")
    engine = await Engine.open(theirs)
    await engine.add_text(FERRY, guild_id=5, added_by="t")
    await engine.close()
    await answers(mine, BUNDLED_Q)  # creates mine and its snapshot
    shutil.copy(theirs.snapshot_path(), mine.snapshot_path())
    assert await answers(mine, FERRY_Q, 5) is None
    assert "abruptly halted in 2023" in await answers(mine, BUNDLED_Q, 5)

    # The same store with another k1: its snapshot's scores would be wrong, so it is rebuilt.
    other_k1 = theirs.model_copy(update={"k1": 1.2})
    engine = await Engine.open(other_k1)
    try:
        fresh = PassageIndex.build(await engine.store.all_passages(), k1=1.2, b=0.75)
        terms = ["ferri", "typhoon", "talk"]
        assert engine.index.scores(terms).tolist() == fresh.scores(terms).tolist()
        assert "typhoon" in (await engine.ask(FERRY_Q, guild_id=5)).answer
    finally:
        await engine.close()


async def test_a_snapshot_ahead_of_its_store_is_rebuilt(settings, tmp_path):
    """The store restored from an older backup: the snapshot has documents the store lost."""
    await answers(settings, BUNDLED_Q)
    backup = tmp_path / "backup.db"
    shutil.copy(settings.db, backup)
    engine = await Engine.open(settings)
    await engine.add_text(FERRY, guild_id=5, added_by="t")
    await engine.close()
    for suffix in ("-wal", "-shm"):
        (settings.db.parent / (settings.db.name + suffix)).unlink(missing_ok=True)
    shutil.copy(backup, settings.db)

    assert await answers(settings, FERRY_Q, 5) is None
    assert "abruptly halted in 2023" in await answers(settings, BUNDLED_Q, 5)


async def test_changes_deleted_since_the_snapshot_make_a_restart_rebuild(settings):
    """The snapshot includes change N; the store later deleted changes after N (kept too long
    ago): the start cannot catch up from them, so it rebuilds, and answers what was added."""
    engine = await Engine.open(settings)  # the snapshot: the bundled article only
    await engine.close()
    store = await Store.open(settings.db)
    await store.add_document(parse_text(FERRY), guild_id=5, added_by="other")
    store.changes_kept_s = 0  # the next add deletes every change but the latest
    await store.add_document(parse_text("Other Notes\n\nSomething else entirely."), guild_id=5, added_by="other")
    await store.close()

    assert "typhoon" in await answers(settings, FERRY_Q, 5)


async def test_a_process_that_fell_behind_the_deleted_changes_rebuilds(settings):
    """A running engine that did not look while changes were added and deleted finds that out
    at its next look and rebuilds: the document is answered, not silently missing."""
    engine = await Engine.open(settings)
    try:
        store = await Store.open(settings.db)
        await store.add_document(parse_text(FERRY), guild_id=5, added_by="other")
        store.changes_kept_s = 0
        await store.add_document(parse_text("Other Notes\n\nSomething else entirely."), guild_id=5, added_by="other")
        await store.close()
        assert (await engine.ask(FERRY_Q, guild_id=5)).answer is None  # not looked yet
        await engine.catch_up()
        assert "typhoon" in (await engine.ask(FERRY_Q, guild_id=5)).answer
    finally:
        await engine.close()
