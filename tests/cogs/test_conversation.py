"""Who is being asked, edits and deletes, several questions, DMs: through the real bot."""

from __future__ import annotations

from pathlib import Path

import pytest

CANCELLED = "abruptly halted in 2023"


def bot_messages(env, channel) -> list:
    return [m for m in channel.history() if m.author.id == env.bot.user.id]


@pytest.fixture
async def answered(simcord_env, server):
    """A member's mention question and the bot's answer to it."""
    await server.member.send(server.channel, f"{simcord_env.bot.user.mention} why were talks cancelled?")
    answer = server.channel.last_message
    assert CANCELLED in answer.embeds[0].description
    return answer


async def test_thanks_and_chatter_in_reply_to_an_answer_get_nothing(simcord_env, server, answered):
    await server.member.send(server.channel, "thanks!", reply_to=answered)
    await server.member.send(server.channel, "lol", reply_to=answered)
    assert len(bot_messages(simcord_env, server.channel)) == 1


async def test_a_reply_addressed_to_another_member_gets_nothing(simcord_env, server, answered):
    other = server.guild.add_member(simcord_env.create_user("alice"))
    await server.member.send(server.channel, f"{other.mention} see, I told you it was Pelosi", reply_to=answered)
    assert len(bot_messages(simcord_env, server.channel)) == 1


async def test_mentions_are_not_searched_nor_shown(simcord_env, server):
    other = server.guild.add_member(simcord_env.create_user("alice"))
    bot = simcord_env.bot
    await server.member.send(server.channel, f"{bot.user.mention} {other.mention} what is the weather in Paris?")
    embed = server.channel.last_message.embeds[0]
    assert embed.title == "what is the weather in Paris?"
    assert str(other.id) not in embed.description and "<@" not in embed.title


@pytest.mark.parametrize("greeting", ["help", "hi!", "Hello", "hey"])
async def test_greetings_and_help_get_the_help_text(simcord_env, server, greeting):
    await server.member.send(server.channel, f"{simcord_env.bot.user.mention} {greeting}")
    reply = server.channel.last_message
    assert reply.author.id == simcord_env.bot.user.id
    assert "/ask" in reply.content and not reply.embeds


async def test_ask_channel_stays_quiet_when_the_documents_do_not_answer(simcord_env, server):
    await server.admin.slash(server.channel, "corpus channel", channel=server.channel, enabled=True)
    await server.member.send(server.channel, "Did anyone see the game last night?")
    await server.member.send(server.channel, "lol what?")
    assert bot_messages(simcord_env, server.channel) == []
    await server.member.send(server.channel, "why were talks cancelled?")
    assert CANCELLED in server.channel.last_message.embeds[0].description


async def test_two_questions_in_one_message_say_the_first_was_answered(simcord_env, server):
    bot = simcord_env.bot
    await server.member.send(server.channel, f"{bot.user.mention} why were talks cancelled? who met at the Pentagon?")
    reply = server.channel.last_message
    assert CANCELLED in reply.embeds[0].description
    assert reply.embeds[0].title == "why were talks cancelled?"
    assert "You asked 2 questions; this answers the first. Ask the other one on its own." in reply.content


async def test_a_dm_question_says_what_dms_search(simcord_env, server):
    await server.member.send_dm("What is the parking fee at the town hall?")
    reply = server.member.user.dm_channel.last_message
    assert "In DMs I search only the bundled article; ask in your server for its documents." in reply.embeds[0].description
    help_reply = await server.member.slash(server.channel, "help")
    assert "In DMs I search only the bundled article" in help_reply.response.content


async def test_an_edited_question_is_answered_again_in_the_same_message(simcord_env, server):
    bot = simcord_env.bot
    asked = await server.member.send(server.channel, f"{bot.user.mention} who met at the Pentagn?")
    answer = server.channel.last_message
    await server.member.edit(asked, f"{bot.user.mention} why were talks cancelled?")
    [edited] = bot_messages(simcord_env, server.channel)
    assert edited.id == answer.id  # the same message, edited
    assert edited.embeds[0].title == "why were talks cancelled?"
    assert CANCELLED in edited.embeds[0].description
    assert "*edited*" in edited.content
    # its buttons answer for the new question
    full = await server.member.click(edited, label="Full passage")
    shown = await server.member.select(full.response, ["1"])
    assert CANCELLED in shown.response.embeds[0].description


async def test_edits_count_against_the_rate_limit(simcord_env, server, bot_settings):
    bot = simcord_env.bot
    asked = await server.member.send(server.channel, f"{bot.user.mention} who met at the Pentagon?")
    for _ in range(bot_settings.question_rate - 1):
        await server.member.send(server.channel, f"{bot.user.mention} why were talks cancelled?")
    await server.member.edit(asked, f"{bot.user.mention} what did the U.S. affirm?")
    assert "Slow down a little" in server.channel.last_message.content
    answer = next(m for m in bot_messages(simcord_env, server.channel) if m.reference.message_id == asked.id and m.embeds)
    assert "Michael Chase" in answer.embeds[0].description  # unchanged


async def test_a_deleted_question_takes_its_answer_with_it(simcord_env, server):
    bot = simcord_env.bot
    kept = await server.member.send(server.channel, f"{bot.user.mention} who met at the Pentagon?")
    question = await server.member.send(server.channel, f"{bot.user.mention} why were talks cancelled?")
    assert len(bot_messages(simcord_env, server.channel)) == 2
    await server.member.delete(question)
    [left] = bot_messages(simcord_env, server.channel)
    assert left.reference.message_id == kept.id  # only the deleted question's answer went


async def test_a_reply_is_answered_in_the_conversation_and_says_what_it_followed(simcord_env, server):
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    LIBRARY, FERRY = ((fixtures / name).read_text("utf-8") for name in ("library.txt", "ferry.txt"))

    engine = simcord_env.bot.engine
    await engine.add_text(LIBRARY, guild_id=server.guild.id, added_by="test")
    await engine.add_text(FERRY, guild_id=server.guild.id, added_by="test")
    mention = simcord_env.bot.user.mention
    await server.member.send(server.channel, f"{mention} why did it reopen?")
    assert "harbour repairs" in server.channel.last_message.embeds[0].description  # asked fresh: the ferry

    await server.member.send(server.channel, f"{mention} when did the library close?")
    first = server.channel.last_message
    await server.member.send(server.channel, "why did it reopen?", reply_to=first)
    second = server.channel.last_message
    assert "council approved new funding" in second.embeds[0].description
    assert second.content == "Following up on “when did the library close?”."
    await server.member.send(server.channel, "and when?", reply_to=second)
    third = server.channel.last_message
    assert "May 2024" in third.embeds[0].description
    assert third.content == "Following up on “why did it reopen?”."
    await server.member.send(server.channel, "why did the ferry service reopen?", reply_to=third)
    new_subject = server.channel.last_message
    assert "harbour repairs" in new_subject.embeds[0].description and not new_subject.content


async def test_a_question_in_another_language_says_the_documents_are_in_english(simcord_env, server):
    spanish = await server.member.slash(server.channel, "ask", question="¿Por qué se cancelaron las conversaciones?")
    assert spanish.response.content == "The documents are searched in English; this question looks like Spanish."
    chinese = await server.member.slash(server.channel, "ask", question="为什么会谈被取消？")
    assert chinese.response.content == "The documents are searched in English; this question looks like another language."
    english = await server.member.slash(server.channel, "ask", question="What is the weather in Paris?")
    assert english.response.content == ""  # an English question the documents do not answer: no such note
