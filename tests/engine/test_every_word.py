"""Nothing a writer wrote is lost: wrapped lines, hyphenation, PDFs, Markdown and HTML are read
into whole paragraphs, and every word of the body is findable afterwards in some passage."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine.analyzer import analyze
from bot.engine.documents import DocumentError, ParsedDocument, parse_text
from bot.engine.ingest import extract_text
from bot.measure.hostile import text_pdf
from test_documents import MINUTES

LIMIT = 5_000_000
PROPERTY = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def findable_terms(doc: ParsedDocument) -> set[str]:
    """What the index finds a document's passages by: text, section, and the title (first passage)."""
    terms = set(analyze(doc.title))
    for passage in doc.passages:
        terms.update(analyze(passage.text))
        terms.update(analyze(passage.section or ""))
    return terms


def missing_words(words: list[str], doc: ParsedDocument) -> list[str]:
    terms = findable_terms(doc)
    return [word for word in words if not set(analyze(word)) <= terms]


def read(data: bytes, filename: str) -> ParsedDocument:
    extracted = extract_text(data, filename, max_bytes=LIMIT)
    return parse_text(extracted.text, filename=filename, title=None if extracted.title == "Untitled" else extracted.title)


# -- the cases from the issue ----------------------------------------------------------------


async def test_wrapped_minutes_are_found_and_quoted_in_whole_sentences(engine):
    await engine.add_file(MINUTES.encode(), "minutes.txt", guild_id=7, added_by="t")
    found = await engine.search("chairs", guild_id=7)
    assert [hit.title for hit in found.hits] == ["Board Minutes"]
    answer = await engine.ask("Why will the picnic be held in the park?", guild_id=7)
    assert answer.answer == (
        "The board met on Monday and agreed that the annual picnic will be held in the park on June 3 "
        "because the hall is being repainted this summer. [1]"
    )


async def test_wrapped_three_line_pdf_is_answered_with_the_whole_sentence(engine):
    pdf = text_pdf(
        [
            "The city council voted on Tuesday to extend the bus route to the",
            "new hospital because patients had trouble reaching it from the",
            "north side of town.",
        ],
        title="Council Notes",
    )
    record = await engine.add_file(pdf, "council.pdf", guild_id=7, added_by="t")
    assert record.title == "Council Notes"
    answer = await engine.ask("Why did the council extend the bus route?", guild_id=7)
    assert answer.answer == (
        "The city council voted on Tuesday to extend the bus route to the new hospital because patients "
        "had trouble reaching it from the north side of town. [1]"
    )
    assert (await engine.search("north side", guild_id=7)).hits[0].title == "Council Notes"


def test_pdf_paragraphs_follow_the_layout():
    pdf = text_pdf(
        ["The ferry to the island was cancelled on Friday because of", "the storm.", "",
         "The harbor office will publish a new timetable next week and", "post it at the pier."]
    )
    doc = read(pdf, "harbor.pdf")
    assert [p.text for p in doc.passages] == [
        "The ferry to the island was cancelled on Friday because of the storm.",
        "The harbor office will publish a new timetable next week and post it at the pier.",
    ]


async def test_hyphenated_word_at_a_line_end_is_found_whole(engine):
    text = (
        "Treaty Talks\n\nThe treaty was signed after months of difficult negoti-\n"
        "ations between the two delegations in Geneva last spring.\n"
    )
    await engine.add_file(text.encode(), "treaty.txt", guild_id=7, added_by="t")
    answer = await engine.ask("Where were the treaty negotiations?", guild_id=7)
    assert answer.answer == (
        "The treaty was signed after months of difficult negotiations between the two delegations in Geneva "
        "last spring. [1]"
    )


def test_markdown_upload_is_quoted_without_markup():
    md = (
        "# Community Garden\n\n"
        "Each plot costs **$25 per season**, paid to the [garden treasurer](https://example.org/pay).\n\n"
        "## Tools\n\n- Shared *hoes* and `rakes` are in the shed\n- Return them by dusk\n"
    )
    doc = read(md.encode(), "garden.md")
    assert doc.title == "Community Garden"
    assert [(p.section, p.text) for p in doc.passages] == [
        (None, "Each plot costs $25 per season, paid to the garden treasurer."),
        ("Tools", "• Shared hoes and rakes are in the shed"),
        ("Tools", "• Return them by dusk"),
    ]
    assert "example.org" not in doc.body


def test_html_headings_are_sections():
    html = b"<html><head><title>Water Notice</title></head><body><h2>Water</h2><p>The taps are shut off in November.</p><p>Ask the warden.</p></body></html>"
    doc = read(html, "water.html")
    assert [(p.section, p.text) for p in doc.passages] == [
        ("Water", "The taps are shut off in November."),
        ("Water", "Ask the warden."),
    ]


# -- the property: every word findable, in every format -------------------------------------------

WORD = st.from_regex(r"[A-Za-z][a-z]{0,9}|[0-9]{1,4}", fullmatch=True)
ENDING = st.sampled_from(["", "", "", ".", ",", "?", ":", ";"])
SENTENCE_WORD = st.tuples(WORD, ENDING).map("".join)
PARAGRAPHS = st.lists(st.lists(SENTENCE_WORD, min_size=1, max_size=40), min_size=1, max_size=6)


def bare(words: list[str]) -> list[str]:
    return [w.rstrip(".,?:;") for w in words]


@given(PARAGRAPHS, st.integers(min_value=15, max_value=100), st.sampled_from(["\n\n", "\n", "\n    ", "\n \n"]))
@PROPERTY
def test_every_word_of_wrapped_text_is_findable(paragraphs, width, separator):
    text = separator.join(textwrap.fill(" ".join(words), width) for words in paragraphs)
    doc = parse_text(text, filename="notes.txt")
    assert missing_words(bare([w for words in paragraphs for w in words]), doc) == []


@given(st.text(min_size=1, max_size=400))
@PROPERTY
def test_every_word_of_any_text_is_findable(text):
    try:
        doc = parse_text(text, filename="any.txt")
    except DocumentError:
        assume(False)
    # The words as a reader sees them: a soft hyphen shows only where a line breaks, as a hyphen.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad\n", "-\n").replace("\u00ad", "").split("\n")
    words = []
    for line, following in zip(lines, lines[1:] + [""]):
        tokens = line.split()
        if tokens and tokens[-1].endswith("-") and following.strip():
            tokens.pop()  # hyphenated at the line end: mended with the next line's first word
        words.extend(tokens)
    # the next line's first word may have been mended onto the previous line's hyphenated one
    mended = {ln.split()[0] for prev, ln in zip(lines, lines[1:]) if prev.split() and prev.split()[-1].endswith("-") and ln.split()}
    assert missing_words([w for w in words if w not in mended], doc) == []


@given(PARAGRAPHS, st.data())
@PROPERTY
def test_every_word_of_markdown_is_findable(paragraphs, data):
    blocks, words = [], []
    for paragraph in paragraphs:
        styled = []
        for word in paragraph:
            style = data.draw(st.sampled_from(["{}", "**{}**", "*{}*", "`{}`", "[{}](https://x.example/a)", "~~{}~~"]))
            styled.append(style.format(word.rstrip(".,?:;")) + word[len(word.rstrip(".,?:;")) :])
        kind = data.draw(st.sampled_from(["", "## ", "- ", "1. ", "> "]))
        blocks.append(kind + " ".join(styled))
        words.extend(bare(paragraph))
    doc = read("\n\n".join(blocks).encode(), "notes.md")
    assert missing_words(words, doc) == []
    assert "x.example" not in " ".join(p.text for p in doc.passages)


@given(PARAGRAPHS, st.data())
@PROPERTY
def test_every_word_of_html_is_findable(paragraphs, data):
    blocks = []
    for paragraph in paragraphs:
        tag = data.draw(st.sampled_from(["p", "h2", "li", "div", "td", "blockquote"]))
        inner = " ".join(paragraph)
        if data.draw(st.booleans()):
            inner = inner.replace(" ", " <b>", 1).replace(" ", "</b> ", 1) if " " in inner else inner
        block = f"<{tag}>{inner}</{tag}>"
        blocks.append({"td": f"<table><tr>{block}</tr></table>", "li": f"<ul>{block}</ul>"}.get(tag, block))
    html = "<html><body>" + "".join(blocks) + "</body></html>"
    doc = read(html.encode(), "page.html")
    assert missing_words(bare([w for p in paragraphs for w in p]), doc) == []


@given(PARAGRAPHS, st.integers(min_value=20, max_value=90))
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_word_of_a_pdf_is_findable(paragraphs, width):
    lines: list[str] = []
    for words in paragraphs:
        lines.extend(textwrap.wrap(" ".join(words), width))
        lines.append("")
    doc = read(text_pdf(lines[:-1]), "scan.pdf")
    assert missing_words(bare([w for words in paragraphs for w in words]), doc) == []


@pytest.mark.parametrize("filename", ["a.txt", "a.md"])
def test_nothing_but_markup_is_refused_not_stored_empty(filename):
    with pytest.raises(DocumentError):
        read(b"**  **\n\n---\n", filename) if filename.endswith(".md") else parse_text("   \n \n")


def test_a_control_character_inside_the_first_line_splits_its_words_in_the_title_too():
    """Found by the property above: the title "0<ESC>0" was "00", while the analyzer reads two words."""
    doc = parse_text("0\x1b0\n1", filename="any.txt")
    assert doc.title == "0 0"
    assert missing_words(["0\x1b0", "1"], doc) == []
