"""Plain text to a document: title, date and passages of about a paragraph.

Pure functions: no I/O, no store. Decoding uploads (HTML, PDF, encodings) is in ``ingest.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pysbd

MAX_TITLE_CHARS = 200
HEADING_MAX_WORDS = 12
HEADING_MAX_CHARS = 100
# Paragraphs longer than this are cut into windows of about WINDOW_WORDS on sentence
# boundaries, overlapping by one sentence so an answer spanning a cut is still found whole.
LONG_PARAGRAPH_WORDS = 220
WINDOW_WORDS = 150

_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+(.+?)\s*$", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")


class DocumentError(ValueError):
    """The text cannot become a document (empty, bad title or date)."""


@dataclass(frozen=True, slots=True)
class Passage:
    ordinal: int  # position within the document, from 0
    paragraph: int  # paragraph number as a reader counts them, from 1
    section: str | None  # the heading the paragraph sits under
    start: int  # character offsets into the document's body text
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    title: str
    date: str | None
    body: str
    passages: tuple[Passage, ...]

    @property
    def content_hash(self) -> str:
        return content_hash(self.body)


def content_hash(body: str) -> str:
    """Identity of a document's content: whitespace and case differences do not count."""
    canonical = " ".join(unicodedata.normalize("NFKC", body).casefold().split())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


@lru_cache(maxsize=4096)
def split_sentences(text: str) -> tuple[Sentence, ...]:
    """Sentences with offsets into ``text``. pysbd knows "U.S.", "Maj. Gen.", "Jan." and friends.

    Cached: answering splits the same top passages again and again, and pysbd is the slowest
    step of answering (about 1 ms a passage).
    """
    if not text.strip():
        return ()
    sentences = []
    for span in _segmenter().segment(text):
        raw = span.sent
        lead = len(raw) - len(raw.lstrip())
        stripped = raw.strip()
        if stripped:
            start = span.start + lead
            sentences.append(Sentence(start, start + len(stripped), stripped))
    return tuple(sentences)


def validate_date(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise DocumentError(f"invalid date {value!r}: use YYYY-MM-DD") from None


def validate_title(value: str) -> str:
    title = " ".join(value.split())
    if not title:
        raise DocumentError("the title is empty")
    if len(title) > MAX_TITLE_CHARS:
        raise DocumentError(f"the title is longer than {MAX_TITLE_CHARS} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in title):
        raise DocumentError("the title contains control characters")
    return title


def _is_heading(block: str) -> bool:
    """A short single line with no sentence ending: a section heading, not a paragraph."""
    if "\n" in block or len(block) > HEADING_MAX_CHARS:
        return False
    if _MARKDOWN_HEADING.match(block):
        return True
    return len(block.split()) <= HEADING_MAX_WORDS and block[-1] not in ".!?:;,\"'”’)"


def _blocks(body: str) -> list[tuple[int, int]]:
    """Offsets of paragraphs: text between blank lines, or lines if there are no blank lines."""
    splitter = _BLANK_LINE if _BLANK_LINE.search(body) else re.compile(r"\n")
    spans, pos = [], 0
    for match in splitter.finditer(body):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(body)))
    out = []
    for start, end in spans:
        chunk = body[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk) - len(chunk.rstrip())
        if chunk.strip():
            out.append((start + lead, end - trail))
    return out


def _windows(text: str, base: int) -> list[tuple[int, int]]:
    """Cut a long paragraph into windows on sentence boundaries, one sentence of overlap."""
    if len(text.split()) <= LONG_PARAGRAPH_WORDS:
        return [(base, base + len(text))]
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return [(base, base + len(text))]
    windows, first = [], 0
    while first < len(sentences):
        last, words = first, len(sentences[first].text.split())
        while last + 1 < len(sentences) and words + len(sentences[last + 1].text.split()) <= WINDOW_WORDS:
            last += 1
            words += len(sentences[last].text.split())
        windows.append((base + sentences[first].start, base + sentences[last].end))
        if last + 1 >= len(sentences):
            break
        first = last if last > first else last + 1  # overlap one sentence, always move on
    return windows


def split_passages(body: str) -> tuple[Passage, ...]:
    blocks = _blocks(body)
    # A text made only of short lines (a note, a list) has no headings: every line is text.
    headings_allowed = not all(_is_heading(body[s:e]) for s, e in blocks)
    passages: list[Passage] = []
    section: str | None = None
    paragraph = 0
    for start, end in blocks:
        block = body[start:end]
        if headings_allowed and _is_heading(block):
            section = _MARKDOWN_HEADING.sub("", block).strip() or section
            continue
        paragraph += 1
        for w_start, w_end in _windows(block, start):
            passages.append(Passage(len(passages), paragraph, section, w_start, w_end, body[w_start:w_end]))
    return tuple(passages)


def _first_line(text: str) -> tuple[str, int]:
    stripped = text.lstrip()
    line = stripped.split("\n", 1)[0]
    return line.strip(), len(text) - len(stripped) + len(line)


def parse_text(
    text: str,
    *,
    filename: str | None = None,
    title: str | None = None,
    date: str | None = None,
) -> ParsedDocument:
    """Turn a document's text into title, date and passages.

    Title and date come from, in order: the arguments; a first line ``date YYYY-MM-DD Title``;
    a short first line (the title); the file name.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    date = validate_date(date)
    first, first_end = _first_line(text)
    header = _HEADER.match(first)
    body = text
    found_title = None
    if header:
        found_title, body = header.group(2), text[first_end:]
        date = date or validate_date(header.group(1))
    elif first and len(first) <= MAX_TITLE_CHARS and _is_heading(first):
        found_title, body = _MARKDOWN_HEADING.sub("", first), text[first_end:]
        if not body.strip():  # a one-line document: the line is its text, not only its title
            body = text
    body = body.strip("\n")
    passages = split_passages(body)
    if not passages:
        raise DocumentError("the document has no text")
    chosen = title or found_title or (filename and filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]) or ""
    return ParsedDocument(validate_title(chosen or passages[0].text[:80]), date, body, passages)
