"""Answer quality on the bundled article, through the engine with a temporary store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine.answer import Candidate, best_sentences, shorten, snippet
from bot.engine.documents import DocumentError, parse_text, split_sentences
from bot.engine.query import Query, question_type
from bot.engine.service import NOT_FOUND, NOTHING_TO_LOOK_FOR, Answer, Engine, QuestionError
from bot.store import DuplicateDocument

DEV = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "talks-dev.json").read_text("utf-8"))
TITLE = "Top U.S. and Chinese Defense Officials Hold Face-to-Face Meeting at the Pentagon, First Since January 2020"


def fold(text: str) -> str:
    return text.lower().replace("’", "'").replace("‘", "'")


def is_right(answer: Answer, gold: list[str]) -> bool:
    return answer.answer is not None and any(fold(g) in fold(answer.answer) for g in gold)


async def cited_passage(engine: Engine, answer: Answer):
    source = answer.sources[0]
    return (await engine.store.get_passages([source.passage_id], visible_in=None))[source.passage_id]


async def assert_sources_distinct(engine: Engine, answer: Answer) -> None:
    sources = answer.sources or answer.closest
    assert [s.n for s in sources] == list(range(1, len(sources) + 1))
    assert len({s.passage_id for s in sources}) == len(sources)
    passages = await engine.store.get_passages((s.passage_id for s in sources), visible_in=None)
    spans = [passages[s.passage_id] for s in sources]
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            assert a.doc_id != b.doc_id or a.end <= b.start or b.end <= a.start, "overlapping sources"


# -- the dev questions ------------------------------------------------------------------------


@pytest.mark.parametrize("item", DEV["answerable"], ids=[item["q"] for item in DEV["answerable"]])
async def test_answerable_dev_question_is_answered_with_a_gold_phrase(engine, item):
    answer = await engine.ask(item["q"])
    assert is_right(answer, item["gold"]), answer.answer
    assert answer.answer.endswith(" [1]")
    sentence = answer.answer.removesuffix(" [1]")
    passage = await cited_passage(engine, answer)
    assert sentence in passage.text  # quoted, not written
    source = answer.sources[0]
    assert (source.title, source.date, source.paragraph) == (TITLE, "2024-01-10", passage.paragraph)
    assert " ".join(sentence.split()) in source.snippet
    assert 1 <= len(answer.sources) <= engine.settings.sources
    await assert_sources_distinct(engine, answer)


@pytest.mark.parametrize("question", DEV["unanswerable"])
async def test_unanswerable_dev_question_gets_no_answer(engine, question):
    answer = await engine.ask(question)
    assert answer.answer is None
    assert answer.sources == []
    assert answer.message
    await assert_sources_distinct(engine, answer)


async def test_dev_set_accuracy_is_perfect(engine):
    right = 0
    for item in DEV["answerable"]:
        right += is_right(await engine.ask(item["q"]), item["gold"])
    for question in DEV["unanswerable"]:
        right += (await engine.ask(question)).answer is None
    assert right == len(DEV["answerable"]) + len(DEV["unanswerable"])


async def test_why_were_talks_cancelled_cites_paragraph_3(engine):
    answer = await engine.ask("why were talks cancelled?")
    assert answer.answer == (
        "The dialogue was abruptly halted in 2023 when China canceled the talks in response to former "
        "House Speaker Nancy Pelosi’s visit to Taiwan. [1]"
    )
    source = answer.sources[0]
    assert source.n == 1
    assert source.paragraph == 3
    assert source.section == "Resumption After a Tense Delay"
    assert source.date == "2024-01-10"
    assert source.title == TITLE
    assert "abruptly halted in 2023" in source.snippet
    assert answer.terms == ["talk", "cancel"]
    assert answer.searched == 5


@pytest.mark.parametrize(
    "question",
    ["Why did China CANCEL the talks?", "why were the talks canceled", "  why   were talks\ncancelled?  "],
)
async def test_paraphrases_get_the_same_answer(engine, question):
    answer = await engine.ask(question)
    assert is_right(answer, ["abruptly halted in 2023"])


async def test_us_and_indo_pacific_spellings(engine):
    assert is_right(await engine.ask("What did the US affirm?"), ["affirmed its right"])
    assert is_right(await engine.ask("operational safety in the indopacific"), ["indo-pacific region"])


# -- no answer ----------------------------------------------------------------------------------


async def test_question_with_no_word_in_the_corpus_gets_no_answer(engine):
    answer = await engine.ask("Recommend a good pizza place")
    assert answer.answer is None
    assert answer.sources == [] and answer.closest == []
    assert answer.message == NOT_FOUND


async def test_question_matching_one_minor_word_gets_no_answer(engine):
    # "pentagon" is in the article; weather, traffic and food are not: a quarter of what is asked
    answer = await engine.ask("What are the weather, traffic and food like at the Pentagon?")
    assert answer.answer is None
    assert answer.message == NOT_FOUND
    assert answer.closest and "Pentagon" in answer.closest[0].snippet


async def test_question_of_only_stop_words_gets_a_message(engine):
    answer = await engine.ask("What is it and why?")
    assert answer.answer is None
    assert answer.terms == []
    assert answer.message == NOTHING_TO_LOOK_FOR


async def test_weak_match_gives_closest_passages_but_no_answer(engine):
    answer = await engine.ask("What is the weather in Taiwan tomorrow for the pizza festival?")
    assert answer.answer is None
    assert answer.message == NOT_FOUND
    assert answer.closest, "passages mentioning Taiwan are offered as closest"
    assert any("Taiwan" in s.snippet for s in answer.closest)
    await assert_sources_distinct(engine, answer)


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
async def test_empty_question_raises(engine, question):
    with pytest.raises(QuestionError):
        await engine.ask(question)
    with pytest.raises(QuestionError):
        await engine.search(question)


async def test_too_long_question_raises(engine):
    limit = engine.settings.max_question_chars
    with pytest.raises(QuestionError, match="too long"):
        await engine.ask("talks " * (limit // 6 + 1))
    answer = await engine.ask(("talks " * limit)[: limit])  # exactly at the limit is fine
    assert answer.question


# -- sources --------------------------------------------------------------------------------------


async def test_limit_caps_the_sources(engine):
    answer = await engine.ask("Why is the resumption of the talks only a small step?", limit=1)
    assert answer.answer is not None
    assert len(answer.sources) == 1


def windowed_text() -> tuple[str, str]:
    """A document with one long paragraph, and a sentence that sits in two overlapping windows."""
    filler = [f"Filler sentence {i} describes routine item{i:02d} of the agenda in plain words." for i in range(40)]
    body = "Windowed Report\n\n" + " ".join(filler)
    parsed = parse_text(body)
    assert len(parsed.passages) > 1
    shared = next(
        s.text for s in split_sentences(parsed.passages[0].text) if s.text in parsed.passages[1].text
    )
    return body, shared


async def test_overlapping_windows_are_not_cited_twice(engine):
    body, shared = windowed_text()
    await engine.add_text(body, added_by="test")
    item = shared.split()[5]  # "itemNN", only in that sentence
    assert item.startswith("item")
    answer = await engine.ask(f"Which sentence describes routine {item} of the agenda?")
    assert answer.answer is not None and item in answer.answer
    await assert_sources_distinct(engine, answer)
    result = await engine.search(f"routine {item}")
    passages = await engine.store.get_passages((h.passage_id for h in result.hits), visible_in=None)
    windows = [passages[h.passage_id] for h in result.hits if item in passages[h.passage_id].text]
    assert len(windows) == 1


# -- documents through the engine -----------------------------------------------------------------


async def test_added_document_is_answerable_and_scoped_to_its_guild(engine):
    text = "Harbor Report\n\nThe ferry service to Lamma Island was suspended because of the typhoon."
    await engine.add_text(text, guild_id=42, added_by="test", date="2024-03-01")
    answer = await engine.ask("Why was the ferry service suspended?", guild_id=42)
    assert is_right(answer, ["because of the typhoon"])
    assert answer.sources[0].title == "Harbor Report"
    assert answer.sources[0].date == "2024-03-01"
    assert (await engine.ask("Why was the ferry service suspended?", guild_id=7)).answer is None
    assert (await engine.ask("Why was the ferry service suspended?")).answer is None  # DMs: bundled only
    assert (await engine.ask("Why was the ferry service suspended?", everything=True)).answer is not None
    # the bundled article is still answerable in that guild
    assert is_right(await engine.ask("why were talks cancelled?", guild_id=42), ["abruptly halted in 2023"])


async def test_removed_document_is_no_longer_answered(engine):
    (doc,) = await engine.documents(None)
    await engine.remove(doc.id, removed_by="test")
    assert (await engine.ask("why were talks cancelled?")).answer is None
    assert await engine.remove(doc.id, removed_by="test") is None


async def test_adding_the_same_text_again_is_refused(engine, article_text):
    with pytest.raises(DuplicateDocument):
        await engine.add_text(article_text, added_by="test")
    assert len(engine.index) == 5


async def test_bad_url_is_refused(engine):
    with pytest.raises(DocumentError, match="URL"):
        await engine.add_text("Notes\n\nSome text here.", added_by="t", url="ftp://example.com")
    assert len(await engine.documents(None, everything=True)) == 1


async def test_resolve_by_id_and_title(engine):
    (doc,) = await engine.documents(None)
    assert (await engine.resolve(str(doc.id), None)).id == doc.id
    assert (await engine.resolve(f"#{doc.id}", None)).id == doc.id
    assert (await engine.resolve("top u.s. and chinese", None)).id == doc.id


# -- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [("Why were talks cancelled?", "why"), ("When did they meet?", "when"), ("Who met?", "who"),
     ("Where did they meet?", "where"), ("How many officials came?", "number"), ("What happened?", None)],
)
def test_question_type(question, kind):
    assert question_type(question) == kind


def test_best_sentence_prefers_the_cause_for_why_questions():
    text = "China canceled the talks last year. China canceled the talks because of the visit."
    query = Query.parse("Why did China cancel the talks?")
    assert query.terms == ("china", "cancel", "talk") and query.kind == "why"
    best = best_sentences(query, [Candidate(1, text, 1.0)], lambda term: 1.0)
    assert best[0].sentence.text == "China canceled the talks because of the visit."
    assert best[0].coverage == 1.0


def test_snippet_and_shorten():
    text = "Short one. The next sentence follows. A third."
    first = split_sentences(text)[0]
    assert snippet(text, first) == "Short one. The next sentence follows."
    long = "word " * 100
    cut = shorten(long, 50)
    assert len(cut) <= 50 and cut.endswith("…")


# -- our own questions (tests/fixtures/talks-more.json): other wordings, who/when/why/where ------------

MORE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "talks-more.json").read_text("utf-8"))
# Measured: 17 of 20. The three misses: "Who represented China?" and "What is the name of the
# talks?" (the decision's confidence stays under its threshold) and "Are the US and China willing
# to keep talking?" (no sentence shares its words); README lists them.
MORE_MIN_RIGHT = 17


async def test_more_questions_answer_rate_does_not_regress(engine):
    answers = [await engine.ask(item["q"]) for item in MORE["answerable"]]
    right = [item["q"] for item, a in zip(MORE["answerable"], answers) if is_right(a, item["gold"])]
    assert len(right) >= MORE_MIN_RIGHT, sorted(set(i["q"] for i in MORE["answerable"]) - set(right))


@pytest.mark.parametrize("question", MORE["unanswerable"])
async def test_more_unanswerable_questions_get_no_answer(engine, question):
    assert (await engine.ask(question)).answer is None


@pytest.mark.parametrize(
    ("question", "fragment"),
    [
        ("Whose visit to Taiwan led to the cancellation?", "nancy pelosi"),
        ("When were the talks halted?", "halted in 2023"),
        ("Where did the defense officials meet?", "pentagon"),
        ("How long was the hiatus?", "three years"),
    ],
)
async def test_question_words_find_the_kind_of_answer_asked_for(engine, question, fragment):
    assert fragment in fold((await engine.ask(question)).answer or "")


async def test_a_name_the_documents_do_not_have_means_no_answer(engine):
    await engine.add_text(
        "Harbor Notes\n\nThe harbor festival was postponed because the storm damaged the pier.", added_by="t"
    )
    assert "postponed" in (await engine.ask("Why was the harbor festival postponed?")).answer
    # Same words, but about a festival the documents never name: not this sentence's question.
    other = await engine.ask("Why was the Dobutiton festival postponed?")
    assert other.answer is None and other.message == NOT_FOUND


async def test_term_share_is_reported(engine):
    answer = await engine.ask("why were talks cancelled?")
    assert answer.term_share == 1.0 and answer.to_json()["term_share"] == 1.0
    assert (await engine.ask("What is the weather in Paris?")).term_share == 0.0


# -- "how many ...": the count, not a sentence that only mentions the thing ----------------------

RECALL = """Brightline Recalls 1.4 Million Air Fryers Over Fire Risk

Brightline Appliances Inc. is recalling about 1.4 million air fryers sold in the U.S. and Canada because a wiring fault can cause them to overheat and catch fire, the Consumer Product Safety Commission said Thursday.

The company has received 212 reports of the fryers overheating, including 38 fires and 11 minor burn injuries. No deaths have been reported.

Shares of Brightline fell 6 percent on Thursday."""

DEPOT = """Riverton Council Approves $42 Million Bus Depot

The Riverton City Council voted 7-4 early Wednesday to approve a $42 million electric bus depot on the former Hanley Mills site.

Construction is expected to begin in March and take about 18 months.

The council also approved, by a unanimous vote, a $1.2 million plan to plant 400 trees along the depot's perimeter as a sound barrier."""


async def test_how_many_questions_quote_the_sentence_that_counts_the_thing(engine):
    await engine.add_text(RECALL, added_by="t", date="2024-11-21")
    await engine.add_text(DEPOT, added_by="t", date="2024-11-13")
    # "many" is not a word the answer has: searched for, it kept "400 trees" under the threshold.
    trees = await engine.ask("how many trees")
    assert trees.answer == (
        "The council also approved, by a unanimous vote, a $1.2 million plan to plant 400 trees along the"
        " depot's perimeter as a sound barrier. [1]"
    )
    assert (trees.sources[0].title, trees.sources[0].date, trees.sources[0].paragraph) == (
        "Riverton Council Approves $42 Million Bus Depot", "2024-11-13", 3
    )
    # Paragraph 1 says "fire" (and the title too) and a number, but it is paragraph 2 that counts fires.
    fires = await engine.ask("how many fires")
    assert fires.answer is not None and "including 38 fires" in fires.answer
    assert fires.sources[0].paragraph == 2
    assert "38 fires" in (await engine.ask("how many fires were there?")).answer


async def test_question_typed_without_its_apostrophe_is_not_about_the_word_what(engine):
    await engine.add_text(DEPOT, added_by="t", date="2024-11-13")
    assert Query.parse("whats the vote count").terms == Query.parse("what's the vote count").terms
    assert Query.parse("how many trees").terms == ("tree",)
    assert Query.parse("HOW MANY TREES WERE PLANTED").terms == Query.parse("how many trees were planted").terms
