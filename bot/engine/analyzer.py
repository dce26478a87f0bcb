"""Text to index terms. The same code analyzes documents and questions, so they always agree.

Steps, in order, for every word-like chunk of text:
1. Unicode: NFKC, curly quotes and dashes folded to ASCII.
2. Hyphenated compounds ("Indo-Pacific", "U.S.-PRC") give each part and the joined form,
   so "Indo Pacific", "IndoPacific" and "Indo-Pacific" all meet.
3. Possessives dropped ("China's" -> china).
4. Acronyms: dotted ("U.S.") and upper-case ("US") forms give the same term, which is
   never removed as a stop word (so "U.S." is not lost as "us").
5. Case folding, English stop words, Snowball (Porter2) stems via PyStemmer.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from collections.abc import Iterator
from dataclasses import dataclass

import Stemmer

# A chunk: letters/digits joined by at most two of . ' - (so "U.S.-PRC", "face-to-face",
# "China's" stay whole), with an optional trailing dot kept for acronyms ("U.S.").
# Written with possessive repeats, one per run of letters: the old form repeated a group per
# character and used 590 MB of regex stack on a 4.9 MB word (issue 16). Same matches.
_CHUNK = re.compile(r"[^\W_]++(?:[.'’‘\-‐‑]{1,2}+[^\W_]++)*+\.?")
_DOTTED_ACRONYM = re.compile(r"(?:[^\W\d_]\.){2,}|(?:[^\W\d_]\.)+[^\W\d_]")
_DECIMAL = re.compile(r"\d+(?:\.\d+)+")
_FOLD = str.maketrans({"’": "'", "‘": "'", "‐": "-", "‑": "-"})

# A general English list (NLTK's, without contractions' fragments) plus question words.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves us let also may might
    must shall whose yet tell please
    """.split()
)

_local = threading.local()  # PyStemmer objects are not thread-safe: one per thread


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        # No cache of PyStemmer's own: chunk_terms caches above it, and its cache is a dict of
        # lists, up to 100,000 objects the garbage collector walks in every full collection
        # (93 to 37 ms after analyzing 100k passages; analysis takes as long without it).
        stemmer = _local.stemmer = Stemmer.Stemmer("english", 0)
    return stemmer


def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word (stop words kept)."""
    return _stemmer().stemWord(word.casefold())


@dataclass(frozen=True, slots=True)
class Token:
    """A chunk of the original text and the terms it yields (empty for stop words)."""

    start: int
    end: int
    terms: tuple[str, ...]


def _part_word(part: str) -> tuple[str, bool] | None:
    """One hyphen-free part of a chunk -> (lower-case word, is_acronym), or None if empty."""
    if _DOTTED_ACRONYM.fullmatch(part):
        return "".join(ch for ch in part if ch != ".").casefold(), True
    part = part.strip(".'")
    if part.endswith("'s"):
        part = part[:-2]
    part = part.replace("'", "")
    if not part:
        return None
    if _DECIMAL.fullmatch(part):
        return part, False
    part = part.replace(".", "")
    lowered = part.casefold()
    # "US", "IT", "WHO" written in capitals are names, not the stop words "us", "it", "who".
    is_acronym = len(part) >= 2 and part.isupper() and lowered in STOP_WORDS
    return lowered, is_acronym


def _chunk_words(chunk: str) -> list[tuple[str, bool]]:
    """Words of one chunk: its parts, then the joined compound if it had several parts."""
    # NFKC can turn one character into several words ("ﷺ") or bring in punctuation ("ͺ" -> " ι"),
    # so the normalized text is cut into chunks again.
    words: list[tuple[str, bool]] = []
    for normalized in _CHUNK.finditer(unicodedata.normalize("NFKC", chunk).translate(_FOLD)):
        parts = [p for p in normalized.group().split("-") if p]
        found = [w for w in map(_part_word, parts) if w is not None]
        if len(found) > 1:
            found.append(("".join(w for w, _ in found), False))
        words.extend(found)
    return words


def _terms_of(words: list[tuple[str, bool]]) -> list[str]:
    kept = [(w, acr) for w, acr in words if acr or w not in STOP_WORDS]
    stems = _stemmer().stemWords([w for w, acr in kept if not acr])
    stem_iter = iter(stems)
    return [w if acr else next(stem_iter) for w, acr in kept]


CHUNKS_KEPT = 1 << 18
# A plain dict, emptied when full, rather than functools.lru_cache: the lru's links are objects the
# garbage collector walks in every full collection (31 ms for 262,144 of them, with the GIL held:
# the event loop stalls when an index build triggers one), while a dict of strings and tuples of
# strings is not tracked by it at all.
_chunk_terms: dict[str, tuple[str, ...]] = {}


def chunk_terms(chunk: str) -> tuple[str, ...]:
    """The terms of one chunk. Cached: word frequencies are Zipfian, so most chunks repeat, and
    analysis is most of the cost of building an index."""
    terms = _chunk_terms.get(chunk)
    if terms is None:
        if len(_chunk_terms) >= CHUNKS_KEPT:
            _chunk_terms.clear()  # the frequent chunks come back at once
        terms = _chunk_terms[chunk] = tuple(_terms_of(_chunk_words(chunk)))
    return terms


def tokens(text: str) -> Iterator[Token]:
    """Chunks of ``text`` with their offsets and terms, for highlighting and sentence scoring."""
    for match in _CHUNK.finditer(text):
        yield Token(match.start(), match.end(), chunk_terms(match.group()))


def analyze(text: str) -> list[str]:
    """The index terms of ``text``, in order (duplicates kept: BM25 counts them)."""
    terms: list[str] = []
    for chunk in _CHUNK.findall(text):
        terms.extend(chunk_terms(chunk))
    return terms
