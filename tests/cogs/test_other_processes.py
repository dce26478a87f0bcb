"""The running bot answers from documents another process added to its SQLite store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("talksbot")
QUESTION = "Why was the ferry to Lamma Island suspended?"


async def test_a_document_added_by_talksbot_add_is_answered_within_2_s(simcord_env, server, bot_settings, tmp_path):
    bot = simcord_env.bot
    await server.member.send(server.channel, f"{bot.user.mention} {QUESTION}")
    assert "couldn't find an answer" in server.channel.last_message.embeds[0].description

    document = tmp_path / "ferry.txt"
    document.write_text("Harbor Report\n\nThe ferry service to Lamma Island was suspended because of the typhoon.", "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_")}
    command = [str(SCRIPT), "--db", str(bot_settings.db), "add", str(document), "--guild", str(server.guild.id)]
    # In a thread, so the bot's event loop keeps running while the other process writes.
    added = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, env=env)
    assert added.returncode == 0 and added.stdout.startswith("added #"), added.stderr
    # The bot polls the store on a discord.ext.tasks loop, which SimCord runs on its own clock:
    # let up to 2 s of the bot's time pass, asking after each poll interval.
    waited = 0.0
    while True:
        await simcord_env.advance_time(bot_settings.change_poll_s)
        waited += bot_settings.change_poll_s
        await server.member.send(server.channel, f"{bot.user.mention} {QUESTION}")
        description = server.channel.last_message.embeds[0].description
        if "suspended because of the typhoon" in description:
            break
        assert waited < 2.0, f"still not answered 2 s after the add: {description!r}"
