"""Looking things up: /source (a paragraph in full) and /documents (what this server can see)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import NO_PINGS, clip, passage_embed, quote
from bot.engine.documents import passage_count
from bot.engine.service import Engine
from bot.store import DocumentRecord
from bot.tree import UserFacingError
from bot.views import DocumentsView

if TYPE_CHECKING:
    from bot.client import TalksBot

CHOICE_NAME_LIMIT = 100  # Discord's limit on an autocomplete choice's name
MAX_CHOICES = 25


def document_choices(docs: list[DocumentRecord], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: documents whose title or id contains what was typed, best first."""
    typed = current.strip().casefold().removeprefix("#")
    matching = [d for d in docs if not typed or typed in d.title.casefold() or typed == str(d.id)]
    matching.sort(key=lambda d: (not d.title.casefold().startswith(typed), d.title.casefold()))
    return [
        app_commands.Choice(name=clip(f"#{d.id} {d.title}", CHOICE_NAME_LIMIT), value=str(d.id))
        for d in matching[:MAX_CHOICES]
    ]


async def visible_document_choices(engine: Engine, interaction: discord.Interaction, current: str):
    return document_choices(await engine.documents(interaction.guild_id), current)


class LookupCog(commands.Cog):
    def __init__(self, bot: TalksBot) -> None:
        self.bot = bot

    @app_commands.command(name="source", description="Show a document's details and one paragraph in full")
    @app_commands.describe(document="The document (start typing its title)", paragraph="Paragraph number (default 1)")
    async def source(
        self,
        interaction: discord.Interaction,
        document: str,
        paragraph: app_commands.Range[int, 1, 100_000] = 1,
    ) -> None:
        doc = await self.bot.engine.resolve(document, interaction.guild_id)
        passages = await self.bot.engine.passage(doc, paragraph)
        if not passages:
            last = await self.bot.engine.store.last_paragraph(doc.id)
            raise UserFacingError(f"{quote(doc.title)} has paragraphs 1 to {last}.")
        body = await self.bot.engine.store.document_body(doc.id) or ""
        text = body[passages[0].start : passages[-1].end]
        embed = passage_embed(doc.title, doc.date, paragraph, passages[0].section, text, doc.url)
        embed.add_field(name="Document", value=f"#{doc.id} - {passage_count(doc.passages)} - added {doc.added_at[:10]}")
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)

    @source.autocomplete("document")
    async def source_document(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await visible_document_choices(self.bot.engine, interaction, current)

    @app_commands.command(name="documents", description="List the documents this server can ask about")
    async def documents(self, interaction: discord.Interaction) -> None:
        view = DocumentsView(await self.bot.engine.documents(interaction.guild_id))
        await view.send(interaction)


async def setup(bot: TalksBot) -> None:
    await bot.add_cog(LookupCog(bot))
