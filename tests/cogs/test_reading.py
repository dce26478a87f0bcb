"""Every message the bot sends reads exactly as the document, title, URL or question it quotes.

The real bot under SimCord; each message rendered as a member reads it (tests/reader.py: SimCord's
Discord-markdown projection, markdown and escapes removed) and compared with the source text, over
a document full of awkward text: punctuation beside a highlighted word, acronyms, markdown
characters, @everyone, mentions, commands, timestamps and a masked link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reader import live, message_parts, read, read_message

from bot.embeds import safe_url
from bot.settings import Settings

ARTICLE_TITLE = "Top U.S. and Chinese Defense Officials Hold Face-to-Face Meeting at the Pentagon, First Since…"
ARTICLE = (Path(__file__).resolve().parents[2] / "corpus" / "2024-01-10-us-china-defense-talks.txt").read_text("utf-8")

TITLE = "**Official** ~~notice~~ ||hidden|| <#123> @everyone [Verify](https://evil.example) _memo_"
INSPECTED = "The U.S. Coast Guard inspected the ferry Nightjar on Monday; its captain_in_charge said *all clear*."
PARAGRAPHS = [
    f"Harbor checks are weekly. {INSPECTED} Boarding (gate 2) resumed at noon.",
    "Read [the official ferry timetable](https://evil.example/login) before boarding | gate > 3 opens at 9.",
    "The harbor master told @everyone in <#123> to run </ask:1> before <t:1700000000:R>, `sudo` ~~no~~ ||secret||.",
    "- Lifeboats: 4, checked by the U.S. inspectors; # not a heading > not a quote.",
]
BODY = "\n\n".join(["Harbor Notes", *PARAGRAPHS])
NOTES = "/notes?id=7"  # where the local news site serves BODY, as plain text


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_quotes_the_document(shown: str) -> None:
    """Every run of text between the ellipses of a clipped quote is, word for word and space for
    space, in a document (the awkward one or the bundled article)."""
    for piece in shown.split("…"):
        piece = piece.strip()
        assert not piece or piece in flat(BODY) or piece in flat(ARTICLE), f"not in a document: {piece!r}"


def parse_source_lines(lines: list[str]) -> dict[int, str]:
    """Sources as read, lines "[n] para N (...): text" -> {n: text}; the document's link skipped."""
    found = {}
    for shown in lines:
        if re.fullmatch(r"https?://\S+", shown):
            continue  # the document's link, under its title
        match = re.fullmatch(r"\[(\d+)\] para \d+(?: \(score [\d.]+\))?: (.*)", shown)
        assert match, f"not a source line: {shown!r}"
        found[int(match.group(1))] = match.group(2)
    return found


def source_lines(field) -> dict[int, str]:
    return parse_source_lines([read(line, "value") for line in field.value.splitlines()])


def assert_sources_quote_the_documents(embed) -> dict[int, str]:
    lines = {}
    for field in embed.fields:
        assert read(field.name, "name") in {TITLE, f"{ARTICLE_TITLE} - 2024-01-10"}
        lines |= source_lines(field)
    for text in lines.values():
        assert_quotes_the_document(text)
    return lines


def assert_nothing_live(message, allowed_links=()) -> None:
    """Nothing renders as more than text and bold, but the bot's own `#id` and the document's URL."""
    for kind, text in message_parts(message):
        extra = [
            item
            for item in live(text, kind)
            if item not in {f"link {u}" for u in allowed_links} and not re.fullmatch(r"code #\d+", item)
        ]
        assert not extra, f"{kind} {text!r} renders {extra}"


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    return Settings(db=tmp_path / "bot.db", question_rate=50, allow_private_urls=True)  # the site is on 127.0.0.1


@pytest.fixture
def harbor_url(news_site) -> str:
    """The awkward document's address: a page with a query string, on the local news site."""
    return news_site.serve(NOTES, BODY.encode(), "text/plain; charset=utf-8")


@pytest.fixture
async def harbor(simcord_env, server, harbor_url):
    added = await server.admin.slash(server.channel, "corpus add", url=harbor_url, title=TITLE)
    assert "Added" in added.response.content, added.response.content
    return added


async def test_answer_reads_as_the_document(simcord_env, server, harbor, harbor_url):
    question = "When did the Coast Guard inspect the ferry Nightjar?"
    reply = (await server.member.slash(server.channel, "ask", question=question)).response
    embed = reply.embeds[0]
    assert read(embed.title, "title") == question
    assert read(embed.description, "description") == INSPECTED + " [1]"
    lines = assert_sources_quote_the_documents(embed)
    assert read(embed.fields[0].name, "name") == TITLE  # the document's title, once
    assert lines[1] == PARAGRAPHS[0]  # source [1]: the answer between the sentences around it...
    assert f"**{INSPECTED.replace('*', chr(92) + '*').replace('_', chr(92) + '_')}**" in embed.fields[0].value  # ...marked
    assert_nothing_live(reply, allowed_links=[harbor_url])  # and nothing but the marks is markup


async def test_search_keeps_spaces_and_the_masked_link_dead(simcord_env, server, harbor, harbor_url):
    reply = (await server.member.slash(server.channel, "search", query="official ferry timetable")).response
    embed = reply.embeds[0]
    assert read(embed.title, "title") == "Search: official ferry timetable"
    lines = assert_sources_quote_the_documents(embed)
    assert lines[1] == PARAGRAPHS[1]
    assert "**official ferry timetable**" in embed.fields[0].value  # one bold run, spaces kept
    assert_nothing_live(reply, allowed_links=[harbor_url])


async def test_mentions_commands_and_timestamps_stay_text(simcord_env, server, harbor, harbor_url):
    reply = (await server.member.slash(server.channel, "search", query="harbor master sudo")).response
    assert PARAGRAPHS[2] in read_message(reply)
    assert_nothing_live(reply, allowed_links=[harbor_url])


async def test_acronyms_and_line_markers(simcord_env, server, harbor, harbor_url):
    reply = (await server.member.slash(server.channel, "search", query="U.S. lifeboats inspectors")).response
    text = read_message(reply)
    assert PARAGRAPHS[3] in text and INSPECTED in text
    assert_sources_quote_the_documents(reply.embeds[0])
    values = " ".join(field.value for field in reply.embeds[0].fields)
    assert "**U.S.**" in values  # the acronym is highlighted whole, its dots included
    assert "**U.**" not in values and "**S.**" not in values
    assert_nothing_live(reply, allowed_links=[harbor_url])


async def test_abstention_reads_as_the_document(simcord_env, server, harbor, harbor_url):
    question = "Did the ferry timetable change in **Paris** [x](https://evil.example) @everyone?"
    reply = (await server.member.slash(server.channel, "ask", question=question)).response
    embed = reply.embeds[0]
    assert "couldn't find" in embed.description
    assert read(embed.title, "title") == question
    assert embed.fields, "the closest passages are listed"
    assert_sources_quote_the_documents(embed)
    assert_nothing_live(reply, allowed_links=[harbor_url])


async def test_full_passage_and_source_read_as_the_document(simcord_env, server, harbor):
    answer = (await server.member.slash(server.channel, "ask", question="When did the Coast Guard inspect the ferry?")).response
    offered = (await server.member.click(answer, label="Full passage")).response
    full = (await server.member.select(offered, ["1"])).response  # a menu of the answer's sources
    assert read(full.embeds[0].description, "description") == PARAGRAPHS[0]
    assert read(full.embeds[0].title, "title") == f"{TITLE} - para 1"
    assert_nothing_live(full)
    doc_id = harbor.response.content.split("`#")[1].split("`")[0]
    source = (await server.member.slash(server.channel, "source", document=doc_id, paragraph=3)).response
    assert read(source.embeds[0].description, "description") == PARAGRAPHS[2]
    assert_nothing_live(source)
    beyond = (await server.member.slash(server.channel, "source", document=doc_id, paragraph=99)).response
    assert read(beyond.content, "content") == f"{TITLE} has paragraphs 1 to 4."
    assert_nothing_live(beyond)
    assert len(simcord_env.errors) == 1  # the range error went through the tree's handler


async def test_document_list_and_admin_replies_read_as_typed(simcord_env, server, harbor):
    assert read(harbor.response.content, "content").startswith("Added #")
    assert TITLE in read(harbor.response.content, "content")
    assert_nothing_live(harbor.response)
    listed = (await server.member.slash(server.channel, "documents")).response
    assert TITLE in read_message(listed)
    assert_nothing_live(listed)
    again = await server.admin.slash(server.channel, "corpus add", file=("again.txt", BODY.encode()))
    assert TITLE in read(again.response.content, "content") and "already here" in again.response.content
    assert_nothing_live(again.response)
    assert len(simcord_env.errors) == 1  # the duplicate went through the tree's handler
    doc_id = harbor.response.content.split("`#")[1].split("`")[0]
    removed = await server.admin.slash(server.channel, "corpus remove", document=doc_id)
    assert read(removed.response.content, "content") == f"Removed #{doc_id} {TITLE}."
    assert_nothing_live(removed.response)
    log = (await server.admin.slash(server.channel, "corpus log")).response
    assert read(log.content, "content").count(TITLE) == 2  # added, then removed
    extra = [item for item in live(log.content, "content") if not re.fullmatch(r"code #\d+|mention @\w+|timestamp", item)]
    assert extra == []  # the admin's own mention (no ping), the times, and nothing from the title
    assert len(re.findall(r"<t:\d+:f>", log.content)) == 2  # Discord timestamps: each reader's own time zone


async def test_errors_quote_what_was_typed(simcord_env, server):
    reference = "[Verify](https://evil.example) @everyone <#1> *x*"
    missing = (await server.member.slash(server.channel, "source", document=reference)).response
    assert reference in read(missing.content, "content")
    assert_nothing_live(missing)
    bad_file = await server.admin.slash(server.channel, "corpus add", file=("my_*notes*_.docx", b"PK\x03\x04"))
    assert "my_*notes*_.docx" in read(bad_file.response.content, "content")
    assert_nothing_live(bad_file.response)
    assert len(simcord_env.errors) == 2


async def test_sources_from_one_document_share_one_heading(simcord_env, server):
    reply = (await server.member.slash(server.channel, "ask", question="why were talks cancelled?")).response
    embed = reply.embeds[0]
    shown = read_message(reply)
    assert shown.count("Top U.S. and Chinese Defense Officials") == 1  # three sources, one heading
    assert len(embed.fields) == 1
    lines = assert_sources_quote_the_documents(embed)
    assert sorted(lines) == [1, 2, 3]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", read(embed.description, "description"))}
    assert cited and cited <= set(lines)  # every [n] of the answer has its line
    before, _, after = lines[1].partition("The dialogue was abruptly halted in 2023")
    assert before.startswith("The resumption of the annual U.S.-PRC")  # [1] gives the answer's context
    # More sources: the next page goes on with [4], [5], [6], under the same one heading.
    more = (await server.member.click(reply, label="More sources")).response
    assert sorted(assert_sources_quote_the_documents(more.embeds[0])) == [4]


async def test_a_hostile_source_url_or_bidi_override_changes_nothing_a_member_reads(simcord_env, server, news_site):
    # A page names a canonical address that would close the autolink and open a masked link.
    hostile = "https://a.example/x>)[Verify_your_account](https://evil.example/login)<https://x.example"
    page = f'<html><head><link rel="canonical" href="{hostile}"></head><body><article><p>{PARAGRAPHS[1]}</p></article></body></html>'
    added = await server.admin.slash(
        server.channel, "corpus add", url=news_site.serve("/hostile", page.encode(), "text/html"), title="Ferry"
    )
    assert "Added" in added.response.content, added.response.content
    [doc] = [d for d in await simcord_env.bot.engine.documents(server.guild.id) if d.guild_id == server.guild.id]
    assert doc.url.startswith("https://a.example/x")
    reply = (await server.member.slash(server.channel, "search", query="official ferry timetable")).response
    links = {item for kind, text in message_parts(reply) for item in live(text, kind) if item.startswith("link ")}
    assert links == {f"link {safe_url(doc.url)}"}  # one link: the whole address, never the masked one
    spoofed = "why were talks \u202ecancelled?"
    reply = (await server.member.slash(server.channel, "ask", question=spoofed)).response
    assert read(reply.embeds[0].title, "title") == "why were talks cancelled?"
