"""/ask refuses a question it cannot take before it shows a public "thinking..." message."""

from __future__ import annotations

import pytest
import simcord

from bot.engine.service import QuestionError
from bot.settings import Settings


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    # A server that keeps questions shorter than the 500 characters Discord's option allows.
    return Settings(db=tmp_path / "bot.db", max_question_chars=40, question_rate=50)


async def test_an_over_long_slash_question_is_refused_to_the_asker_alone(simcord_env, server):
    before = server.channel.last_message
    question = "why were the talks between the two militaries cancelled in 2023?"  # 65 characters
    result = await server.member.slash(server.channel, "ask", question=question)
    assert result.ephemeral
    assert result.response.content == "That question is too long (the limit is 40 characters)."
    assert server.channel.last_message is before  # nothing for the whole channel to see
    simcord.assert_error(simcord_env, QuestionError)  # answered by the tree's error handler

    answered = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    assert not answered.ephemeral and "abruptly halted in 2023" in answered.response.embeds[0].description
