"""Server admins manage the documents: /corpus add | paste | remove | channel | role | log |
gaps | links, and the message menu "Add to corpus".

Discord hides these from members without Manage Server (default permissions), but server owners
can change that in their settings, so every command checks again here (``ensure_admin``).
``/corpus role`` lets a role through that check and says whether Discord shows the commands to
that role yet, and where to change it if not (a bot cannot change command permissions itself).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.lookup import document_choices
from bot.embeds import NO_PINGS, clip, quote
from bot.engine.documents import passage_count, strip_invisible
from bot.engine.ingest import TEXT_SUFFIXES
from bot.engine.markdown import markdown_to_text
from bot.store import DocumentRecord, DuplicateDocument, StoreError
from bot.teaching_views import GapsView, LinksView
from bot.tree import NotAdmin, UserFacingError

if TYPE_CHECKING:
    from bot.client import TalksBot

log = logging.getLogger(__name__)

PASTE_MAX_CHARS = 4000  # Discord's limit for a modal text input
TITLE_MAX_CHARS = 200
AUTO_TITLE_CHARS = 100
FIRST_PASSAGE_SHOWN = 300  # characters of the first passage shown after an add
ADD_TO_CORPUS = "Add to corpus"
LOG_LINES = 20  # /corpus log: the newest changes, as many of these as fit in one message


async def ensure_admin(bot: TalksBot, interaction: discord.Interaction) -> None:
    member = interaction.user
    if interaction.guild is None or not isinstance(member, discord.Member):
        raise app_commands.NoPrivateMessage()
    if member.guild_permissions.manage_guild:
        return
    role_id = await bot.engine.store.admin_role(interaction.guild.id)
    if role_id is not None and any(role.id == role_id for role in member.roles):
        return
    raise NotAdmin()


class HideBundled(discord.ui.DynamicItem[discord.ui.Button], template=r"talks:bundled-off:(?P<guild>[0-9]{1,20})"):
    """"Hide the bundled article here" under the confirmation of a server's first own document."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Hide the bundled article here",
                style=discord.ButtonStyle.secondary,
                custom_id=f"talks:bundled-off:{guild_id}",
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(int(match["guild"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: TalksBot = interaction.client  # type: ignore[assignment]
        try:
            if interaction.guild_id != self.guild_id:
                raise app_commands.NoPrivateMessage()
            await ensure_admin(bot, interaction)
            await bot.engine.set_bundled_shown(self.guild_id, False)
        except (app_commands.AppCommandError, StoreError) as error:
            await bot.tree.on_error(interaction, error)  # type: ignore[arg-type]  (it explains both)
            return
        await interaction.response.send_message(
            "Answers here now come only from this server's documents; `/corpus bundled on` shows the bundled "
            "article again.",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


@contextmanager
def _duplicate_is_user_facing() -> Iterator[None]:
    """Content already in this server: tell the admin where it is instead of storing it again."""
    try:
        yield
    except DuplicateDocument as exc:
        raise UserFacingError(f"That is already here as `#{exc.existing.id}` {quote(exc.existing.title)}.") from None


class UploadAllowance:
    """Documents each server added in the last hour. Only adds that succeed count; an add in
    progress holds a place, so adds at the same moment cannot pass the limit together."""

    WINDOW_S = 3600.0

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.time) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._added: defaultdict[int, deque[float]] = defaultdict(deque)
        self._in_progress: Counter[int] = Counter()

    @contextmanager
    def place(self, guild_id: int) -> Iterator[None]:
        now = self.clock()
        added = self._added[guild_id]
        while added and added[0] <= now - self.WINDOW_S:
            added.popleft()
        if len(added) + self._in_progress[guild_id] >= self.per_hour:
            raise UserFacingError(self._refusal(added, now))
        self._in_progress[guild_id] += 1
        try:
            yield
        finally:
            self._in_progress[guild_id] -= 1
        added.append(self.clock())  # reached only when the add succeeded

    def _refusal(self, added: deque[float], now: float) -> str:
        limit = f"This server has reached its limit of {self.per_hour} documents an hour"
        if not added:  # every place is held by an add still in progress
            return f"{limit}; try again in a minute."
        resets = int(added[0] + self.WINDOW_S) + 1
        return f"{limit}; it can add another <t:{resets}:R> (at <t:{resets}:t>)."


class AdminModal(discord.ui.Modal):
    """A modal whose errors reach the admin privately, through the tree's one handler."""

    cog: CorpusCog

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await self.cog.bot.tree.on_error(interaction, error)  # type: ignore[arg-type]


class PasteModal(AdminModal, title="Add a document"):
    doc_title = discord.ui.TextInput(label="Title", max_length=TITLE_MAX_CHARS)
    text = discord.ui.TextInput(label="Text", style=discord.TextStyle.paragraph, max_length=PASTE_MAX_CHARS)

    def __init__(self, cog: CorpusCog) -> None:
        super().__init__()
        self.cog = cog

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
        record = await self.cog.add_text(interaction, str(self.text), title=str(self.doc_title))
        await self.cog.send_added(interaction, record)


class MessageModal(AdminModal, title="Add a message to the documents"):
    """ "Add to corpus": the title, prefilled with the automatic one, for the admin to change."""

    def __init__(self, cog: CorpusCog, message: discord.Message, files: list[discord.Attachment]) -> None:
        super().__init__()
        self.cog = cog
        self.message = message
        self.files = files
        automatic = _automatic_title(message) if message.content.strip() else None
        self.doc_title = discord.ui.TextInput(
            label="Title",
            default=automatic,
            placeholder=None if automatic else "Leave empty for the file's own title",
            required=automatic is not None,
            max_length=TITLE_MAX_CHARS,
        )
        self.add_item(self.doc_title)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
        title = str(self.doc_title).strip() or None
        record = await self.cog.add_message_text(interaction, self.message, self.files, title)
        await self.cog.send_added(interaction, record)


def _automatic_title(message: discord.Message) -> str:
    # Invisible characters as spaces, as in titles found in documents: the add refuses them, and
    # display names have them (an emoji joined by U+200D, like the rainbow flag).
    return clip(strip_invisible(f"Message from {message.author.display_name}: {_as_written(message)}"), AUTO_TITLE_CHARS)


def _as_written(message: discord.Message) -> str:
    """The message's text with mentions as names (clean_content), without the zero-width space
    discord.py puts after "@" in "@everyone" and "@here": nothing the bot sends pings anyway
    (AllowedMentions.none()), and a title may not hold invisible characters."""
    return message.clean_content.replace("@\u200b", "@")


def _is_text_file(attachment: discord.Attachment) -> bool:
    suffix = PurePath(attachment.filename).suffix.lower()
    kind = (attachment.content_type or "").split(";")[0].strip()
    return (suffix in TEXT_SUFFIXES and suffix != "") or kind in ("text/plain", "text/markdown")


_SPOILER = re.compile(r"\|\|(.+?)\|\|", re.DOTALL)
_CUSTOM_EMOJI = re.compile(r"<a?(:\w+:)\d+>")
_TIMESTAMP = re.compile(r"<t:(-?\d{1,12})(?::[tTdDfFR])?>")
_SUBTEXT = re.compile(r"^-# ", re.MULTILINE)


# What the bot needs in a channel to answer there: see the question, reply to it, with an embed.
ANSWERING_PERMISSIONS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "read_message_history": "Read Message History",  # a reply needs it
    "embed_links": "Embed Links",  # the answer is an embed
}


def _missing_for_answers(channel: discord.abc.GuildChannel) -> list[str]:
    allowed = channel.permissions_for(channel.guild.me)
    return [name for flag, name in ANSWERING_PERMISSIONS.items() if not getattr(allowed, flag)]


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _who(user_id: str) -> str:
    """Who made a change: a member's mention (it pings no one), or the command line's adds."""
    if user_id.isdigit():
        return f"<@{user_id}>"
    return "the command line" if user_id == "cli" else quote(user_id)


def _newest_lines(lines: list[str], limit: int) -> str:
    """The last lines that fit in ``limit`` characters, whole: a log's newest entries matter most."""
    kept: list[str] = []
    size = -1
    for line in reversed(lines):
        size += len(line) + 1
        if size > limit:
            break
        kept.append(line)
    return "\n".join(reversed(kept))


def _when(stored_at: str) -> str:
    """A stored UTC time as a Discord timestamp: each member reads it in their own time zone."""
    try:
        moment = dt.datetime.fromisoformat(stored_at)
    except ValueError:
        return stored_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return discord.utils.format_dt(moment, "f")


def discord_message_text(content: str) -> str:
    """A message's text as members read it: Discord's markdown (CommonMark plus spoilers,
    subtext, custom emoji and timestamps) made plain. Mentions are resolved before (clean_content)."""
    content = _SPOILER.sub(r"\1", content)
    content = _CUSTOM_EMOJI.sub(r"\1", content)
    content = _TIMESTAMP.sub(lambda m: _timestamp_text(int(m.group(1))), content)
    content = _SUBTEXT.sub("", content)
    # In Discord a line break shows as one; in CommonMark it would join the lines.
    return markdown_to_text(content.replace("\n", "\n\n"))


def _timestamp_text(seconds: int) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class CorpusCog(commands.GroupCog, group_name="corpus", group_description="Manage this server's documents"):
    def __init__(self, bot: TalksBot) -> None:
        self.bot = bot
        self.uploads = UploadAllowance(bot.settings.uploads_per_hour)
        self.add_to_corpus_menu = app_commands.ContextMenu(name=ADD_TO_CORPUS, callback=self.add_message)
        self.add_to_corpus_menu.guild_only = True
        self.add_to_corpus_menu.default_permissions = discord.Permissions(manage_guild=True)
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.add_to_corpus_menu)
        self.bot.add_dynamic_items(HideBundled)  # works on confirmations sent before a restart too

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.add_to_corpus_menu.name, type=self.add_to_corpus_menu.type)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await ensure_admin(self.bot, interaction)
        return True

    async def add_text(self, interaction: discord.Interaction, text: str, **fields) -> DocumentRecord:
        assert interaction.guild_id is not None
        with self.uploads.place(interaction.guild_id), _duplicate_is_user_facing():
            return await self.bot.engine.add_text(
                text, guild_id=interaction.guild_id, added_by=str(interaction.user.id), **fields
            )

    async def add_message_text(
        self,
        interaction: discord.Interaction,
        message: discord.Message,
        files: list[discord.Attachment],
        title: str | None,
    ) -> DocumentRecord:
        """The message's text and its text files, read as one document."""
        limit = self.bot.settings.max_upload_bytes
        if sum(f.size for f in files) > limit:  # refuse before downloading anything
            raise UserFacingError(f"The message's files are larger than the limit of {limit // 1000:,} kB.")
        has_text = bool(message.content.strip())
        parts = [discord_message_text(_as_written(message))] if has_text else []
        for file in files:
            data = await file.read()
            parts.append((await self.bot.engine.read_upload(data, file.filename, guild_id=interaction.guild_id or 0)).text)
        filename = files[0].filename if files and not has_text else None  # its name: a title if no other
        return await self.add_text(
            interaction, "\n\n".join(parts), title=title, filename=filename, url=message.jump_url
        )

    async def send_added(self, interaction: discord.Interaction, record: DocumentRecord) -> None:
        """The confirmation; for a server's first own document, with a button to hide the bundled
        article (a garden club's server need not quote the Pentagon)."""
        engine = self.bot.engine
        own = [d for d in await engine.documents(record.guild_id) if d.guild_id == record.guild_id]
        view = discord.utils.MISSING
        if len(own) == 1 and engine.shows_bundled(record.guild_id):
            view = discord.ui.View(timeout=None)
            view.add_item(HideBundled(record.guild_id))
        await interaction.followup.send(await self.added_message(record), view=view, allowed_mentions=NO_PINGS)

    async def added_message(self, record: DocumentRecord) -> str:
        """The confirmation, with the first passage as members will see it quoted: a bad parse
        shows at once."""
        first = (await self.bot.engine.passage(record, 1))[0]
        section = f" ({quote(first.section)})" if first.section else ""
        return clip(
            f"Added `#{record.id}` **{quote(record.title)}** ({passage_count(record.passages)}). "
            f"Members can ask about it now.\nIt starts{section}: {quote(clip(first.text, FIRST_PASSAGE_SHOWN))}",
            2000,
        )

    # -- commands ----------------------------------------------------------------------------

    @app_commands.command(name="add", description="Add a document from a file (text, Markdown, HTML, PDF) or a link")
    @app_commands.describe(
        file="The document (or give url instead)",
        url="A news page's link: its main text is added (or give file instead)",
        title="Its title (default: from the page or file)",
        date="Its date, YYYY-MM-DD (default: from the page)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: app_commands.Range[str, 1, 2000] | None = None,
        title: app_commands.Range[str, 1, 200] | None = None,
        date: app_commands.Range[str, 10, 10] | None = None,
    ) -> None:
        if file is None and url is None:
            raise UserFacingError("Give a `file` (an upload) or a `url` (a link to a page).")
        if file is not None and url is not None:  # which one was meant would be a guess
            raise UserFacingError("Give either a `file` or a `url`, not both.")
        limit = self.bot.settings.max_upload_bytes
        if file is not None and file.size > limit:  # refuse before downloading anything
            raise UserFacingError(f"{quote(file.filename)} is larger than the limit of {limit // 1000:,} kB.")
        assert interaction.guild_id is not None
        with self.uploads.place(interaction.guild_id):
            await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
            added_by = str(interaction.user.id)
            with _duplicate_is_user_facing():
                if file is None:
                    assert url is not None
                    record = await self.bot.engine.add_url(
                        url, guild_id=interaction.guild_id, added_by=added_by, title=title, date=date
                    )
                else:
                    data = await file.read()
                    record = await self.bot.engine.add_file(
                        data, file.filename, guild_id=interaction.guild_id, added_by=added_by, title=title, date=date
                    )
        await self.send_added(interaction, record)

    @app_commands.command(name="paste", description="Add a document by pasting its text")
    async def paste(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(PasteModal(self))

    @app_commands.command(name="remove", description="Remove one of this server's documents")
    @app_commands.describe(document="The document (start typing its title)")
    async def remove(self, interaction: discord.Interaction, document: str) -> None:
        doc = await self._own_document(interaction, document)
        await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
        await self.bot.engine.remove(doc.id, removed_by=str(interaction.user.id))
        await interaction.followup.send(f"Removed `#{doc.id}` **{quote(doc.title)}**.", allowed_mentions=NO_PINGS)

    @remove.autocomplete("document")
    async def remove_document(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        docs = [d for d in await self.bot.engine.documents(interaction.guild_id) if d.guild_id == interaction.guild_id]
        return document_choices(docs, current)

    async def _own_document(self, interaction: discord.Interaction, reference: str) -> DocumentRecord:
        doc = await self.bot.engine.resolve(reference, interaction.guild_id)
        if doc.guild_id != interaction.guild_id:
            raise UserFacingError("That document comes with TalksBot and can't be removed from one server.")
        return doc

    @app_commands.command(name="channel", description="Answer every question (ending with ?) in a channel")
    @app_commands.describe(channel="The channel", enabled="Answer questions there (default yes)")
    async def channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel, enabled: bool = True
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.engine.store.set_ask_channel(interaction.guild_id, channel.id, enabled)
        ask_cog = self.bot.get_cog("AskCog")
        if ask_cog is not None:
            ask_cog.forget_ask_channels(interaction.guild_id)  # type: ignore[attr-defined]
        state = "now answers" if enabled else "no longer answers"
        text = f"TalksBot {state} every question in {channel.mention}."
        if enabled and (missing := _missing_for_answers(channel)):
            text += (
                f" It cannot answer there yet: give it {_and(missing)} in that channel's permissions"
                " (Edit Channel → Permissions)."
            )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="bundled", description="Show or hide the bundled article in this server's answers")
    @app_commands.describe(shown="on: answers may quote the bundled article (the default); off: only this server's documents")
    @app_commands.choices(shown=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")])
    async def bundled(self, interaction: discord.Interaction, shown: app_commands.Choice[str]) -> None:
        assert interaction.guild_id is not None
        await self.bot.engine.set_bundled_shown(interaction.guild_id, shown.value == "on")
        if shown.value == "on":
            text = "Answers here may quote the bundled article again."
        else:
            text = "Answers here now come only from this server's documents; the bundled article is hidden here."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="role", description="Let a role manage documents too (leave empty to clear)")
    async def role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild is not None
        if role is not None and role.is_default():
            raise UserFacingError("Choose a role, not @everyone: every member could then add and remove documents.")
        if role is not None and role.managed:
            raise UserFacingError(f"{role.mention} belongs to an integration and can't be given to members.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.engine.store.set_admin_role(interaction.guild.id, role.id if role else None)
        if role is None:
            text = "Only members with Manage Server can manage documents now."
        else:
            hidden = await self._commands_hidden_from(interaction.guild, role)
            text = f"TalksBot now accepts {role.mention} for /corpus and *{ADD_TO_CORPUS}*."
            if hidden:
                names = " and ".join(f"*{name}*" if name == ADD_TO_CORPUS else f"/{name}" for name in hidden)
                text += (
                    f"\nDiscord still hides {names} from members without Manage Server, and a bot can't change "
                    f"that: in **Server Settings → Integrations → {quote(self.bot.user.name if self.bot.user else 'TalksBot')}**, "
                    f"open each of {names}, choose *Add roles or members*, add {role.mention} and save. "
                    "Run this command again to check."
                )
            else:
                text += " Discord shows them the commands too: they can use them now."
        await interaction.followup.send(text, allowed_mentions=NO_PINGS)

    async def _commands_hidden_from(self, guild: discord.Guild, role: discord.Role) -> list[str]:
        """The admin commands Discord does not show to ``role`` in ``guild`` (no override allows it)."""
        wanted = {"corpus", ADD_TO_CORPUS}
        registered = [c for c in await self.bot.tree.fetch_commands() if c.name in wanted]
        registered += [c for c in await self.bot.tree.fetch_commands(guild=guild) if c.name in wanted]
        allowed: set[str] = set()
        for command in registered:
            try:
                overrides = (await command.fetch_permissions(guild)).permissions
            except discord.NotFound:  # no overrides for this command in this server
                continue
            if any(p.permission and p.id in (role.id, guild.id) for p in overrides):  # the role, or @everyone
                allowed.add(command.name)
        return sorted(wanted - allowed, key=lambda name: name != "corpus")

    @app_commands.command(name="log", description="Who added and removed which documents")
    async def log(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        rows = await self.bot.engine.store.audit_log(interaction.guild_id)
        lines = [f"{_when(at)} {_who(user)} {action} `#{doc_id}` {quote(title)}" for user, action, doc_id, title, at in rows[-LOG_LINES:]]
        await interaction.response.send_message(
            _newest_lines(lines, 2000) or "Nothing added or removed yet.", ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="gaps", description="Questions members asked that the documents did not answer")
    async def gaps(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        gaps = await self.bot.engine.gaps(interaction.guild_id)
        view = GapsView(self.bot.engine, interaction.guild_id, self._check_admin, gaps)
        await view.send(interaction)

    @app_commands.command(name="links", description="Questions answered from a passage an admin chose")
    async def links(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        taught = await self.bot.engine.taught(interaction.guild_id)
        view = LinksView(self.bot.engine, interaction.guild_id, self._check_admin, taught)
        await view.send(interaction)

    async def _check_admin(self, interaction: discord.Interaction) -> None:
        await ensure_admin(self.bot, interaction)

    async def add_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Message menu "Add to corpus": the message's text and text files, with its link as source;
        first a modal with the automatic title for the admin to change.

        Errors raised here reach the tree's on_error like any command's.
        """
        await ensure_admin(self.bot, interaction)  # context menus do not pass the cog's check
        files = [a for a in message.attachments if _is_text_file(a)]
        if not message.content.strip() and not files:
            raise UserFacingError("That message has no text or text file (.txt, .md) to add.")
        await interaction.response.send_modal(MessageModal(self, message, files))


async def setup(bot: TalksBot) -> None:
    await bot.add_cog(CorpusCog(bot))
