"""Uploaded bytes to text: encodings, HTML, and refusing what is not a document."""

from __future__ import annotations

import pytest

from bot.engine.documents import DocumentError, parse_text
from bot.engine.ingest import UploadError, extract_text

LIMIT = 1_000_000
TEXT = "Café talks resumed at the Pentagon.\n\nChina’s delegation attended."


def test_plain_utf8_text():
    result = extract_text(TEXT.encode("utf-8"), "notes.txt", max_bytes=LIMIT)
    assert result.text == TEXT
    assert result.title is None


def test_markdown_and_unknown_suffix_are_read_as_text():
    assert extract_text(TEXT.encode(), "notes.md", max_bytes=LIMIT).text == TEXT
    assert extract_text(TEXT.encode(), "README", max_bytes=LIMIT).text == TEXT


def test_utf8_bom_is_removed():
    result = extract_text(TEXT.encode("utf-8-sig"), "notes.txt", max_bytes=LIMIT)
    assert result.text == TEXT


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-16"),  # with the platform's BOM
        b"\xff\xfe" + TEXT.encode("utf-16-le"),
        b"\xfe\xff" + TEXT.encode("utf-16-be"),
    ],
    ids=["utf-16", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_utf16_with_bom(data):
    assert extract_text(data, "notes.txt", max_bytes=LIMIT).text == TEXT


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "scan.txt"),
        (b"text with a \x00 NUL byte", "notes.txt"),
        (bytes(range(1, 32)) * 20, "data.bin"),
    ],
    ids=["png-bytes", "nul-byte", "control-characters"],
)
def test_binary_is_refused(data, name):
    with pytest.raises(UploadError, match="binary"):
        extract_text(data, name, max_bytes=LIMIT)


def test_unsupported_suffix_is_refused():
    with pytest.raises(UploadError, match="not supported"):
        extract_text(b"PK\x03\x04 something", "report.docx", max_bytes=LIMIT)


@pytest.mark.parametrize("data", [b"", b"   \n\t \n"])
def test_empty_upload_is_refused(data):
    with pytest.raises(UploadError, match="empty"):
        extract_text(data, "notes.txt", max_bytes=LIMIT)


def test_too_large_upload_is_refused():
    with pytest.raises(UploadError, match="larger than the limit"):
        extract_text(b"x" * 2001, "notes.txt", max_bytes=2000)


def test_upload_error_is_a_document_error():
    # the command line and the bot catch DocumentError: an upload problem is one line, not a crash
    assert issubclass(UploadError, DocumentError)


HTML = b"""<!DOCTYPE html>
<html><head><title>Talks Resume</title><style>p { color: red }</style>
<script>var tracking = 1;</script></head>
<body>
<nav>Home | World | Sports</nav>
<h1>Defense talks resume</h1>
<p>U.S. and Chinese officials met at the   Pentagon.</p>
<script>alert("ad")</script>
<ul><li><p>A nested paragraph.</p></li></ul>
<footer>Copyright 2024</footer>
</body></html>"""


def test_html_gives_title_and_block_text_without_scripts_or_chrome():
    result = extract_text(HTML, "page.html", max_bytes=LIMIT)
    assert result.title == "Defense talks resume"  # the headline: trafilatura prefers og:title, then the <h1>
    assert result.text.split("\n\n") == [
        "# Defense talks resume",  # an HTML heading, marked for documents.split_passages
        "U.S. and Chinese officials met at the Pentagon.",
        "A nested paragraph.",
    ]
    for unwanted in ("tracking", "alert", "Home | World", "Copyright", "color"):
        assert unwanted not in result.text


def test_html_keeps_every_paragraph_around_tables_and_nested_blocks():
    # Paragraphs next to a table were all lost, and text beside a nested block too.
    html = (
        b"<html><body><p>The pool opens in June.</p><p>Lifeguards start training in May.</p>"
        b"<table><tr><td>Mon</td><td>Swim club</td></tr></table>"
        b"<li>Bring a towel <p>and a lock.</p> Lockers are free.</li></body></html>"
    )
    assert extract_text(html, "pool.html", max_bytes=LIMIT).text.split("\n\n") == [
        "The pool opens in June.",
        "Lifeguards start training in May.",
        "Mon",
        "Swim club",
        "Bring a towel",
        "and a lock.",
        "Lockers are free.",
    ]


def test_html_is_recognised_by_content_without_suffix():
    result = extract_text(HTML, "download", max_bytes=LIMIT)
    assert "Pentagon" in result.text and "<p>" not in result.text


NEWS_PAGE = b"""<!doctype html><html><head><title>Harbor News</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li></ul></nav></header>
<main><article>
<h1>Ferry service resumes</h1>
<p>The island ferry resumed on Monday after three weeks of repairs to its hull.</p>
<p>Officials said passengers were delighted.<br>Tickets went on sale at noon.</p>
<ul><li>Bring your tickets</li><li>Arrive early<ul><li>boarding closes ten minutes before departure</li></ul></li></ul>
<table><tr><td>Weekdays<br>Saturdays</td><td><p>hourly</p><p>twice daily</p></td></tr></table>
<blockquote><p>We missed the ferry.</p><p>Everyone did.</p></blockquote>
<p>The harbor office will publish the winter timetable next month on its website.</p>
</article></main>
<footer>Copyright Harbor News</footer>
</body></html>"""


def test_article_page_keeps_words_apart_at_line_breaks_and_nested_blocks():
    # A page with a site around its article is read by trafilatura, whose tree has <lb/>, nested
    # lists and paragraphs in cells and quotes: their texts were run together ("delighted.Tickets",
    # "earlyboarding", "hourlytwice"), and the words at the seams could not be found; a nested
    # list's item was read twice.
    text = extract_text(NEWS_PAGE, "ferry.html", max_bytes=LIMIT).text
    for words in (
        "were delighted. Tickets went",
        "Arrive early",
        "boarding closes ten minutes",
        "Weekdays Saturdays",
        "hourly twice daily",
        "We missed the ferry. Everyone did.",
    ):
        assert words in " ".join(text.split()), words
    assert text.count("boarding closes") == 1  # the nested item once, not again inside its parent
    assert "Copyright" not in text and "World" not in text  # still the article without its site


def test_markdown_keeps_addresses_written_as_autolinks():
    # <https://...> and <name@host> are shown as the address itself: they were dropped, and the
    # sentence quoted as "Questions go to or see for the timetable."
    md = b"Questions go to <office@harbor.example> or see <https://harbor.example/timetable> for the timetable.\n"
    assert extract_text(md, "notes.md", max_bytes=LIMIT).text == (
        "Questions go to office@harbor.example or see https://harbor.example/timetable for the timetable."
    )


def test_markdown_empty_heading_does_not_turn_the_next_paragraph_into_a_heading():
    md = b"# Ferry notes\n\n#\n\nThe ferry leaves at six.\n\nTickets are sold at the pier.\n"
    doc = parse_text(extract_text(md, "notes.md", max_bytes=LIMIT).text, filename="notes.md")
    assert [p.text for p in doc.passages] == ["The ferry leaves at six.", "Tickets are sold at the pier."]


async def test_words_with_soft_hyphens_are_found_whole(engine):
    # A soft hyphen (U+00AD, &shy;) only marks where a word may break; a reader sees the word whole.
    # The analyzer split words at it ("negoti", "ations"), so the word itself found nothing; at a
    # line's end (as PDFs give it) it was not mended like a hyphen either.
    page = (
        "<html><body><p>The nego&shy;ti&shy;ations in Ge&shy;neva ended on Friday after three weeks.</p>"
        "<p>Both dele&shy;gations signed the ceasefire agreement.</p></body></html>"
    ).encode()
    await engine.add_file(page, "talks.html", guild_id=7, added_by="t")
    for word in ("negotiations", "Geneva", "delegations"):
        assert [hit.title for hit in (await engine.search(word, guild_id=7)).hits] == ["talks"], word
    answer = await engine.ask("Where were the negotiations?", guild_id=7)
    assert answer.answer == "The negotiations in Geneva ended on Friday after three weeks. [1]"

    note = "Minutes\n\nThe committee reviewed the budget nego\u00ad\ntiations with the city council in May.\n"
    await engine.add_file(note.encode(), "minutes.txt", guild_id=7, added_by="t")
    assert [hit.title for hit in (await engine.search("budget negotiations", guild_id=7)).hits][:1] == ["Minutes"]
