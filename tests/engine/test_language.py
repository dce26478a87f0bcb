"""The note for questions in another language: it names the language, and never an English question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine.language import other_language

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # tests/ is no package: nothing imported from it


def english_questions() -> list[str]:
    questions = []
    for name in ("talks-dev.json", "talks-more.json"):
        data = json.loads((FIXTURES / name).read_text("utf-8"))
        questions += [q["q"] if isinstance(q, dict) else q for q in data["answerable"] + data["unanswerable"]]
    return questions


def test_no_english_question_of_ours_is_taken_for_another_language():
    questions = english_questions()
    assert len(questions) > 30
    assert [q for q in questions if other_language(q)] == []


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("¿Por qué se cancelaron las conversaciones?", "Spanish"),
        ("Pourquoi les discussions ont-elles été annulées ?", "French"),
        ("Wer hat sich im Pentagon getroffen?", "German"),
        ("为什么会谈被取消？", "another language"),
        ("Почему переговоры отменили?", "another language"),
    ],
)
def test_questions_in_other_languages_are_named(question, language):
    assert other_language(question) == language


@pytest.mark.parametrize("question", ["thanks", "lol what?", "Michael Chase?", "Taiwan Pelosi visit", "???"])
def test_short_or_unclear_text_gets_no_note(question):
    assert other_language(question) is None
