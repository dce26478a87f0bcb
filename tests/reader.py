"""What a member reads in a Discord message: the markdown rendered, the escapes gone.

SimCord's Preview projects Discord's markdown per field (titles and field names inline, footers
plain, descriptions and values with links and blocks) with markdown-it; its tokens are what its
page draws. Here they are flattened to the text a reader sees, and everything that is not plain
or bold text (a link, a mention, a timestamp, a spoiler, code, a heading, a list, a quote) is
listed, so a test can say that nothing from a document became live markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import discord
from simcord.preview._markdown import markdown_summary, markdown_tokens

# Which of SimCord's field policies each part of a message is rendered with.
FIELDS = {
    "content": "message",
    "title": "embed_title",
    "description": "embed_description",
    "name": "embed_field_name",
    "value": "embed_field_value",
    "footer": "embed_footer",
}


class _Anything(str):
    """A command name equal to any command: so every </name:id> counts as live."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


class _EveryId(dict):
    """Every user, role, channel and command id resolves, so any mention syntax would render."""

    def get(self, key: Any, default: Any = None) -> Any:
        return _Anything("someone")


CONTEXT: Mapping[str, Any] = {
    "everyone": True,
    "users": _EveryId(),
    "roles": _EveryId(),
    "channels": _EveryId(),
    "commands": _EveryId(),
}
_PLAIN = {"inline", "paragraph", "text", "break", "strong_open", "strong_close", "link_close"}


def tokens(text: str, field: str) -> list[dict[str, Any]]:
    return markdown_tokens(text, FIELDS[field], context=CONTEXT)


def read(text: str | None, field: str) -> str:
    """The text a reader sees (runs of white space as one space, as a browser shows them)."""
    return markdown_summary(tokens(text or "", field), max_graphemes=100_000)


def live(text: str | None, field: str) -> list[str]:
    """Everything rendered as more than plain or bold text, e.g. ``["link https://x.example"]``."""
    found: list[str] = []

    def visit(items: Iterable[Mapping[str, Any]]) -> None:
        for token in items:
            kind = token.get("type")
            if kind == "link_open":
                found.append(f"link {token.get('href')}")
            elif kind == "code":
                found.append(f"code {token.get('content')}")
            elif kind in {"mention", "command"}:
                found.append(f"{kind} {token.get('label')}")
            elif kind not in _PLAIN:
                found.append(str(kind))
            children = token.get("children")
            if isinstance(children, (list, tuple)):
                visit(children)

    visit(tokens(text or "", field))
    return found


def embed_parts(embed: discord.Embed) -> list[tuple[str, str]]:
    """(field kind, markdown) for every part of an embed a reader sees."""
    parts = [("title", embed.title or ""), ("description", embed.description or "")]
    for field in embed.fields:
        parts += [("name", field.name or ""), ("value", field.value or "")]
    parts.append(("footer", embed.footer.text or "" if embed.footer else ""))
    return [(kind, text) for kind, text in parts if text]


def message_parts(message: Any) -> list[tuple[str, str]]:
    parts = [("content", message.content)] if message.content else []
    for embed in message.embeds:
        parts += embed_parts(embed)
    return parts


def read_message(message: Any) -> str:
    """All a reader sees of a message, part after part, one per line."""
    return "\n".join(read(text, kind) for kind, text in message_parts(message))
