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
from bot.engine.documents import passage_count
from bot.engine.service import Answer, SearchResult, Source
from bot.engine.teaching import TAUGHT_NOTE
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
TITLE_SHOWN = 100  # a document's title over its sources, shortened once
# A title in /documents, escaped: 10 lines of at most this and their details fit one description
# (a 200-character title takes 400 once each markdown character is escaped).
LISTED_TITLE_CHARS = 300
SOURCE_LINE_CHARS = 700  # one source's line, at most
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CITATIONS = re.compile(r"(?: \[\d+\])+$")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut, at a space when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= len(cut) - 20:
        cut = cut[:space]
    return cut.rstrip() + "…"


def one_line(text: str) -> str:
    """``text`` on one line, runs of white space as one space, without the bidi overrides and
    isolates that would make it display in another order than it reads ("\u202e" spoofing)."""
    return _BIDI_CONTROLS.sub("", " ".join(text.split()))


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
    return _escape(one_line(text))[0]


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
    flat = one_line(text)
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
    return clip(one_line(text), limit)


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


def group_heading(source: Source) -> str:
    """A document's heading over its sources: the title, shortened once, and the date."""
    date = f" - {source.date}" if source.date else ""
    return quoted(clip(source.title, TITLE_SHOWN), FIELD_NAME_LIMIT - len(date)) + date


def _context_line(context: tuple[str, str, str], limit: int) -> str:
    """The answer in bold between the sentences around it, the neighbours cut first to fit."""
    before, sentence, after = context
    while True:
        parts = [quote(before), f"**{quoted(sentence, limit - 6)}**", quote(after)]
        line = " ".join(part for part in parts if part)
        excess = len(line) - limit
        if excess <= 0 or not (before or after):
            return clip_markup(line, limit)
        if len(after) >= len(before):  # the longer neighbour gives way, at its far end
            after = "" if len(after) <= excess + 10 else clip(after, len(after) - excess - 5)
        else:
            before = "" if len(before) <= excess + 10 else "…" + before[excess + 5 :].lstrip()


def _source_line(source: Source, terms: list[str], limit: int, detail: str) -> str:
    head = f"[{source.n}] para {source.paragraph}{detail}: "
    if source.context is not None:
        return head + _context_line(source.context, limit - len(head))
    return head + highlight(source.snippet, terms, limit - len(head))


def _add_source_groups(
    embed: discord.Embed, sources: list[Source], terms: list[str], detail: Callable[[Source], str] = lambda s: ""
) -> None:
    """One field per document, in the order its first source comes: the document's heading, its
    link, then one line per source ("[2] para 5: ..."), numbered as the answer and buttons are."""
    groups: dict[int, list[Source]] = {}
    for source in sources:
        groups.setdefault(source.doc_id, []).append(source)
    for group in groups.values():
        first = group[0]
        lines = [f"<{clip(safe_url(first.url), 190)}>"] if first.url else []
        room = FIELD_VALUE_LIMIT - sum(len(line) + 1 for line in lines) - len(group)
        # The answer's line (with its context) may take half the room; the others share the rest.
        shares = [room // 2 if s.context and len(group) > 1 else room // len(group) for s in group]
        if len(group) > 1 and any(s.context for s in group):
            rest = (room - room // 2) // (len(group) - 1)
            shares = [room // 2 if s.context else rest for s in group]
        lines += [_source_line(s, terms, min(share, SOURCE_LINE_CHARS), detail(s)) for s, share in zip(group, shares)]
        embed.add_field(name=group_heading(first), value="\n".join(lines), inline=False)


def _footer(searched: int, elapsed_ms: float) -> str:
    return f"Searched {searched:,} passage{'' if searched == 1 else 's'} in {elapsed_ms:.0f} ms"


def answer_embed(answer: Answer, *, page: int = 0, per_page: int = 3) -> discord.Embed:
    """The answer with its sources; ``page`` > 0 shows further sources (the "More sources" button)."""
    if answer.answer is None:
        return abstain_embed(answer)
    embed = discord.Embed(title=quoted(answer.question, TITLE_LIMIT), colour=ANSWER_COLOUR)
    cited = _CITATIONS.search(answer.answer)
    markers = cited.group() if cited else ""  # the engine's own [n], not the document's text
    embed.description = quoted(answer.answer.removesuffix(markers), DESCRIPTION_LIMIT - len(markers)) + markers
    _add_source_groups(embed, answer.sources[page * per_page : (page + 1) * per_page], answer.terms)
    taught = f"{TAUGHT_NOTE}\n" if answer.taught else ""
    embed.set_footer(text=taught + _footer(answer.searched, answer.elapsed_ms))
    return fit(embed)


def abstain_embed(answer: Answer) -> discord.Embed:
    embed = discord.Embed(title=quoted(answer.question, TITLE_LIMIT), colour=ABSTAIN_COLOUR)
    # The member's own words ("Paris"), not the stems they became ("pari"), which read as misspellings.
    words = answer.looked_for or answer.terms
    looked_for = ", ".join(f"**{quote(t)}**" for t in dict.fromkeys(words)) or "nothing"
    lines = [answer.message or "No answer in the documents.", f"I looked for: {looked_for}."]
    if answer.closest:
        lines.append("The closest passages are below; they do not answer the question.")
    embed.description = clip_markup("\n".join(lines), DESCRIPTION_LIMIT)
    _add_source_groups(embed, answer.closest[:3], answer.terms)
    embed.set_footer(text=_footer(answer.searched, answer.elapsed_ms))
    return fit(embed)


def search_embed(result: SearchResult) -> discord.Embed:
    embed = discord.Embed(title="Search: " + quoted(result.query, TITLE_LIMIT - 8), colour=ANSWER_COLOUR)
    if not result.hits:
        embed.description = "No passage matches."
    # In rank order, numbered; the raw BM25 score means nothing to a member (it stays in `search --json`).
    _add_source_groups(embed, result.hits[:FIELDS_LIMIT], result.terms)
    embed.set_footer(text=_footer(result.searched, result.elapsed_ms))
    return fit(embed)


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
    return f"`#{doc.id}` {quoted(doc.title, LISTED_TITLE_CHARS)}{date} - {passage_count(doc.passages)}{scope}"


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
