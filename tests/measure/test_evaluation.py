"""talksbot eval on a tiny BEIR collection: run file, metrics, the same retrieval as /ask."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.measure.evaluation import Collection, load_collection, measure

TINY = Path(__file__).parent.parent / "fixtures" / "tiny-beir"


def test_load_collection_keeps_only_judged_queries():
    collection = load_collection(TINY, "test")
    assert isinstance(collection, Collection)
    assert len(collection.corpus) == 5
    assert set(collection.queries) == {"q1", "q2", "q3"}
    assert collection.qrels["q2"] == {"d2": 1, "d1": 1}


def test_measure_uses_rank_order():
    qrels = {"q": {"a": 1}}
    assert measure(qrels, {"q": [("a", 1.0), ("b", 0.5)]})["P@1"] == 1.0
    assert measure(qrels, {"q": [("b", 1.0), ("a", 1.0)]})["P@1"] == 0.0  # ties keep our order
    assert measure(qrels, {})["nDCG@10"] == 0.0  # a query with no results counts as zero


def test_eval_command_writes_a_trec_run_and_reports_metrics(tmp_path):
    talksbot = shutil.which("talksbot")
    assert talksbot, "the talksbot console script is installed"
    run_file = tmp_path / "tiny.run"
    done = subprocess.run(
        [talksbot, "eval", str(TINY), "--run", str(run_file), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": str(Path(talksbot).parent), "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["documents"] == 5 and report["queries"] == 3
    assert report["P@1"] == 1.0  # each query's best document is a judged one
    assert report["nDCG@10"] > 0.9
    lines = [line.split() for line in run_file.read_text().splitlines()]
    assert all(len(parts) == 6 and parts[1] == "Q0" and parts[5] == "talksbot" for parts in lines)
    first = {parts[0]: parts[2] for parts in lines if parts[3] == "1"}
    assert first == {"q1": "d3", "q2": "d2", "q3": "d4"}
    scores = [float(parts[4]) for parts in lines if parts[0] == "q2"]
    assert scores == sorted(scores, reverse=True)
    assert "querying" in done.stderr  # the progress bar


def test_eval_of_a_folder_that_is_not_a_collection_is_one_clear_line(tmp_path):
    talksbot = shutil.which("talksbot")
    done = subprocess.run([talksbot, "eval", str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("talksbot:") and "Traceback" not in done.stderr


@pytest.mark.parametrize("question", ["Why were journal subscriptions cancelled?"])
async def test_eval_ranks_documents_by_their_best_passage(tmp_path, question):
    from bot.engine import analyzer
    from bot.engine.service import Engine
    from bot.settings import Settings

    engine = await Engine.open(Settings(db=tmp_path / "e.db"), seed=False)
    try:
        items = [(e["text"], e["title"]) for e in load_collection(TINY, "test").corpus]
        ids = await engine.add_many(items, added_by="test")
        ranked = engine.index.search_documents(analyzer.analyze(question), 10)
        assert ranked[0][0] == ids[3]
        answer = await engine.ask(question)  # the same documents answer through /ask's path
        assert "subscriptions were cancelled" in answer.answer
    finally:
        await engine.close()


def test_eval_cross_validation_reports_held_out_ndcg_and_choices(tmp_path):
    talksbot = shutil.which("talksbot")
    done = subprocess.run(
        [talksbot, "eval", str(TINY), "--run", str(tmp_path / "t.run"), "--cv", "2", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["cv_chosen_k1_b"]) == 2
    assert all(k1 in (0.9, 1.2, 1.5, 1.8) and b in (0.5, 0.75, 0.9) for k1, b in report["cv_chosen_k1_b"])
    assert 0.9 < report["cv_nDCG@10"] <= 1.0
    assert 0.0 <= report["answered_from_relevant"] <= report["answered"] <= 1.0
