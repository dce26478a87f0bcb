"""/corpus add url: an admin adds a news page by its link; what is refused is said in one private line."""

from __future__ import annotations

import re

import pytest

from bot.settings import Settings

FERRY_TITLE = "Harbor City Ferry Service Suspended After Typhoon"


def rendered(text: str) -> str:
    """Text as Discord shows it: a backslash escape shows the character after it."""
    return re.sub(r"\\(.)", r"\1", text)


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    return Settings(db=tmp_path / "bot.db", question_rate=50, allow_private_urls=True)


async def own_documents(simcord_env, server) -> list:
    return [d for d in await simcord_env.bot.engine.documents(server.guild.id) if d.guild_id == server.guild.id]


async def test_admin_adds_a_page_by_link_and_members_ask_about_it(simcord_env, server, news_site, seen):
    added = await server.admin.slash(server.channel, "corpus add", url=f"{news_site.base}/news/ferry")
    assert added.ephemeral and f"**{FERRY_TITLE}**" in added.response.content
    result = await server.member.slash(server.channel, "ask", question="Why was the ferry service suspended?")
    embed = result.response.embeds[0]
    assert "typhoon damaged the main pier" in embed.description
    assert embed.fields[0].name == f"{FERRY_TITLE} - 2024-03-14"
    # Cited with the page's canonical address, as any document's source.
    assert embed.fields[0].value.startswith("<https://coastal-ledger.example/news/2024/03/ferry-suspended>\n[1] para 1: ")
    menu_word = await server.member.slash(server.channel, "ask", question="What about the marmalade forecasts?")
    assert menu_word.response.embeds[0].description.startswith("I couldn't find")
    for word in ("zeppelins", "trampoline", "accordion"):  # the menu, the cookie banner, the footer
        found = await server.member.slash(server.channel, "search", query=word)
        assert found.response.embeds[0].description == "No passage matches.", word


async def test_a_refused_link_is_one_private_line_and_stores_nothing(simcord_env, server, news_site):
    metadata = await server.admin.slash(server.channel, "corpus add", url="http://169.254.169.254/latest/meta-data/")
    assert metadata.ephemeral
    assert "refused: 169.254.169.254 is a link-local address" in rendered(metadata.response.content)
    redirect = await server.admin.slash(server.channel, "corpus add", url=f"{news_site.base}/to-metadata")
    assert redirect.ephemeral and "(a redirect from 127.0.0.1)" in rendered(redirect.response.content)
    ftp = await server.admin.slash(server.channel, "corpus add", url="ftp://files.example/a.txt")
    assert rendered(ftp.response.content) == "refused: only http:// and https:// links can be added, not ftp (ftp://files.example/a.txt)"
    assert await own_documents(simcord_env, server) == []
    simcord_env.errors  # noqa: B018  (the refusals went through the tree's handler)


async def test_a_file_or_a_link_exactly_one_of_them(simcord_env, server, news_site):
    neither = await server.admin.slash(server.channel, "corpus add")
    assert neither.ephemeral and neither.response.content == "Give a `file` (an upload) or a `url` (a link to a page)."
    both = await server.admin.slash(
        server.channel,
        "corpus add",
        file=("notes.txt", b"Ferry Notes\n\nThe ferry leaves at noon."),
        url=f"{news_site.base}/news/ferry",
    )
    assert both.ephemeral and both.response.content == "Give either a `file` or a `url`, not both."
    assert await own_documents(simcord_env, server) == [] and news_site.requests == []  # nothing stored or fetched
    simcord_env.errors  # noqa: B018  (the refusals went through the tree's handler)
