"""Quoting and highlighting, over any text: what a reader sees is the text itself.

The bot's messages are checked through the real bot in tests/cogs/test_reading.py; here
hypothesis drives bot.embeds directly over text made of words and every character that means
something to Discord, read back with tests/reader.py (SimCord's Discord-markdown renderer).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from reader import live, read

from bot.embeds import highlight, one_line, quote, quoted
from bot.engine import analyzer

WORDS = ["U.S.", "talks", "China's", "Indo-Pacific", "ferry", "1.", "2024", "café", "a_b", "x"]
MARKUP = list("*_~`|<>[]()#-+:@\\.,;!?'\"") + ["@everyone", "<#123>", "</ask:1>", "<t:1700000000:R>", "https://evil.example", "||", "**", "-# ", "> ", "1. ", "[link](https://evil.example)"]
pieces = st.lists(st.sampled_from(WORDS + MARKUP + [" ", "  ", "\n"]), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(pieces, st.lists(st.sampled_from(WORDS), max_size=3), st.sampled_from(["value", "description", "name", "title"]))
def test_highlighted_text_reads_as_the_text(parts, chosen, field):
    text = "".join(parts)
    terms = [t for word in chosen for t in analyzer.analyze(word)]
    shown = highlight(text, terms, 4000)
    assert read(shown, field) == " ".join(one_line(text).split())  # every character, every space
    assert [item for item in live(shown, field) if item not in {"strong_open", "strong_close"}] == []


@settings(max_examples=100, deadline=None)
@given(pieces, st.integers(min_value=5, max_value=120))
def test_clipped_quotes_never_cut_an_escape(parts, limit):
    text = "".join(parts)
    shown = quoted(text, limit)
    assert len(shown) <= limit
    visible = read(shown, "value")
    assert " ".join(one_line(text).split()).startswith(visible.removesuffix("…").rstrip())
    assert live(shown, "value") == []


def test_highlight_keeps_spaces_and_whole_acronyms():
    shown = highlight("harassment of Philippine vessels. The U.S. also", analyzer.analyze("Philippine vessels US"), 500)
    assert shown == "harassment of **Philippine vessels**. The **U.S.** also"
    assert quote("[timetable](https://evil.example) @everyone") == "\\[timetable\\](https\\://evil.example) \\@everyone"
