"""Word vectors: embedded in batches and cached, the same numbers as one word at a time."""

from __future__ import annotations

import numpy as np

from bot.engine import semantic


def one_at_a_time(word: str) -> np.ndarray:
    """WordLlama's own definition: the mean of the word's token vectors, unit length."""
    model = semantic.model()
    ids = model.tokenizer.encode(word, add_special_tokens=False).ids
    if not ids:
        return np.zeros(model.embedding.shape[1], np.float32)
    vector = model.embedding[ids].mean(axis=0)
    return vector / np.linalg.norm(vector)


def test_a_batch_of_words_and_texts_gets_the_vectors_each_gets_alone():
    words = ["vessels", "ships", "", "zyxwvutsr", "defense", "vessels", "u.s", "The harbour opens at nine."]
    semantic.clear_caches()
    batch = semantic.word_vectors(words)
    assert batch.shape == (len(words), semantic.model().embedding.shape[1])
    for word, vector in zip(words, batch):
        assert np.allclose(vector, one_at_a_time(word), atol=1e-6), word


def test_the_cache_stays_bounded_and_right(monkeypatch):
    monkeypatch.setattr(semantic, "WORD_CACHE_SIZE", 3)
    semantic.clear_caches()
    words = ["harbour", "vessels", "ships", "boats", "talks"]
    vectors = semantic.word_vectors(words)
    assert len(semantic._word_cache) == 3
    again = semantic.word_vectors(list(reversed(words)))
    assert np.allclose(again, vectors[::-1])


def test_close_meanings_are_found_in_other_words():
    closeness = semantic.closest_words(["ships", "pizza"], "China's harassment of Philippine vessels")
    assert closeness[0] >= semantic.SAME_MEANING > closeness[1]
