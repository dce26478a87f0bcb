"""/corpus gaps and /corpus links: an admin sees what members could not get answered and closes a
gap in two clicks (pick the passage that answers it), or removes what was taught.

All of it is private to the admin (ephemeral). User ids are never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from bot.embeds import ABSTAIN_COLOUR, ANSWER_COLOUR, NO_PINGS, TITLE_LIMIT, clip, quote, quoted
from bot.engine.answer import shorten
from bot.engine.service import Engine
from bot.engine.teaching import GapGroup
from bot.store import PassageRecord, TaughtRecord
from bot.tree import APOLOGY, describe, reply_ephemeral
from bot.views import PagedView, TimeoutView

log = logging.getLogger(__name__)

GAPS_PER_PAGE = 5
LINKS_PER_PAGE = 5
PASSAGE_NAME_CHARS = 60
# Escaped text in a page's lines, at most: five lines fit one description (4,096) whatever members
# typed (a 500-character question of markdown characters takes 1,000 once escaped).
GAP_QUESTION_CHARS = 700
LINK_QUESTION_CHARS = 450
LINK_PASSAGE_CHARS = 300
AdminCheck = Callable[[discord.Interaction], Awaitable[None]]


def passage_label(passage: PassageRecord) -> str:
    """The paragraph first: a select option's label is cut at 100 characters, titles are long."""
    return f"Para {passage.paragraph} of #{passage.doc_id} {passage.title}"


class _AdminChecks:
    """For a view: checks the clicker is still an admin; expected errors become one private line."""

    check: AdminCheck

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await self.check(interaction)
        return True

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        message = describe(error)
        if message is None:
            log.error("a /corpus gaps or links control failed in guild %s", interaction.guild_id, exc_info=error)
        await reply_ephemeral(interaction, message or APOLOGY)


class _AdminView(_AdminChecks, TimeoutView):
    def __init__(self, engine: Engine, guild_id: int, check: AdminCheck) -> None:
        super().__init__()
        self.engine = engine
        self.guild_id = guild_id
        self.check = check


class _AdminList(_AdminChecks, PagedView):
    def __init__(self, engine: Engine, guild_id: int, check: AdminCheck, entries: list, per_page: int) -> None:
        super().__init__(entries, per_page)
        self.engine = engine
        self.guild_id = guild_id
        self.check = check


# -- /corpus gaps -------------------------------------------------------------------------------


def _asked(gap: GapGroup) -> str:
    return f"asked {gap.count} time{'s' * (gap.count != 1)}"


class GapsView(_AdminList):
    """The list of open gaps, paged; choosing one opens it (GapView)."""

    def __init__(self, engine: Engine, guild_id: int, check: AdminCheck, gaps: list[GapGroup]) -> None:
        super().__init__(engine, guild_id, check, gaps, GAPS_PER_PAGE)
        self.refresh()

    def embed(self) -> discord.Embed:
        embed = discord.Embed(title="Questions the documents did not answer", colour=ABSTAIN_COLOUR)
        lines = [
            f"**{n}.** {quoted(gap.question, GAP_QUESTION_CHARS)}\n   {_asked(gap)}, last {gap.last_asked[:16].replace('T', ' ')} UTC"
            for n, gap in self.shown()
        ]
        embed.description = clip("\n".join(lines) or "No unanswered questions. Members get answers to everything they asked.", 4096)
        embed.set_footer(text=f"{self.page_label()} - pick one below to answer it from a passage or dismiss it")
        return embed

    def refresh(self) -> None:
        super().refresh()
        self.choose_gap.options = [
            discord.SelectOption(label=clip(f"{n}. {gap.question}", 100), description=_asked(gap), value=str(n - 1))
            for n, gap in self.shown()
        ] or [discord.SelectOption(label="No gaps", value="none")]
        self.choose_gap.disabled = not self.entries

    @discord.ui.select(placeholder="Answer or dismiss a question…", row=0)
    async def choose_gap(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        gap = self.entries[int(select.values[0])]
        passages = await self.engine.gap_passages(gap)
        view = GapView(self.engine, self.guild_id, self.check, gap, passages)
        await interaction.response.send_message(embed=view.embed(), view=view, ephemeral=True, allowed_mentions=NO_PINGS)
        view.shown_by(interaction)


class GapView(_AdminView):
    """One gap: its closest passages to pick from, another passage by document and paragraph, or dismiss."""

    def __init__(
        self, engine: Engine, guild_id: int, check: AdminCheck, gap: GapGroup, passages: list[PassageRecord]
    ) -> None:
        super().__init__(engine, guild_id, check)
        self.gap = gap
        self.passages = passages[:25]  # a select menu's limit
        if self.passages:
            self.pick_passage.options = [
                discord.SelectOption(
                    label=clip(passage_label(p), 100), description=clip(shorten(p.text, 100), 100), value=str(p.id)
                )
                for p in self.passages
            ]
        else:
            self.remove_item(self.pick_passage)

    def embed(self) -> discord.Embed:
        embed = discord.Embed(title=quoted(self.gap.question, TITLE_LIMIT), colour=ABSTAIN_COLOUR)  # a member's words
        embed.description = (
            f"Asked {self.gap.count} time{'s' * (self.gap.count != 1)}, last {self.gap.last_asked[:16].replace('T', ' ')} UTC.\n"
            + ("Which passage answers it? The closest ones:" if self.passages else "No passage came close: give one by document and paragraph.")
        )
        for passage in self.passages[:5]:
            # One line each: the full title would repeat over every passage of one document.
            embed.add_field(name=clip(passage_label(passage), PASSAGE_NAME_CHARS), value=clip(quote(passage.text), 1024), inline=False)
        return embed

    async def _taught(self, interaction: discord.Interaction, record: TaughtRecord) -> None:
        [passage] = [p for r, p in await self.engine.taught(self.guild_id) if r.id == record.id]
        text = (
            f"Taught: questions like **{quote(record.question)}** are now answered from "
            f"**{quote(passage_label(passage))}**. `/corpus links` lists what was taught."
        )
        self.stop()
        await interaction.response.edit_message(content=clip(text, 2000), embed=None, view=None, allowed_mentions=NO_PINGS)

    @discord.ui.select(placeholder="This passage answers it…", row=0)
    async def pick_passage(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        record = await self.engine.teach(
            self.guild_id, self.gap.question, int(select.values[0]), taught_by=str(interaction.user.id)
        )
        await self._taught(interaction, record)

    @discord.ui.button(label="Another passage…", style=discord.ButtonStyle.primary, row=1)
    async def another_passage(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(AnotherPassageModal(self))

    @discord.ui.button(label="Dismiss", style=discord.ButtonStyle.danger, row=1)
    async def dismiss(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.engine.dismiss_gap(self.guild_id, self.gap.terms)
        self.stop()
        await interaction.response.edit_message(
            content=clip(f"Dismissed **{quote(self.gap.question)}**.", 2000), embed=None, view=None, allowed_mentions=NO_PINGS
        )


class AnotherPassageModal(discord.ui.Modal, title="The passage that answers it"):
    document = discord.ui.TextInput(label="Document (id like 3 or #3, or its title)", max_length=200, custom_id="document")
    paragraph = discord.ui.TextInput(label="Paragraph number", max_length=6, custom_id="paragraph")

    def __init__(self, gap_view: GapView) -> None:
        super().__init__()
        self.gap_view = gap_view

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.gap_view.check(interaction)
        number = str(self.paragraph).strip()
        if not number.isdigit():
            await reply_ephemeral(interaction, "The paragraph is a number, as shown in citations (para 3).")
            return
        view = self.gap_view
        record = await view.engine.teach_paragraph(
            view.guild_id, view.gap.question, str(self.document), int(number), taught_by=str(interaction.user.id)
        )
        await view._taught(interaction, record)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await self.gap_view.on_error(interaction, error, None)  # type: ignore[arg-type]


# -- /corpus links --------------------------------------------------------------------------------


class LinksView(_AdminList):
    """What this server was taught, with a button to remove each."""

    def __init__(
        self, engine: Engine, guild_id: int, check: AdminCheck, taught: list[tuple[TaughtRecord, PassageRecord]]
    ) -> None:
        super().__init__(engine, guild_id, check, taught, LINKS_PER_PAGE)
        self.refresh()

    def embed(self) -> discord.Embed:
        embed = discord.Embed(title="Questions answered from a chosen passage", colour=ANSWER_COLOUR)
        lines = [
            f"**{n}.** {quoted(r.question, LINK_QUESTION_CHARS)}\n   → {quoted(passage_label(p), LINK_PASSAGE_CHARS)}"
            for n, (r, p) in self.shown()
        ]
        embed.description = clip("\n".join(lines) or "Nothing taught yet. `/corpus gaps` shows what members could not get answered.", 4096)
        embed.set_footer(text=self.page_label())
        return embed

    def refresh(self) -> None:
        self.clear_items()
        for n, (record, _) in self.shown():
            button = discord.ui.Button(label=f"Remove {n}", style=discord.ButtonStyle.danger, row=0)
            button.callback = self._remover(record)
            self.add_item(button)
        super().refresh()

    def _remover(self, record: TaughtRecord):
        async def remove(interaction: discord.Interaction) -> None:
            await self.engine.unteach(self.guild_id, record.id)
            self.entries = await self.engine.taught(self.guild_id)
            await self.show(interaction, self.page)  # the same page, or the last one if it emptied

        return remove
