"""The command tree and its one error handler.

Expected errors (no permission, bad option, cooldown, unknown document, a refused upload) become
a short ephemeral reply; anything else is logged with its context and the user gets an apology,
never a traceback. Replies go through the response or the followup, whichever is still open.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.embeds import NO_PINGS, clip, quote
from bot.engine.documents import DocumentError
from bot.engine.service import QuestionError, UnknownDocument
from bot.store import DuplicateDocument, StoreError

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again later."
OUTDATED = "That command was just updated and Discord still shows its old version; try again in a minute."


class NotAdmin(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__("You need the Manage Server permission (or the TalksBot admin role) for that.")


class UserFacingError(app_commands.AppCommandError):
    """An error whose message is meant for the user as it is."""


EXPECTED = (QuestionError, DocumentError, DuplicateDocument, UnknownDocument, UserFacingError)


def describe(error: BaseException) -> str | None:
    """The short message for an expected error, None for an unexpected one."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command works in a server, not in DMs."
    if isinstance(error, (app_commands.MissingPermissions, NotAdmin)):
        return str(NotAdmin())
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use that command here."
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        return OUTDATED  # Discord's clients keep an older list of the commands for a while after a sync
    if isinstance(error, app_commands.TransformerError):
        return "That option's value isn't valid."
    if isinstance(error, UnknownDocument):
        return quote(error.describe("/documents"))  # it repeats what was typed
    if isinstance(error, StoreError):
        return "The document store is busy; please try again in a moment."
    if isinstance(error, UserFacingError):
        return str(error)  # written for Discord, with what it quotes already escaped
    if isinstance(error, EXPECTED):
        return quote(str(error))  # the engine's plain text can carry a title, file name or reference
    return None


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    text = clip(text, 2000)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException:
        log.warning("could not send an error reply for /%s", _command_name(interaction), exc_info=True)


def _command_name(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "?"


class TalksTree(app_commands.CommandTree):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        message = describe(error)
        if message is None:
            original = getattr(error, "original", error)
            log.error(
                "/%s failed for user %s in guild %s channel %s",
                _command_name(interaction),
                interaction.user.id,
                interaction.guild_id,
                interaction.channel_id,
                exc_info=original,
            )
            message = APOLOGY
        await reply_ephemeral(interaction, message)
