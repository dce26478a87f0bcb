"""Upload limits through the real bot: declared size checked before download, uploads per server."""

from __future__ import annotations

import re
import time

import discord
import pytest
import simcord

from bot.settings import Settings


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    return Settings(db=tmp_path / "bot.db", max_upload_bytes=2_000, uploads_per_hour=2, question_rate=50)


async def test_oversized_attachment_is_refused_before_it_is_downloaded(simcord_env, server, monkeypatch):
    downloads = []
    original_read = discord.Attachment.read

    async def counting_read(self, *args, **kwargs):
        downloads.append(self.filename)
        return await original_read(self, *args, **kwargs)

    monkeypatch.setattr(discord.Attachment, "read", counting_read)
    big = b"Big Report\n\n" + b"The harbor report says many things. " * 100  # over 2,000 bytes
    refused = await server.admin.slash(server.channel, "corpus add", file=("big.txt", big))
    assert refused.ephemeral and "larger than the limit" in refused.response.content
    assert downloads == []
    assert len(await simcord_env.bot.engine.documents(server.guild.id)) == 1  # only the bundled article
    simcord.assert_error(simcord_env, Exception)


async def test_a_server_may_add_only_so_many_documents_an_hour(simcord_env, server, other_server):
    for i in range(2):
        added = await server.admin.slash(server.channel, "corpus add", file=(f"n{i}.txt", f"Note {i}\n\nFerry {i} is late.".encode()))
        assert "Added" in added.response.content
    before = int(time.time())
    third = await server.admin.slash(server.channel, "corpus add", file=("n2.txt", b"Note 2\n\nFerry 2 is late."))
    assert third.ephemeral
    refusal = re.fullmatch(
        r"This server has reached its limit of 2 documents an hour; it can add another <t:(\d+):R> \(at <t:\1:t>\)\.",
        third.response.content,
    )
    assert refusal, third.response.content
    assert before + 3500 <= int(refusal.group(1)) <= int(time.time()) + 3601  # an hour after the first add
    assert len(await simcord_env.bot.engine.documents(server.guild.id)) == 3
    # Another server has its own allowance.
    elsewhere = await other_server.admin.slash(other_server.channel, "corpus add", file=("x.txt", b"Note X\n\nBus X is late."))
    assert "Added" in elsewhere.response.content
    simcord.assert_error(simcord_env, Exception)


async def test_refused_uploads_do_not_use_up_the_hourly_limit(simcord_env, server):
    note = b"Ferry Notes\n\nThe ferry is late."
    for date in ("2024-02-30", "2024-13-01"):
        refused = await server.admin.slash(server.channel, "corpus add", file=("n.txt", note), date=date)
        assert refused.ephemeral and refused.response.content == f"{date} is not a date"
    binary = await server.admin.slash(server.channel, "corpus add", file=("b.txt", b"\x00\x01binary" * 10))
    assert "binary" in binary.response.content
    for i in range(2):  # the allowance of 2 is still whole
        added = await server.admin.slash(server.channel, "corpus add", file=(f"n{i}.txt", note + b" %d" % i), date="2024-02-29")
        assert added.response.content.startswith("Added"), added.response.content
    third = await server.admin.slash(server.channel, "corpus add", file=("n3.txt", note + b" 3"))
    assert "limit of 2 documents an hour" in third.response.content
    assert len(simcord_env.errors) == 4
