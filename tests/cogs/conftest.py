"""SimCord runs the real bot from create_bot() against a simulated Discord: no network, no token."""

from __future__ import annotations

from dataclasses import dataclass

import discord
import pytest

from bot import create_bot
from bot.settings import Settings


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    return Settings(db=tmp_path / "bot.db", question_rate=50)


@pytest.fixture
async def simcord_bot(bot_settings):
    bot = create_bot(bot_settings)  # simcord_env logs it in: setup_hook opens the store
    yield bot
    await bot.close()  # SimCord never closes the bot; the store's thread must end


@dataclass
class Server:
    guild: object
    channel: object
    admin: object  # has Manage Server
    member: object  # does not


def make_server(env, name: str) -> Server:
    guild = env.create_guild(name)
    channel = guild.create_text_channel("general")
    managers = guild.create_role("Managers", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user(f"{name}-admin"), roles=[managers])
    member = guild.add_member(env.create_user(f"{name}-member"))
    return Server(guild, channel, admin, member)


@pytest.fixture
def new_server(simcord_env):
    """Make more servers: tests/ is not a package (CI tests the installed bot), so tests cannot
    import make_server from here."""
    return lambda name: make_server(simcord_env, name)


@pytest.fixture
async def server(simcord_env) -> Server:
    return make_server(simcord_env, "news")


@pytest.fixture
async def other_server(simcord_env) -> Server:
    return make_server(simcord_env, "elsewhere")


@pytest.fixture
def seen():
    """Everything a reader sees in an embed, as one string, for assertions."""
    return embed_text


def embed_text(embed: discord.Embed) -> str:
    parts = [embed.title or "", embed.description or ""]
    parts += [f"{field.name}\n{field.value}" for field in embed.fields]
    parts.append(embed.footer.text or "" if embed.footer else "")
    return "\n".join(parts)
