"""Whether a question is written in another language than English, to say that the documents are
searched in English. A script test and a stop-word test, no model: see the README for why."""

from __future__ import annotations

import re
import unicodedata

from bot.engine.analyzer import STOP_WORDS

# The most frequent function words of languages members are likely to write in; none is an English
# word, so two of them in a question with no English function word say which language it is.
FUNCTION_WORDS = {
    "Spanish": "el la los las del por qué que cuándo cuando dónde quién cómo porqué se fue fueron es son una un y con para".split(),
    "French": "le la les des du pourquoi quand qui où comment est sont une un et avec pour été ont".split(),
    "German": "der die das warum wann wer wo wie ist sind ein eine und mit für wurde wurden hat haben sich im".split(),
    "Portuguese": "o os as do da dos das por que quando quem onde como foi foram é são uma um e com para".split(),
    "Italian": "il lo gli della perché quando chi dove come è sono una un e con per stato stati".split(),
}
_ENGLISH_ONLY = {word for word in STOP_WORDS if len(word) > 2} - {w for words in FUNCTION_WORDS.values() for w in words}
_WORD = re.compile(r"[^\W\d_]+")
_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "CYRILLIC", "ARABIC", "HEBREW", "GREEK", "DEVANAGARI", "THAI")


def _script(letter: str) -> str:
    name = unicodedata.name(letter, "")
    return next((script for script in _SCRIPTS if name.startswith(script)), "LATIN")


def other_language(question: str) -> str | None:
    """The language a question seems written in when it is not English ("Spanish", or "another
    language" for a script other than Latin); None when it reads as English or cannot tell."""
    letters = [c for c in question if c.isalpha()]
    if not letters:
        return None
    foreign = [c for c in letters if _script(c) != "LATIN"]
    if len(foreign) > len(letters) / 2:
        return "another language"
    words = [w.casefold() for w in _WORD.findall(question)]
    if any(w in _ENGLISH_ONLY for w in words):
        return None
    counts = {name: sum(w in vocabulary for w in words) for name, vocabulary in FUNCTION_WORDS.items()}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] >= 2 else None
