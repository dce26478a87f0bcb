"""The Discord bot: a ``commands.Bot`` given its settings and engine, one cog per feature area.

``create_bot()`` builds it without logging in; ``setup_hook`` (run by discord.py at login)
opens the store, builds the index, loads the cogs and syncs the slash commands if they changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import discord
from discord.ext import commands, tasks

from bot.embeds import NO_PINGS
from bot.engine.sandbox import start_forkserver
from bot.engine.service import Engine
from bot.settings import Settings
from bot.store import StoreError
from bot.tree import TalksTree
from bot.views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.cogs.ask", "bot.cogs.lookup", "bot.cogs.corpus")
TREE_HASH_KEY = "command_tree_hash"


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True  # privileged: enable it in the Developer Portal (README)
    return wanted


class TalksBot(commands.Bot):
    def __init__(self, settings: Settings, *, engine: Engine | None = None, **sharding) -> None:
        super().__init__(
            **sharding,
            command_prefix=commands.when_mentioned,  # no text commands: questions are messages
            intents=intents(),
            tree_cls=TalksTree,
            allowed_mentions=NO_PINGS,
            help_command=None,
        )
        self.settings = settings
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine opens in setup_hook, at login")
        return self._engine

    async def setup_hook(self) -> None:
        if self._engine is None:
            self._engine = await Engine.open(self.settings, preload=True)
        # Other processes' adds and removes, within 2 s: NOTIFY (PostgreSQL) and this poll.
        await self._engine.follow_changes(poll=False)
        self.follow_store.change_interval(seconds=self.settings.change_poll_s)
        self.follow_store.start()
        await asyncio.to_thread(start_forkserver)  # uploads are read in its children
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # The answers' buttons, found by their custom_id: they work on answers posted before a restart.
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self.settings.syncs_commands:  # global commands: the process holding shard 0 syncs them
            await self.sync_commands(force=False)

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: questions are the ask cog's listener's. (commands.Bot would look for
        a command in every mention and log each question as an unknown command, at ERROR.)"""

    @tasks.loop(seconds=0.5)
    async def follow_store(self) -> None:
        """Poll the store's changes table (a discord.ext.tasks loop: it stops with the bot)."""
        await self.engine.catch_up_logged()

    async def sync_commands(self, *, force: bool, guild: discord.abc.Snowflake | None = None) -> bool:
        """Sync the slash commands when they changed since the last sync (or when forced).

        Discord rate-limits syncs hard, so the tree's shape is hashed and remembered in the store.
        """
        payload = json.dumps([c.to_dict(self.tree) for c in self.tree.get_commands()], sort_keys=True)
        digest = hashlib.sha256(payload.encode()).hexdigest()
        key = TREE_HASH_KEY if guild is None else f"{TREE_HASH_KEY}:{guild.id}"
        if not force and await self.engine.store.get_value(key) == digest:
            return False
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)
        await self.engine.store.set_value(key, digest)
        log.info("slash commands synced%s", f" to guild {guild.id}" if guild else " globally")
        return True

    async def close(self) -> None:
        self.follow_store.cancel()
        await super().close()
        if self._engine is not None:
            await self._engine.close()
            self._engine = None


class ShardedTalksBot(TalksBot, commands.AutoShardedBot):
    """TalksBot on several shards in one process (TALKSBOT_SHARD_COUNT, TALKSBOT_SHARD_IDS)."""


def create_bot(settings: Settings | None = None) -> TalksBot:
    """The bot, not logged in. Without settings it reads them from the environment.

    With TALKSBOT_SHARD_COUNT it is an AutoShardedBot on this process's shards (all of them
    without TALKSBOT_SHARD_IDS); its engine indexes only those shards' servers' documents.
    """
    settings = settings or Settings()
    if settings.shards is None:
        return TalksBot(settings)
    return ShardedTalksBot(settings, shard_count=settings.shard_count, shard_ids=list(settings.shards))


def _token(settings: Settings) -> str | None:
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    return token or None


async def run_bot(settings: Settings) -> int:
    """``talksbot run``: log in and serve until stopped. Returns the exit code."""
    import sys

    token = _token(settings)
    if token is None:
        print("talksbot: DISCORD_TOKEN is not set; see the README for creating a bot token", file=sys.stderr)
        return 1
    discord.utils.setup_logging()
    bot = create_bot(settings)
    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure:
        print("talksbot: Discord rejected the token in DISCORD_TOKEN", file=sys.stderr)
        return 1
    except discord.PrivilegedIntentsRequired:
        print("talksbot: enable the Message Content intent for the bot in the Developer Portal", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"talksbot: {exc}", file=sys.stderr)
        return 1
    return 0


async def sync_commands(settings: Settings, *, guild_id: int | None) -> int:
    """``talksbot sync``: log in, force a sync of the slash commands, log out."""
    import sys

    token = _token(settings)
    if token is None:
        print("talksbot: DISCORD_TOKEN is not set", file=sys.stderr)
        return 1
    bot = create_bot(settings)
    try:
        async with bot:
            await bot.login(token)  # runs setup_hook: store, index, cogs
            await bot.sync_commands(force=True, guild=discord.Object(guild_id) if guild_id else None)
    except discord.LoginFailure:
        print("talksbot: Discord rejected the token in DISCORD_TOKEN", file=sys.stderr)
        return 1
    print("slash commands synced" + (f" to server {guild_id}" if guild_id else " globally"))
    return 0
