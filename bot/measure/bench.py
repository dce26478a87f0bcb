"""``talksbot bench``: speed and memory on a generated corpus, with the peers measured in the same run.

The corpus is generated from a fixed seed so runs are comparable: made-up words drawn from a
Zipf distribution (as word frequencies in English are), mixed with real English stop words,
passages of about 60 words. Questions are about 8 content words taken from one passage plus a
few from anywhere, so they match like real questions do.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import subprocess
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
from bot.engine.sandbox import start_forkserver
from bot.engine.documents import parse_text
from bot.engine.service import Engine
from bot.settings import Settings
from bot.store import BUNDLED, NewDocument, Store

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


def _words(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    words = sorted({"".join(rng.choice(_SYLLABLES, size=rng.integers(2, 5))) for _ in range(VOCABULARY * 2)})
    words = [w for w in words if w not in STOP_WORDS][:VOCABULARY]
    rng.shuffle(words)
    ranks = np.arange(1, len(words) + 1)
    probability = 1.0 / ranks**ZIPF_EXPONENT
    return words, probability / probability.sum()


def generate_chunks(passages: int, queries: int, seed: int = SEED, chunk: int = 10_000):
    """The corpus in lists of at most ``chunk`` passage texts, then the questions (a last item
    ``("questions", [...])``): a million passages never sit in memory at once."""
    rng = np.random.default_rng(seed)
    words, probability = _words(rng)
    stop = sorted(STOP_WORDS)
    question_rng = np.random.default_rng(seed + 1)
    sources = sorted(question_rng.integers(passages, size=queries).tolist())
    picked_sources: list[list[str]] = []
    for start in range(0, passages, chunk):
        size = min(chunk, passages - start)
        lengths = np.maximum(8, rng.normal(PASSAGE_WORDS, 15, size=size).astype(int))
        content = rng.choice(len(words), size=int(lengths.sum()), p=probability)
        is_stop = rng.random(len(content)) < STOP_WORD_SHARE
        stop_pick = rng.integers(len(stop), size=len(content))
        drawn = [stop[k] if s else words[c] for c, s, k in zip(content.tolist(), is_stop.tolist(), stop_pick.tolist())]
        ends = np.cumsum(lengths).tolist()
        texts = [" ".join(drawn[a:b]) for a, b in zip([0, *ends[:-1]], ends)]
        picked_sources += [texts[i - start].split() for i in sources if start <= i < start + size]
        yield texts
    questions = []
    for source in picked_sources:
        content = [w for w in source if w not in STOP_WORDS]
        picked = list(question_rng.choice(content, size=min(6, len(content)), replace=False))
        picked += [words[i] for i in question_rng.choice(len(words), size=2, p=probability)]
        questions.append("what about " + " ".join(picked) + "?")
    yield ("questions", questions)


def generate(passages: int, queries: int, seed: int = SEED) -> SyntheticCorpus:
    """The whole corpus in memory (small sizes: tests)."""
    *chunks, (_, questions) = generate_chunks(passages, queries, seed)
    return SyntheticCorpus([text for chunk in chunks for text in chunk], questions)


def _percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(samples) * 1000, q)), 3)


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


async def _fill(store: Store, passages: int, queries: int, steps: tqdm) -> list[str]:
    """Write the generated corpus into ``store``, PASSAGES_PER_DOCUMENT passages a document,
    many documents a transaction; the questions."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    number = 0
    for chunk in generate_chunks(passages, queries):
        if isinstance(chunk, tuple):
            return chunk[1]
        documents = []
        for i in range(0, len(chunk), PASSAGES_PER_DOCUMENT):
            number += 1
            text = "\n\n".join(chunk[i : i + PASSAGES_PER_DOCUMENT])
            parsed = await asyncio.to_thread(parse_text, text, title=f"Synthetic document {number}")
            documents.append(NewDocument(parsed, BUNDLED, "bench", now))
        await store.add_documents(documents, by="bench")
        steps.update(len(chunk))
    raise AssertionError("generate_chunks ends with the questions")


async def _loop_lag_while(work) -> tuple[float, float]:
    """(seconds ``work`` took, worst lateness in ms of a 5 ms ticker on the loop meanwhile)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    task = asyncio.ensure_future(work)
    worst = 0.0
    while not task.done():
        expected = loop.time() + TICK_S
        await asyncio.sleep(TICK_S)
        worst = max(worst, loop.time() - expected)
    await task
    return time.perf_counter() - started, round(worst * 1000, 2)


def _cold_start(store: Path, questions: list[str], tmp: Path) -> tuple[float, dict]:
    """Start a fresh process on the store: seconds until its first answer, and its figures."""
    questions_file = tmp / "questions.json"
    questions_file.write_text(json.dumps(questions), "utf-8")
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bot.measure.coldstart", str(store), str(questions_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = child.stdout.readline()
    cold_start_s = time.perf_counter() - started
    report = child.stdout.readline()
    if child.wait() != 0 or not first or not report:
        raise RuntimeError("the cold-start process failed")
    return cold_start_s, json.loads(report) | {"cpu_s": json.loads(first)["cpu_s"]}


def machine() -> dict:
    """What the figures were measured on: cores, memory, and how busy the machine was."""
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    return {"cpus": os.cpu_count(), "memory_gib": round(memory_kb / 2**20, 1), "python": platform.python_version()}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: above the core count, other work was waiting for a core."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


async def run_bench(passages: int, queries: int, *, progress: bool, peers: bool = True) -> dict:
    load_at_start = load_average()
    steps = tqdm(total=passages, desc="bench: corpus", file=sys.stderr, disable=not progress)
    with tempfile.TemporaryDirectory(prefix="talksbot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        settings = Settings(db=tmp / "bench.db")
        store = await Store.open(settings.db)
        try:
            questions = await _fill(store, passages, queries, steps)
        finally:
            await store.close()
        steps.close()

        # A first start on the store: no snapshot yet, so the index is built from every passage.
        started = time.perf_counter()
        engine = await Engine.open(settings, seed=False)
        open_with_build_s = time.perf_counter() - started
        # The peak so far: the corpus written and one full build (the rebuild below adds a second
        # build while this index serves, then an add).
        first_start_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        # As the bot does at its start (bot/client.py): an add then measures the add, not that start.
        await asyncio.to_thread(start_forkserver)
        try:
            build_s, lag_ms = await _loop_lag_while(engine.rebuild(save=False))
            started = time.perf_counter()
            await engine.add_text("A new article about the zyxwvut negotiations.", added_by="bench", title="New")
            found = await engine.search("zyxwvut negotiations", limit=1, everything=True)
            add_to_searchable_s = time.perf_counter() - started
            assert found.hits and found.hits[0].title == "New", "the added document was not found"
            index = engine.index
            build_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        finally:
            await engine.close()  # saves the snapshot the next start loads
        snapshot_mb = settings.snapshot_path().stat().st_size / 1e6
        load_at_cold_start = load_average()
        cold_start_s, serving = _cold_start(settings.db, questions, tmp)

    report = {
        "passages": passages,
        "queries": queries,
        "cold_start_s": round(cold_start_s, 3),
        # CPU the cold start used: on a shared machine the wall time above also counts waiting for a core.
        "cold_start_cpu_s": serving["cpu_s"],
        "query_p50_ms": serving["query_p50_ms"],
        "query_p95_ms": serving["query_p95_ms"],
        "core_p50_ms": serving["core_p50_ms"],
        "ask_p50_ms": serving["ask_p50_ms"],
        "rss_mb": serving["rss_mb"],
        "build_s": round(build_s, 3),
        "first_start_with_build_s": round(open_with_build_s, 3),
        "max_loop_lag_ms_during_rebuild": lag_ms,
        "add_to_searchable_s": round(add_to_searchable_s, 3),
        "snapshot_mb": round(snapshot_mb, 1),
        "first_start_rss_mb": round(first_start_rss_mb, 1),
        "build_rss_mb": round(build_rss_mb, 1),
    }
    if peers:
        report |= _peers(index, questions)
    return report | machine() | {
        "load_average_at_start": load_at_start,
        "load_average_at_cold_start": load_at_cold_start,
        "load_average_at_end": load_average(),
    }


def _peers(index: PassageIndex, questions: list[str]) -> dict:
    """rank_bm25's loop and bm25s on exactly our terms, after our own figures were taken."""
    term_ids = [index.term_ids_of(analyzer.analyze(q)) for q in questions]
    tokens = [index.tokens[index.offsets[i] : index.offsets[i + 1]].tolist() for i in range(len(index))]
    from rank_bm25 import BM25Okapi

    okapi = BM25Okapi(tokens, k1=index.k1, b=index.b)
    naive_times, identical = [], True
    for ids in term_ids:
        started = time.perf_counter()
        scores = okapi.get_scores([t for t in ids if t >= 0])
        top = np.argsort(-scores, kind="stable")[:10]  # ties: the earlier passage first, as ours
        naive_times.append(time.perf_counter() - started)
        identical &= [p for p, _ in index.maxscore.top_k(ids, 10)] == top.tolist()
    del okapi
    return {
        "naive_rank_bm25_p50_ms": _percentile_ms(naive_times, 50),
        "bm25s_p50_ms": _bm25s_p50(tokens, term_ids, index.k1, index.b),
        "identical_top10": bool(identical),
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
    report = await run_bench(args.passages, args.queries, progress=not args.json, peers=not args.no_peers)
    print_report(report, as_json=args.json)
    return 0
