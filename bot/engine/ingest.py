"""Uploaded bytes to text: plain text and Markdown, HTML, PDF. Refuses what is not a document.

Used by both ``talksbot add`` and ``/corpus add``. Runs off the event loop (parsing a PDF can
take a while). Returns text for ``documents.parse_text``.
"""

from __future__ import annotations

import io
import re
import statistics
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from bot.engine.documents import DocumentError

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
HTML_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt", ".text", ".rst", ""} | MARKDOWN_SUFFIXES


class UploadError(DocumentError):
    """The upload is not a document TalksBot can read. The message says why, in one line."""


@dataclass(frozen=True, slots=True)
class ExtractedText:
    text: str
    title: str | None  # a title the format itself carries (HTML og:title / <h1> / <title>, PDF metadata)
    date: str | None = None  # YYYY-MM-DD, when the page says when it was published
    url: str | None = None  # the page's canonical URL, when it names one
    author: str | None = None


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
    elif suffix in MARKDOWN_SUFFIXES:
        from bot.engine.markdown import markdown_to_text  # markdown-it only when a file needs it (start time)

        result = ExtractedText(markdown_to_text(decode_text(data, filename)), None)
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
    repaired = _mostly_utf8(data)
    if repaired is not None:
        return _checked(repaired, filename)
    import charset_normalizer  # only for a file that is not UTF-8 (0.1 s of every start otherwise)

    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.chaos > 0.2:
        raise UploadError(f"{filename}: cannot tell its text encoding; save it as UTF-8")
    return _checked(str(best), filename)


# A UTF-8 text with at most one byte that is not UTF-8 per this many characters that are (and
# not ASCII) is UTF-8 with stray bytes: a Windows-1252 apostrophe or dash pasted into it. A file
# wholly in another encoding has few or no valid UTF-8 sequences by chance.
UTF8_PER_STRAY_BYTE = 20
_STRAY_BYTE = re.compile("[\udc80-\udcff]")  # surrogateescape's stand-ins for undecodable bytes


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` as UTF-8 with its few stray bytes read as Windows-1252 (Latin-1 where it has
    none), or None when it is not mostly UTF-8. Otherwise the detector would read the whole file
    as another encoding and garble every accented word ("été" as "ûˋtûˋ")."""
    text = data.decode("utf-8-sig", "surrogateescape")
    stray = len(_STRAY_BYTE.findall(text))
    valid = len(text) - len(text.encode("ascii", "ignore")) - stray  # characters beyond ASCII, in C
    if stray * UTF8_PER_STRAY_BYTE > valid:
        return None

    def legacy(match: re.Match) -> str:
        byte = bytes([ord(match.group()) - 0xDC00])
        try:
            return byte.decode("cp1252")
        except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: not in Windows-1252
            return byte.decode("latin-1")

    return _STRAY_BYTE.sub(legacy, text)


def _checked(text: str, filename: str) -> str:
    """Refuse text that is mostly control characters (a binary file that happens to decode).

    Counted over the whole text (a regular expression, so it is quick): a first 20,000 clean
    characters must not let a binary tail in."""
    controls = len(_CONTROL.findall(text))
    if text and controls / len(text) > 0.01:
        raise UploadError(f"{filename} looks like a binary file, not text")
    return text


# Page chrome trafilatura's fallback may keep on a short page: never part of the article.
_CHROME_XPATH = ["//nav", "//footer", "//aside", "//header//ul", "//*[contains(@id, 'cookie') or contains(@class, 'cookie')]"]


# What marks a page as a site around an article: trafilatura's work is to cut those away.
_SITE_CHROME = (
    "nav, header, footer, aside, article, main, [role=navigation], [role=banner], [role=contentinfo],"
    " [id*=cookie], [class*=cookie], [id*=comment], [class*=comment], [class*=related], [id*=menu], [class*=menu]"
)
_DECLARED_TITLE = 'title, meta[property="og:title"], meta[name="twitter:title"]'
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # Cc, without \t \n \r \f


def _html_text(html: str, filename: str) -> ExtractedText:
    """A web page's article and metadata with trafilatura: menus, cookie banners, footers,
    related links and comments left out. A page with no site around its text (no navigation,
    header, footer, article element...) is read whole, every paragraph kept."""
    import trafilatura
    from selectolax.lexbor import LexborHTMLParser

    page = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        prune_xpath=_CHROME_XPATH,
        # The page's own published date only: no guessing from the URL or today's date.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if page is None:
        return _html_every_block(html)
    tree = LexborHTMLParser(html)
    article = tree.css_first(_SITE_CHROME) is not None and page.body is not None and len(page.body) >= 2
    if article:
        text = "\n\n".join(p for p in _extracted_paragraphs(page.body) if p.strip())
    else:
        text = _html_every_block(html).text
    # Without a declared title trafilatura guesses one from a heading; the text's first line is better.
    declared = tree.head is not None and tree.head.css_first(_DECLARED_TITLE) is not None
    canonical = page.url if page.url and page.url.startswith(("http://", "https://")) else None
    return ExtractedText(text, page.title if declared else None, date=page.date, url=canonical, author=page.author)


def _extracted_paragraphs(body) -> list[str]:
    """trafilatura's article tree (head, p, list/item, table/row/cell, quote) as paragraphs, its
    headings marked with ``#`` like the other HTML reader's, for documents.split_passages."""

    def text(element, *, without: str | None = None) -> str:
        parts: list[str] = []
        _element_text(element, parts, without=without)
        return " ".join("".join(parts).split())

    paragraphs = []
    for element in body:
        if element.tag == "head":
            rend = element.get("rend") or ""
            level = int(rend[1]) if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit() else 2
            paragraphs.append("#" * level + " " + text(element))
        elif element.tag == "list":
            # A nested list's items (a nested table's cells) are paragraphs of their own here: not
            # also part of their parent's.
            paragraphs += [text(item, without="list") for item in element.iter("item")]
        elif element.tag == "table":
            paragraphs += [text(cell, without="table") for cell in element.iter("cell")]
        else:
            paragraphs.append(text(element))
    return paragraphs


# trafilatura's inline elements (formatting, links, deletions, inline code): their text runs on
# with the words around them. Every other element (lb, p, item, list, cell, row, quote...) is
# a break between words, as on the page.
_TRAFILATURA_INLINE = {"hi", "ref", "del", "code"}


def _element_text(element, parts: list[str], *, without: str | None = None) -> None:
    """The text of a trafilatura element and its children but those tagged ``without``, a space
    at each block's edges (a walk with its own stack: a hostile page's nesting depth is not
    Python's recursion limit)."""
    stack: list = [element]
    while stack:
        item = stack.pop()
        if isinstance(item, str):  # text that follows a finished element: its gap, then its tail
            parts.append(item)
            continue
        gap = "" if item.tag in _TRAFILATURA_INLINE else " "
        parts += [gap, "" if item.tag == without else item.text or ""]
        stack.append(gap + (item.tail or "") if item is not element else gap)
        if item.tag != without:
            stack.extend(reversed(list(item)))


def _html_every_block(html: str) -> ExtractedText:
    """Every paragraph of the page but its scripts, navigation and footer (no article found)."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    for node in tree.css("script, style, noscript, template, svg, head, nav, footer"):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ExtractedText("", title)
    blocks = _html_blocks(root)
    if not blocks:  # no block markup at all: the page's plain text
        blocks = [" ".join(line.split()) for line in root.text(separator="\n").splitlines() if line.strip()]
    return ExtractedText("\n\n".join(blocks), title or None)


# Elements that start and end a paragraph; the text between them (inline elements, text in a
# table cell) is one paragraph.
HTML_BLOCKS = HTML_HEADINGS | {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p", "pre",
    "section", "summary", "table", "td", "th", "tr", "ul",
}


def _html_blocks(root) -> list[str]:
    """Paragraphs of an HTML tree in one walk: every text node lands in exactly one paragraph
    (text around a nested block is kept too), headings marked with ``#``."""
    blocks: list[str] = []
    words: list[str] = []
    heading = 0  # the level of the heading being read, 0 outside headings

    def flush() -> None:
        text = " ".join("".join(words).split())
        words.clear()
        if text:
            blocks.append("#" * heading + " " + text if heading else text)

    stack = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag
        if leaving:
            flush()
            if tag in HTML_HEADINGS:
                heading = 0
            continue
        if tag == "-text":
            words.append(node.text_content or "")
            continue
        if tag in HTML_BLOCKS:
            flush()
            if tag in HTML_HEADINGS:
                heading = int(tag[1])
            stack.append((node, True))
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, False) for c in reversed(children))
    flush()
    return blocks


# Decoded page content (text operators) read from one PDF, at most. pypdf reads it at well under
# 1 MB/s, and an 8 KB PDF can inflate one shared 5 MB content stream for every page (issue 16).
PDF_MAX_CONTENT_BYTES = 4_000_000


def _pdf_text(data: bytes, filename: str) -> ExtractedText:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        pages, seen, total = [], set(), 0
        for page in reader.pages:
            streams = _content_streams(page)
            new = [(key, stream) for key, stream in streams if key not in seen]
            if streams and not new:
                continue  # every stream already read for an earlier page: the same text again
            for key, stream in new:
                seen.add(key)
                total += len(stream.get_data())
            if total > PDF_MAX_CONTENT_BYTES:
                raise UploadError(
                    f"{filename} has more page content than TalksBot reads from one PDF"
                    f" ({PDF_MAX_CONTENT_BYTES // 1_000_000} MB decoded)"
                )
            pages.append(_page_text(page))
        title = reader.metadata.title if reader.metadata else None
    except (UploadError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001  pypdf raises almost any type on damaged input
        # (PdfReadError, LimitReachedError, NotImplementedError for unknown filters,
        # AttributeError, DeprecationError, zlib and struct errors...): all mean "cannot read it".
        raise UploadError(f"{filename} is not a readable PDF ({exc.__class__.__name__})") from None
    # Pages joined by a line break: a paragraph running onto the next page is joined by reflow.
    return ExtractedText("\n".join(pages), str(title).strip() if title else None)


def _content_streams(page) -> list[tuple[object, object]]:
    """A page's content streams, each with a key that is the same when pages share one."""
    from pypdf.generic import IndirectObject

    contents = page.get("/Contents")
    if contents is None:
        return []
    resolved = contents.get_object()
    items = list(resolved) if isinstance(resolved, list) else [contents]
    streams = []
    for item in items:
        key = (item.idnum, item.generation) if isinstance(item, IndirectObject) else ("direct", id(item))
        stream = item.get_object()
        if hasattr(stream, "get_data"):
            streams.append((key, stream))
    return streams


# A gap between two lines this many times the page's usual line spacing is a paragraph break.
PDF_PARAGRAPH_GAP = 1.6


def _page_text(page) -> str:
    """A page's text, one line per printed line, with a blank line where the layout leaves a gap
    (a paragraph break) or jumps back up (a new column): pypdf's text alone has neither."""
    pieces: list[tuple[str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font_dict: object, font_size: float) -> None:
        if text:
            pieces.append((text, tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))  # the text's baseline on the page

    plain = page.extract_text(visitor_text=visit) or ""
    if "".join(text for text, _ in pieces).split() != plain.split():
        return plain  # the pieces do not add up to pypdf's text: keep its text as it is
    lines: list[list] = []  # [text, baseline of its start]
    for text, y in pieces:
        if lines and not lines[-1][0].endswith("\n"):
            lines[-1][0] += text
        else:
            lines.append([text, y])
    steps = [above[1] - below[1] for above, below in zip(lines, lines[1:]) if above[1] > below[1]]
    if not steps:
        return plain
    usual = statistics.median(steps)
    out = [lines[0][0]]
    for above, below in zip(lines, lines[1:]):
        step = above[1] - below[1]
        if step > PDF_PARAGRAPH_GAP * usual or step < -usual:
            out.append("\n")
        out.append(below[0])
    return "".join(out)
