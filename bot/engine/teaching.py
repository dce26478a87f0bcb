"""Gaps and teaching: what a server's members asked that the documents did not answer, and the
questions its admins answered by pointing at a passage.

Pure functions over analyzer terms; the store keeps the rows, the Engine wires them in.

Two questions are "the same" when they analyze to the same set of terms ("Why was the festival
moved?" and "why was the festival moved"), so gaps are grouped by that set. A taught question
answers a new question when their term sets overlap enough: the Dice coefficient
2·|shared| / (|new| + |taught|) of at least ``MATCH_THRESHOLD``. That admits a variant that drops,
adds or changes one word of a three- to five-term question, and refuses one that shares only one
term of several (tests/engine/test_teaching.py shows both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MATCH_THRESHOLD = 0.5
# Said with a taught answer, so members know a person chose the passage, not the ranking.
TAUGHT_NOTE = "An admin linked this question to source [1]."


def terms_key(terms: Sequence[str]) -> str:
    """The grouping key of a question: its distinct terms, sorted."""
    return " ".join(sorted(set(terms)))


@dataclass(frozen=True, slots=True)
class GapGroup:
    """Questions of one server that analyze to the same terms."""

    guild_id: int
    terms: str
    question: str  # the latest wording
    count: int
    last_asked: str
    closest: tuple[int, ...]  # passage ids of the latest asking, best first


def group_gaps(records: Sequence) -> list[GapGroup]:
    """GapRecords grouped by server and terms, most asked first, then most recently asked."""
    groups: dict[tuple[int, str], list] = {}
    for record in records:
        groups.setdefault((record.guild_id, record.terms), []).append(record)
    ranked = []
    for (guild_id, terms), rows in groups.items():
        latest = max(rows, key=lambda r: (r.asked_at, r.id))
        group = GapGroup(guild_id, terms, latest.question, len(rows), latest.asked_at, latest.closest)
        ranked.append(((len(rows), latest.asked_at, latest.id), group))
    ranked.sort(key=lambda pair: pair[0], reverse=True)  # most asked, then most recently asked
    return [group for _, group in ranked]


def overlap(new_terms: Sequence[str], taught_terms: Sequence[str]) -> float:
    """Dice coefficient of the two questions' term sets, 0..1."""
    new, taught = set(new_terms), set(taught_terms)
    if not new or not taught:
        return 0.0
    return 2 * len(new & taught) / (len(new) + len(taught))


def best_match(new_terms: Sequence[str], taught: Sequence) -> tuple[object, float] | None:
    """The TaughtRecord whose question is closest to ``new_terms``, if it passes the threshold."""
    scored = [(record, overlap(new_terms, record.terms.split())) for record in taught]
    scored = [(record, score) for record, score in scored if score >= MATCH_THRESHOLD]
    if not scored:
        return None
    return max(scored, key=lambda pair: (pair[1], pair[0].id))
