"""The question, analyzed once: what every later step (retrieve, choose a sentence, decide) reads.

``Query.parse`` is the only place a question's text is turned into terms, names and a type.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine import analyzer

_QUESTION_TYPES = (
    ("why", re.compile(r"\b(why|how come|what caused|reason)\b", re.IGNORECASE)),
    ("when", re.compile(r"\b(when|what (year|date|day|month|time))\b", re.IGNORECASE)),
    ("who", re.compile(r"\b(who|whom|whose)\b", re.IGNORECASE)),
    ("where", re.compile(r"\bwhere\b", re.IGNORECASE)),
    ("number", re.compile(r"\bhow (many|much|long|old)\b", re.IGNORECASE)),
)


def question_type(question: str) -> str | None:
    """What kind of thing the question asks for: why, when, who, where, number, or None."""
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return name
    return None


def names_in(question: str) -> tuple[tuple[str, ...], ...]:
    """The terms of each capitalised word after the first ("Paris", "Pelosi", "U.S."): names.

    A question about a name the answering passage never mentions is not answered by it.
    """
    found = []
    for token in analyzer.tokens(question):
        word = question[token.start : token.end]
        if token.start > 0 and word[:1].isupper() and token.terms:
            found.append(token.terms)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier question of the conversation and the document that answered it (None: none did)."""

    question: str
    doc_id: int | None = None


@dataclass(frozen=True, slots=True)
class Query:
    text: str  # the question as asked (spaces folded)
    terms: tuple[str, ...]  # analyzer terms in order, duplicates kept (BM25 counts them)
    names: tuple[tuple[str, ...], ...]  # terms of each name the question mentions
    kind: str | None  # question type (see ``question_type``)
    # Earlier questions of the same conversation, oldest first, for follow-ups ("and when?").
    # Set by the caller that knows the conversation; the engine does not keep history itself.
    context: tuple[Turn, ...] = ()

    @classmethod
    def parse(cls, text: str, *, context: Sequence[Turn | str] = ()) -> Query:
        return cls(
            text=text,
            terms=tuple(analyzer.analyze(text)),
            names=names_in(text),
            kind=question_type(text),
            context=tuple(turn if isinstance(turn, Turn) else Turn(turn) for turn in context),
        )

    def context_terms(self) -> tuple[str, ...]:
        """The conversation's terms the question itself does not have (weighed less in ranking)."""
        own = self.distinct
        earlier = (term for turn in self.context for term in analyzer.analyze(turn.question))
        return tuple(dict.fromkeys(term for term in earlier if term not in own))

    def context_docs(self) -> frozenset[int]:
        """The documents that answered the conversation's earlier questions."""
        return frozenset(turn.doc_id for turn in self.context if turn.doc_id is not None)

    @property
    def distinct(self) -> frozenset[str]:
        return frozenset(self.terms)
