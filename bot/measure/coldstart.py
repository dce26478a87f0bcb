"""The serving side of ``talksbot bench``, run in a fresh process: open an existing store, answer
a first question (that is the cold start), then time the questions.

    python -m bot.measure.coldstart STORE QUESTIONS.json

Prints two JSON lines: ``{"first_answer": true}`` as soon as the first question is answered (the
parent times the cold start from the moment it started this process), then the figures, with
this process's peak RSS: what one bot process serving that store needs.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from bot.engine import analyzer
from bot.engine.service import Engine
from bot.settings import Settings


def peak_rss_mb() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that over from the
    parent through fork and exec, so a child would report the bench's own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _p(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(samples) * 1000, q)), 3)


async def main(store: str, questions_file: str) -> None:
    questions = json.loads(Path(questions_file).read_text("utf-8"))
    engine = await Engine.open(Settings(db=store), seed=False, preload=True)  # as the bot starts
    try:
        await engine.ask(questions[0], everything=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"first_answer": True, "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}), flush=True)
        index = engine.index
        retrieval, core, ask = [], [], []
        for question in questions:
            started = time.perf_counter()
            index.search(analyzer.analyze(question), 10, guild_id=None)
            retrieval.append(time.perf_counter() - started)
            term_ids = index.term_ids_of(analyzer.analyze(question))
            started = time.perf_counter()
            index.maxscore.top_k(term_ids, 10)
            core.append(time.perf_counter() - started)
            started = time.perf_counter()
            await engine.ask(question, guild_id=None)
            ask.append(time.perf_counter() - started)
        report = {
            "query_p50_ms": _p(retrieval, 50),
            "query_p95_ms": _p(retrieval, 95),
            "core_p50_ms": _p(core, 50),
            "ask_p50_ms": _p(ask, 50),
            "rss_mb": peak_rss_mb(),
        }
    finally:
        await engine.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
