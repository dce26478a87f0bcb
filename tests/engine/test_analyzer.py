"""The analyzer: what a word in a question must look like to meet the same word in a document."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine.analyzer import STOP_WORDS, analyze, tokens


def matches(question: str, passage: str) -> bool:
    """True when the question shares at least one term with the passage."""
    return bool(set(analyze(question)) & set(analyze(passage)))


# -- Unicode ------------------------------------------------------------------------------


def test_curly_apostrophe_possessive_is_the_same_as_straight():
    assert analyze("China’s") == analyze("China's") == ["china"]
    assert analyze("China‘s") == ["china"]


def test_curly_double_quotes_do_not_stick_to_words():
    assert analyze("“talks”") == analyze("talks") == ["talk"]


def test_nfkc_folds_compatibility_characters():
    # fullwidth letters, the "fi" ligature
    assert analyze("ｔａｌｋｓ") == analyze("talks")
    assert analyze("ﬁnal") == analyze("final")
    # a fullwidth "ＵＳ" is still the acronym, not the stop word
    assert analyze("ＵＳ") == ["us"]


def test_unicode_hyphen_joins_like_ascii_hyphen():
    assert analyze("Indo‐Pacific") == analyze("Indo-Pacific")  # U+2010
    assert analyze("Indo‑Pacific") == analyze("Indo-Pacific")  # U+2011


# -- case, possessives, acronyms ------------------------------------------------------------


def test_case_folding():
    assert analyze("TALKS") == analyze("Talks") == analyze("talks") == ["talk"]
    assert analyze("PENTAGON Pentagon pentagon") == ["pentagon"] * 3


@pytest.mark.parametrize("text", ["China's", "Pelosi's", "Taiwan's"])
def test_possessive_is_dropped(text):
    assert analyze(text) == analyze(text[:-2])
    assert analyze(text) == [text[:-2].lower()]


def test_possessive_of_dotted_acronym():
    assert analyze("U.S.’s commitment") == analyze("U.S. commitment")


def test_dotted_and_capital_acronym_give_the_same_term():
    assert analyze("U.S.") == analyze("US") == ["us"]


def test_acronym_is_never_dropped_as_stop_word_but_lowercase_us_is():
    assert "us" in STOP_WORDS
    assert analyze("us") == []
    assert analyze("Tell us about the U.S. talks") == ["us", "talk"]
    assert analyze("US officials") == ["us", "offici"]
    assert analyze("the U.S.") == ["us"]


def test_question_with_us_finds_passage_with_dotted_us():
    assert matches("What did the US affirm?", "The U.S. also affirmed its right.")
    assert "us" in analyze("What did the US affirm?")


def test_dotted_acronym_at_sentence_end_keeps_its_letters():
    assert analyze("They met the U.S. Then they left.") == ["met", "us", "left"]


# -- hyphenated compounds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("indopacific", "operational safety in the Indo-Pacific region"),
        ("indo pacific", "operational safety in the Indo-Pacific region"),
        ("Indo-Pacific", "the indopacific region"),
        ("Indo-Pacific", "the Indo Pacific region"),
        ("USPRC", "the annual U.S.-PRC Defense Policy Coordination Talks"),
        ("US PRC", "the annual U.S.-PRC Defense Policy Coordination Talks"),
        ("PRC", "the annual U.S.-PRC Defense Policy Coordination Talks"),
        ("facetoface", "Hold Face-to-Face Meeting"),
        ("face to face", "Hold Face-to-Face Meeting"),
    ],
)
def test_hyphenated_compound_matches_joined_and_split_forms(question, passage):
    assert matches(question, passage)


def test_compound_gives_parts_and_joined_form():
    assert analyze("Indo-Pacific") == ["indo", "pacif", "indopacif"]
    assert analyze("U.S.-PRC") == ["us", "prc", "usprc"]
    assert set(analyze("face-to-face")) == {"face", *analyze("facetoface")}


def test_joined_form_does_not_match_unrelated_word():
    assert not matches("indopacific", "the Pacific Ocean")


# -- stop words and stems --------------------------------------------------------------------


def test_english_stop_words_are_removed():
    assert analyze("What is the and of a why were") == []
    assert analyze("Why were the talks cancelled?") == ["talk", "cancel"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cancelled", "canceled"),
        ("talks", "talk"),
        ("officials", "official"),
        ("convened", "convene"),
        ("discussed", "discussion"),
    ],
)
def test_snowball_stems_meet(a, b):
    assert analyze(a) == analyze(b)
    assert len(analyze(a)) == 1


def test_different_words_do_not_meet():
    assert not matches("weather", "whether")
    assert not matches("pizza", "Pentagon")


# -- same code for questions and documents ---------------------------------------------------


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        (
            "Why did China cancel the talks?",
            "The dialogue was abruptly halted in 2023 when China canceled the talks in response to "
            "former House Speaker Nancy Pelosi’s visit to Taiwan.",
        ),
        (
            "What did the US affirm about international waters?",
            "The U.S. also reiterated its long-standing policy on Taiwan and affirmed its right to "
            "operate in international waters.",
        ),
        (
            "operational safety in the indo pacific",
            "The talks touched upon a broad spectrum of issues pegged to defense relations and "
            "operational safety in the Indo-Pacific region.",
        ),
        (
            "Was the meeting face to face?",
            "Top U.S. and Chinese Defense Officials Hold Face-to-Face Meeting at the Pentagon",
        ),
        (
            "What about China's harassment of Philippine vessels?",
            "A central point of discussion was China’s recent harassment of Philippine vessels.",
        ),
        ("long standing policy", "its long-standing policy on Taiwan"),
    ],
)
def test_question_terms_are_a_subset_of_paraphrased_passage_terms(question, passage):
    assert analyze(question), "the question must have terms to look for"
    assert set(analyze(question)) <= set(analyze(passage))


def test_analyze_agrees_with_tokens():
    text = "The U.S.-PRC talks, China’s Maj. Gen. Song and us in the Indo-Pacific."
    assert analyze(text) == [term for token in tokens(text) for term in token.terms]


def test_tokens_offsets_point_at_the_original_words():
    text = "The U.S. and China’s talks resumed"
    found = [(text[t.start : t.end], t.terms) for t in tokens(text)]
    assert found == [
        ("The", ()),
        ("U.S.", ("us",)),
        ("and", ()),
        ("China’s", ("china",)),
        ("talks", ("talk",)),
        ("resumed", ("resum",)),
    ]


def test_duplicates_are_kept_for_term_frequency():
    assert analyze("talks talks Talks") == ["talk", "talk", "talk"]


# -- properties -------------------------------------------------------------------------------


# "ﷺ" (U+FDFA) is one letter whose NFKC form is four words with spaces: see test below.
@given(st.text())
@example("ﷺ")
@example("\u037a")  # GREEK YPOGEGRAMMENI: NFKC gives " ι"
@example("U.S.-PRC face-to-face China’s --.. '' . - ’s")
@hsettings(max_examples=300, deadline=None)
def test_analyze_never_raises_and_gives_clean_terms(text):
    terms = analyze(text)
    assert isinstance(terms, list)
    for term in terms:
        assert isinstance(term, str)
        assert term
        assert not any(ch.isspace() for ch in term), repr(term)


def test_nfkc_expansion_to_several_words_gives_separate_terms():
    """Regression: NFKC runs after the text is cut into chunks, so a character whose NFKC form contains
    spaces (U+FDFA ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM) becomes one term with spaces,
    and a question spelling the words out does not meet a document using the ligature."""
    assert analyze("ﷺ") == analyze("صلى الله عليه وسلم")


@given(st.text())
@hsettings(max_examples=300, deadline=None)
def test_tokens_offsets_are_within_the_text_and_ordered(text):
    previous_end = 0
    for token in tokens(text):
        assert 0 <= previous_end <= token.start < token.end <= len(text)
        assert all(isinstance(term, str) and term for term in token.terms)
        previous_end = token.end
