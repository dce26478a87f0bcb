"""Uploaded bytes to text: plain text and Markdown, HTML, PDF. Refuses what is not a document.

Used by both ``talksbot add`` and ``/corpus add``. Runs off the event loop (parsing a PDF can
take a while). Returns text for ``documents.parse_text``.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

import charset_normalizer

from bot.engine.documents import DocumentError

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ".rst", ""}


class UploadError(DocumentError):
    """The upload is not a document TalksBot can read. The message says why, in one line."""


@dataclass(frozen=True, slots=True)
class ExtractedText:
    text: str
    title: str | None  # a title the format itself carries (HTML <title>, PDF metadata)


def extract_text(data: bytes, filename: str, *, max_bytes: int) -> ExtractedText:
    if len(data) > max_bytes:
        raise UploadError(f"{filename} is larger than the limit of {max_bytes // 1000:,} kB")
    if not data.strip():
        raise UploadError(f"{filename} is empty")
    suffix = PurePath(filename).suffix.lower()
    head = data[:1024].lstrip().lower()
    if suffix in PDF_SUFFIXES or data.startswith(b"%PDF-"):
        result = _pdf_text(data, filename)
    elif suffix in HTML_SUFFIXES or head.startswith((b"<!doctype html", b"<html")):
        result = _html_text(decode_text(data, filename), filename)
    elif suffix in TEXT_SUFFIXES or suffix not in {".docx", ".zip", ".png", ".jpg", ".jpeg", ".gif"}:
        result = ExtractedText(decode_text(data, filename), None)
    else:
        raise UploadError(f"{filename}: {suffix} files are not supported (use text, Markdown, HTML or PDF)")
    if not result.text.strip():
        raise UploadError(f"{filename} has no text")
    return result


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else a detected encoding; binary refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _checked(data.decode("utf-16"), filename)
        except UnicodeDecodeError:
            raise UploadError(f"{filename} is not valid UTF-16") from None
    if b"\x00" in data:
        raise UploadError(f"{filename} looks like a binary file, not text")
    try:
        return _checked(data.decode("utf-8-sig"), filename)
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.chaos > 0.2:
        raise UploadError(f"{filename}: cannot tell its text encoding; save it as UTF-8")
    return _checked(str(best), filename)


def _checked(text: str, filename: str) -> str:
    """Refuse text that is mostly control characters (a binary file that happens to decode)."""
    sample = text[:20_000]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if sample and controls / len(sample) > 0.01:
        raise UploadError(f"{filename} looks like a binary file, not text")
    return text


def _html_text(html: str, filename: str) -> ExtractedText:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    for node in tree.css("script, style, noscript, template, svg, head, nav, footer"):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ExtractedText("", title)
    blocks = []
    for node in root.css("h1, h2, h3, h4, h5, h6, p, li, blockquote, pre, td, dt, dd"):
        # Nested blocks (a <p> in an <li>) would be read twice: keep the innermost.
        if node.css_first("p, li, blockquote, pre, h1, h2, h3, h4, h5, h6") is not None:
            continue
        text = " ".join(node.text(separator=" ").split())
        if text:
            blocks.append(text)
    if not blocks:  # no block markup at all: the page's plain text
        blocks = [" ".join(line.split()) for line in root.text(separator="\n").splitlines() if line.strip()]
    return ExtractedText("\n\n".join(blocks), title or None)


def _pdf_text(data: bytes, filename: str) -> ExtractedText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UploadError(f"{filename} is not a readable PDF ({exc.__class__.__name__})") from None
    return ExtractedText("\n\n".join(pages), str(title).strip() if title else None)
