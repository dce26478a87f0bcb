"""Anyone can type anything: the answerer never crashes, and every answer is quoted, never made up."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.service import NOT_FOUND, NOTHING_TO_LOOK_FOR, Engine, QuestionError
from bot.settings import Settings

ARTICLE_WORDS = ["talks", "cancelled", "Taiwan", "U.S.", "Pentagon", "Indo-Pacific", "China's", "why", "who", "the"]
ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
WORDY_TEXT = st.lists(st.one_of(st.sampled_from(ARTICLE_WORDS), ODD_TEXT), max_size=12).map(" ".join)


@pytest.fixture(scope="module")
def article_engine(tmp_path_factory):
    import asyncio

    loop = asyncio.new_event_loop()
    engine = loop.run_until_complete(Engine.open(Settings(db=tmp_path_factory.mktemp("hostile") / "h.db")))
    yield loop, engine
    loop.run_until_complete(engine.close())
    loop.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.one_of(ODD_TEXT, WORDY_TEXT))
def test_any_question_gets_a_quoted_answer_a_refusal_or_a_clear_error(article_engine, question):
    loop, engine = article_engine
    try:
        answer = loop.run_until_complete(engine.ask(question))
    except QuestionError as exc:
        assert str(exc) and "\n" not in str(exc)  # empty or too long: one short line
        return
    if answer.answer is None:
        assert answer.message and answer.sources == []
        return
    sentence = answer.answer.removesuffix(" [1]")
    passages = loop.run_until_complete(engine.store.get_passages([answer.sources[0].passage_id], visible_in=None))
    assert sentence in passages[answer.sources[0].passage_id].text  # quoted, word for word


@pytest.mark.parametrize(
    "question",
    [
        "why were talks cancelled? \U0001f914\U0001f525",  # emoji
        "\u202ewhy were talks cancelled?\u202c",  # right-to-left override around it
        "why\x00 were\x07 talks\x1b[31m cancelled?",  # control characters and an escape sequence
    ],
)
async def test_odd_characters_around_a_real_question_still_find_the_answer(engine, question):
    answer = await engine.ask(question)
    assert answer.answer and "abruptly halted in 2023" in answer.answer


async def test_words_the_documents_never_use_are_not_ignored_but_the_passage_is_shown(engine):
    """Three of this question's five terms (the Arabic words) are in no document, so the decision
    does not take the sentence as its answer (engine/decide.py, UNKNOWN_SHARE); the passage with
    the answer is still listed first as the closest."""
    answer = await engine.ask("لماذا ألغيت المحادثات؟ why were talks cancelled?")
    assert answer.answer is None and answer.message == NOT_FOUND
    assert "abruptly halted in 2023" in answer.closest[0].snippet


@pytest.mark.parametrize("question", ["the of and why who what", "???!!! ...", "\U0001f914\U0001f525\U0001f600"])
async def test_questions_with_nothing_to_look_for_get_no_answer(engine, question):
    answer = await engine.ask(question)
    assert answer.answer is None and answer.message == NOTHING_TO_LOOK_FOR


async def test_a_20000_character_question_is_refused_clearly(engine):
    with pytest.raises(QuestionError, match="too long"):
        await engine.ask("why were talks cancelled? " * 800)
