"""Buttons under the bot's messages: answer pages, full passage, votes, document list pages."""

from __future__ import annotations

import logging

import discord

from bot.embeds import NO_PINGS, answer_embed, documents_embed, passage_embed
from bot.engine.service import Answer, Engine
from bot.store import DocumentRecord

log = logging.getLogger(__name__)

VIEW_TIMEOUT_S = 15 * 60
SOURCES_PER_PAGE = 3
DOCUMENTS_PER_PAGE = 10


class _TimeoutView(discord.ui.View):
    """A view that removes its buttons from its message when it times out."""

    message: discord.Message | discord.InteractionMessage | None = None

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except discord.HTTPException:
                pass  # deleted, or no longer ours to edit: nothing to clean up


class AnswerView(_TimeoutView):
    def __init__(self, engine: Engine, answer: Answer) -> None:
        super().__init__(timeout=VIEW_TIMEOUT_S)
        self.engine = engine
        self.answer = answer
        self.page = 0
        self.pages = max(1, -(-len(answer.sources) // SOURCES_PER_PAGE))
        if answer.answer is None:  # an abstention has no sources to page through or open
            self.remove_item(self.more_sources)
            self.remove_item(self.full_passage)
        elif self.pages == 1:
            self.remove_item(self.more_sources)

    @discord.ui.button(label="More sources", style=discord.ButtonStyle.secondary)
    async def more_sources(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page = (self.page + 1) % self.pages
        embed = answer_embed(self.answer, page=self.page, per_page=SOURCES_PER_PAGE)
        await interaction.response.edit_message(embed=embed, view=self, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Full passage", style=discord.ButtonStyle.secondary)
    async def full_passage(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        source = self.answer.sources[min(self.page * SOURCES_PER_PAGE, len(self.answer.sources) - 1)]
        # Only a passage this server still sees, of the document the answer cited.
        passage = await self.engine.passage_by_id(source.passage_id, interaction.guild_id)
        if passage is None or passage.doc_id != source.doc_id:
            await interaction.response.send_message(
                "That document has been removed.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        embed = passage_embed(passage.title, passage.date, passage.paragraph, passage.section, passage.text, passage.url)
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Helpful", emoji="\N{THUMBS UP SIGN}", style=discord.ButtonStyle.success)
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._vote(interaction, True)

    @discord.ui.button(label="Not helpful", emoji="\N{THUMBS DOWN SIGN}", style=discord.ButtonStyle.danger)
    async def not_helpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._vote(interaction, False)

    async def _vote(self, interaction: discord.Interaction, helpful: bool) -> None:
        message_id = interaction.message.id if interaction.message else 0
        await self.engine.store.record_feedback(message_id, interaction.user.id, self.answer.question, helpful)
        await interaction.response.send_message("Thanks, noted.", ephemeral=True, allowed_mentions=NO_PINGS)


class DocumentsView(_TimeoutView):
    def __init__(self, docs: list[DocumentRecord]) -> None:
        super().__init__(timeout=VIEW_TIMEOUT_S)
        self.docs = docs
        self.page = 0
        self.pages = max(1, -(-len(docs) // DOCUMENTS_PER_PAGE))
        self._update_buttons()

    def embed(self) -> discord.Embed:
        return documents_embed(self.docs, self.page, DOCUMENTS_PER_PAGE)

    def _update_buttons(self) -> None:
        self.previous_page.disabled = self.page == 0
        self.next_page.disabled = self.page >= self.pages - 1

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, self.pages - 1))
        self._update_buttons()
        await interaction.response.edit_message(embed=self.embed(), view=self, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)
