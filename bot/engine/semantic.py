"""Meaning, not only words: WordLlama's l2_supercat embeddings (16 MB, shipped in its wheel).

Nothing is downloaded: the model's two files are read from the installed wordllama package, the
way ``WordLlama.load`` reads them (safetensors for the table, float16 made float32; the
``tokenizers`` tokenizer), without importing wordllama itself: its import pulls in ``requests``
and configures the root logger, a quarter of a second of every start for nothing we use
(tests/engine/test_casual.py checks the result against ``WordLlama.load``'s).

The model loads on first use, or in the background from a start (``preload``), so a bot's first
question does not wait for it.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.engine.analyzer import STOP_WORDS

log = logging.getLogger(__name__)

_lock = threading.Lock()
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


@dataclass(frozen=True, slots=True)
class Model:
    embedding: np.ndarray  # float32, one row per token id
    tokenizer: object  # tokenizers.Tokenizer


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the semantic model needs the wordllama package (pip install wordllama)")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def load_model() -> Model:
    from safetensors import safe_open
    from tokenizers import Tokenizer

    root = _package_dir()
    tokenizer = Tokenizer.from_file(str(root / TOKENIZER))
    tokenizer.enable_padding()  # as WordLlamaInference sets it up
    tokenizer.no_truncation()
    with safe_open(str(root / WEIGHTS), framework="np") as weights:
        table = weights.get_tensor("embedding.weight")
    return Model(np.ascontiguousarray(table.astype(np.float32)), tokenizer)


def model() -> Model:
    with _lock:  # one load, whichever thread asks first
        return load_model()


def is_loaded() -> bool:
    return load_model.cache_info().currsize > 0


def preload() -> None:
    """Load the model in a background thread (once): a start's first question then finds it."""
    if is_loaded():
        return

    def load() -> None:
        try:
            model()
        except (OSError, ImportError, ValueError) as exc:  # the first question will raise it again
            log.warning("could not load the semantic model: %s", exc)

    threading.Thread(target=load, name="talksbot-semantic-model", daemon=True).start()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text (a text with no known tokens is all zeros).

    WordLlama's own ``embed`` is the mean of the text's token vectors. Here each text is encoded
    on its own (its batch tokenizer call costs ~0.4 ms even for two short texts) and the means of
    all of them are taken in a few array operations (numpy's per-call overhead, text by text, was
    most of an answer's time when a question's passages brought many new words).
    """
    wordllama = model()
    table = wordllama.embedding
    ids = [wordllama.tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
    lengths = np.array([len(i) for i in ids], np.int64)
    vectors = np.zeros((len(texts), table.shape[1]), np.float32)
    filled = lengths > 0
    if filled.any():
        flat = np.clip(np.fromiter((t for i in ids for t in i), np.int64, int(lengths.sum())), 0, len(table) - 1)
        starts = np.cumsum(lengths) - lengths
        # reduceat over the non-empty texts' starts: an empty text adds no rows between them.
        vectors[filled] = np.add.reduceat(table[flat], starts[filled]) / lengths[filled, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


# Two words this similar are taken as the same thing said differently ("ships" and "vessels" 0.49,
# "stop" and "halted" 0.60, "defend" and "defense" 0.70); unrelated words score below 0.25.
SAME_MEANING = 0.4
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


WORD_CACHE_SIZE = 1 << 16
_word_cache: dict[str, np.ndarray] = {}  # oldest first (dicts keep insertion order)


def word_vectors(words: Sequence[str]) -> np.ndarray:
    """The words' unit vectors, one row each (cached: words repeat, Zipf; new ones in one batch)."""
    known = {word: _word_cache[word] for word in words if word in _word_cache}
    new = [word for word in dict.fromkeys(words) if word not in known]
    if new:
        for word, vector in zip(new, embed(new)):
            known[word] = _word_cache[word] = vector
        while len(_word_cache) > WORD_CACHE_SIZE:
            del _word_cache[next(iter(_word_cache))]
    return np.stack([known[word] for word in words])


def word_vector(word: str) -> np.ndarray:
    """One word's unit vector."""
    return word_vectors([word])[0]


def clear_caches() -> None:
    """Forget every cached vector (the model itself stays loaded)."""
    _word_cache.clear()
    _word_vectors.cache_clear()
    text_vector.cache_clear()


def _text_words(text: str) -> list[str]:
    return sorted({w.casefold() for w in _WORD.findall(text)} - STOP_WORDS)


def prepare(texts: Sequence[str]) -> None:
    """Embed the new words of all these texts in one batch, before they are compared one by one."""
    words = {word for text in texts for word in _text_words(text)}
    if words:
        word_vectors(sorted(words))


@lru_cache(maxsize=1 << 13)
def _word_vectors(text: str) -> np.ndarray | None:
    """The vectors of a text's words (cached: the same top passages' sentences come back)."""
    found = _text_words(text)
    return word_vectors(found) if found else None


@lru_cache(maxsize=1 << 13)
def text_vector(text: str) -> np.ndarray:
    """One text's unit vector (cached, as above)."""
    return embed([text])[0]


def closest_words(wanted: Sequence[str], text: str) -> np.ndarray:
    """For each wanted word, its highest similarity to a word of ``text`` (stop words ignored)."""
    theirs = _word_vectors(text)
    if not wanted or theirs is None:
        return np.zeros(len(wanted), np.float32)
    ours = word_vectors([w.casefold() for w in wanted])
    return (ours @ theirs.T).max(axis=1)


def similarities(question: str, texts: Sequence[str]) -> np.ndarray:
    """Cosine similarity of the question to each text, -1..1."""
    if not texts:
        return np.zeros(0, np.float32)
    return np.stack([text_vector(t) for t in texts]) @ embed([question])[0]
