"""``talksbot bench``: speed and memory on a generated corpus, with the peers measured in the same run.

The corpus is generated from a fixed seed so runs are comparable: made-up words drawn from a
Zipf distribution (as word frequencies in English are), mixed with real English stop words,
passages of about 60 words. Questions are about 8 content words taken from one passage plus a
few from anywhere, so they match like real questions do.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot.console import print_report
from bot.engine import analyzer
from bot.engine.analyzer import STOP_WORDS
from bot.engine.index import PassageIndex
from bot.engine.service import Engine
from bot.settings import Settings

SEED = 20240110
VOCABULARY = 60_000
ZIPF_EXPONENT = 1.1
STOP_WORD_SHARE = 0.4
PASSAGE_WORDS = 60
PASSAGES_PER_DOCUMENT = 10
TICK_S = 0.005

_SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


@dataclass
class SyntheticCorpus:
    passages: list[str]
    questions: list[str]


def generate(passages: int, queries: int, seed: int = SEED) -> SyntheticCorpus:
    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(_SYLLABLES, size=rng.integers(2, 5))) for _ in range(VOCABULARY * 2)})
    words = [w for w in words if w not in STOP_WORDS][:VOCABULARY]
    rng.shuffle(words)
    ranks = np.arange(1, len(words) + 1)
    probability = 1.0 / ranks**ZIPF_EXPONENT
    probability /= probability.sum()
    stop = sorted(STOP_WORDS)
    lengths = np.maximum(8, rng.normal(PASSAGE_WORDS, 15, size=passages).astype(int))
    content = rng.choice(len(words), size=int(lengths.sum()), p=probability)
    is_stop = rng.random(len(content)) < STOP_WORD_SHARE
    stop_pick = rng.integers(len(stop), size=len(content))
    drawn = [stop[k] if s else words[c] for c, s, k in zip(content.tolist(), is_stop.tolist(), stop_pick.tolist())]
    ends = np.cumsum(lengths).tolist()
    texts = [" ".join(drawn[start:end]) for start, end in zip([0, *ends[:-1]], ends)]
    questions = []
    for _ in range(queries):
        source = texts[rng.integers(passages)].split()
        content = [w for w in source if w not in STOP_WORDS]
        picked = list(rng.choice(content, size=min(6, len(content)), replace=False))
        picked += [words[i] for i in rng.choice(len(words), size=2, p=probability)]
        questions.append("what about " + " ".join(picked) + "?")
    return SyntheticCorpus(texts, questions)


def _percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(samples) * 1000, q)), 3)


def _time_each(calls: list[Callable[[], object]]) -> list[float]:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


async def _loop_lag_during(work: Callable[[], object]) -> float:
    """Worst lateness (ms) of a 5 ms ticker on the event loop while ``work`` runs in a thread."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    task = loop.run_in_executor(None, work)
    while not task.done():
        expected = loop.time() + TICK_S
        await asyncio.sleep(TICK_S)
        worst = max(worst, loop.time() - expected)
    await task
    return round(worst * 1000, 2)


async def run_bench(passages: int, queries: int, *, progress: bool) -> dict:
    steps = tqdm(total=7, desc="bench", file=sys.stderr, disable=not progress)
    corpus = generate(passages, queries)
    steps.update(1)

    with tempfile.TemporaryDirectory(prefix="talksbot-bench-") as tmp:
        engine = await Engine.open(Settings(db=Path(tmp) / "bench.db"), seed=False)
        try:
            documents = [
                ("\n\n".join(corpus.passages[i : i + PASSAGES_PER_DOCUMENT]), f"Synthetic document {i // PASSAGES_PER_DOCUMENT + 1}")
                for i in range(0, passages, PASSAGES_PER_DOCUMENT)
            ]
            await engine.add_many(documents, added_by="bench")
            steps.update(1)
            records = await engine.store.all_passages()
            started = time.perf_counter()
            index = PassageIndex.build(records, k1=engine.settings.k1, b=engine.settings.b)
            build_s = time.perf_counter() - started
            engine.index = index
            steps.update(1)

            analyzed = [analyzer.analyze(q) for q in corpus.questions]
            term_ids = [index.term_ids_of(terms) for terms in analyzed]
            query_times = _time_each(
                [lambda q=q: index.search(analyzer.analyze(q), 10, guild_id=None) for q in corpus.questions]
            )
            core_times = _time_each([lambda t=t: index.core.top_k(t, 10) for t in term_ids])
            steps.update(1)

            lag_ms = await _loop_lag_during(lambda: PassageIndex.build(records, k1=index.k1, b=index.b))
            started = time.perf_counter()
            await engine.add_text("A new article about the zyxwvut negotiations.", added_by="bench", title="New")
            found = await engine.search("zyxwvut negotiations", limit=1, everything=True)
            add_to_searchable_s = time.perf_counter() - started
            assert found.hits and found.hits[0].title == "New", "the added document was not found"
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
            steps.update(1)
        finally:
            await engine.close()

    # Peers on exactly the same terms, after our own memory peak was read.
    tokens = [index.tokens[index.offsets[i] : index.offsets[i + 1]].tolist() for i in range(len(index))]
    from rank_bm25 import BM25Okapi

    okapi = BM25Okapi(tokens, k1=index.k1, b=index.b)
    naive_times, identical = [], True
    for ids in term_ids:
        started = time.perf_counter()
        scores = okapi.get_scores([t for t in ids if t >= 0])
        top = np.argsort(-scores, kind="stable")[:10]  # ties: the earlier passage first, as ours
        naive_times.append(time.perf_counter() - started)
        identical &= [p for p, _ in index.core.top_k(ids, 10)] == top.tolist()
    del okapi
    steps.update(1)

    bm25s_p50 = _bm25s_p50(tokens, term_ids, index.k1, index.b)
    steps.update(1)
    steps.close()
    return {
        "passages": passages,
        "queries": queries,
        "query_p50_ms": _percentile_ms(query_times, 50),
        "query_p95_ms": _percentile_ms(query_times, 95),
        "core_p50_ms": _percentile_ms(core_times, 50),
        "naive_rank_bm25_p50_ms": _percentile_ms(naive_times, 50),
        "bm25s_p50_ms": bm25s_p50,
        "identical_top10": bool(identical),
        "build_s": round(build_s, 3),
        "max_loop_lag_ms_during_rebuild": lag_ms,
        "add_to_searchable_s": round(add_to_searchable_s, 3),
        "rss_mb": round(rss_mb, 1),
    }


def _bm25s_p50(tokens: list[list[int]], term_ids: list[list[int]], k1: float, b: float) -> float | None:
    """bm25s (the `bench` extra) retrieving the top 10 on the same terms; None if not installed."""
    try:
        import bm25s
    except ImportError:
        return None
    vocab = {str(t): t for t in range(max((max(t) for t in tokens if t), default=0) + 1)}
    retriever = bm25s.BM25(k1=k1, b=b)  # Lucene BM25, as in the peer table
    retriever.index(bm25s.tokenization.Tokenized(ids=tokens, vocab=vocab), show_progress=False)
    times = []
    for ids in term_ids:
        query = [[t for t in ids if t >= 0]]
        if not query[0]:
            continue
        started = time.perf_counter()
        retriever.retrieve(bm25s.tokenization.Tokenized(ids=query, vocab=vocab), k=10, show_progress=False, n_threads=1)
        times.append(time.perf_counter() - started)
    return _percentile_ms(times, 50) if times else None


async def run_bench_command(args: argparse.Namespace, settings: Settings) -> int:
    report = await run_bench(args.passages, args.queries, progress=not args.json)
    print_report(report, as_json=args.json)
    return 0
