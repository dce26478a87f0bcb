"""Plain text to a document: title, date and passages of about a paragraph.

Pure functions: no I/O, no store. Decoding uploads (HTML, PDF, encodings) is in ``ingest.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from functools import lru_cache

import pysbd

MAX_TITLE_CHARS = 200
MAX_URL_CHARS = 500
HEADING_MAX_WORDS = 12
HEADING_MAX_CHARS = 100
# Paragraphs longer than this are cut into windows of about WINDOW_WORDS on sentence
# boundaries, overlapping by one sentence so an answer spanning a cut is still found whole.
LONG_PARAGRAPH_WORDS = 220
WINDOW_WORDS = 150
# No passage is longer than this, whatever its words (one 5 MB "word" included): every later
# step (sentence splitting, analysis, highlighting) then works on bounded text.
MAX_PASSAGE_CHARS = 4000
SPLIT_PIECE_CHARS = 2000

SOFT_HYPHEN = "\u00ad"

_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+(.+?)\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")


class DocumentError(ValueError):
    """The text cannot become a document (empty, bad title or date)."""


def passage_count(count: int) -> str:
    """'1 passage', '12 passages': how a document's size reads in every list and reply."""
    return f"{count} passage{'s' * (count != 1)}"


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
    # content_hash(body), worked out once where the document is made (an upload's child process,
    # a worker thread): for a 5 MB body it takes 0.2-0.7 s, which on the event loop (the store
    # asked for it twice an add) held up every server's questions.
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.body))


def content_hash(body: str) -> str:
    """Identity of a document's content: whitespace and case differences do not count."""
    canonical = " ".join(unicodedata.normalize("NFKC", body).casefold().split())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    text: str


_segmenters = threading.local()


def _segmenter() -> pysbd.Segmenter:
    """One per thread: a Segmenter keeps the text it is splitting on itself."""
    segmenter = getattr(_segmenters, "segmenter", None)
    if segmenter is None:
        segmenter = _segmenters.segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return segmenter


_MAY_END_SENTENCE = re.compile(r"[.!?;:…。！？\n]")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+")


def _pieces(text: str) -> list[tuple[int, int]]:
    """Cut a long text into pieces of at most SPLIT_PIECE_CHARS for pysbd, whose time grows with
    the square of its input: at the last sentence end before the limit, else the last space,
    else (one huge word) at the limit."""
    spans, start = [], 0
    while len(text) - start > SPLIT_PIECE_CHARS:
        limit = start + SPLIT_PIECE_CHARS
        ends = [m.end() for m in _SENTENCE_END.finditer(text, start + SPLIT_PIECE_CHARS // 2, limit)]
        cut = ends[-1] if ends else text.rfind(" ", start + 1, limit) + 1 or limit
        spans.append((start, cut))
        start = cut
    spans.append((start, len(text)))
    return spans


@lru_cache(maxsize=4096)
def split_sentences(text: str) -> tuple[Sentence, ...]:
    """Sentences with offsets into ``text``. pysbd knows "U.S.", "Maj. Gen.", "Jan." and friends.

    Cached: answering splits the same top passages again and again, and pysbd is the slowest
    step of answering (about 1 ms a passage). Long texts are split piece by piece (``_pieces``).
    """
    if not text.strip():
        return ()
    sentences = []
    for base, end in _pieces(text):
        piece = text[base:end]
        if not _MAY_END_SENTENCE.search(piece):  # nothing pysbd could cut at: one sentence
            lead = len(piece) - len(piece.lstrip())
            if piece.strip():
                sentences.append(Sentence(base + lead, base + lead + len(piece.strip()), piece.strip()))
            continue
        for span in _segmenter().segment(piece):
            raw = span.sent
            lead = len(raw) - len(raw.lstrip())
            stripped = raw.strip()
            if stripped:
                start = base + span.start + lead
                sentences.append(Sentence(start, start + len(stripped), stripped))
    return tuple(sentences)


def validate_date(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _ISO_DATE.fullmatch(value):
        raise DocumentError(f"invalid date {value!r}: use YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise DocumentError(f"{value} is not a date") from None  # the form is right, the day is not


def validate_title(value: str) -> str:
    title = " ".join(value.split())
    if not title:
        raise DocumentError("the title is empty")
    if len(title) > MAX_TITLE_CHARS:
        raise DocumentError(f"the title is longer than {MAX_TITLE_CHARS} characters")
    # Cc: control characters; Cf: format characters, among them the bidi overrides (U+202E turns
    # "txt.exe" into "exe.txt" on screen) and zero-width ones that make two titles look the same.
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in title):
        raise DocumentError("the title contains control or invisible formatting characters")
    return title


def found_title(value: str | None) -> str | None:
    """A title a file or page carries itself (``<title>``, PDF metadata), made one a document can
    have: invisible characters as spaces, and cut at a word to MAX_TITLE_CHARS. The admin did not
    type it, so it never refuses the upload."""
    # Only its start is read: PDF metadata can hold megabytes, and this may run on the event loop.
    title = strip_invisible((value or "")[: 8 * MAX_TITLE_CHARS])
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0] + "\u2026"
    return title or None


def found_url(value: str | None) -> str | None:
    """An address a page carries (its canonical URL) or was fetched from, or None when it is not
    one a document can keep (see validate_url): the page is added without it, not refused."""
    try:
        return validate_url(value)
    except DocumentError:
        return None


_URL_FORBIDDEN = re.compile(r"[\s<>\"'`\\^{}|]")


def validate_url(value: str | None) -> str | None:
    """An absolute http(s) URL with a host, nothing that could end it early inside a message."""
    if value is None or not value.strip():
        return None
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise DocumentError(f"the source URL is longer than {MAX_URL_CHARS} characters")
    if _URL_FORBIDDEN.search(url) or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        raise DocumentError("the source URL contains spaces, quotes, angle brackets or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise DocumentError("the source URL is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise DocumentError("the source URL must be an http:// or https:// address with a host")
    return url


_CLOSING_PUNCTUATION = ".!?:;,\"'\u201d\u2019)"
_LIST_ITEM = re.compile(r"^(?:[-*+\u2022\u25aa\u25e6]|\d{1,3}[.)])\s")
# Hard-wrapped text has lines of about the same width; below this many characters the lines are
# a list or a note (each line its own paragraph), above the other a file of one paragraph a line.
MIN_WRAP_CHARS = 30
MAX_WRAP_CHARS = 200


def _is_heading(block: str, *, lowercase: bool = True) -> bool:
    """Shaped like a heading: one short line with no sentence ending (or a Markdown heading)."""
    if "\n" in block or len(block) > HEADING_MAX_CHARS:
        return False
    if _MARKDOWN_HEADING.match(block):
        return True
    if not lowercase and (block[0].islower() or _LIST_ITEM.match(block)):
        return False
    return len(block.split()) <= HEADING_MAX_WORDS and block[-1] not in _CLOSING_PUNCTUATION


def _ends_sentence(line: str) -> bool:
    return line.rstrip("\"'\u201d\u2019)]")[-1:] in (".", "!", "?", "\u2026")


def _hyphenated(line: str) -> bool:
    """A letter then a hyphen at the line's end: "negoti-"."""
    return len(line) >= 2 and line[-1] == "-" and line[-2].isalpha()


def _indent(raw: str) -> int:
    if not raw[:1].isspace():
        return 0
    expanded = raw.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _wrap_width(lines: list[str]) -> int:
    """The width text was wrapped at: most lines of a wrapped paragraph come close to it."""
    lengths = sorted(len(line) for line in lines if line)
    if len(lengths) < 2:
        return 0
    return lengths[int(0.8 * (len(lengths) - 1))]


def _continues(prev: str, prev_indent: int, line: str, indent: int, width: int) -> bool:
    """Whether ``line`` goes on with the paragraph whose last line is ``prev`` (a wrapped line)."""
    if _LIST_ITEM.match(line) or _MARKDOWN_HEADING.match(line) or _MARKDOWN_HEADING.match(prev):
        return False
    if indent > prev_indent and not line[0].islower():
        return False  # a first-line indent starts a paragraph
    if _hyphenated(prev) and line[0].isalpha():
        return True
    if not MIN_WRAP_CHARS <= width:
        return False  # short lines: a list or a note, each line its own
    if line[0].islower() and not _ends_sentence(prev):
        return True  # a sentence going on
    # The next line's first word did not fit on this one: the line was wrapped, not ended.
    # 0.8: in PDFs (proportional fonts) a full line's character count varies.
    return width <= MAX_WRAP_CHARS and len(prev) + 1 + len(line.split()[0]) > 0.8 * width


def reflow(text: str) -> str:
    """Paragraphs as the writer meant them, one a line, separated by blank lines.

    Lines of a hard-wrapped paragraph are joined (a word hyphenated at a line end mended:
    "negoti-" + "ations"); a blank line, a first-line indent, a list item, a Markdown heading or a
    short line followed by one that would have fitted on it ends a paragraph. Runs of spaces
    become one. Nothing else changes: every word stays.
    """
    lines = [(_indent(raw), " ".join(raw.split())) for raw in text.split("\n")]
    width = _wrap_width([line for _, line in lines])
    paragraphs: list[str] = []
    current: list[str] = []
    prev, prev_indent = "", 0
    for indent, line in lines:
        if not line:
            prev = ""
            continue
        if prev and current and _continues(prev, prev_indent, line, indent, width):
            if _hyphenated(prev) and line[0].isalpha():
                if line[0].islower():  # "negoti-" "ations": one word; "Indo-" "Pacific" keeps its hyphen
                    current[-1] = current[-1][:-1]
                current.append(line)
            else:
                current.append(" " + line)
        else:
            if current:
                paragraphs.append("".join(current))
            current = [line]
        prev, prev_indent = line, indent
    if current:
        paragraphs.append("".join(current))
    return "\n\n".join(paragraphs)


def _blocks(body: str, limit: int | None = None) -> list[tuple[int, int]]:
    """Offsets of paragraphs: text between blank lines (``reflow`` made the body so).

    Stops after ``limit`` + 1 of them when a limit is given.
    """
    out: list[tuple[int, int]] = []
    pos = 0
    for match in _BLANK_LINE.finditer(body):
        _add_block(body, pos, match.start(), out)
        pos = match.end()
        if limit is not None and len(out) > limit:
            return out
    _add_block(body, pos, len(body), out)
    return out


def _add_block(body: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    chunk = body[start:end]
    stripped = chunk.strip()
    if stripped:
        lead = len(chunk) - len(chunk.lstrip())
        out.append((start + lead, start + lead + len(stripped)))


def _windows(text: str, base: int) -> list[tuple[int, int]]:
    """Cut a long paragraph into windows on sentence boundaries, one sentence of overlap.

    Long means over LONG_PARAGRAPH_WORDS words or MAX_PASSAGE_CHARS characters; a window stops
    at WINDOW_WORDS words or MAX_PASSAGE_CHARS characters.
    """
    if len(text) <= MAX_PASSAGE_CHARS and len(text.split()) <= LONG_PARAGRAPH_WORDS:
        return [(base, base + len(text))]
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return [(base, base + len(text))]
    windows, first = [], 0
    while first < len(sentences):
        last, words = first, len(sentences[first].text.split())
        while (
            last + 1 < len(sentences)
            and words + len(sentences[last + 1].text.split()) <= WINDOW_WORDS
            and sentences[last + 1].end - sentences[first].start <= MAX_PASSAGE_CHARS
        ):
            last += 1
            words += len(sentences[last].text.split())
        windows.append((base + sentences[first].start, base + sentences[last].end))
        if last + 1 >= len(sentences):
            break
        first = last if last > first else last + 1  # overlap one sentence, always move on
    return windows


class TooManyPassages(DocumentError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"it has more than {limit:,} passages, the limit for one document")


def split_passages(
    body: str, *, section: str | None = None, max_passages: int | None = None
) -> tuple[Passage, ...]:
    """Passages of a body made by ``reflow``: a heading is a heading-shaped paragraph followed by
    a paragraph that is not; it becomes the section of the paragraphs under it (``section`` heads
    those before the first heading). TooManyPassages as soon as there are more than ``max_passages``."""
    # Headings make no passage, but a text of more than twice as many paragraphs as passages
    # allowed is refused before any work on them (a 4.8 MB "x\n\n" * 1.6 M is 1.6 M of them).
    block_limit = None if max_passages is None else 2 * max_passages
    blocks = _blocks(body, block_limit)
    if block_limit is not None and len(blocks) > block_limit:
        raise TooManyPassages(block_limit // 2)
    headingish = [_is_heading(body[s:e], lowercase=False) for s, e in blocks]
    # A text made only of short lines (a note, a list) has no headings: every line is text.
    headings_allowed = not all(headingish)
    passages: list[Passage] = []
    paragraph = 0
    for i, (start, end) in enumerate(blocks):
        block = body[start:end]
        followed_by_paragraph = i + 1 < len(blocks) and not headingish[i + 1]
        if headings_allowed and headingish[i] and followed_by_paragraph:
            heading = _MARKDOWN_HEADING.sub("", block).strip()
            if section and not passages:  # the given lead still heads nothing: keep both
                heading = f"{section} \u2013 {heading}" if heading else section
            section = heading or section
            continue
        paragraph += 1
        for w_start, w_end in _windows(block, start):
            passages.append(Passage(len(passages), paragraph, section, w_start, w_end, body[w_start:w_end]))
        if max_passages is not None and len(passages) > max_passages:
            raise TooManyPassages(max_passages)
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
    max_passages: int | None = None,
) -> ParsedDocument:
    """Turn a document's text into title, date and passages.

    Title and date come from, in order: the arguments; a first line ``date YYYY-MM-DD Title``;
    a short first paragraph (the title); the file name. The body is ``reflow``ed: what the
    passages' offsets point into.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    # A soft hyphen only marks where a word may break: the reader sees the word whole, but the
    # analyzer would split it there ("negoti", "ations"). At a line's end it is the break itself:
    # a hyphen there, which reflow mends.
    text = text.replace(SOFT_HYPHEN + "\n", "-\n").replace(SOFT_HYPHEN, "")
    date = validate_date(date)
    first, first_end = _first_line(text)
    header = _HEADER.match(first)
    found_title = None
    if header:
        found_title = header.group(2)
        date = date or validate_date(header.group(1))
        body = reflow(text[first_end:])
    else:
        body = reflow(text)
        first, _, rest = body.partition("\n\n")
        # A short first paragraph is the title, unless it is all there is.
        if rest and len(first) <= MAX_TITLE_CHARS and _is_heading(first):
            found_title, body = _MARKDOWN_HEADING.sub("", first).strip(), rest
    # Another title given: the first line heads the first paragraphs, so no word of it is lost
    # (and the body, so the content hash, is the same with or without --title).
    lead = found_title if title and found_title and not header else None
    passages = split_passages(body, section=lead, max_passages=max_passages)
    if not passages:
        raise DocumentError("the document has no text")
    if title:
        return ParsedDocument(validate_title(title), date, body, passages)
    found = found_title or (filename and filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]) or ""
    chosen = strip_invisible(found) or strip_invisible(passages[0].text[:80])
    return ParsedDocument(validate_title(chosen), date, body, passages)


def strip_invisible(text: str) -> str:
    """``text`` with control and format characters (Cc, Cf) as spaces, for titles found in documents:
    the analyzer splits words at them, so "0<ESC>0" is the words "0" and "0" in the title too."""
    return " ".join("".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text).split())
