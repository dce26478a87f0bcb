"""Follow-up questions: the engine takes the conversation (earlier questions and the documents that
answered them) as an argument, so it is tested here without Discord."""

from __future__ import annotations

from pathlib import Path

from bot.engine.query import Turn

GUILD = 77
# Two small documents that both answer "why did it reopen?" (also used by tests/cogs/test_conversation.py).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LIBRARY = (FIXTURES / "library.txt").read_text("utf-8")
FERRY = (FIXTURES / "ferry.txt").read_text("utf-8")


async def add_both(engine):
    library = await engine.add_text(LIBRARY, guild_id=GUILD, added_by="test")
    ferry = await engine.add_text(FERRY, guild_id=GUILD, added_by="test")
    return library, ferry


async def test_a_follow_up_is_answered_from_the_conversations_document(engine):
    library, ferry = await add_both(engine)
    fresh = await engine.ask("why did it reopen?", guild_id=GUILD)
    assert fresh.sources[0].doc_id == ferry.id  # asked on its own: the ferry, which says "reopened" most
    assert fresh.followed is None

    first = await engine.ask("when did the library close?", guild_id=GUILD)
    assert first.sources[0].doc_id == library.id
    follow = await engine.ask("why did it reopen?", guild_id=GUILD, context=[Turn(first.question, library.id)])
    assert follow.sources[0].doc_id == library.id
    assert "council approved new funding" in follow.answer
    assert follow.followed == "when did the library close?"


async def test_a_follow_up_with_no_words_of_its_own_uses_the_earlier_question(engine):
    library, _ = await add_both(engine)
    alone = await engine.ask("and when?", guild_id=GUILD)
    assert alone.answer is None  # nothing to look for
    follow = await engine.ask("and when?", guild_id=GUILD, context=[Turn("why did the library reopen?", library.id)])
    assert follow.sources[0].doc_id == library.id and "May 2024" in follow.answer
    assert follow.followed == "why did the library reopen?"


async def test_a_new_subject_in_a_conversation_is_answered_as_a_new_question(engine):
    library, ferry = await add_both(engine)
    follow = await engine.ask(
        "why did the ferry service reopen?", guild_id=GUILD, context=[Turn("when did the library close?", library.id)]
    )
    assert follow.sources[0].doc_id == ferry.id and "harbour repairs" in follow.answer
    assert follow.followed is None


async def test_earlier_terms_weigh_less_than_the_questions_own(engine):
    _, ferry = await add_both(engine)
    # An earlier question about the library (no document answered it) does not outweigh "ferry".
    follow = await engine.ask("why did the ferry reopen?", guild_id=GUILD, context=["what happened to the library roof?"])
    assert follow.sources[0].doc_id == ferry.id
