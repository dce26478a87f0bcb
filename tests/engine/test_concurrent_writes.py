"""Uploads from many servers at the same moment: all stored, all searchable (issue 16, item 2)."""

from __future__ import annotations

import asyncio

import pytest

TOPICS = ["quokka", "narwhal", "axolotl", "pangolin", "okapi", "tapir"]


def report(topic: str) -> str:
    return (
        f"{topic.title()} Report\n\n"
        + "\n\n".join(f"Paragraph {i}: the {topic} census counted {i} animals near the river." for i in range(50))
        + f"\n\nThe {topic} census was cancelled because the bridge flooded.\n"
    )


@pytest.mark.parametrize("count", [2, 6])
async def test_concurrent_adds_in_different_servers_are_all_stored_and_searchable(engine, count):
    topics = TOPICS[:count]
    records = await asyncio.gather(
        *(engine.add_text(report(topic), guild_id=100 + i, added_by="admin") for i, topic in enumerate(topics))
    )
    assert sorted(r.guild_id for r in records) == [100 + i for i in range(count)]
    stored = await engine.store.all_passages()
    for i, topic in enumerate(topics):
        guild_id = 100 + i
        assert sum(p.guild_id == guild_id for p in stored) == 51
        answer = await engine.ask(f"Why was the {topic} census cancelled?", guild_id=guild_id)
        assert answer.answer and "bridge flooded" in answer.answer and topic in answer.answer
        # The running index holds every committed passage, none twice.
        assert int((engine.index.guild_ids == guild_id).sum()) == 51
    assert await engine.store.integrity_check() == "ok"


async def test_a_failed_index_update_is_applied_by_the_next_one(engine, monkeypatch):
    first = await engine.add_text(report("quokka"), guild_id=1, added_by="a")
    # The store committed the second document, but making it searchable fails once.
    original = engine.index.with_changes
    calls = []

    def failing_once(**changes):
        calls.append(changes)
        if len(calls) == 1:
            raise MemoryError("simulated")
        return original(**changes)

    monkeypatch.setattr(type(engine.index), "with_changes", lambda self, **c: failing_once(**c) if self is engine.index else original(**c))
    with pytest.raises(MemoryError):
        await engine.add_text(report("narwhal"), guild_id=2, added_by="b")
    monkeypatch.undo()
    await engine.add_text(report("okapi"), guild_id=3, added_by="c")  # applies the narwhal report too
    answer = await engine.ask("Why was the narwhal census cancelled?", guild_id=2)
    assert answer.answer and "narwhal" in answer.answer
    assert int((engine.index.doc_ids == first.id).sum()) == 51
