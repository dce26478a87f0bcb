"""Several processes on one store: each sees the others' adds and removes within 2 seconds.

Real processes (tests/engine_worker.py, the talksbot command), not threads: what one process
changes reaches the others only through the store (PostgreSQL's NOTIFY, SQLite's changes table).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SCRIPT = Path(sys.executable).with_name("talksbot")
SEEN_WITHIN_S = 2.0

FERRY = "Harbor Report\n\nThe ferry service to Lamma Island was suspended because of the typhoon."
BRIDGE = "Bridge Closure\n\nThe old bridge was closed because engineers found cracks in its pillars."
FERRY_Q = "Why was the ferry to Lamma Island suspended?"
BRIDGE_Q = "Why was the old bridge closed?"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_")}


class Worker:
    """An engine in its own process, following the store's changes."""

    def __init__(self, store: str | Path, *shards: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(TESTS / "engine_worker.py"), str(store), *shards],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert self.call_line() == {"ready": True}

    def call_line(self) -> dict:
        line = self.process.stdout.readline()
        assert line, f"the worker ended (status {self.process.poll()})"
        return json.loads(line)

    def __call__(self, op: str, **fields) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self.call_line()

    def seconds_until(self, question: str, guild: int, contains: str | None) -> float | None:
        """How long until this process answers as expected (None: not within the test's bound)."""
        return self("until", question=question, guild=guild, contains=contains, timeout=SEEN_WITHIN_S + 3)["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def workers():
    started: list[Worker] = []

    def start(store, *shards) -> Worker:
        started.append(Worker(store, *shards))
        return started[-1]

    yield start
    for worker in started:
        worker.close()


def test_two_engines_on_one_postgresql_see_each_others_changes(postgres_url, workers, tmp_path):
    first, second = workers(postgres_url), workers(postgres_url)
    assert first("ask", question=FERRY_Q, guild=5)["answer"] is None

    ferry = first("add", text=FERRY, guild=5)["id"]
    seconds = second.seconds_until(FERRY_Q, 5, "typhoon")
    assert seconds is not None and seconds <= SEEN_WITHIN_S, seconds

    (tmp_path / "bridge.txt").write_text(BRIDGE, "utf-8")
    added = subprocess.run(
        [str(SCRIPT), "--db", postgres_url, "add", str(tmp_path / "bridge.txt"), "--guild", "5"],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )
    assert added.returncode == 0, added.stderr
    for worker in (first, second):  # the command line's add, seen by both running engines
        seconds = worker.seconds_until(BRIDGE_Q, 5, "cracks")
        assert seconds is not None and seconds <= SEEN_WITHIN_S, seconds

    assert second("remove", id=ferry) == {"removed": True}
    seconds = first.seconds_until(FERRY_Q, 5, None)
    assert seconds is not None and seconds <= SEEN_WITHIN_S, seconds
    assert first("ask", question=FERRY_Q, guild=6)["answer"] is None  # and never in another server


def test_two_engines_on_one_sqlite_file_see_each_others_changes(tmp_path, workers):
    store = tmp_path / "shared.db"
    first = workers(store)
    second = workers(store)
    ferry = first("add", text=FERRY, guild=5)["id"]
    seconds = second.seconds_until(FERRY_Q, 5, "typhoon")
    assert seconds is not None and seconds <= SEEN_WITHIN_S, seconds
    assert second("remove", id=ferry) == {"removed": True}
    seconds = first.seconds_until(FERRY_Q, 5, None)
    assert seconds is not None and seconds <= SEEN_WITHIN_S, seconds
