"""What members read, in a real browser: the bot's messages rendered by SimCord's Preview in
headless Chromium, and the page's innerText (not the markdown) compared with the document's words.

Needs Playwright (the ``screenshots`` extra) and Chromium (Debian's ``chromium``). Without them the
test skips with the reason; in CI (``CI`` set, as .ci/run runs) it fails instead, so CI cannot pass
without having run it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
from pathlib import Path

import pytest
from test_reading import BODY, INSPECTED, NOTES, PARAGRAPHS, TITLE, assert_quotes_the_document, parse_source_lines

from bot.screenshots import capture_scenes, chromium, chromium_path
from bot.settings import Settings

PARTS = {
    "content": ".message-content",
    "title": ".embed-title",
    "description": ".embed-description",
    "name": ".embed-field-name",
    "value": ".embed-field-value",
}


def missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install '.[screenshots]')"
    if chromium_path() is None:
        return f"no Chromium at {os.environ.get('CHROMIUM', '/usr/bin/chromium')} (apt-get install chromium)"
    return None


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    return Settings(db=tmp_path / "bot.db", question_rate=50, allow_private_urls=True)  # the site is on 127.0.0.1


README = Path(__file__).resolve().parents[2] / "README.md"


def need_browser() -> None:
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)


@pytest.fixture
async def browser():
    need_browser()
    async with chromium() as launched:
        yield launched


async def rendered(preview, browser, target) -> dict[str, list[str]]:
    """The innerText of each part of ``target`` as the Preview page draws it, and its links."""
    await preview.show(target)
    page = await browser.new_page()
    try:
        await page.goto(preview.url)
        await page.wait_for_function("() => window.simcordPreview && window.simcordPreview.ready === true", timeout=30_000)
        parts = {kind: [await e.inner_text() for e in await page.query_selector_all(f"#preview-app {selector}")]
                 for kind, selector in PARTS.items()}
        parts["links"] = [await a.get_attribute("href") for a in await page.query_selector_all("#preview-app .message a[href], #preview-app .embed-card a[href]")]
        return parts
    finally:
        await page.close()


def sources(parts) -> dict[int, str]:
    return parse_source_lines([line for value in parts["value"] for line in value.split("\n") if line])


async def test_members_read_the_documents_words_in_a_browser(simcord_env, server, browser, news_site):
    URL = news_site.serve(NOTES, BODY.encode(), "text/plain; charset=utf-8")
    added = await server.admin.slash(server.channel, "corpus add", url=URL, title=TITLE)
    answer = await server.member.slash(server.channel, "ask", question="When did the Coast Guard inspect the ferry Nightjar?")
    masked = await server.member.slash(server.channel, "search", query="official ferry timetable")
    mentions = await server.member.slash(server.channel, "search", query="harbor master sudo")
    acronyms = await server.member.slash(server.channel, "search", query="U.S. lifeboats inspectors")
    article = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    listed = await server.member.slash(server.channel, "documents")

    async with simcord_env.preview(server.channel, viewers=[server.member]) as preview:
        shown = await rendered(preview, browser, answer)
        assert shown["title"] == ["When did the Coast Guard inspect the ferry Nightjar?"]
        assert shown["description"] == [f"{INSPECTED} [1]"]
        assert shown["name"][0] == TITLE  # markdown, spoiler, mention and link characters as typed
        assert sources(shown)[1] == PARAGRAPHS[0]  # the answer in its context, spaces where they were
        assert set(shown["links"]) <= {URL}  # the document's own link only: nothing from its text

        for result, paragraph in ((masked, 1), (mentions, 2), (acronyms, 3)):
            shown = await rendered(preview, browser, result)
            assert PARAGRAPHS[paragraph] in sources(shown).values(), shown["value"]
            assert set(shown["links"]) <= {URL}
            for text in sources(shown).values():
                assert_quotes_the_document(text)  # word for word, space for space

        shown = await rendered(preview, browser, article)
        assert len(shown["name"]) == 1  # three sources from the article, its title once...
        assert shown["name"][0].endswith("First Since… - 2024-01-10")  # ...shortened once
        assert sorted(sources(shown)) == [1, 2, 3]
        assert "China canceled the talks in response to" in sources(shown)[1]  # no glued words

        shown = await rendered(preview, browser, listed)
        assert TITLE in shown["description"][0]

    async with simcord_env.preview(server.channel, viewers=[server.admin]) as preview:  # its reply is private
        shown = await rendered(preview, browser, added)
        assert TITLE in shown["content"][0]
        assert shown["links"] == []


async def test_the_readme_pictures_are_made_by_the_command(tmp_path):
    """`python -m bot.screenshots DIR` writes every picture the README shows, and only those."""
    need_browser()
    written = await capture_scenes(tmp_path)
    shown = set(re.findall(r"\]\(docs/img/([\w-]+\.png)\)", README.read_text("utf-8")))
    assert {"link-answer.png", "gaps.png", "teach.png", "taught.png", "followup.png"} <= shown
    assert sorted(path.name for path in written) == sorted(shown)
    for path in written:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", path.name
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        assert width >= 600 and height >= 150, (path.name, width, height)
