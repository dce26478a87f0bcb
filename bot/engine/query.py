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


MOSTLY_CAPITALISED = 0.6  # share of capitalised words above which capitals are the writer's style


def names_in(question: str) -> tuple[tuple[str, ...], ...]:
    """The terms of each capitalised word after the first ("Paris", "Pelosi", "U.S."): names.

    A question about a name the answering passage never mentions is not answered by it.
    """
    tokens = list(analyzer.tokens(question))
    words = [question[token.start : token.end] for token in tokens if question[token.start : token.start + 1].isalpha()]
    capitalised = sum(word[:1].isupper() for word in words)
    if len(words) >= 3 and capitalised > len(words) * MOSTLY_CAPITALISED:
        return ()  # "WHY WERE THE TALKS CANCELLED?", Title Case: capitals say nothing about names here
    found = []
    for token in tokens:
        word = question[token.start : token.end]
        if token.start > 0 and word[:1].isupper() and token.terms:
            found.append(token.terms)
    return tuple(found)


def searchable(question: str) -> str:
    """The question as analyzed: an all-capitals question in lower case, so that "WHAT" and "THE"
    are the stop words they are (the analyzer keeps capitalised short words as acronyms, "US")."""
    letters = [c for c in question if c.isalpha()]
    lowered = question.lower()
    if len(letters) >= 8 and question.isupper() and len(lowered) == len(question):
        return lowered
    return question


# Words that only say what kind of answer is wanted, not what it is about: "many" in "how many
# fires" (the number type says it), "whats" typed without its apostrophe ("what's" is a stop word).
# Searched for, they are a question term no answering sentence has ("400 trees" for "how many trees").
_FRAMING = re.compile(r"\bhow (?:many|much|long|old)\b|\b(?:what|where|who|when|how|why)s\b", re.IGNORECASE)


def unframed(question: str) -> str:
    """``searchable(question)`` with its framing words blanked out (same length: offsets hold)."""
    return _FRAMING.sub(lambda m: " " * len(m.group()), searchable(question))


def question_terms(question: str) -> tuple[str, ...]:
    """The terms searched for: the analyzer's terms of the question without its framing words."""
    return tuple(analyzer.analyze(unframed(question)))


def typed_words(question: str) -> tuple[str, ...]:
    """The words of the question that were searched, as the member typed them (not their stems)."""
    seen: dict[str, str] = {}
    for token in analyzer.tokens(unframed(question)):  # same length: the offsets hold for both
        if token.terms:
            word = question[token.start : token.end]
            seen.setdefault(word.casefold(), word)
    return tuple(seen.values())


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
    words: tuple[tuple[str, tuple[str, ...]], ...] = ()  # each word as written, with its terms
    # Earlier questions of the same conversation, oldest first, for follow-ups ("and when?").
    # Set by the caller that knows the conversation; the engine does not keep history itself.
    context: tuple[Turn, ...] = ()

    @classmethod
    def parse(cls, text: str, *, context: Sequence[Turn | str] = ()) -> Query:
        # One pass over the question: its terms are its searched words' terms, in order.
        searched = [t for t in analyzer.tokens(unframed(text)) if t.terms]
        return cls(
            text=text,
            terms=tuple(term for t in searched for term in t.terms),
            names=names_in(text),
            kind=question_type(text),
            words=tuple((text[t.start : t.end], t.terms) for t in searched),
            context=tuple(turn if isinstance(turn, Turn) else Turn(turn) for turn in context),
        )

    def context_terms(self) -> tuple[str, ...]:
        """The conversation's terms the question itself does not have (weighed less in ranking)."""
        own = self.distinct
        earlier = (term for turn in self.context for term in question_terms(turn.question))
        return tuple(dict.fromkeys(term for term in earlier if term not in own))

    def context_docs(self) -> frozenset[int]:
        """The documents that answered the conversation's earlier questions."""
        return frozenset(turn.doc_id for turn in self.context if turn.doc_id is not None)

    @property
    def distinct(self) -> frozenset[str]:
        return frozenset(self.terms)
