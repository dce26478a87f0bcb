"""Start-up: create_bot() from settings or the environment, intents, syncing only on change."""

from __future__ import annotations

import discord

from bot import create_bot
from bot.client import TREE_HASH_KEY
from bot.settings import Settings


def test_create_bot_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TALKSBOT_DB", str(tmp_path / "env.db"))
    bot = create_bot()
    assert bot.settings.db == tmp_path / "env.db"
    assert not bot.is_ready()
    assert bot.intents.message_content and bot.intents.guild_messages and bot.intents.dm_messages
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict()["parse"] == []


async def test_commands_are_synced_once_and_again_only_when_changed(simcord_env):
    bot = simcord_env.bot
    puts = lambda: [r for r in simcord_env.http_requests if r.method == "PUT" and r.path.endswith("/commands")]  # noqa: E731
    assert len(puts()) == 1  # the first start syncs
    assert await bot.engine.store.get_value(TREE_HASH_KEY)
    assert await bot.sync_commands(force=False) is False  # unchanged: no call to Discord
    assert len(puts()) == 1

    @bot.tree.command(name="ping", description="test")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    assert await bot.sync_commands(force=False) is True  # the tree changed
    assert len(puts()) == 2


async def test_setup_hook_seeds_the_bundled_article(simcord_env):
    docs = await simcord_env.bot.engine.documents(None)
    assert [d.title[:24] for d in docs] == ["Top U.S. and Chinese Def"]
    assert len(simcord_env.bot.engine.index) == 5


def test_settings_can_be_built_directly(tmp_path):
    settings = Settings(db=tmp_path / "x.db", discord_token="secret-token")
    assert "secret-token" not in repr(settings)
    assert settings.discord_token.get_secret_value() == "secret-token"


async def test_a_question_by_mention_logs_no_error(simcord_env, server, caplog):
    import logging

    # SimCord listens for command errors itself, which silences discord.py's default logging of
    # them; without that listener, as in production, discord.py logs each at ERROR.
    simcord_env.bot.extra_events.pop("on_command_error", None)
    with caplog.at_level(logging.WARNING):
        await server.member.send(server.channel, f"{simcord_env.bot.user.mention} why were talks cancelled?")
    assert "abruptly halted" in server.channel.last_message.embeds[0].description
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_command_discord_still_has_in_an_old_version_gets_a_short_private_answer(simcord_env, server, caplog):
    import logging

    bot = simcord_env.bot
    outdated = "That command was just updated and Discord still shows its old version; try again in a minute."
    # A deploy removed a command (or renamed it) that members' Discord still offers.
    bot.tree.remove_command("help")
    with caplog.at_level(logging.WARNING):
        gone = await server.member.slash(server.channel, "help")
    assert gone.ephemeral and gone.response.content == outdated
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # nothing went wrong on the bot's side

    # A deploy gave a command a new required option: members' Discord sends it without.
    @bot.tree.command(name="help", description="What TalksBot can do")
    async def help_with_topic(interaction: discord.Interaction, topic: str) -> None:
        await interaction.response.send_message(topic)

    changed = await server.member.slash(server.channel, "help")
    assert changed.ephemeral and changed.response.content == outdated
    assert len(simcord_env.errors) == 2  # both went through the tree's handler
