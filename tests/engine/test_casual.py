"""Questions as people type them: other words than the article's, and on-topic questions the
article does not answer. Asked through the engine with the bundled article, as /ask does."""

from __future__ import annotations

import socket

import pytest

from bot.engine.service import NOT_FOUND


def fold(text: str) -> str:
    return text.lower().replace("’", "'")


# (question, a phrase of the sentence that answers it). README lists them with the bot's answers.
CASUAL = [
    ("what's the deal with the philippine ships?", "harassment of philippine vessels"),
    ("were the philippine boats discussed?", "harassment of philippine vessels"),
    ("is taiwan still a problem between them?", "remains a contentious point"),
    ("does the US help defend Taiwan?", "commitment to aid in taiwan's defense"),
    ("what is the us doing about taiwan's defense?", "commitment to aid in taiwan's defense"),
    ("why did china stop talking to the us?", "in response to former house speaker nancy pelosi"),
    ("why did china pull out of the talks?", "in response to former house speaker nancy pelosi"),
    ("why'd china cancel?", "in response to former house speaker nancy pelosi"),
    ("any progress between the us and china?", "renewal of talks symbolizes progress"),
]

# On topic, but the article does not say.
NOT_SAID = [
    "How many delegates attended the Pentagon meeting?",
    "What sanctions did the US impose on China?",
    "How long did the Pentagon meeting last?",
    "What did Song Yanchao say to reporters?",
    "When will the next round of talks take place?",
    "Which U.S. senators criticized the talks?",
    "How many ships did China send to the South China Sea?",
    "What did Xi Jinping promise Biden?",
]


@pytest.mark.parametrize(("question", "phrase"), CASUAL, ids=[q for q, _ in CASUAL])
async def test_casual_phrasing_gets_the_sentence_that_answers(engine, question, phrase):
    answer = await engine.ask(question)
    assert answer.answer is not None, f"no answer (confidence {answer.confidence:.2f})"
    assert phrase in fold(answer.answer)


@pytest.mark.parametrize("question", NOT_SAID)
async def test_on_topic_question_the_article_does_not_answer_gets_no_answer(engine, question):
    answer = await engine.ask(question)
    assert answer.answer is None and answer.message == NOT_FOUND, answer.answer
    # It still says what it looked for and shows the closest passages (if any has its words).
    assert answer.terms and not answer.sources
    assert answer.closest or not engine.index.known_terms(answer.terms)


async def test_when_did_the_talks_resume_is_not_answered_with_the_cancellation(engine):
    answer = await engine.ask("when did the talks resume?")
    assert "halted in 2023" not in (answer.answer or "")


async def test_asking_downloads_nothing(engine, monkeypatch):
    """The embedding model ships in the wheel: with every socket refused, asking still works."""

    def refuse(*args, **kwargs):
        raise OSError("network access during ask")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from bot.engine import semantic

    semantic.load_model.cache_clear()  # load the model again, now without a network
    semantic.clear_caches()
    answer = await engine.ask("what's the deal with the philippine ships?")
    assert "philippine vessels" in fold(answer.answer or "")


def test_the_model_read_without_importing_wordllama_is_wordllamas():
    """semantic reads WordLlama's files itself (its import costs a quarter second of each start):
    the same vectors and the same tokens as ``WordLlama.load`` gives."""
    import logging

    from bot.engine import semantic

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama import WordLlama

        theirs = WordLlama.load(cache_dir=wordllama.__file__.rsplit("/", 1)[0], disable_download=True)
    finally:  # wordllama's import configures the root logger
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    ours = semantic.model()
    assert ours.embedding.dtype == theirs.embedding.dtype and (ours.embedding == theirs.embedding).all()
    for text in ("Philippine vessels", "halted talks", "Taiwan's defense"):
        assert ours.tokenizer.encode(text, add_special_tokens=False).ids == theirs.tokenizer.encode(
            text, add_special_tokens=False
        ).ids
