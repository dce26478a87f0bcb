"""Choosing the answer: the sentence of the top passages that best covers the question.

Pure functions over passages already retrieved; the engine does the I/O. Every answer is a
sentence quoted from a document, never written text. When no sentence covers enough of what the
question asks for, there is no answer (see README, "When TalksBot does not answer").
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.engine import analyzer, semantic
from bot.engine.documents import Sentence, split_sentences
from bot.engine.query import Query

CUE_BONUS = 0.2  # a sentence that has what the question type asks for (a cause, a date, a name)
PASSAGE_RANK_WEIGHT = 0.15  # a little of the passage's BM25 score, relative to the best
SNIPPET_CHARS = 300
CONTEXT_CHARS = 200  # each neighbour of the answer shown around it in source [1]

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
# A count and the few words after it ("38 fires", "14 container ships", "Forty-one residents"): for
# "how many fires", the sentence that counts fires, not one that only mentions fire and some number.
_COUNT = re.compile(
    r"\b(?:\d[\d,.]*|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-\w+)?|one|two|three|four|"
    r"five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?)"
    r"((?:\s+[\w'’-]+){1,3})",
    re.IGNORECASE,
)


@lru_cache(maxsize=1 << 13)
def counted_terms(text: str) -> frozenset[str]:
    """The terms ``text`` gives a number of: within three words after a number (cached, like
    sentence_terms: the same top passages' sentences come back)."""
    return frozenset(term for m in _COUNT.finditer(text) for term in analyzer.analyze(m.group(1)))


def counts(text: str, terms: frozenset[str]) -> bool:
    """Whether ``text`` gives a number of one of ``terms``: a number followed within three words by it."""
    return not counted_terms(text).isdisjoint(terms)


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
    matched: frozenset[str] = frozenset()  # question terms it has, as such or in other words


def best_sentences(
    query: Query, candidates: Sequence[Candidate], weight: Callable[[str], float]
) -> list[ScoredSentence]:
    """Every candidate's best sentence, best first (only sentences sharing a question term)."""
    wanted = {term: weight(term) for term in query.distinct}
    total = sum(wanted.values())
    if not candidates or total <= 0:
        return []
    cue = _CUES.get(query.kind or "")
    top_score = max(c.score for c in candidates) or 1.0
    surface = {term: word for word, terms in query.words for term in terms}  # a term as it was written
    # Each candidate's sentences that share a question term, and the terms they share.
    matching = [
        [(sentence, wanted.keys() & sentence_terms(sentence.text)) for sentence in split_sentences(candidate.text)]
        for candidate in candidates
    ]
    # Sentences missing some question words compare their words with those: embed them in one batch.
    semantic.prepare([s.text for found in matching for s, matched in found if matched and len(matched) < len(wanted)])
    best: list[ScoredSentence] = []
    for candidate, found in zip(candidates, matching):
        chosen: ScoredSentence | None = None
        for sentence, matched in found:
            if not matched:
                continue
            credit = {term: wanted[term] for term in matched}
            # A question word the sentence says in other words ("ships" for "vessels") counts,
            # weighted by how close the meaning is.
            missing = [t for t in wanted if t not in matched and t in surface]
            if missing:
                closeness = semantic.closest_words([surface[t] for t in missing], sentence.text)
                for term, similarity in zip(missing, closeness):
                    if similarity >= semantic.SAME_MEANING:
                        credit[term] = wanted[term] * float(similarity)
            matched = credit.keys()
            coverage = sum(credit.values()) / total
            score = coverage + PASSAGE_RANK_WEIGHT * candidate.score / top_score
            if cue and cue.search(sentence.text):
                score += CUE_BONUS
            if query.kind == "number" and counts(sentence.text, frozenset(matched)):
                score += CUE_BONUS
            if chosen is None or score > chosen.score:
                share = len(matched) / len(wanted)
                chosen = ScoredSentence(candidate.key, sentence, coverage, share, score, frozenset(matched))
        if chosen:
            best.append(chosen)
    best.sort(key=lambda s: -s.score)
    return best


@lru_cache(maxsize=1 << 13)
def sentence_terms(text: str) -> frozenset[str]:
    """A sentence's terms (cached: the same top passages' sentences come back question after question)."""
    return frozenset(analyzer.analyze(text))


def snippet(text: str, sentence: Sentence, limit: int = SNIPPET_CHARS) -> str:
    """The answering sentence, with the next one if it is short, cut to ``limit`` characters."""
    end = sentence.end
    if end - sentence.start < limit // 2:
        # The whole passage's split, cached (split off the event loop by Engine._retrieve).
        following = [s for s in split_sentences(text) if s.start >= end and s.text]
        if following and following[0].end - sentence.start <= limit:
            end = following[0].end
    return shorten(text[sentence.start : end], limit)


def context_of(text: str, sentence: Sentence, limit: int = CONTEXT_CHARS) -> tuple[str, str, str]:
    """The sentence before ``sentence`` in ``text``, the sentence itself, and the one after; the
    neighbours cut to ``limit`` characters on their far side."""
    sentences = [s for s in split_sentences(text) if s.text.strip()]
    before = [s for s in sentences if s.end <= sentence.start]
    after = [s for s in sentences if s.start >= sentence.end]
    previous = " ".join(before[-1].text.split()) if before else ""
    if len(previous) > limit:
        previous = "…" + previous[-(limit - 1) :].split(" ", 1)[-1]
    return previous, " ".join(sentence.text.split()), shorten(after[0].text, limit) if after else ""


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def taught_sentence(
    query: Query, terms: Sequence[str], key: int, text: str, weight: Callable[[str], float]
) -> ScoredSentence | None:
    """The sentence to quote from a passage an admin chose for this question.

    The admin said the passage answers, so a sentence needs no question term here: what the
    question asks for (a name for "who", a date for "when", a cause for "why") counts as much as
    all its terms, then the share of its terms; the first sentence on a tie.
    """
    sentences = [s for s in split_sentences(text) if s.text.strip()]
    if not sentences:
        return None
    wanted = {term: weight(term) for term in set(terms)}
    total = sum(wanted.values()) or 1.0
    cue = _CUES.get(query.kind or "")
    scored = []
    for sentence in sentences:
        matched = wanted.keys() & set(analyzer.analyze(sentence.text))
        coverage = sum(wanted[t] for t in matched) / total
        score = coverage + (1.0 if cue and cue.search(sentence.text) else 0.0)
        scored.append(ScoredSentence(key, sentence, coverage, len(matched) / max(1, len(wanted)), score))
    return max(scored, key=lambda s: (s.score, -s.sentence.start))
