"""``python -m bot.screenshots DIR``: the README's pictures, made by the real bot.

A SimCord world is built around ``create_bot()`` (a server with an admin and a member, a
temporary store with the bundled article), each scene is played as a member would play it, and
the bot's message is captured through SimCord's Preview (served on 127.0.0.1) in a headless
Chromium: Debian's ``chromium`` package, driven by Playwright. Needs the ``test`` and
``screenshots`` extras and ``/usr/bin/chromium`` (or ``$CHROMIUM``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.settings import Settings

CHROMIUM = "/usr/bin/chromium"
# Headless, offline, no state kept: Playwright adds --headless and a fresh temporary profile
# (--user-data-dir) itself; the rest turn off everything that would reach the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 860, 1000
BOT_NAME = "TalksBot"

# The document an admin adds in the /corpus add scene.
FESTIVAL_NOTES = """Harbor Festival Notes

The harbor festival moved to Saturday because a storm damaged the main pier on Thursday night.

Repairs to the pier will cost about 40,000 dollars, paid from the town's emergency fund.
"""


def chromium_path() -> str | None:
    """Where Chromium is, or None: ``$CHROMIUM``, else Debian's package."""
    path = os.environ.get("CHROMIUM", CHROMIUM)
    return path if Path(path).is_file() and os.access(path, os.X_OK) else None


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (Playwright's Browser) on the system's Chromium."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise FileNotFoundError(f"no Chromium at {os.environ.get('CHROMIUM', CHROMIUM)}: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def use_browser(preview: Any, browser: Any) -> None:
    """Make ``preview.screenshot`` use ``browser``: SimCord 3.2 would launch Playwright's own
    Chromium build, which cannot be downloaded here. Its capture manager keeps the browser it
    launched in ``_browser`` and launches one only when that is None."""
    preview._capture_manager._browser = browser


@dataclass
class World:
    env: Any
    guild: Any
    channel: Any
    admin: Any
    member: Any


@asynccontextmanager
async def world(settings: Settings | None = None) -> AsyncIterator[World]:
    """The real bot, on a temporary store, in a SimCord world with one server."""
    import discord
    import simcord

    from bot.client import create_bot

    with tempfile.TemporaryDirectory(prefix="talksbot-screens-") as tmp:
        base = settings or Settings()
        bot = create_bot(base.model_copy(update={"db": Path(tmp) / "screens.db"}))
        try:
            async with simcord.run(bot) as env:
                env.backend.bot_user.name = BOT_NAME  # SimCord names every bot "TestBot"
                guild = env.create_guild("Newsroom")
                channel = guild.create_text_channel("general")
                editors = guild.create_role("Editors", permissions=discord.Permissions(manage_guild=True))
                admin = guild.add_member(env.create_user("maria"), roles=[editors])
                member = guild.add_member(env.create_user("alice"))
                yield World(env, guild, channel, admin, member)
        finally:
            await bot.close()


# -- scenes: each plays what a member does and returns (viewer, the message to show) -----------


async def answer_scene(w: World) -> tuple[Any, Any]:
    await w.member.send(w.channel, f"{w.env.bot.user.mention} why were the talks cancelled?")
    return w.member, w.channel.last_message


async def followup_scene(w: World) -> tuple[Any, Any]:
    """A reply to the bot's answer is asked in that answer's conversation."""
    answer = w.channel.last_message  # the answer scene's reply
    await w.member.send(w.channel, "and what did the U.S. affirm?", reply_to=answer)
    return w.member, w.channel.last_message


async def abstention_scene(w: World) -> tuple[Any, Any]:
    result = await w.member.slash(w.channel, "ask", question="What did the talks decide about Paris?")
    return w.member, result


async def search_scene(w: World) -> tuple[Any, Any]:
    return w.member, await w.member.slash(w.channel, "search", query="Philippine vessels Taiwan", limit=3)


async def corpus_add_scene(w: World) -> tuple[Any, Any]:
    result = await w.admin.slash(
        w.channel, "corpus add", file=("festival.txt", FESTIVAL_NOTES.encode()), date="2024-05-01"
    )
    return w.admin, result


async def documents_scene(w: World) -> tuple[Any, Any]:
    return w.member, await w.member.slash(w.channel, "documents")


CHANNEL_SCENES = {"followup.png"}  # shown with the messages before them, as the channel reads

SCENES: list[tuple[str, Callable[[World], Awaitable[tuple[Any, Any]]]]] = [
    ("answer.png", answer_scene),
    ("followup.png", followup_scene),  # replies to the answer above
    ("abstention.png", abstention_scene),
    ("search.png", search_scene),
    ("corpus-add.png", corpus_add_scene),
    ("documents.png", documents_scene),  # after the add: the article and the admin's notes
]


async def capture_scenes(directory: Path, settings: Settings | None = None) -> list[Path]:
    """Play every scene in one world and write one PNG per scene into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    async with world(settings) as w, chromium() as browser:
        preview_of = w.env.preview(w.channel, viewers=[w.member, w.admin], width=WIDTH, height=HEIGHT)
        async with preview_of as preview:
            use_browser(preview, browser)
            for name, scene in SCENES:
                viewer, target = await scene(w)
                path = directory / name
                if name in CHANNEL_SCENES:
                    capture = await preview.screenshot(
                        path, viewer=viewer, target=target, mode="viewport", layout="channel", viewport=(WIDTH, 1100)
                    )
                else:
                    capture = await preview.screenshot(path, viewer=viewer, target=target, mode="surface")
                if not capture.ready:
                    raise RuntimeError(f"{name}: the preview was not ready: {capture.diagnostics}")
                written.append(path)
            use_browser(preview, None)  # the browser is closed by chromium(), not by the preview
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="where to write the PNGs (the README's are in docs/img)")
    args = parser.parse_args(argv)
    try:
        written = asyncio.run(capture_scenes(args.directory))
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        print(f"screenshots: {exc} (pip install '.[test,screenshots]'; apt-get install chromium)", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
