"""Choosing the answer: the sentence of the top passages that best covers the question.

Pure functions over passages already retrieved; the engine does the I/O. Every answer is a
sentence quoted from a document, never written text. When no sentence covers enough of what the
question asks for, there is no answer (see README, "When TalksBot does not answer").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.engine import analyzer
from bot.engine.documents import Sentence, split_sentences

# The share of the question's distinct terms a sentence must contain to be offered as the answer.
# Chosen from the measurements in README, "When TalksBot does not answer": 0.30 to 0.50 all
# separate the article's answerable questions from unanswerable ones best; 0.40 is the middle.
MIN_TERM_SHARE = 0.40
CUE_BONUS = 0.2  # a sentence that has what the question type asks for (a cause, a date, a name)
PASSAGE_RANK_WEIGHT = 0.15  # a little of the passage's BM25 score, relative to the best
SNIPPET_CHARS = 300

_CUES: dict[str, re.Pattern[str]] = {
    "why": re.compile(
        r"\b(because|due to|in response to|as a result|owing to|since|so that|led to|caused|reasons?|after)\b",
        re.IGNORECASE,
    ),
    "when": re.compile(
        r"\b(1[89]\d\d|20\d\d|January|February|March|April|May|June|July|August|September|October|"
        r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Monday|Tuesday|Wednesday|"
        r"Thursday|Friday|Saturday|Sunday|yesterday|today|ago|last (week|month|year))\b"
    ),
    "who": re.compile(r"\b[A-Z][a-z]+\.? (?:[A-Z][a-z]+\.? )*[A-Z][a-z]+\b"),
    "where": re.compile(r"\b(in|at|near|from|to) (the )?[A-Z][a-z]+"),
    "number": re.compile(r"\d"),
}
_QUESTION_TYPES = (
    ("why", re.compile(r"\b(why|how come|what caused|reason)\b", re.IGNORECASE)),
    ("when", re.compile(r"\b(when|what (year|date|day|month|time))\b", re.IGNORECASE)),
    ("who", re.compile(r"\b(who|whom|whose)\b", re.IGNORECASE)),
    ("where", re.compile(r"\bwhere\b", re.IGNORECASE)),
    ("number", re.compile(r"\bhow (many|much|long|old)\b", re.IGNORECASE)),
)


def names_in(question: str) -> list[tuple[str, ...]]:
    """The terms of each capitalised word after the first ("Paris", "Pelosi", "U.S."): names.

    A question about a name the answering passage never mentions is not answered by it.
    """
    found = []
    for token in analyzer.tokens(question):
        word = question[token.start : token.end]
        if token.start > 0 and word[:1].isupper() and token.terms:
            found.append(token.terms)
    return found


def question_type(question: str) -> str | None:
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return name
    return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A passage retrieved for the question, with its text."""

    key: int  # the caller's handle (the passage id)
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    key: int
    sentence: Sentence
    coverage: float  # share of the question's weight (idf) this sentence holds, 0..1
    share: float  # share of the question's distinct terms it contains, 0..1: decides abstaining
    score: float  # coverage plus cue and passage-rank bonuses: the ranking of sentences


def best_sentences(
    question: str,
    question_terms: Sequence[str],
    candidates: Sequence[Candidate],
    weight: Callable[[str], float],
) -> list[ScoredSentence]:
    """Every candidate's best sentence, best first (only sentences sharing a question term)."""
    wanted = {term: weight(term) for term in set(question_terms)}
    total = sum(wanted.values())
    if not candidates or total <= 0:
        return []
    cue = _CUES.get(question_type(question) or "")
    top_score = max(c.score for c in candidates) or 1.0
    best: list[ScoredSentence] = []
    for candidate in candidates:
        chosen: ScoredSentence | None = None
        for sentence in split_sentences(candidate.text):
            matched = wanted.keys() & set(analyzer.analyze(sentence.text))
            if not matched:
                continue
            coverage = sum(wanted[t] for t in matched) / total
            score = coverage + PASSAGE_RANK_WEIGHT * candidate.score / top_score
            if cue and cue.search(sentence.text):
                score += CUE_BONUS
            if chosen is None or score > chosen.score:
                chosen = ScoredSentence(candidate.key, sentence, coverage, len(matched) / len(wanted), score)
        if chosen:
            best.append(chosen)
    best.sort(key=lambda s: -s.score)
    return best


def snippet(text: str, sentence: Sentence, limit: int = SNIPPET_CHARS) -> str:
    """The answering sentence, with the next one if it is short, cut to ``limit`` characters."""
    end = sentence.end
    if end - sentence.start < limit // 2:
        following = [s for s in split_sentences(text[end:]) if s.text]
        if following and (following[0].end + end - sentence.start) <= limit:
            end += following[0].end
    return shorten(text[sentence.start : end], limit)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
