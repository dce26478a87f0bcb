"""Answer or abstain: how likely the chosen sentence is to say what the question asks.

A small logistic model over general features of the question and the chosen sentence, fitted on
SQuAD 2.0 part A (see README, "When TalksBot does not answer", for the features, the
leave-one-article-out cross-validation that chose the threshold, and the held-out figures). The
coefficients are kept here as plain numbers; the sigmoid is computed here too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Set
from dataclasses import dataclass

from bot.engine import analyzer, semantic
from bot.engine import answer
from bot.engine.answer import ScoredSentence
from bot.engine.documents import split_sentences
from bot.engine.query import Query

# Fitted with scikit-learn's LogisticRegression (C=1) on part A: answered right (1) against
# unanswerable (0); answerable questions whose chosen sentence is wrong cost nothing either way.
COEFFICIENTS: dict[str, float] = {
    "coverage": 0.782,
    "term_share": 1.042,
    "window_coverage": -0.96,
    "rarest_missing": -1.038,
    "names_present": 0.605,
    "expected_type": 0.929,
    "negation_unmatched": -2.838,
    "opposite": -1.263,
    "phrase_pairs": -0.072,
    "passage_margin": -0.042,
    "sentence_margin": 0.615,
    "new_terms": -0.122,
    "question_terms": 0.481,
    "from_top_passage": 0.452,
    "similarity": 1.918,
}
INTERCEPT = -3.504
MIN_TERM_SHARE = 0.40  # the earlier rule, kept as a floor (README: "When TalksBot does not answer")
# Over a third of the question's terms in no document at all: it asks about something else.
UNKNOWN_SHARE = 1 / 3
# Answer when the probability is at least this (the default of the answer_threshold setting).
# Cross-validation on SQuAD part A alone chooses 0.51; 0.25 is the highest threshold at which the
# bundled article still answers its own questions (README, "When TalksBot does not answer").
THRESHOLD = 0.25

_NEGATION = re.compile(r"\b(not|no|never|nor|none|nothing|neither|without|cannot)\b|n't\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1\d{3}|20\d\d)s?\b")
_DATE_WORD = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"century|centuries|decade|yesterday|today|ago)\b"
)
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred|thousand|"
    r"million|billion|dozen|several|many)\b",
    re.IGNORECASE,
)
_INNER_CAPITAL = re.compile(r"(?<=\w )[A-Z][\w'’-]+")  # a capitalised word not starting the sentence
_WORD = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*")
# Words that only frame the question ("what was ..."): not part of the phrase it looks for.
_FRAME = frozenset("what which who whom whose when where why how did does do was were is are".split())
# General English opposites (not fitted to any data set): SQuAD 2.0's unanswerable questions
# often swap a word for its opposite ("before" for "after").
_OPPOSITES = """before/after first/last earliest/latest largest/smallest biggest/smallest most/least
more/less more/fewer increase/decrease rise/fall higher/lower high/low north/south east/west
northern/southern eastern/western begin/end start/end win/lose won/lost accept/reject
allow/prohibit allow/forbid success/failure succeed/fail positive/negative major/minor early/late
earlier/later old/new older/newer ancient/modern public/private internal/external import/export
legal/illegal maximum/minimum strong/weak long/short above/below inside/outside upper/lower
open/closed agree/disagree support/oppose gain/loss rich/poor large/small big/small same/different
true/false enter/leave into/out to/from with/without domestic/foreign always/never all/none
best/worst better/worse male/female cause/prevent include/exclude add/remove buy/sell lend/borrow
give/receive attack/defend victory/defeat left/right minority/majority senior/junior
direct/indirect lowest/highest""".split()


def _opposites() -> dict[str, frozenset[str]]:
    pairs: dict[str, set[str]] = {}
    for pair in _OPPOSITES:
        a, b = map(analyzer.stem, pair.split("/"))
        pairs.setdefault(a, set()).add(b)
        pairs.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in pairs.items()}


OPPOSITES = _opposites()


# Casual framing, not the thing asked about: "what's the deal with the ships?"
CASUAL_FRAME = frozenset(analyzer.stem(w) for w in ("deal", "thing", "stuff"))


def words(text: str) -> list[str]:
    """Stemmed words with stop words kept: for phrases ("fled to" is not "fled from")."""
    return [analyzer.stem(w) for w in _WORD.findall(text)]


def _bigrams(seq: list[str]) -> set[tuple[str, str]]:
    return set(zip(seq, seq[1:]))


def has_expected_type(query: Query, sentence: str) -> bool:
    """The sentence holds the kind of thing asked for, and not only what the question already says."""
    asked = query.text.casefold()
    if query.kind == "when":
        found = {m.group() for m in _YEAR.finditer(sentence)} | {m.group() for m in _DATE_WORD.finditer(sentence)}
        return any(f.casefold() not in asked for f in found)
    if query.kind == "number":
        return any(m.group().casefold() not in asked for m in _NUMBER.finditer(sentence))
    if query.kind in ("who", "where"):
        names = set(analyzer.analyze(" ".join(m.group() for m in _INNER_CAPITAL.finditer(sentence))))
        return bool(names - set(query.terms))
    return True


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the decision looks at, gathered by the engine from the retrieved passages."""

    best: ScoredSentence
    runner_up_score: float  # the next best sentence's score (0 if there is none)
    window_terms: frozenset[str]  # terms of the best sentence and its neighbours
    passage_terms: frozenset[str]  # terms of its passage, section and document title
    passage_margin: float  # (best - second) / best BM25 passage score
    best_is_top: bool  # the sentence is from the best-ranked passage
    similarity: float  # WordLlama cosine similarity, question to sentence
    unknown_terms: frozenset[str] = frozenset()  # question terms no document has, nor the sentence in other words


def gather(
    query: Query,
    known: Callable[[str], bool],
    sentences: list[ScoredSentence],
    passage_text: str,
    passage_terms: frozenset[str],
    passage_scores: list[float],
    best_is_top: bool,
) -> Evidence | None:
    """The evidence for the best of ``sentences`` (best first), from its passage's text and terms."""
    if not sentences:
        return None
    best = sentences[0]
    neighbours = split_sentences(passage_text)
    at = next((i for i, s in enumerate(neighbours) if s.start == best.sentence.start), 0)
    top = passage_scores[0] if passage_scores else 0.0
    second = passage_scores[1] if len(passage_scores) > 1 else 0.0
    return Evidence(
        best=best,
        runner_up_score=sentences[1].score if len(sentences) > 1 else 0.0,
        window_terms=frozenset().union(*(answer.sentence_terms(s.text) for s in neighbours[max(0, at - 1) : at + 2])),
        passage_terms=passage_terms,
        passage_margin=(top - second) / top if top > 0 else 0.0,
        best_is_top=best_is_top,
        similarity=float(semantic.similarities(query.text, [best.sentence.text])[0]),
        unknown_terms=frozenset(t for t in query.distinct if not known(t) and t not in best.matched) - CASUAL_FRAME,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    answer: bool
    confidence: float  # the model's probability that the sentence answers, 0..1
    term_share: float  # share of the question's distinct terms in the sentence


def features(query: Query, evidence: Evidence, weight: Callable[[str], float], max_weight: float) -> dict[str, float]:
    """Each feature is general (no word lists fitted to the data) and scaled to about 0..1."""
    best = evidence.best
    sentence = best.sentence.text
    wanted = {term: weight(term) for term in query.distinct}
    total = sum(wanted.values()) or 1.0
    sentence_terms = answer.sentence_terms(sentence)
    missing_from_sentence = [w for t, w in wanted.items() if t not in sentence_terms]
    asked = [w for w in words(query.text) if w not in _FRAME]
    said = words(sentence)
    said_set = set(said)
    asked_pairs = _bigrams(asked)
    asked_negated = bool(_NEGATION.search(query.text))
    return {
        "coverage": best.coverage,
        "term_share": best.share,
        "window_coverage": sum(w for t, w in wanted.items() if t in evidence.window_terms) / total,
        "rarest_missing": max(missing_from_sentence, default=0.0) / (max_weight or 1.0),
        "names_present": float(all(evidence.passage_terms.intersection(name) for name in query.names)),
        "expected_type": float(has_expected_type(query, sentence)),
        "negation_unmatched": float(asked_negated and not _NEGATION.search(sentence)),
        "opposite": float(any(w not in said_set and OPPOSITES.get(w, frozenset()) & said_set for w in set(asked))),
        "phrase_pairs": len(asked_pairs & _bigrams(said)) / len(asked_pairs) if asked_pairs else 1.0,
        "passage_margin": evidence.passage_margin,
        "sentence_margin": best.score - evidence.runner_up_score,
        "new_terms": min(len(sentence_terms - wanted.keys()), 10) / 10,
        "question_terms": min(len(wanted), 10) / 10,
        "from_top_passage": float(evidence.best_is_top),
        "similarity": evidence.similarity,
    }


def probability(values: dict[str, float]) -> float:
    z = INTERCEPT + sum(COEFFICIENTS[name] * values[name] for name in COEFFICIENTS)
    return 1.0 / (1.0 + math.exp(-z))


def decide(
    query: Query,
    evidence: Evidence | None,
    weight: Callable[[str], float],
    max_weight: float,
    threshold: float = THRESHOLD,
) -> Decision:
    if evidence is None:
        return Decision(False, 0.0, 0.0)
    confidence = probability(features(query, evidence, weight, max_weight))
    share = evidence.best.share
    # General rules first: a question about a name the documents never mention, or many of whose
    # words they never use, is not answered by them; nor is one whose sentence holds under
    # MIN_TERM_SHARE of its terms.
    names_missing = not all(evidence.passage_terms.intersection(name) for name in query.names)
    if names_missing or len(evidence.unknown_terms) > UNKNOWN_SHARE * len(query.distinct):
        return Decision(False, confidence, 0.0 if names_missing else share)
    return Decision(share >= MIN_TERM_SHARE and confidence >= threshold, confidence, share)
