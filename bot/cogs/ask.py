"""Questions: asked in a channel (mention, reply, DM, ask-channel) or with /ask, /search, /help."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import NO_PINGS, answer_embed, clip, search_embed
from bot.engine.service import QuestionError
from bot.store import BUNDLED, StoreError
from bot.views import BUSY, SOURCES_PER_PAGE, answer_doc_id, answer_payload, answer_view

if TYPE_CHECKING:
    from bot.client import TalksBot

log = logging.getLogger(__name__)

HELP = (
    "**TalksBot** answers questions about the documents of this server with the sentence that "
    "answers and where it comes from. It never makes up an answer: when the documents don't say, it tells you.\n"
    "- Mention me with a question, reply to one of my answers, or DM me.\n"
    "- `/ask` a question, `/search` for passages, `/source` to read a paragraph, `/documents` to list them.\n"
    "- Server admins: `/corpus add`, `/corpus paste`, `/corpus remove`, `/corpus channel`."
)


class AskCog(commands.Cog):
    def __init__(self, bot: TalksBot) -> None:
        self.bot = bot
        settings = bot.settings
        # One budget per user, shared by messages and slash commands.
        self.cooldowns = commands.CooldownMapping.from_cooldown(
            settings.question_rate, settings.question_per_s, lambda user_id: user_id
        )
        self._ask_channels: dict[int, set[int]] = {}

    # -- shared ----------------------------------------------------------------------------

    def retry_after(self, user_id: int) -> float | None:
        bucket = self.cooldowns.get_bucket(user_id)
        return bucket.update_rate_limit() if bucket else None

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.command is not None and interaction.command.name == "help":
            return True  # help costs nothing
        retry = self.retry_after(interaction.user.id)
        if retry:
            bucket = self.cooldowns.get_bucket(interaction.user.id)
            raise app_commands.CommandOnCooldown(bucket, retry)  # type: ignore[arg-type]
        return True

    async def answer(
        self,
        question: str,
        *,
        guild_id: int | None,
        channel_id: int,
        asker_id: int,
        question_message_id: int | None = None,
    ) -> tuple[int, discord.Embed, discord.ui.View]:
        """Answer, keep the answer in the store (its buttons find it there), and build the message."""
        limit = self.bot.settings.sources * 3  # the first page shows `sources`; More sources pages on
        result = await self.bot.engine.ask(question, guild_id=guild_id, limit=limit)
        answer_id = await self.bot.engine.store.add_answer(
            guild_id=guild_id or BUNDLED,
            channel_id=channel_id,
            asker_id=asker_id,
            question=result.question,
            payload=answer_payload(result),
            doc_id=answer_doc_id(result),
            question_message_id=question_message_id,
        )
        return answer_id, answer_embed(result, per_page=SOURCES_PER_PAGE), answer_view(answer_id, result)

    async def ask_channels(self, guild_id: int) -> set[int]:
        if guild_id not in self._ask_channels:
            self._ask_channels[guild_id] = await self.bot.engine.store.ask_channels(guild_id)
        return self._ask_channels[guild_id]

    def forget_ask_channels(self, guild_id: int) -> None:
        self._ask_channels.pop(guild_id, None)

    # -- messages ----------------------------------------------------------------------------

    def _strip_mentions(self, content: str) -> str:
        assert self.bot.user is not None
        return re.sub(rf"<@!?{self.bot.user.id}>", " ", content).strip()

    async def _is_reply_to_me(self, message: discord.Message) -> bool:
        reference = message.reference
        if reference is None or reference.message_id is None:
            return False
        replied = reference.resolved if isinstance(reference.resolved, discord.Message) else None
        if replied is None:
            try:
                replied = await message.channel.fetch_message(reference.message_id)
            except discord.HTTPException:
                return False
        return replied.author == self.bot.user

    async def question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, "" for a bare mention, None if it is not for the bot."""
        if message.guild is None:
            return message.content.strip()
        if self.bot.user in message.mentions:
            return self._strip_mentions(message.content)
        if await self._is_reply_to_me(message):
            return message.content.strip()
        channel = message.channel
        channel_ids = {channel.id, getattr(channel, "parent_id", None)}
        if message.content.rstrip().endswith("?") and channel_ids & await self.ask_channels(message.guild.id):
            return message.content.strip()
        return None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return  # other bots, webhooks and ourselves
        question = await self.question_in(message)
        if question is None:
            return
        try:
            if not question:
                await message.reply(HELP, mention_author=False, allowed_mentions=NO_PINGS)
                return
            retry = self.retry_after(message.author.id)
            if retry:
                await message.reply(
                    f"Slow down a little: try again in {retry:.0f} s.", mention_author=False, allowed_mentions=NO_PINGS
                )
                return
            async with message.channel.typing():
                try:
                    answer_id, embed, view = await self.answer(
                        question,
                        guild_id=message.guild.id if message.guild else None,
                        channel_id=message.channel.id,
                        asker_id=message.author.id,
                        question_message_id=message.id,
                    )
                except QuestionError as exc:
                    await message.reply(str(exc), mention_author=False, allowed_mentions=NO_PINGS)
                    return
            sent = await message.reply(embed=embed, view=view, mention_author=False, allowed_mentions=NO_PINGS)
            await self.bot.engine.store.set_answer_message(answer_id, sent.id)
        except StoreError:
            log.warning("store busy: message %s in channel %s not answered", message.id, message.channel.id)
            await message.reply(BUSY, mention_author=False, allowed_mentions=NO_PINGS)
        except discord.Forbidden:
            log.warning("no permission to answer in channel %s (guild %s)", message.channel.id, message.guild)
        except discord.HTTPException:
            log.exception("could not answer message %s in channel %s", message.id, message.channel.id)

    # -- slash commands ----------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask a question about the documents")
    @app_commands.describe(question="What you want to know, e.g. why were the talks cancelled?")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 500]) -> None:
        await interaction.response.defer(thinking=True)
        answer_id, embed, view = await self.answer(
            question, guild_id=interaction.guild_id, channel_id=interaction.channel_id or 0, asker_id=interaction.user.id
        )
        sent = await interaction.followup.send(embed=embed, view=view, allowed_mentions=NO_PINGS, wait=True)
        await self.bot.engine.store.set_answer_message(answer_id, sent.id)

    @app_commands.command(name="search", description="Find the passages that match some words")
    @app_commands.describe(query="Words to look for", limit="How many passages (1-10)")
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 500],
        limit: app_commands.Range[int, 1, 10] = 5,
    ) -> None:
        result = await self.bot.engine.search(query, guild_id=interaction.guild_id, limit=limit)
        await interaction.response.send_message(embed=search_embed(result), allowed_mentions=NO_PINGS)

    @app_commands.command(name="help", description="What TalksBot can do")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(clip(HELP, 2000), ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: TalksBot) -> None:
    await bot.add_cog(AskCog(bot))
