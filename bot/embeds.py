"""Engine results as Discord embeds, always within Discord's limits.

Text quoted from documents or questions is escaped here, once: no markdown, masked links or
mentions from a document can change how the bot's message looks (and AllowedMentions.none()
on every send means nothing pings anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import discord
from discord.utils import escape_markdown, escape_mentions

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
_LINE_START = re.compile(r"^([#>\-*+]|\d+\.)", re.MULTILINE)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quote(text: str) -> str:
    """Document or user text made inert: one line, no markdown, no masked links, no mentions."""
    flat = " ".join(text.split())
    escaped = escape_mentions(escape_markdown(flat))
    return _LINE_START.sub(r"\\\1", escaped)


def highlight(text: str, terms: Iterable[str], limit: int) -> str:
    """Quote ``text`` with the words that match the question's terms in bold, within ``limit``."""
    wanted = set(terms)
    text = clip(" ".join(text.split()), limit)
    while True:
        pieces, pos = [], 0
        for token in analyzer.tokens(text):
            if wanted.intersection(token.terms):
                pieces.append(quote(text[pos : token.start]))
                pieces.append(f"**{quote(text[token.start : token.end])}**")
                pos = token.end
        pieces.append(quote(text[pos:]))
        out = "".join(pieces)
        if len(out) <= limit:
            return out
        text = clip(text, max(1, len(text) - (len(out) - limit) - 1))  # escapes grew it: cut more


def source_heading(source: Source) -> str:
    parts = [f"[{source.n}] {source.title}"]
    if source.date:
        parts.append(source.date)
    parts.append(f"para {source.paragraph}")
    return clip(" - ".join(parts), FIELD_NAME_LIMIT)


def _footer(searched: int, elapsed_ms: float) -> str:
    return f"Searched {searched:,} passages in {elapsed_ms:.0f} ms"


def answer_embed(answer: Answer, *, page: int = 0, per_page: int = 3) -> discord.Embed:
    """The answer with its sources; ``page`` > 0 shows further sources (the "More sources" button)."""
    if answer.answer is None:
        return abstain_embed(answer)
    embed = discord.Embed(title=clip(answer.question, TITLE_LIMIT), colour=ANSWER_COLOUR)
    embed.description = clip(quote(answer.answer), DESCRIPTION_LIMIT)
    for source in answer.sources[page * per_page : (page + 1) * per_page]:
        _add_source_field(embed, source, answer.terms)
    embed.set_footer(text=_footer(answer.searched, answer.elapsed_ms))
    return fit(embed)


def abstain_embed(answer: Answer) -> discord.Embed:
    embed = discord.Embed(title=clip(answer.question, TITLE_LIMIT), colour=ABSTAIN_COLOUR)
    looked_for = ", ".join(f"**{quote(t)}**" for t in dict.fromkeys(answer.terms)) or "nothing"
    lines = [answer.message or "No answer in the documents.", f"I looked for: {looked_for}."]
    if answer.closest:
        lines.append("The closest passages are below; they do not answer the question.")
    embed.description = clip("\n".join(lines), DESCRIPTION_LIMIT)
    for source in answer.closest[:3]:
        _add_source_field(embed, source, answer.terms, label="closest ")
    embed.set_footer(text=_footer(answer.searched, answer.elapsed_ms))
    return fit(embed)


def search_embed(result: SearchResult) -> discord.Embed:
    embed = discord.Embed(title=clip(f"Search: {result.query}", TITLE_LIMIT), colour=ANSWER_COLOUR)
    if not result.hits:
        embed.description = "No passage matches."
    for source in result.hits[:FIELDS_LIMIT]:
        _add_source_field(embed, source, result.terms, suffix=f" (score {source.score:.2f})")
    embed.set_footer(text=_footer(result.searched, result.elapsed_ms))
    return fit(embed)


def _add_source_field(
    embed: discord.Embed, source: Source, terms: list[str], *, label: str = "", suffix: str = ""
) -> None:
    name = clip(label + source_heading(source) + suffix, FIELD_NAME_LIMIT)
    value = highlight(source.snippet, terms, FIELD_VALUE_LIMIT - 200)
    if source.url:
        value = clip(f"{value}\n<{source.url}>", FIELD_VALUE_LIMIT)
    embed.add_field(name=name, value=value or "\u200b", inline=False)


def passage_embed(title: str, date: str | None, paragraph: int, section: str | None, text: str, url: str | None) -> discord.Embed:
    heading = f"{title} - para {paragraph}"
    embed = discord.Embed(title=clip(heading, TITLE_LIMIT), colour=ANSWER_COLOUR, url=url or None)
    embed.description = clip(quote(text), DESCRIPTION_LIMIT)
    details = " - ".join(x for x in (date, section) if x)
    if details:
        embed.set_footer(text=clip(details, FOOTER_LIMIT))
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
        embed.description = clip(embed.description, max(1, len(embed.description) - excess))
    return embed
