"""Engine results as Discord embeds, always within Discord's limits.

Text quoted from documents or questions is escaped here, once: no markdown, masked links or
mentions from a document can change how the bot's message looks (and AllowedMentions.none()
on every send means nothing pings anyway).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from urllib.parse import quote as percent_encode

import discord

from bot.engine import analyzer
from bot.engine.service import Answer, SearchResult, Source
from bot.store import DocumentRecord

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_LIMIT = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000

NO_PINGS = discord.AllowedMentions.none()
ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.light_grey()
# Characters that start Discord markup anywhere in a line: bold/italic/underline/strike/spoiler/
# code, masked links, <@id> <#id> </cmd:id> <t:...> <:emoji:id>, @everyone/@here, and the
# backslash itself. Each is escaped with a backslash, which Discord shows as the character alone.
# The colon of "://" is escaped too: a web address quoted from a document is shown, not clickable.
_ESCAPED = re.compile(r"[\\*_~`|<>\[\]@]|:(?=//)")
# Markup only at the start of a line: headings, subtext (-#), lists, quotes.
_LINE_START = re.compile(r"[#\-+]|\d+(?=\.)")
_CITATIONS = re.compile(r"(?: \[\d+\])+$")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _escape(flat: str) -> tuple[str, Callable[[int], int]]:
    """``flat`` escaped for Discord, and a function: where a position of ``flat`` ended up."""
    at = [m.start() for m in _ESCAPED.finditer(flat)]
    marker = _LINE_START.match(flat)
    if marker is not None:  # "- x", "# x", "+ x" are escaped at their first character, "1. x" at its dot
        at.insert(0, marker.end() if marker.group()[0].isdigit() else 0)
    pieces, pos = [], 0
    for i in at:
        pieces += [flat[pos:i], "\\"]
        pos = i
    pieces.append(flat[pos:])
    return "".join(pieces), lambda i: i + bisect_left(at, i)


def quote(text: str) -> str:
    """Document or user text made inert: one line, no markdown, no masked links, no mentions."""
    return _escape(" ".join(text.split()))[0]


def _highlight_spans(text: str, wanted: set[str]) -> list[tuple[int, int]]:
    """Where the words matching ``wanted`` are, whole words only; neighbours separated by
    nothing but spaces join one span (one bold run: "**Philippine vessels**")."""
    spans: list[tuple[int, int]] = []
    for token in analyzer.tokens(text):
        if not wanted.intersection(token.terms):
            continue
        end = token.end
        word = text[token.start : end]
        if word.endswith(".") and "." not in word[:-1]:
            end -= 1  # a sentence's full stop is not part of the word; an acronym's dots are ("U.S.")
        if spans and text[spans[-1][1] : token.start].isspace():
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((token.start, end))
    return spans


def highlight(text: str, terms: Iterable[str], limit: int) -> str:
    """Quote ``text`` with the words that match the question's terms in bold, within ``limit``.

    The text is escaped once, as a whole, and the bold markers are placed around whole words
    in the escaped text, so every space and punctuation mark stays where the document has it.
    """
    wanted = set(terms)
    flat = " ".join(text.split())
    text = clip(flat, limit)
    while True:
        escaped, where = _escape(text)
        pieces, pos = [], 0
        for start, end in _highlight_spans(text, wanted) if wanted else ():
            pieces += [escaped[pos : where(start)], "**", escaped[where(start) : where(end)], "**"]
            pos = where(end)
        pieces.append(escaped[pos:])
        out = "".join(pieces)
        if len(out) <= limit:
            return out
        text = clip(text, max(1, len(text) - (len(out) - limit) - 1))  # escapes grew it: cut more


def safe_url(url: str) -> str:
    """``url`` with every character that could end an autolink or start markup percent-encoded:
    the same address, but it cannot close ``<...>`` early or smuggle in a masked link."""
    return percent_encode(url.strip(), safe="/:?#&=%+,;!$'@~.-_")


def quoted(text: str, limit: int) -> str:
    """``quote(text)`` within ``limit`` characters: cut before escaping, so no escape is cut."""
    return highlight(text, (), limit)


def plain(text: str, limit: int) -> str:
    """Text for a field Discord shows as typed (footers, button labels): one line, clipped."""
    return clip(" ".join(text.split()), limit)


def clip_markup(text: str, limit: int) -> str:
    """Escaped, highlighted text cut to ``limit`` without leaving half an escape or an unclosed bold."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    backslashes = len(cut) - len(cut.rstrip("\\"))
    if backslashes % 2:
        cut = cut[:-1]
    markers = _bold_markers(cut)
    if len(markers) % 2:
        cut = cut[: markers[-1]] + cut[markers[-1] + 2 :]
    return cut.rstrip() + "…"


def _bold_markers(text: str) -> list[int]:
    """Where the unescaped ``**`` of ``text`` are."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith("**", i):
            found.append(i)
            i += 2
        else:
            i += 1
    return found


def source_heading(source: Source) -> str:
    details = "".join(f" - {x}" for x in (source.date, f"para {source.paragraph}") if x)
    budget = FIELD_NAME_LIMIT - len(details) - len(f"[{source.n}] ") - 20
    return f"[{source.n}] {quoted(source.title, budget)}{details}"


def _footer(searched: int, elapsed_ms: float) -> str:
    return f"Searched {searched:,} passages in {elapsed_ms:.0f} ms"


def answer_embed(answer: Answer, *, page: int = 0, per_page: int = 3) -> discord.Embed:
    """The answer with its sources; ``page`` > 0 shows further sources (the "More sources" button)."""
    if answer.answer is None:
        return abstain_embed(answer)
    embed = discord.Embed(title=quoted(answer.question, TITLE_LIMIT), colour=ANSWER_COLOUR)
    cited = _CITATIONS.search(answer.answer)
    markers = cited.group() if cited else ""  # the engine's own [n], not the document's text
    embed.description = quoted(answer.answer.removesuffix(markers), DESCRIPTION_LIMIT - len(markers)) + markers
    for source in answer.sources[page * per_page : (page + 1) * per_page]:
        _add_source_field(embed, source, answer.terms)
    embed.set_footer(text=_footer(answer.searched, answer.elapsed_ms))
    return fit(embed)


def abstain_embed(answer: Answer) -> discord.Embed:
    embed = discord.Embed(title=quoted(answer.question, TITLE_LIMIT), colour=ABSTAIN_COLOUR)
    looked_for = ", ".join(f"**{quote(t)}**" for t in dict.fromkeys(answer.terms)) or "nothing"
    lines = [answer.message or "No answer in the documents.", f"I looked for: {looked_for}."]
    if answer.closest:
        lines.append("The closest passages are below; they do not answer the question.")
    embed.description = clip_markup("\n".join(lines), DESCRIPTION_LIMIT)
    for source in answer.closest[:3]:
        _add_source_field(embed, source, answer.terms, label="closest ")
    embed.set_footer(text=_footer(answer.searched, answer.elapsed_ms))
    return fit(embed)


def search_embed(result: SearchResult) -> discord.Embed:
    embed = discord.Embed(title="Search: " + quoted(result.query, TITLE_LIMIT - 8), colour=ANSWER_COLOUR)
    if not result.hits:
        embed.description = "No passage matches."
    for source in result.hits[:FIELDS_LIMIT]:
        _add_source_field(embed, source, result.terms, suffix=f" (score {source.score:.2f})")
    embed.set_footer(text=_footer(result.searched, result.elapsed_ms))
    return fit(embed)


def _add_source_field(
    embed: discord.Embed, source: Source, terms: list[str], *, label: str = "", suffix: str = ""
) -> None:
    name = label + source_heading(source) + suffix
    value = highlight(source.snippet, terms, FIELD_VALUE_LIMIT - 200)
    if source.url:
        value = f"{value}\n<{clip(safe_url(source.url), 190)}>"
    embed.add_field(name=name, value=value or "\u200b", inline=False)


def passage_embed(title: str, date: str | None, paragraph: int, section: str | None, text: str, url: str | None) -> discord.Embed:
    heading = f"{quoted(title, TITLE_LIMIT - 20)} - para {paragraph}"
    embed = discord.Embed(title=heading, colour=ANSWER_COLOUR, url=safe_url(url) if url else None)
    embed.description = quoted(text, DESCRIPTION_LIMIT)
    details = " - ".join(x for x in (date, section) if x)
    if details:
        embed.set_footer(text=plain(details, FOOTER_LIMIT))  # footers show no markdown: nothing to escape
    return fit(embed)


def document_line(doc: DocumentRecord) -> str:
    date = f" ({doc.date})" if doc.date else ""
    scope = "" if doc.guild_id == 0 else " - this server"
    return f"`#{doc.id}` {quote(doc.title)}{date} - {doc.passages} passages{scope}"


def documents_embed(docs: list[DocumentRecord], page: int, per_page: int) -> discord.Embed:
    pages = max(1, -(-len(docs) // per_page))
    embed = discord.Embed(title="Documents", colour=ANSWER_COLOUR)
    shown = docs[page * per_page : (page + 1) * per_page]
    embed.description = clip("\n".join(document_line(d) for d in shown) or "No documents yet.", DESCRIPTION_LIMIT)
    embed.set_footer(text=f"Page {page + 1} of {pages} - {len(docs)} documents")
    return fit(embed)


def fit(embed: discord.Embed) -> discord.Embed:
    """Drop fields from the end, then shorten the description, until the embed is within 6,000."""
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > EMBED_TOTAL_LIMIT and embed.description:
        excess = len(embed) - EMBED_TOTAL_LIMIT
        embed.description = clip_markup(embed.description, max(1, len(embed.description) - excess))
    return embed
