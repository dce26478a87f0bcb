"""Shard clusters: a process indexes the bundled documents and its own shards' servers' documents."""

from __future__ import annotations

import discord
import pytest
from discord.ext import commands

from bot import create_bot
from bot.engine.service import Engine
from bot.settings import Settings

# Discord's rule: a server is on shard (guild_id >> 22) % shard_count.
ON_SHARD_0 = (1_000 << 22) | 5
ON_SHARD_1 = (1_001 << 22) | 7
FERRY = "Harbor Report\n\nThe ferry service to Lamma Island was suspended because of the typhoon."
BRIDGE = "Bridge Closure\n\nThe old bridge was closed because engineers found cracks in its pillars."
FERRY_Q, BRIDGE_Q = "Why was the ferry to Lamma Island suspended?", "Why was the old bridge closed?"
BUNDLED_Q = "why were talks cancelled?"


async def answer(engine: Engine, question: str, guild_id: int) -> str | None:
    return (await engine.ask(question, guild_id=guild_id)).answer


async def test_two_engines_on_shards_0_and_1_answer_only_their_own_servers(any_settings):
    writer = await Engine.open(any_settings)  # an unsharded process (the command line) adds both
    await writer.add_text(FERRY, guild_id=ON_SHARD_0, added_by="t")
    await writer.add_text(BRIDGE, guild_id=ON_SHARD_1, added_by="t")
    shard_0 = await Engine.open(any_settings.model_copy(update={"shard_count": 2, "shard_ids": "0"}))
    shard_1 = await Engine.open(any_settings.model_copy(update={"shard_count": 2, "shard_ids": "1"}))
    try:
        assert "typhoon" in await answer(shard_0, FERRY_Q, ON_SHARD_0)
        assert "cracks" in await answer(shard_1, BRIDGE_Q, ON_SHARD_1)
        for engine, guild_id in ((shard_0, ON_SHARD_0), (shard_1, ON_SHARD_1)):
            assert "abruptly halted in 2023" in await answer(engine, BUNDLED_Q, guild_id)
        # Not even searching everything finds the other shards' documents: they are not indexed.
        assert {s.title for s in (await shard_0.search("bridge cracks", everything=True)).hits} == set()
        assert {s.title for s in (await shard_1.search("ferry typhoon", everything=True)).hits} == set()

        # Later adds (followed from the store's changes) go only to the process serving them.
        await writer.add_text(
            "Market Notes\n\nThe night market moved to the pier after the fire.", guild_id=ON_SHARD_1, added_by="t"
        )
        assert await shard_0.catch_up() >= 1 and await shard_1.catch_up() >= 1
        assert await answer(shard_0, "Where did the night market move?", ON_SHARD_1) is None
        assert "pier" in await answer(shard_1, "Where did the night market move?", ON_SHARD_1)
    finally:
        for engine in (writer, shard_0, shard_1):
            await engine.close()


def test_sharded_settings_make_an_auto_sharded_bot_that_syncs_only_on_shard_0(tmp_path):
    plain = create_bot(Settings(db=tmp_path / "b.db"))
    assert not isinstance(plain, commands.AutoShardedBot) and plain.settings.syncs_commands

    first = create_bot(Settings(db=tmp_path / "b.db", shard_count=4, shard_ids="0-1"))
    second = create_bot(Settings(db=tmp_path / "b.db", shard_count=4, shard_ids="2,3"))
    assert isinstance(first, commands.AutoShardedBot) and isinstance(first, discord.Client)
    assert (first.shard_count, first.shard_ids) == (4, [0, 1])
    assert (second.shard_count, second.shard_ids) == (4, [2, 3])
    assert first.settings.syncs_commands and not second.settings.syncs_commands


@pytest.mark.parametrize(
    ("count", "ids", "problem"),
    [(None, "1", "needs TALKSBOT_SHARD_COUNT"), (2, "2", "0 to 1"), (2, "one", "look like 0-3")],
)
def test_bad_shard_settings_are_refused_with_a_reason(tmp_path, count, ids, problem):
    with pytest.raises(ValueError, match=problem):
        Settings(db=tmp_path / "b.db", shard_count=count, shard_ids=ids)
