"""Server admins manage the documents: /corpus add | paste | remove | channel | role | log,
and the message menu "Add to corpus".

Discord hides these from members without Manage Server (default permissions), but server owners
can change that in their settings, so every command checks again here (``ensure_admin``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.lookup import document_choices
from bot.embeds import NO_PINGS, clip, quote
from bot.store import DocumentRecord, DuplicateDocument
from bot.tree import NotAdmin, UserFacingError

if TYPE_CHECKING:
    from bot.client import TalksBot

log = logging.getLogger(__name__)

PASTE_MAX_CHARS = 4000  # Discord's limit for a modal text input


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


@contextmanager
def _duplicate_is_user_facing() -> Iterator[None]:
    """Content already in this server: tell the admin where it is instead of storing it again."""
    try:
        yield
    except DuplicateDocument as exc:
        raise UserFacingError(f"That is already here as `#{exc.existing.id}` {quote(exc.existing.title)}.") from None


def added_message(record: DocumentRecord) -> str:
    return f"Added `#{record.id}` **{quote(record.title)}** ({record.passages} passages). Members can ask about it now."


class PasteModal(discord.ui.Modal, title="Add a document"):
    doc_title = discord.ui.TextInput(label="Title", max_length=200)
    text = discord.ui.TextInput(label="Text", style=discord.TextStyle.paragraph, max_length=PASTE_MAX_CHARS)

    def __init__(self, cog: CorpusCog) -> None:
        super().__init__()
        self.cog = cog

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
        record = await self.cog.add_text(interaction, str(self.text), title=str(self.doc_title))
        await interaction.followup.send(added_message(record), allowed_mentions=NO_PINGS)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await self.cog.bot.tree.on_error(interaction, app_commands.CommandInvokeError(None, error))  # type: ignore[arg-type]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class CorpusCog(commands.GroupCog, group_name="corpus", group_description="Manage this server's documents"):
    def __init__(self, bot: TalksBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.upload_limits = commands.CooldownMapping.from_cooldown(
            settings.uploads_per_hour, 3600.0, lambda guild_id: guild_id
        )
        self.add_to_corpus_menu = app_commands.ContextMenu(name="Add to corpus", callback=self.add_message)
        self.add_to_corpus_menu.guild_only = True
        self.add_to_corpus_menu.default_permissions = discord.Permissions(manage_guild=True)
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.add_to_corpus_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.add_to_corpus_menu.name, type=self.add_to_corpus_menu.type)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await ensure_admin(self.bot, interaction)
        return True

    def _count_upload(self, guild_id: int) -> None:
        bucket = self.upload_limits.get_bucket(guild_id)
        retry = bucket.update_rate_limit() if bucket else None
        if retry:
            raise UserFacingError(f"This server has added many documents this hour; try again in {retry / 60:.0f} min.")

    async def add_text(self, interaction: discord.Interaction, text: str, **fields) -> DocumentRecord:
        assert interaction.guild_id is not None
        self._count_upload(interaction.guild_id)
        with _duplicate_is_user_facing():
            return await self.bot.engine.add_text(
                text, guild_id=interaction.guild_id, added_by=str(interaction.user.id), **fields
            )

    # -- commands ----------------------------------------------------------------------------

    @app_commands.command(name="add", description="Add a document from a file (text, Markdown, HTML, PDF)")
    @app_commands.describe(
        file="The document", title="Its title (default: from the file)", date="Its date, YYYY-MM-DD", url="Where it comes from"
    )
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        title: app_commands.Range[str, 1, 200] | None = None,
        date: app_commands.Range[str, 10, 10] | None = None,
        url: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        limit = self.bot.settings.max_upload_bytes
        if file.size > limit:  # refuse before downloading anything
            raise UserFacingError(f"{quote(file.filename)} is larger than the limit of {limit // 1000:,} kB.")
        assert interaction.guild_id is not None
        self._count_upload(interaction.guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
        data = await file.read()
        with _duplicate_is_user_facing():
            record = await self.bot.engine.add_file(
                data,
                file.filename,
                guild_id=interaction.guild_id,
                added_by=str(interaction.user.id),
                title=title,
                date=date,
                url=url,
            )
        await interaction.followup.send(added_message(record), allowed_mentions=NO_PINGS)

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
        await interaction.response.send_message(
            f"TalksBot {state} every question in {channel.mention}.", ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="role", description="Let a role manage documents too (leave empty to clear)")
    async def role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None
        await self.bot.engine.store.set_admin_role(interaction.guild_id, role.id if role else None)
        text = f"Members with {role.mention} can manage documents." if role else "Only Manage Server can manage documents."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="log", description="Who added and removed which documents")
    async def log(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        rows = await self.bot.engine.store.audit_log(interaction.guild_id)
        lines = [f"{at[:16]} <@{user}> {action} `#{doc_id}` {quote(title)}" for user, action, doc_id, title, at in rows[-20:]]
        await interaction.response.send_message(
            clip("\n".join(lines) or "Nothing added or removed yet.", 2000), ephemeral=True, allowed_mentions=NO_PINGS
        )

    async def add_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Message menu "Add to corpus": the message's text, with its author and link as source.

        Errors raised here reach the tree's on_error like any command's.
        """
        await ensure_admin(self.bot, interaction)  # context menus do not pass the cog's check
        if not message.content.strip():
            raise UserFacingError("That message has no text to add.")
        await interaction.response.defer(ephemeral=True, thinking=True)  # errors stay private too
        title = clip(f"Message from {message.author.display_name}: {' '.join(message.content.split())}", 100)
        record = await self.add_text(interaction, message.content, title=title, url=message.jump_url)
        await interaction.followup.send(added_message(record), allowed_mentions=NO_PINGS)


async def setup(bot: TalksBot) -> None:
    await bot.add_cog(CorpusCog(bot))
