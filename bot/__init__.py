"""TalksBot: answers questions about news articles with quoted sentences and citations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.client import create_bot

__all__ = ["create_bot"]


def __getattr__(name: str) -> Any:
    # discord.py is imported only when the bot is wanted, so the command line starts quickly.
    if name == "create_bot":
        from bot.client import create_bot

        return create_bot
    raise AttributeError(name)
