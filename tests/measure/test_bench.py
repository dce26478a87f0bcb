"""talksbot bench reports the whole answer path (ask_p50_ms) next to retrieval alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


def test_bench_reports_ask_time_with_retrieval(tmp_path):
    exe = shutil.which("talksbot")
    assert exe, "the talksbot console script is installed"
    done = subprocess.run(
        [exe, "bench", "--passages", "300", "--queries", "5", "--json", "--no-peers"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"PATH": str(Path(exe).parent), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["passages"] == 300 and report["queries"] == 5
    # Asking does retrieval and more (sentence choice, the decision), so it cannot take less.
    assert report["ask_p50_ms"] >= report["query_p50_ms"] > 0
    # What the README table needs besides the times: the machine and how busy it was.
    assert report["cpus"] >= 1 and report["memory_gib"] > 0
    for moment in ("at_start", "at_cold_start", "at_end"):
        assert len(report[f"load_average_{moment}"].split(" / ")) == 3
    assert report["cold_start_s"] > 0 and report["rss_mb"] > 0 and report["snapshot_mb"] > 0
