"""Answer or abstain: whether the chosen sentence says what the question asks.

Pure functions over the query, the chosen sentence and what its passage mentions; see README,
"When TalksBot does not answer", for how the rule was chosen.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from bot.engine.answer import ScoredSentence
from bot.engine.query import Query

# The share of the question's distinct terms a sentence must contain to be offered as the answer.
# Chosen from the measurements in README, "When TalksBot does not answer": 0.30 to 0.50 all
# separate the article's answerable questions from unanswerable ones best; 0.40 is the middle.
MIN_TERM_SHARE = 0.40


@dataclass(frozen=True, slots=True)
class Decision:
    answer: bool
    confidence: float  # higher is surer; compared with the threshold to decide
    term_share: float  # share of the question's distinct terms in the sentence (0 if a name is missing)


def decide(query: Query, best: ScoredSentence | None, passage_terms: Set[str]) -> Decision:
    """``passage_terms``: the terms of the answering passage, its section and its document's title."""
    if best is None:
        return Decision(False, 0.0, 0.0)
    share = best.share
    if not all(passage_terms.intersection(name) for name in query.names):
        share = 0.0  # it names someone or somewhere the answering passage does not
    return Decision(share >= MIN_TERM_SHARE, share, share)
