"""Markdown to plain text with a CommonMark parser (markdown-it-py): what a reader sees, not markup.

Emphasis, code and quote markers go; link and image text stay and their URLs go (a document
keeps its own URL), except an autolink's (``<https://...>``, ``<name@host>``): its text is the
address, shown as written. A heading becomes a ``#`` line that ``documents`` reads as a heading;
list items become paragraphs starting with a bullet, so they are never taken for headings.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

_TAG = re.compile(r"<[^>]*>")
_HYPHEN_BREAK = re.compile(r"([^\W\d_])-\n(?=[^\W\d_]*[a-z])")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["strikethrough", "table"])


def _inline(token: Token) -> str:
    """An inline token's text: link text without its URL, image alt text, code as text."""
    parts: list[str] = []
    for child in token.children or ():
        kind = child.type
        if kind in ("text", "code_inline"):  # an autolink's text is its address, shown as written
            parts.append(child.content)
        elif kind == "image":
            parts.append(_inline(child) or child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "html_inline":
            parts.append(" ")  # a tag: keep the words either side apart
    # A wrapped line inside a paragraph is one paragraph (CommonMark): join, mending hyphenation.
    return " ".join(_HYPHEN_BREAK.sub(r"\1", "".join(parts)).split())


def markdown_to_text(text: str) -> str:
    """Paragraphs separated by blank lines; headings as ``#`` lines; list items as "• item"."""
    blocks: list[str] = []
    prefix = ""
    row: list[str] | None = None
    for token in _parser().parse(text):
        kind = token.type
        if kind == "heading_open":
            prefix = "#" * int(token.tag[1]) + " "
        elif kind == "list_item_open":
            prefix = f"{token.info}{token.markup} " if token.markup in (".", ")") else "\u2022 "
        elif kind == "heading_close":
            prefix = ""  # an empty heading ("#" alone) heads nothing: not the next paragraph
        elif kind == "list_item_close" and prefix:
            if prefix[0].isdigit():  # an empty numbered item ("09."): its number is all it says
                blocks.append(prefix.strip())
            prefix = ""
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            blocks.append(" ".join(cell for cell in row if cell))
            row = None
        elif kind == "inline":
            content = _inline(token)
            if row is not None:
                row.append(content)
            elif content:
                blocks.append(prefix + content)
                prefix = ""
        elif kind in ("fence", "code_block"):
            blocks.extend(" ".join(line.split()) for line in token.content.splitlines() if line.strip())
        elif kind == "html_block":
            words = " ".join(_TAG.sub(" ", token.content).split())
            if words:
                blocks.append(words)
    return "\n\n".join(blocks)
