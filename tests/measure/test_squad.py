"""talksbot eval on a SQuAD 2.0 file: the report, the run file, bad files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-squad.json"


def talksbot(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("talksbot")
    assert exe, "the talksbot console script is installed"
    env = {"PATH": str(Path(exe).parent), "HOME": str(cwd)}
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=180)


def test_eval_of_a_squad_file_reports_answers_and_abstentions(tmp_path):
    run_file = tmp_path / "answers.jsonl"
    done = talksbot("eval", str(TINY), "--run", str(run_file), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["questions"], report["has_answer"], report["no_answer"]) == (6, 4, 2)
    assert report["never_answer"] == 2 / 6
    assert report["no_answer_quiet"] == 2  # a colony and a recipe the articles never mention
    assert report["has_answer_right"] >= 3
    right = report["has_answer_right"] + report["no_answer_quiet"]
    assert report["overall"] == right / 6
    lines = {line["id"]: line for line in map(json.loads, run_file.read_text("utf-8").splitlines())}
    assert set(lines) == {"h1", "h2", "h3", "h4", "m1", "m2"}
    assert lines["h1"]["answer"] == "Harbor Town was founded in 1822 by fishermen from the northern coast."
    assert lines["m1"]["answer"].startswith("Its main telescope has a mirror four metres across")
    assert lines["h3"]["answer"] is None and lines["m2"]["answer"] is None
    assert all(isinstance(line["confidence"], float | int) for line in lines.values())
    assert lines["h1"]["confidence"] > lines["m2"]["confidence"]
    assert "asking" in done.stderr  # the progress bar


def test_eval_of_a_squad_file_prints_a_readable_report(tmp_path):
    done = talksbot("eval", str(TINY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 articles, 6 questions" in done.stdout
    assert "unanswerable: quiet" in done.stdout and "2/2" in done.stdout
    assert list(tmp_path.glob("*.run")) == []  # a run file only when asked for


def test_eval_of_a_json_file_that_is_not_squad_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}', "utf-8")
    done = talksbot("eval", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "SQuAD 2.0" in done.stderr
