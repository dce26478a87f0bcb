"""Questions: asked in a channel (mention, reply, DM, ask-channel) or with /ask, /search, /help."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import NO_PINGS, answer_embed, clip, quote, search_embed
from bot.engine.language import other_language
from bot.engine.query import Turn
from bot.engine.service import NOT_FOUND, Answer, QuestionError
from bot.store import BUNDLED, AnswerRecord, StoreError
from bot.views import BUSY, SOURCES_PER_PAGE, answer_doc_id, answer_payload, answer_view

if TYPE_CHECKING:
    from bot.client import TalksBot

log = logging.getLogger(__name__)

HELP = (
    "**TalksBot** answers questions about the documents of this server with the sentence that "
    "answers and where it comes from. It never makes up an answer: when the documents don't say, it tells you.\n"
    "- Mention me with a question, or reply to one of my answers to follow up on it.\n"
    "- In DMs I search only the bundled article; ask in your server for its documents.\n"
    "- `/ask` a question, `/search` for passages, `/source` to read a paragraph, `/documents` to list them.\n"
    "- Server admins: `/corpus add` (a file or a link), `/corpus paste`, `/corpus remove`, `/corpus channel`, "
    "`/corpus bundled`, `/corpus gaps` (what members could not get answered), `/corpus links`."
)
NOT_FOUND_IN_DMS = (
    "I couldn't find an answer to that in the bundled article. In DMs I search only the bundled "
    "article; ask in your server for its documents."
)
EDIT_WINDOW_S = 15 * 60  # an edited question is answered again only this long after it was sent
FOLLOW_UP_DEPTH = 3  # earlier answers of a reply chain taken as the conversation
GREETINGS = frozenset({"help", "hi", "hello", "hey", "hiya", "yo", "help me", "hi there", "hello there", "hey there"})
# A reply to the bot is a question when it asks something: a question mark, a question word first,
# or enough words to be one ("tell me about the talks in Washington"); "thanks!" is not.
QUESTION_WORDS = frozenset(
    "who whom whose what when where why how which is are was were do does did can could should would will "
    "has have had tell explain describe list".split()
)
MIN_QUESTION_WORDS = 6
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ANY_MENTION = re.compile(r"<@!?\d+>|<@&\d+>|<#\d+>")  # @everyone stays: it is shown escaped, never pings
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SEVERAL = re.compile(r"[^?]*\?")


def without_mentions(text: str) -> str:
    """The text with mentions of users, roles and channels taken out: they are not words to look for."""
    return " ".join(_ANY_MENTION.sub(" ", text).split())


def is_greeting(text: str) -> bool:
    """"help", "hi", "hello!" and the like: they get the help text, not a search."""
    return " ".join(_WORD.findall(text.casefold())) in GREETINGS


def asks_something(text: str) -> bool:
    words = _WORD.findall(text.casefold())
    return "?" in text or bool(words) and (words[0] in QUESTION_WORDS or len(words) >= MIN_QUESTION_WORDS)


def questions_in(text: str, max_chars: int) -> list[str]:
    """The questions of a message, each ending with its "?" (one question: the whole text).

    A message over the length limit stays whole, so it is refused as too long, not cut up.
    """
    if len(text) > max_chars:
        return [text]
    found = [q.strip() for q in _SEVERAL.findall(text) if _WORD.search(q)]
    return found if len(found) > 1 else [text]


@dataclass(frozen=True, slots=True)
class Asked:
    """What a message asks the bot."""

    text: str  # mentions removed; "" for a bare mention
    channel_rule: bool  # asked in an ask-channel without addressing the bot: stay quiet unless answered
    earlier: AnswerRecord | None = None  # the bot's answer this message replies to (a follow-up)


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

    async def conversation(self, earlier: AnswerRecord | None) -> list[AnswerRecord]:
        """The answers of a reply chain, oldest first, at most FOLLOW_UP_DEPTH of them."""
        chain: list[AnswerRecord] = []
        while earlier is not None and len(chain) < FOLLOW_UP_DEPTH:
            chain.append(earlier)
            earlier = await self.bot.engine.store.get_answer(earlier.parent_id) if earlier.parent_id else None
        return chain[::-1]

    async def compute(self, question: str, *, guild_id: int | None, earlier: AnswerRecord | None = None) -> Answer:
        """The engine's answer, in the conversation ``earlier`` belongs to (a follow-up) if any."""
        limit = self.bot.settings.sources * 3  # the first page shows `sources`; More sources pages on
        chain = await self.conversation(earlier)
        result = await self.bot.engine.ask(
            question, guild_id=guild_id, limit=limit, context=[Turn(r.question, r.doc_id) for r in chain]
        )
        if guild_id is None and result.answer is None and result.message == NOT_FOUND:
            result = dataclasses.replace(result, message=NOT_FOUND_IN_DMS)  # say what DMs search
        return result

    async def keep(
        self,
        result: Answer,
        *,
        guild_id: int | None,
        channel_id: int,
        asker_id: int,
        question_message_id: int | None = None,
        earlier: AnswerRecord | None = None,
    ) -> int:
        """Keep the answer in the store (its buttons, follow-ups and edits find it there); its id."""
        return await self.bot.engine.store.add_answer(
            guild_id=guild_id or BUNDLED,
            channel_id=channel_id,
            asker_id=asker_id,
            question=result.question,
            payload=answer_payload(result),
            doc_id=answer_doc_id(result),
            question_message_id=question_message_id,
            parent_id=earlier.id if earlier else None,
        )

    @staticmethod
    def notes(result: Answer, *, unanswered: int = 0, edited: bool = False) -> str:
        """The short lines above an answer: edited, which earlier question it followed, what it left out."""
        lines = []
        if edited:
            lines.append("*edited*: this answers the edited question.")
        if result.followed:
            lines.append(f"Following up on “{quote(clip(result.followed, 200))}”.")
        if result.answer is None and (language := other_language(result.question)):
            lines.append(f"The documents are searched in English; this question looks like {language}.")
        if unanswered:
            others = "the other one" if unanswered == 1 else f"the other {unanswered}"
            lines.append(f"You asked {unanswered + 1} questions; this answers the first. Ask {others} on its own.")
        return "\n".join(lines)

    async def ask_channels(self, guild_id: int) -> set[int]:
        if guild_id not in self._ask_channels:
            self._ask_channels[guild_id] = await self.bot.engine.store.ask_channels(guild_id)
        return self._ask_channels[guild_id]

    def forget_ask_channels(self, guild_id: int) -> None:
        self._ask_channels.pop(guild_id, None)

    # -- messages ----------------------------------------------------------------------------

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

    async def _replied_answer(self, message: discord.Message) -> AnswerRecord | None:
        """The bot's answer this message replies to, if it does."""
        reference = message.reference
        if reference is None or reference.message_id is None:
            return None
        record = await self.bot.engine.store.answer_posted_as(reference.message_id)
        return record if record is not None and record.guild_id == (message.guild.id if message.guild else BUNDLED) else None

    async def question_in(self, message: discord.Message) -> Asked | None:
        """What a message asks the bot; None if it is not for the bot."""
        text = without_mentions(message.content)
        earlier = await self._replied_answer(message)
        if message.guild is None:
            return Asked(text, channel_rule=False, earlier=earlier)
        assert self.bot.user is not None
        me = self.bot.user.id
        # Typed mentions only: a reply that pings its author lists the bot in message.mentions too.
        mentioned = {int(user_id) for user_id in _USER_MENTION.findall(message.content)}
        if me in mentioned or self._mentions_own_role(message):
            return Asked(text, channel_rule=False, earlier=earlier)
        if earlier is not None or await self._is_reply_to_me(message):
            if mentioned - {me} or message.role_mentions or message.mention_everyone:
                return None  # addressed to someone else
            if not asks_something(text):
                return None  # "thanks!", "lol": not a question
            return Asked(text, channel_rule=False, earlier=earlier)
        channel = message.channel
        channel_ids = {channel.id, getattr(channel, "parent_id", None)}
        if message.content.rstrip().endswith("?") and channel_ids & await self.ask_channels(message.guild.id):
            return Asked(text, channel_rule=True)
        return None

    @staticmethod
    def _mentions_own_role(message: discord.Message) -> bool:
        """Whether the message mentions the bot's integration role: typing @TalksBot, Discord offers
        it beside the bot, with the same name. (The only managed role a bot member can have.)"""
        me = message.guild.me if message.guild else None
        own = {role.id for role in me.roles if role.managed} if me else set()
        return bool(own.intersection(message.raw_role_mentions))

    async def _reply(self, message: discord.Message, text: str) -> None:
        await message.reply(text, mention_author=False, allowed_mentions=NO_PINGS)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return  # other bots, webhooks and ourselves
        asked = await self.question_in(message)
        if asked is None:
            return
        try:
            if not asked.text or is_greeting(asked.text):
                if not asked.channel_rule:
                    await self._reply(message, HELP)
                return
            retry = self.retry_after(message.author.id)
            if retry:
                await self._reply(message, f"Slow down a little: try again in {retry:.0f} s.")
                return
            questions = questions_in(asked.text, self.bot.settings.max_question_chars)
            guild_id = message.guild.id if message.guild else None
            async with message.channel.typing():
                try:
                    result = await self.compute(questions[0], guild_id=guild_id, earlier=asked.earlier)
                except QuestionError as exc:
                    await self._reply(message, str(exc))
                    return
            if asked.channel_rule and result.answer is None:
                return  # an ask-channel question the documents do not answer: no public reply
            answer_id = await self.keep(
                result,
                guild_id=guild_id,
                channel_id=message.channel.id,
                asker_id=message.author.id,
                question_message_id=message.id,
                earlier=asked.earlier,
            )
            sent = await message.reply(
                self.notes(result, unanswered=len(questions) - 1) or None,
                embed=answer_embed(result, per_page=SOURCES_PER_PAGE),
                view=answer_view(answer_id, result),
                mention_author=False,
                allowed_mentions=NO_PINGS,
            )
            await self.bot.engine.store.set_answer_message(answer_id, sent.id)
        except StoreError:
            log.warning("store busy: message %s in channel %s not answered", message.id, message.channel.id)
            await self._reply(message, BUSY)
        except discord.Forbidden:
            log.warning("no permission to answer in channel %s (guild %s)", message.channel.id, message.guild)
        except discord.HTTPException:
            log.exception("could not answer message %s in channel %s", message.id, message.channel.id)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A question edited within EDIT_WINDOW_S gets its answer edited to match (raw: also after a restart)."""
        message = payload.message
        if message.author.bot or message.webhook_id is not None:
            return
        if payload.cached_message is not None and payload.cached_message.content == message.content:
            return  # an embed unfurled, a pin: not an edit of the question
        if (discord.utils.utcnow() - message.created_at) > dt.timedelta(seconds=EDIT_WINDOW_S):
            return
        store = self.bot.engine.store
        try:
            record = await store.answer_to(message.id)
            if record is None or record.message_id is None:
                return
            asked = await self.question_in(message)
            if asked is None or not asked.text or is_greeting(asked.text):
                return  # no longer a question: the answer stays as it was
            questions = questions_in(asked.text, self.bot.settings.max_question_chars)
            if " ".join(questions[0].split()) == record.question:
                return
            retry = self.retry_after(message.author.id)
            if retry:
                await self._reply(message, f"Slow down a little: try again in {retry:.0f} s.")
                return
            earlier = await store.get_answer(record.parent_id) if record.parent_id else None
            guild_id = message.guild.id if message.guild else None
            try:
                result = await self.compute(questions[0], guild_id=guild_id, earlier=earlier)
            except QuestionError as exc:
                await self._reply(message, str(exc))
                return
            await store.update_answer(
                record.id, question=result.question, payload=answer_payload(result), doc_id=answer_doc_id(result)
            )
            await message.channel.get_partial_message(record.message_id).edit(
                content=self.notes(result, unanswered=len(questions) - 1, edited=True),
                embed=answer_embed(result, per_page=SOURCES_PER_PAGE),
                view=answer_view(record.id, result),
                allowed_mentions=NO_PINGS,
            )
        except StoreError:
            log.warning("store busy: edit of message %s not answered", message.id)
        except discord.HTTPException:
            log.warning("could not edit the answer to message %s", message.id, exc_info=True)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A deleted question takes its answer with it."""
        store = self.bot.engine.store
        try:
            record = await store.answer_to(payload.message_id)
            if record is None or record.message_id is None:
                return
            await store.delete_answer(record.id)
            await self.bot.get_partial_messageable(payload.channel_id).get_partial_message(record.message_id).delete()
        except StoreError:
            log.warning("store busy: the answer to deleted message %s stays", payload.message_id)
        except discord.NotFound:
            pass  # the answer was deleted already
        except discord.HTTPException:
            log.warning("could not delete the answer to message %s", payload.message_id, exc_info=True)

    # -- slash commands ----------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask a question about the documents")
    @app_commands.describe(question="What you want to know, e.g. why were the talks cancelled?")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 500]) -> None:
        question = without_mentions(question) or question
        # Refused to the asker alone: after a public "thinking..." Discord shows any reply publicly.
        self.bot.engine.check_question(question)
        await interaction.response.defer(thinking=True)
        result = await self.compute(question, guild_id=interaction.guild_id)
        answer_id = await self.keep(
            result, guild_id=interaction.guild_id, channel_id=interaction.channel_id or 0, asker_id=interaction.user.id
        )
        sent = await interaction.followup.send(
            self.notes(result) or discord.utils.MISSING,
            embed=answer_embed(result, per_page=SOURCES_PER_PAGE),
            view=answer_view(answer_id, result),
            allowed_mentions=NO_PINGS,
            wait=True,
        )
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
