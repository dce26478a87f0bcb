"""``talksbot loadtest``: the function behind it on a small burst, and the command's contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bot.measure.loadtest import SIMCORD_MISSING, place_names, run_loadtest
from bot.settings import Settings


async def test_small_burst_is_all_answered_with_positive_throughput(tmp_path):
    store = tmp_path / "mine.db"
    report = await run_loadtest(20, 2, settings=Settings(db=store))
    assert report["all_answered"] is True
    assert report["answered"] == report["questions"] == 20 and report["errors"] == 0
    assert report["servers"] == 2 and report["members"] == 4  # 5 questions each at most
    assert report["questions_per_s"] > 0 and report["seconds"] > 0
    assert 0 < report["latency_p50_ms"] <= report["latency_p95_ms"]
    assert report["ack_max_ms"] < 3000
    assert not store.exists()  # it runs on a temporary store, never the user's


def test_place_names_are_distinct_and_none_contains_another():
    names = place_names(300)
    assert len(set(names)) == 300
    assert len({len(n) for n in names}) == 1  # same length: no name is part of another


def _run(tmp_path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_") and k != "DISCORD_TOKEN"}
    env["TALKSBOT_DB"] = str(tmp_path / "cli.db")
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "bot", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_command_prints_one_json_object_last(tmp_path):
    result = _run(tmp_path, "loadtest", "--questions", "8", "--servers", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["questions"] == 8 and report["all_answered"] is True
    assert {"seconds", "questions_per_s", "latency_p50_ms", "latency_p95_ms"} <= report.keys()
    assert not (tmp_path / "cli.db").exists()


def test_without_simcord_one_line_says_what_to_install(tmp_path):
    hide_simcord = "import sys; sys.modules['simcord'] = None; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
    result = _run(tmp_path, "loadtest", "--questions", "2", code=hide_simcord)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"talksbot: {SIMCORD_MISSING}"]
    assert 'pip install ".[test]"' in result.stderr
