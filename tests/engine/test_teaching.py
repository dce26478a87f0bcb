"""Gaps (questions a server's documents did not answer) and teaching (an admin's chosen passage)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.engine.documents import DocumentError
from bot.engine.service import UnknownDocument
from bot.engine.teaching import MATCH_THRESHOLD, overlap

SERVER, OTHER = 5, 6
# The article says "lead by Pentagon's Michael Chase and China's Maj. Gen. Song Yanchao": other words.
GAP = "Who represented the Chinese side?"
SAME_TERMS = "who represented the chinese side"
VARIANT = "Who represented the Chinese side at the talks?"
LEADERS = "Michael Chase and China’s Maj. Gen. Song Yanchao"


async def article_paragraph(engine, paragraph: int):
    [doc] = await engine.documents(SERVER)
    [passage] = await engine.passage(doc, paragraph)
    return passage


def test_variants_pass_the_threshold_and_a_question_sharing_one_term_does_not():
    taught = ["repres", "chines", "side"]
    assert overlap(["repres", "chines", "side", "talk"], taught) >= MATCH_THRESHOLD  # one word added
    assert overlap(["repres", "chines", "deleg"], taught) >= MATCH_THRESHOLD  # one word changed
    assert overlap(["chines", "economi", "growth", "rate"], taught) < MATCH_THRESHOLD  # shares one term


async def test_an_unanswered_question_becomes_a_gap_of_its_server_only(engine):
    first = await engine.ask(GAP, guild_id=SERVER)
    again = await engine.ask(SAME_TERMS, guild_id=SERVER)
    assert first.answer is None and again.answer is None
    await engine.ask(GAP)  # a DM: no server, no gap
    [gap] = await engine.gaps(SERVER)
    assert (gap.question, gap.count) == (SAME_TERMS, 2)
    assert [p.paragraph for p in await engine.gap_passages(gap)] == [c.paragraph for c in again.closest]
    assert await engine.gaps(OTHER) == []
    answered = await engine.ask("why were talks cancelled?", guild_id=SERVER)
    assert answered.answer is not None and len(await engine.gaps(SERVER)) == 1  # answers are not gaps


async def test_teaching_answers_the_question_and_its_variants_in_that_server_only(engine):
    await engine.ask(GAP, guild_id=SERVER)
    passage = await article_paragraph(engine, 1)
    await engine.teach(SERVER, GAP, passage.id, taught_by="admin")
    assert await engine.gaps(SERVER) == []  # the gap is closed
    for question in (GAP, SAME_TERMS, VARIANT):
        answer = await engine.ask(question, guild_id=SERVER)
        assert answer.answer is not None and LEADERS in answer.answer and answer.answer.endswith("[1]"), question
        assert answer.sources[0].paragraph == 1 and answer.taught == GAP
    elsewhere = await engine.ask(GAP, guild_id=OTHER)
    assert elsewhere.answer is None  # teaching the bundled article changed it in SERVER only
    assert (await engine.ask(GAP)).answer is None  # and not in DMs
    unrelated = await engine.ask("why were talks cancelled?", guild_id=SERVER)
    assert "Pelosi" in unrelated.answer and unrelated.taught is None


async def test_removing_what_was_taught_brings_the_gap_back(engine):
    passage = await article_paragraph(engine, 1)
    record = await engine.teach(SERVER, GAP, passage.id, taught_by="admin")
    [(listed, listed_passage)] = await engine.taught(SERVER)
    assert listed.question == GAP and listed_passage.paragraph == 1
    assert await engine.unteach(OTHER, record.id) is False  # another server cannot remove it
    assert await engine.unteach(SERVER, record.id) is True
    assert (await engine.ask(GAP, guild_id=SERVER)).answer is None
    assert [g.count for g in await engine.gaps(SERVER)] == [1]


async def test_teaching_by_document_and_paragraph(engine):
    record = await engine.teach_paragraph(SERVER, GAP, "#1", 1, taught_by="cli")
    assert record.passage_id == (await article_paragraph(engine, 1)).id
    with pytest.raises(DocumentError, match="has no paragraph 40"):
        await engine.teach_paragraph(SERVER, GAP, "1", 40, taught_by="cli")
    other_doc = await engine.add_text("Ferry Notes\n\nThe ferry leaves at noon.", guild_id=OTHER, added_by="x")
    with pytest.raises(UnknownDocument):
        await engine.teach_paragraph(SERVER, GAP, other_doc.title, 1, taught_by="cli")
    with pytest.raises(UnknownDocument):  # nor by passage id
        [ferry] = await engine.store.document_passages(other_doc.id)
        await engine.teach(SERVER, GAP, ferry.id, taught_by="cli")


async def test_a_removed_document_takes_its_teaching_with_it(engine):
    doc = await engine.add_text(
        "Harbor Notes\n\nThe festival was moved to Saturday because the storm damaged the pier.",
        guild_id=SERVER,
        added_by="x",
    )
    [passage] = await engine.store.document_passages(doc.id)
    await engine.teach(SERVER, "When is the seaside fair?", passage.id, taught_by="admin")
    assert "Saturday" in (await engine.ask("When is the seaside fair?", guild_id=SERVER)).answer
    await engine.remove(doc.id, removed_by="admin")
    assert (await engine.ask("When is the seaside fair?", guild_id=SERVER)).answer is None
    assert await engine.taught(SERVER) == []


async def test_a_not_helpful_vote_is_a_gap_counted_once_per_voter(engine):
    answer = await engine.ask("why were talks cancelled?", guild_id=SERVER)
    for _ in range(2):
        await engine.record_not_helpful(answer, SERVER, message_id=10, user_id=1)
    await engine.record_not_helpful(answer, SERVER, message_id=10, user_id=2)
    await engine.record_not_helpful(answer, None, message_id=11, user_id=1)  # a DM: no server
    [gap] = await engine.gaps(SERVER)
    assert (gap.question, gap.count) == ("why were talks cancelled?", 2)
    assert [p.paragraph for p in await engine.gap_passages(gap)] == [s.paragraph for s in answer.sources]


async def test_gaps_older_than_the_setting_are_deleted(engine):
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat(timespec="seconds")
    await engine.store.record_gap(SERVER, "an old question?", "old question", [], at=old)
    await engine.ask(GAP, guild_id=SERVER)
    assert [g.question for g in await engine.gaps(SERVER)] == [GAP]
    assert [g.question for g in await engine.store.gaps(SERVER)] == [GAP]  # gone from the store too


async def test_most_asked_first(engine):
    await engine.ask("What is the weather in Paris?", guild_id=SERVER)
    for _ in range(3):
        await engine.ask(GAP, guild_id=SERVER)
    await engine.ask("What about the Arctic?", guild_id=SERVER)
    assert [(g.question, g.count) for g in await engine.gaps(SERVER)][:2] == [(GAP, 3), ("What about the Arctic?", 1)]
