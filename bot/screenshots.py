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
import http.server
import os
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
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


# The page an admin adds by its link: a news site's article, with the menu, cookie banner, related
# stories and footer that the extractor leaves out. Served on 127.0.0.1 (see news_site).
NEWS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Riverside Library Reopens After Flood Repairs | The Valley Courier</title>
<meta property="og:title" content="Riverside Library Reopens After Flood Repairs">
<meta property="article:published_time" content="2024-04-22T07:00:00Z">
<meta name="author" content="Tomas Ekdahl">
<link rel="canonical" href="https://valley-courier.example/local/2024/04/riverside-library-reopens">
</head><body>
<header><div class="logo">The Valley Courier</div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/local">Local</a></li><li><a href="/sport">Sport</a></li>
<li><a href="/subscribe">Subscribe</a></li></ul></nav></header>
<div class="cookie-banner"><p>We use cookies to improve your experience.</p><button>Accept all</button></div>
<main><article>
<h1>Riverside Library Reopens After Flood Repairs</h1>
<p class="byline">By Tomas Ekdahl &middot; April 22, 2024</p>
<p>The Riverside branch library reopened on Monday, five months after the river flooded its ground floor in November.</p>
<p>The library closed because the flood soaked the floor and ruined about 6,000 books on the lower shelves, the city's library service said.</p>
<p>Repairs cost 310,000 dollars, most of it paid by the city's insurer, and the children's room now sits on the first floor, above the flood line.</p>
<p>Volunteers helped move the surviving collection back over the weekend, and the branch will keep its usual hours, from 9 a.m. to 7 p.m. on weekdays.</p>
</article>
<aside><h3>Related stories</h3><ul><li><a href="/local/bridge">Footbridge to close for painting</a></li>
<li><a href="/local/market">Farmers' market moves to Saturdays</a></li></ul></aside></main>
<footer><p>&copy; 2024 The Valley Courier. All rights reserved.</p></footer>
</body></html>
"""
NEWS_PATH = "/local/2024/04/riverside-library-reopens"


@contextmanager
def news_site() -> Iterator[str]:
    """The news page on 127.0.0.1, in a thread; its address."""
    body = NEWS_PAGE.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != NEWS_PATH:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # quiet: the script prints the PNGs it wrote
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{NEWS_PATH}"
    finally:
        server.shutdown()
        server.server_close()


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
    news_url: str = ""  # the news page on 127.0.0.1
    last: Any = None  # the previous scene's message, for a scene that goes on from it


@asynccontextmanager
async def world(settings: Settings | None = None) -> AsyncIterator[World]:
    """The real bot, on a temporary store, in a SimCord world with one server."""
    import discord
    import simcord

    from bot.client import create_bot

    with tempfile.TemporaryDirectory(prefix="talksbot-screens-") as tmp, news_site() as news_url:
        base = settings or Settings()
        # This world only may fetch from 127.0.0.1, where its news page is served; alice asks more
        # questions in a few seconds than the per-member rate allows a real member.
        update = {"db": Path(tmp) / "screens.db", "allow_private_urls": True, "question_rate": 50}
        bot = create_bot(base.model_copy(update=update))
        try:
            async with simcord.run(bot) as env:
                env.backend.bot_user.name = BOT_NAME  # SimCord names every bot "TestBot"
                guild = env.create_guild("Newsroom")
                channel = guild.create_text_channel("general")
                editors = guild.create_role("Editors", permissions=discord.Permissions(manage_guild=True))
                admin = guild.add_member(env.create_user("maria"), roles=[editors])
                member = guild.add_member(env.create_user("alice"))
                yield World(env, guild, channel, admin, member, news_url)
        finally:
            await bot.close()


# -- scenes: each plays what a member does and returns (viewer, the message to show) -----------


def answered(w: World) -> Any:
    """The bot's reply to the question just asked, which must be an answer (not, say, a cooldown)."""
    from bot.embeds import ANSWER_COLOUR

    reply = w.channel.last_message
    if reply.author.id != w.env.bot.user.id or not reply.embeds or reply.embeds[0].colour != ANSWER_COLOUR:
        raise RuntimeError(f"no answer to show: {reply.content!r}")
    return reply


async def answer_scene(w: World) -> tuple[Any, Any]:
    await w.member.send(w.channel, f"{w.env.bot.user.mention} why were the talks cancelled?")
    return w.member, answered(w)


async def followup_scene(w: World) -> tuple[Any, Any]:
    """A reply to the bot's answer is asked in that answer's conversation."""
    answer = w.channel.last_message  # the answer scene's reply
    await w.member.send(w.channel, "and what did the U.S. affirm?", reply_to=answer)
    return w.member, answered(w)


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


async def link_answer_scene(w: World) -> tuple[Any, Any]:
    """An admin adds the news page by its link; a member asks about it."""
    added = await w.admin.slash(w.channel, "corpus add", url=w.news_url)
    if "Added" not in (added.response.content or ""):
        raise RuntimeError(f"the news page was not added: {added.response.content}")
    await w.member.send(w.channel, f"{w.env.bot.user.mention} why did the Riverside library close?")
    return w.member, answered(w)


GAP_QUESTION = "Who represented the Chinese side?"  # the article says it in other words


async def gaps_scene(w: World) -> tuple[Any, Any]:
    """Two members asked what the documents did not answer; the admin lists the gaps."""
    await w.member.send(w.channel, f"{w.env.bot.user.mention} {GAP_QUESTION}")
    await w.admin.slash(w.channel, "ask", question=GAP_QUESTION.lower())
    w.last = await w.admin.slash(w.channel, "corpus gaps")
    return w.admin, w.last


async def teach_scene(w: World) -> tuple[Any, Any]:
    """The admin opens the most asked gap: its closest passages, to pick the one that answers."""
    w.last = await w.admin.select(w.last.response, ["0"])
    return w.admin, w.last


async def taught_scene(w: World) -> tuple[Any, Any]:
    """The admin picked paragraph 1; a member asks a variant and is answered from it."""
    menu = next(c for row in w.last.response.components for c in row["components"] if c["type"] == 3)
    para_1 = next(o["value"] for o in menu["options"] if o["label"].startswith("Para 1 of "))
    await w.admin.select(w.last.response, [para_1])
    await w.member.send(w.channel, f"{w.env.bot.user.mention} who represented the Chinese side at the talks?")
    return w.member, answered(w)


CHANNEL_SCENES = {"followup.png"}  # shown with the messages before them, as the channel reads

SCENES: list[tuple[str, Callable[[World], Awaitable[tuple[Any, Any]]]]] = [
    ("answer.png", answer_scene),
    ("followup.png", followup_scene),  # replies to the answer above
    ("abstention.png", abstention_scene),
    ("search.png", search_scene),
    ("corpus-add.png", corpus_add_scene),
    ("documents.png", documents_scene),  # after the add: the article and the admin's notes
    ("link-answer.png", link_answer_scene),
    ("gaps.png", gaps_scene),  # the Paris question of the abstention scene is a gap too
    ("teach.png", teach_scene),
    ("taught.png", taught_scene),
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
