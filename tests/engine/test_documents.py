"""Plain text to a document: title, date, sections, paragraphs, passages and sentences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine.documents import (
    LONG_PARAGRAPH_WORDS,
    WINDOW_WORDS,
    DocumentError,
    content_hash,
    parse_text,
    reflow,
    split_passages,
    split_sentences,
)

BODY = "The first paragraph says something.\n\nThe second paragraph says more."


# -- title and date -------------------------------------------------------------------------


def test_header_line_with_leading_space_gives_date_and_title():
    doc = parse_text(" date 2024-01-10 Talks Resume at the Pentagon\n\n" + BODY, filename="file.txt")
    assert doc.date == "2024-01-10"
    assert doc.title == "Talks Resume at the Pentagon"
    assert "date" not in doc.body and "Talks Resume" not in doc.body
    assert [p.text for p in doc.passages] == BODY.split("\n\n")


def test_header_line_is_case_insensitive():
    doc = parse_text("Date 2023-12-31 Year End\n\n" + BODY)
    assert (doc.title, doc.date) == ("Year End", "2023-12-31")


def test_bundled_article_header(article_text):
    doc = parse_text(article_text, filename="2024-01-10-us-china-defense-talks.txt")
    assert doc.date == "2024-01-10"
    assert doc.title == (
        "Top U.S. and Chinese Defense Officials Hold Face-to-Face Meeting at the Pentagon, First Since January 2020"
    )
    assert doc.body.startswith("In a crucial development")


def test_short_first_line_is_the_title():
    doc = parse_text("Talks Resume\n\n" + BODY, filename="notes.txt")
    assert doc.title == "Talks Resume"
    assert doc.date is None
    assert doc.body == BODY
    assert len(doc.passages) == 2


def test_markdown_heading_first_line_is_the_title():
    doc = parse_text("# Talks Resume\n\n" + BODY)
    assert doc.title == "Talks Resume"


def test_file_name_is_the_title_when_the_first_line_is_a_sentence():
    doc = parse_text(BODY, filename="some/dir/defense-notes.txt")
    assert doc.title == "defense-notes"
    assert doc.body == BODY


def test_arguments_override_header():
    doc = parse_text(" date 2024-01-10 Header Title\n\n" + BODY, title="Given", date="2020-02-02")
    assert (doc.title, doc.date) == ("Given", "2020-02-02")


def test_one_line_document_keeps_its_line_as_text():
    doc = parse_text("Talks resumed today")
    assert [p.text for p in doc.passages] == ["Talks resumed today"]


@pytest.mark.parametrize("date", ["2024-13-01", "2024-02-30", "10/01/2024", "yesterday"])
def test_invalid_date_argument_raises(date):
    with pytest.raises(DocumentError, match="date"):
        parse_text(BODY, date=date)


def test_invalid_date_in_header_raises():
    with pytest.raises(DocumentError, match="date"):
        parse_text(" date 2024-02-30 Title\n\n" + BODY)


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", "\ufeff", " \t\r\n \n"])
def test_empty_text_raises(text):
    with pytest.raises(DocumentError):
        parse_text(text, filename="empty.txt")


def test_header_without_body_raises():
    with pytest.raises(DocumentError):
        parse_text(" date 2024-01-10 Only a Title\n")


def test_too_long_title_raises():
    with pytest.raises(DocumentError, match="title"):
        parse_text(BODY, title="x" * 201)


def test_windows_line_endings_and_bom_are_normalised():
    doc = parse_text("\ufeffTalks Resume\r\n\r\nFirst paragraph.\r\n\r\nSecond paragraph.")
    assert doc.title == "Talks Resume"
    assert [p.text for p in doc.passages] == ["First paragraph.", "Second paragraph."]


def test_content_hash_ignores_whitespace_and_case():
    assert content_hash("Talks  resumed\n\ntoday") == content_hash("talks resumed today")
    assert content_hash("talks resumed") != content_hash("talks halted")


# -- sections, paragraphs, offsets -----------------------------------------------------------


def test_article_sections_and_paragraph_numbers(article_text):
    doc = parse_text(article_text)
    assert [(p.paragraph, p.section) for p in doc.passages] == [
        (1, None),
        (2, "Addressing Key Security Concerns"),
        (3, "Resumption After a Tense Delay"),
        (4, "A Step Forward Amid Unresolved Tensions"),
        (5, "A Step Forward Amid Unresolved Tensions"),
    ]
    assert [p.ordinal for p in doc.passages] == [0, 1, 2, 3, 4]


def test_headings_are_not_passages(article_text):
    doc = parse_text(article_text)
    texts = [p.text for p in doc.passages]
    for heading in ("Resumption After a Tense Delay", "Addressing Key Security Concerns"):
        assert not any(heading in text for text in texts)
    assert doc.passages[2].text.startswith("The resumption of the annual U.S.-PRC")
    assert doc.passages[2].text.endswith("visit to Taiwan.")


def test_offsets_point_into_the_body(article_text):
    doc = parse_text(article_text)
    for p in doc.passages:
        assert doc.body[p.start : p.end] == p.text
        assert p.text == p.text.strip()


def test_markdown_headings_become_sections():
    body = "Intro paragraph here.\n\n## Background\n\nFirst background paragraph.\n\nSecond one."
    passages = split_passages(body)
    assert [(p.paragraph, p.section, p.text) for p in passages] == [
        (1, None, "Intro paragraph here."),
        (2, "Background", "First background paragraph."),
        (3, "Background", "Second one."),
    ]


def test_text_of_short_lines_has_no_headings():
    passages = split_passages(reflow("milk\neggs\nbread"))
    assert [(p.text, p.section, p.paragraph) for p in passages] == [
        ("milk", None, 1),
        ("eggs", None, 2),
        ("bread", None, 3),
    ]


def test_lines_are_paragraphs_when_there_are_no_blank_lines():
    passages = split_passages(reflow("First line is a sentence.\nSecond line is another."))
    assert [p.text for p in passages] == ["First line is a sentence.", "Second line is another."]


def test_blank_line_with_spaces_separates_paragraphs():
    passages = split_passages("One paragraph.\n   \nAnother paragraph.")
    assert [p.text for p in passages] == ["One paragraph.", "Another paragraph."]


# -- paragraphs as the writer meant them -------------------------------------------------------

MINUTES = (
    "Board Minutes\n"
    "The board met on Monday and agreed that the annual\n"
    "picnic will be held in the park on June 3 because\n"
    "the hall is being repainted this summer.\n"
    "Members should bring their own chairs\n"
)


def test_wrapped_minutes_keep_every_line_in_whole_sentences():
    doc = parse_text(MINUTES)
    assert doc.title == "Board Minutes"
    assert [(p.section, p.text) for p in doc.passages] == [
        (
            None,
            "The board met on Monday and agreed that the annual picnic will be held in the park on June 3 "
            "because the hall is being repainted this summer. Members should bring their own chairs",
        )
    ]


def test_hyphenation_at_a_line_end_is_mended():
    doc = parse_text(
        "The treaty followed months of difficult negoti-\nations between the delegations of the two\n"
        "countries and the wider Indo-\nPacific region, who met in Geneva in the spring.\n"
    )
    (passage,) = doc.passages
    assert "difficult negotiations between" in passage.text
    assert "the wider Indo-Pacific region" in passage.text  # a capital after the hyphen: a compound


def test_first_line_indents_and_list_items_start_paragraphs():
    text = (
        "    The first paragraph starts with an indent and goes on for a while\n"
        "before it ends here.\n"
        "    The second one is indented as well and it also goes on for a\n"
        "while longer.\n"
        "- a list item that wraps onto the next line because it is rather\n"
        "  long\n"
        "- another item\n"
    )
    assert [p.text for p in parse_text(text, filename="x.txt").passages] == [
        "The first paragraph starts with an indent and goes on for a while before it ends here.",
        "The second one is indented as well and it also goes on for a while longer.",
        "- a list item that wraps onto the next line because it is rather long",
        "- another item",
    ]


def test_a_heading_is_a_short_line_followed_by_a_paragraph():
    doc = parse_text("Notes\n\nFirst Steps\n\nThe plan starts in May.\n\nStill To Decide")
    assert [(p.section, p.text) for p in doc.passages] == [
        ("First Steps", "The plan starts in May."),
        ("First Steps", "Still To Decide"),  # nothing follows it: text, not a heading
    ]


def test_lowercase_or_list_lines_are_never_headings():
    doc = parse_text("Report\n\nthe annual picnic\n\nIt will be held in the park.\n\n- Bring chairs\n\nBring food too.")
    assert [(p.section, p.text) for p in doc.passages] == [
        (None, "the annual picnic"),
        (None, "It will be held in the park."),
        (None, "- Bring chairs"),
        (None, "Bring food too."),
    ]


def test_a_given_title_keeps_a_different_first_line_as_text():
    doc = parse_text("Timetable Change\n\nThe ferry leaves at noon.", title="Ferry Schedule")
    assert doc.title == "Ferry Schedule"
    assert [(p.section, p.text) for p in doc.passages] == [("Timetable Change", "The ferry leaves at noon.")]
    assert doc.body == parse_text("Timetable Change\n\nThe ferry leaves at noon.").body  # same content, same hash


def test_the_bundled_article_body_is_unchanged(article_text):
    # Its content hash (and so the "seeded once" key of existing stores) must not change.
    doc = parse_text(article_text)
    assert doc.body == article_text.split("\n", 1)[1].strip("\n")
    assert reflow(doc.body) == doc.body


# -- long paragraphs -------------------------------------------------------------------------


def long_paragraph(n: int = 40) -> str:
    abbreviations = ["the U.S. side", "Maj. Gen. Song", "on Jan. 9 officials"]
    return " ".join(
        f"Sentence {i} mentions {abbreviations[i % 3]} and topic{i} in some more words." for i in range(n)
    )


def test_long_paragraph_is_cut_into_windows_on_sentence_boundaries():
    paragraph = long_paragraph()
    assert len(paragraph.split()) > LONG_PARAGRAPH_WORDS
    body = "Opening paragraph.\n\n" + paragraph + "\n\nClosing paragraph."
    passages = split_passages(body)
    windows = [p for p in passages if p.paragraph == 2]
    assert len(windows) > 1
    assert [p.paragraph for p in passages] == [1] + [2] * len(windows) + [3]
    assert [p.ordinal for p in passages] == list(range(len(passages)))

    base = body.index(paragraph)
    sentences = split_sentences(paragraph)
    assert len(sentences) == 40  # "U.S.", "Maj. Gen.", "Jan." did not cut sentences
    starts = {base + s.start for s in sentences}
    ends = {base + s.end for s in sentences}
    for w in windows:
        assert body[w.start : w.end] == w.text
        assert w.start in starts and w.end in ends
        assert w.text.endswith("words.")
        assert len(w.text.split()) <= WINDOW_WORDS
    # the windows cover the whole paragraph, each overlapping the next by one sentence
    assert windows[0].start == base
    assert windows[-1].end == base + len(paragraph)
    for a, b in zip(windows, windows[1:]):
        assert b.start < a.end
        overlap = body[b.start : a.end]
        assert len(split_sentences(overlap)) == 1


def test_paragraph_at_the_limit_is_not_cut():
    words = ["word"] * (LONG_PARAGRAPH_WORDS - 1) + ["end."]
    paragraph = " ".join(words[:100]) + ". " + " ".join(words[100:])
    assert len(paragraph.split()) == LONG_PARAGRAPH_WORDS
    assert len(split_passages(paragraph)) == 1


def test_long_single_sentence_is_one_passage():
    paragraph = " ".join(["word"] * (LONG_PARAGRAPH_WORDS + 50)) + "."
    assert [p.text for p in split_passages(paragraph)] == [paragraph]


@given(st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=30))
@hsettings(max_examples=60, deadline=None)
def test_windows_cover_any_long_paragraph(lengths):
    paragraph = " ".join(" ".join(["Word"] + ["word"] * (n - 1)) + "." for n in lengths)
    passages = split_passages(paragraph)
    assert passages[0].start == 0
    assert passages[-1].end == len(paragraph)
    for a, b in zip(passages, passages[1:]):
        assert b.start <= a.end  # no gap
        assert a.start < b.start and a.end < b.end  # always moves on
    for p in passages:
        assert p.text.endswith(".")
        assert paragraph[p.start : p.end] == p.text


# -- sentences --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "U.S. and Chinese officials met. Talks resumed.",
            ["U.S. and Chinese officials met.", "Talks resumed."],
        ),
        (
            "The meeting was led by China’s Maj. Gen. Song Yanchao. It went well.",
            ["The meeting was led by China’s Maj. Gen. Song Yanchao.", "It went well."],
        ),
        (
            "They met on Jan. 9 at the Pentagon. Both sides spoke.",
            ["They met on Jan. 9 at the Pentagon.", "Both sides spoke."],
        ),
        (
            "The U.S. also reiterated its policy. The U.S. affirmed its right.",
            ["The U.S. also reiterated its policy.", "The U.S. affirmed its right."],
        ),
    ],
)
def test_sentence_splitting_survives_abbreviations(text, expected):
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == expected
    for s in sentences:
        assert text[s.start : s.end] == s.text


def test_split_sentences_of_blank_text_is_empty():
    assert split_sentences("  \n ") == ()


# -- properties -------------------------------------------------------------------------------


@given(st.text())
@hsettings(max_examples=150, deadline=None)
def test_split_passages_never_raises_and_offsets_match(body):
    passages = split_passages(body)
    for i, p in enumerate(passages):
        assert p.ordinal == i
        assert body[p.start : p.end] == p.text
        assert p.text.strip()


@given(st.text(alphabet=st.sampled_from(list("ab .\n-'U.S")), max_size=300))
@hsettings(max_examples=150, deadline=None)
def test_split_passages_on_sentence_like_text(body):
    passages = split_passages(body)
    paragraphs = [p.paragraph for p in passages]
    assert paragraphs == sorted(paragraphs)
    for p in passages:
        assert body[p.start : p.end] == p.text


def test_a_replaced_first_line_still_heads_the_text_when_a_heading_follows():
    doc = parse_text("Harbor Notes\n\nWeekly Checks\n\nThe pier is inspected on Mondays.", title="Port Report")
    assert [(p.section, p.text) for p in doc.passages] == [
        ("Harbor Notes – Weekly Checks", "The pier is inspected on Mondays.")
    ]
