"""Buttons under the bot's messages: answer pages, full passage, votes, document list pages.

The buttons of an answer are ``discord.ui.DynamicItem``s: their custom_id carries the id of the
answer as kept in the store (question, sources, page), and the classes are registered when the
bot starts, so a click works after a restart and days later, with nothing held in memory.
Each button answers the member who clicked, privately; the public answer never changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.embeds import NO_PINGS, answer_embed, clip, documents_embed, passage_embed
from bot.engine.service import Answer, Source
from bot.store import BUNDLED, AnswerRecord, DocumentRecord, StoreError

if TYPE_CHECKING:
    from bot.client import TalksBot

log = logging.getLogger(__name__)

VIEW_TIMEOUT_S = 14 * 60  # a minute within the 15 an interaction's token lasts (see TimeoutView)
SOURCES_PER_PAGE = 3
DOCUMENTS_PER_PAGE = 10
SELECT_OPTIONS_LIMIT = 25  # Discord's limit for a select menu
OPTION_LABEL_LIMIT = 100

GONE = "That answer is no longer available; ask the question again."
REMOVED = "That document has been removed."
BUSY = "The document store is busy; please try again in a moment."


# -- the answer as stored --------------------------------------------------------------------


def answer_payload(answer: Answer) -> str:
    """The answer as JSON for the store: everything the buttons show later."""
    return json.dumps(dataclasses.asdict(answer), ensure_ascii=False)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Only the fields ``cls`` has: a payload written by another version still loads."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def answer_from_payload(payload: str) -> Answer:
    data = json.loads(payload)
    for key in ("sources", "closest"):
        data[key] = [Source(**_known(Source, s)) for s in data.get(key, [])]
    return Answer(**_known(Answer, data))


def answer_doc_id(answer: Answer) -> int | None:
    """The answering document (source [1]), None for an abstention."""
    return answer.sources[0].doc_id if answer.answer is not None and answer.sources else None


def pages_of(answer: Answer) -> int:
    return max(1, -(-len(answer.sources) // SOURCES_PER_PAGE))


# -- shared by the buttons -------------------------------------------------------------------


async def _say(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(clip(text, 2000), ephemeral=True, allowed_mentions=NO_PINGS)


async def _load(interaction: discord.Interaction, answer_id: int) -> tuple[AnswerRecord, Answer] | None:
    """The posted answer a button belongs to, or None after telling the clicker why not.

    A button only acts in the server (or DM) where its answer was posted.
    """
    bot: TalksBot = interaction.client  # type: ignore[assignment]
    record = await bot.engine.store.get_answer(answer_id)
    if record is None or record.guild_id != (interaction.guild_id or BUNDLED):
        await _say(interaction, GONE)
        return None
    return record, answer_from_payload(record.payload)


class AnswerItem(discord.ui.DynamicItem[Any], template=r"talks:(?:more|page|full|passage|vote):[0-9]{1,19}"):
    """A button or menu under an answer (or under a private reply about it), dispatched from its
    custom_id: the answer's id, and what else its class's template names.

    A subclass gives its own ``template`` (the custom_id formats are kept: buttons of answers posted
    long ago still work), builds its item in ``__init__``, reads the template's other groups in
    ``parse``, and acts in ``act`` on the answer as stored. Store errors become a short private
    reply instead of "This interaction failed". This base is never registered itself.
    """

    def __init__(self, answer_id: int, item: discord.ui.Item) -> None:
        super().__init__(item)
        self.answer_id = answer_id

    @classmethod
    def parse(cls, match: re.Match[str]) -> dict[str, Any]:
        """The template's groups beside the answer's id, as ``__init__`` takes them."""
        return {}

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(int(match["answer"]), **cls.parse(match))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            loaded = await _load(interaction, self.answer_id)
            if loaded is not None:
                await self.act(interaction, *loaded)
        except StoreError:
            if not interaction.response.is_done():
                await _say(interaction, BUSY)

    async def act(self, interaction: discord.Interaction, record: AnswerRecord, answer: Answer) -> None:
        raise NotImplementedError


def _button(label: str, custom_id: str, **style: Any) -> discord.ui.Button:
    return discord.ui.Button(label=label, custom_id=custom_id, **{"style": discord.ButtonStyle.secondary, **style})


# -- "More sources": the clicker's own pages ----------------------------------------------------


def sources_page(answer_id: int, answer: Answer, page: int) -> tuple[str, discord.Embed, discord.ui.View]:
    """Page ``page`` (0-based) of an answer's sources, with Previous/Next that stop at the ends."""
    pages = pages_of(answer)
    page = max(0, min(page, pages - 1))
    view = discord.ui.View(timeout=None)
    view.add_item(SourcePage(answer_id, page - 1, "prev", disabled=page == 0))
    view.add_item(SourcePage(answer_id, page + 1, "next", disabled=page >= pages - 1))
    content = f"Sources, page {page + 1} of {pages}"
    return content, answer_embed(answer, page=page, per_page=SOURCES_PER_PAGE), view


class MoreSources(AnswerItem, template=r"talks:more:(?P<answer>[0-9]{1,19})"):
    def __init__(self, answer_id: int) -> None:
        super().__init__(answer_id, _button("More sources", f"talks:more:{answer_id}"))

    async def act(self, interaction: discord.Interaction, record: AnswerRecord, answer: Answer) -> None:
        content, embed, view = sources_page(self.answer_id, answer, 1)
        await interaction.response.send_message(content, embed=embed, view=view, ephemeral=True, allowed_mentions=NO_PINGS)


class SourcePage(
    AnswerItem, template=r"talks:page:(?P<answer>[0-9]{1,19}):(?P<page>-?[0-9]{1,4}):(?P<direction>prev|next)"
):
    def __init__(self, answer_id: int, page: int, direction: str, *, disabled: bool = False) -> None:
        label = "Previous" if direction == "prev" else "Next"
        super().__init__(answer_id, _button(label, f"talks:page:{answer_id}:{page}:{direction}", disabled=disabled))
        self.page = page

    @classmethod
    def parse(cls, match: re.Match[str]) -> dict[str, Any]:
        return {"page": int(match["page"]), "direction": match["direction"]}

    async def act(self, interaction: discord.Interaction, record: AnswerRecord, answer: Answer) -> None:
        content, embed, view = sources_page(self.answer_id, answer, self.page)
        await interaction.response.edit_message(content=content, embed=embed, view=view, allowed_mentions=NO_PINGS)


# -- "Full passage": a choice of the answer's sources --------------------------------------------


def _option_label(source: Source) -> str:
    return clip(f"[{source.n}] {source.title} - para {source.paragraph}", OPTION_LABEL_LIMIT)


def passage_choice_view(answer_id: int, answer: Answer, chosen: int | None = None) -> discord.ui.View:
    options = [
        discord.SelectOption(label=_option_label(s), value=str(s.n), default=s.n == chosen)
        for s in answer.sources[:SELECT_OPTIONS_LIMIT]
    ]
    view = discord.ui.View(timeout=None)
    view.add_item(PassageChoice(answer_id, options))
    return view


async def _passage_embed_for(interaction: discord.Interaction, source: Source) -> discord.Embed | None:
    """The whole passage of ``source``, None if its document was removed (or is not seen here)."""
    bot: TalksBot = interaction.client  # type: ignore[assignment]
    # Only a passage this server still sees, of the document the answer cited.
    passage = await bot.engine.passage_by_id(source.passage_id, interaction.guild_id)
    if passage is None or passage.doc_id != source.doc_id:
        return None
    return passage_embed(passage.title, passage.date, passage.paragraph, passage.section, passage.text, passage.url)


class FullPassage(AnswerItem, template=r"talks:full:(?P<answer>[0-9]{1,19})"):
    def __init__(self, answer_id: int) -> None:
        super().__init__(answer_id, _button("Full passage", f"talks:full:{answer_id}"))

    async def act(self, interaction: discord.Interaction, record: AnswerRecord, answer: Answer) -> None:
        if len(answer.sources) == 1:  # nothing to choose from
            embed = await _passage_embed_for(interaction, answer.sources[0])
            if embed is None:
                await _say(interaction, REMOVED)
                return
            await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.response.send_message(
            "Which source do you want to read in full?",
            view=passage_choice_view(self.answer_id, answer),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


class PassageChoice(AnswerItem, template=r"talks:passage:(?P<answer>[0-9]{1,19})"):
    def __init__(self, answer_id: int, options: list[discord.SelectOption] | None = None) -> None:
        # Dispatched again from its custom_id, it needs no options: the chosen value comes with the click.
        select = discord.ui.Select(custom_id=f"talks:passage:{answer_id}", placeholder="Choose a source", options=options or [])
        super().__init__(answer_id, select)

    async def act(self, interaction: discord.Interaction, record: AnswerRecord, answer: Answer) -> None:
        chosen = int(self.item.values[0]) if self.item.values and self.item.values[0].isdigit() else 0
        source = next((s for s in answer.sources if s.n == chosen), None)
        embed = await _passage_embed_for(interaction, source) if source else None
        view = passage_choice_view(self.answer_id, answer, chosen)
        if embed is None:
            await interaction.response.edit_message(content=REMOVED, embed=None, view=view, allowed_mentions=NO_PINGS)
            return
        await interaction.response.edit_message(content=None, embed=embed, view=view, allowed_mentions=NO_PINGS)


# -- votes -------------------------------------------------------------------------------------

VOTE_NAMES = {True: "Helpful", False: "Not helpful"}


class Vote(AnswerItem, template=r"talks:vote:(?P<answer>[0-9]{1,19}):(?P<vote>up|down)"):
    def __init__(self, answer_id: int, helpful: bool) -> None:
        button = _button(
            VOTE_NAMES[helpful],
            f"talks:vote:{answer_id}:{'up' if helpful else 'down'}",
            emoji="\N{THUMBS UP SIGN}" if helpful else "\N{THUMBS DOWN SIGN}",
            style=discord.ButtonStyle.success if helpful else discord.ButtonStyle.danger,
        )
        super().__init__(answer_id, button)
        self.helpful = helpful

    @classmethod
    def parse(cls, match: re.Match[str]) -> dict[str, Any]:
        return {"helpful": match["vote"] == "up"}

    async def act(self, interaction: discord.Interaction, record: AnswerRecord, answer: Answer) -> None:
        bot: TalksBot = interaction.client  # type: ignore[assignment]
        message_id = interaction.message.id if interaction.message else record.message_id or 0
        text = await record_vote(bot, message_id, interaction.user.id, answer.question, self.helpful)
        if not self.helpful:  # the question becomes a gap its admins see in /corpus gaps
            await bot.engine.record_not_helpful(answer, interaction.guild_id, message_id=message_id, user_id=interaction.user.id)
        await _say(interaction, text)


async def record_vote(bot: TalksBot, message_id: int, user_id: int, question: str, helpful: bool) -> str:
    """Record a member's vote on an answer (a changed vote replaces the earlier one); what to tell them."""
    store = bot.engine.store
    before = await store.vote_of(message_id, user_id)
    await store.record_feedback(message_id, user_id, question, helpful)
    now = VOTE_NAMES[helpful]
    if before is None:
        return f"Thanks, noted: your vote is **{now}**. You can change it with the other button."
    if before == helpful:
        return f"Your vote is already **{now}**."
    return f"Changed your vote from **{VOTE_NAMES[before]}** to **{now}**."


# -- the buttons under a posted answer -----------------------------------------------------------

DYNAMIC_ITEMS = (MoreSources, SourcePage, FullPassage, PassageChoice, Vote)


def answer_view(answer_id: int, answer: Answer) -> discord.ui.View:
    """The public answer's buttons: they only open private replies, so nothing here changes."""
    view = discord.ui.View(timeout=None)
    if answer.answer is not None:  # an abstention has no sources to page through or open
        if pages_of(answer) > 1:
            view.add_item(MoreSources(answer_id))
        view.add_item(FullPassage(answer_id))
    view.add_item(Vote(answer_id, True))
    view.add_item(Vote(answer_id, False))
    return view


# -- the document list ----------------------------------------------------------------------------


class TimeoutView(discord.ui.View):
    """A view whose buttons are taken off its message before they would fail.

    Only an interaction can edit an ephemeral message, for 15 minutes after it came (its token).
    So the view keeps its own deadline: VIEW_TIMEOUT_S (a minute less) after the latest interaction
    that showed or edited its message (``shown_by``), when it stops and edits the buttons off
    through that interaction. A click that edits nothing (it opens another message, a modal, or
    fails) leaves the deadline where it is: discord.py's own timeout would count again from every
    click, before its callback even runs, so it is not used.
    """

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self._expiry: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> float | None:
        return None  # the deadline is this view's own (see the class)

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        pass  # discord.py sets 15 minutes on an ephemeral view sent without one, counted from each click

    def shown_by(self, interaction: discord.Interaction) -> None:
        """``interaction`` has just sent or edited the view's message (its original response)."""
        if self.is_finished():
            return
        if self._expiry is not None:
            self._expiry.cancel()
        # Its response came within the 3 s Discord allows: its token lasts at least VIEW_TIMEOUT_S more.
        self._expiry = asyncio.create_task(self._expire(interaction), name=f"talks-view-expiry-{self.id}")

    async def _expire(self, editor: discord.Interaction) -> None:
        await asyncio.sleep(VIEW_TIMEOUT_S)
        self._expiry = None  # this task ends here: stop() must not cancel it
        self.stop()
        try:
            await editor.edit_original_response(view=None)
        except discord.HTTPException:
            pass  # deleted, or no longer ours to edit: nothing to clean up

    def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        super().stop()


class PagedView(TimeoutView):
    """A list shown in pages, with Previous and Next on the last row: none when the list fits one
    page, and they stop at the first and last page. /documents, /corpus gaps and /corpus links.

    Subclasses give ``embed()`` (the footer says ``page_label()``) and may rebuild their other
    items in ``refresh()``, which runs on every page turn.
    """

    PAGER_ROW = 4  # Discord's last row: the list's own controls come first

    def __init__(self, entries: list[Any], per_page: int) -> None:
        super().__init__()
        self.entries = entries
        self.per_page = per_page
        self.page = 0
        self.previous_page = discord.ui.Button(label="Previous", style=discord.ButtonStyle.secondary, row=self.PAGER_ROW)
        self.next_page = discord.ui.Button(label="Next", style=discord.ButtonStyle.secondary, row=self.PAGER_ROW)
        self.previous_page.callback = self._previous
        self.next_page.callback = self._next

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.entries) // self.per_page))

    def shown(self) -> list[tuple[int, Any]]:
        """The entries of this page, numbered from 1 over the whole list."""
        start = self.page * self.per_page
        return list(enumerate(self.entries[start : start + self.per_page], start=start + 1))

    def page_label(self) -> str:
        return f"Page {self.page + 1} of {self.pages}"

    def embed(self) -> discord.Embed:
        raise NotImplementedError

    def refresh(self) -> None:
        """Rebuild what depends on the page; then the pager buttons are placed."""
        for button in (self.previous_page, self.next_page):
            self.remove_item(button)
        if self.pages > 1:
            self.previous_page.disabled = self.page == 0
            self.next_page.disabled = self.page >= self.pages - 1
            self.add_item(self.previous_page)
            self.add_item(self.next_page)

    async def send(self, interaction: discord.Interaction) -> None:
        """Reply privately with the first page."""
        await interaction.response.send_message(embed=self.embed(), view=self, ephemeral=True, allowed_mentions=NO_PINGS)
        self.shown_by(interaction)

    async def show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, self.pages - 1))  # a removal may have emptied the last page
        self.refresh()
        await interaction.response.edit_message(embed=self.embed(), view=self, allowed_mentions=NO_PINGS)
        self.shown_by(interaction)

    async def _previous(self, interaction: discord.Interaction) -> None:
        await self.show(interaction, self.page - 1)

    async def _next(self, interaction: discord.Interaction) -> None:
        await self.show(interaction, self.page + 1)


class DocumentsView(PagedView):
    def __init__(self, docs: list[DocumentRecord]) -> None:
        super().__init__(docs, DOCUMENTS_PER_PAGE)
        self.refresh()

    def embed(self) -> discord.Embed:
        return documents_embed(self.entries, self.page, self.per_page)
