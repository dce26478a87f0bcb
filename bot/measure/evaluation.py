"""``talksbot eval``: retrieval quality on a test collection in BEIR layout.

Every corpus entry is added as a document through the engine (as ``talksbot add`` does), every
query goes through the retrieval ``/ask`` uses, a document ranks as its best passage, and the
metrics come from ir-measures (trec_eval's definitions), not from code of ours.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ir_measures
from ir_measures import AP, P, R, nDCG
from tqdm import tqdm

from bot.console import CommandError
from bot.engine import analyzer
from bot.engine.index import PassageIndex
from bot.engine.service import Engine
from bot.measure.squad import SquadError, evaluate_squad, is_squad_file, print_squad_report
from bot.settings import Settings

MEASURES = {"nDCG@10": nDCG @ 10, "MAP@100": AP @ 100, "Recall@100": R @ 100, "P@1": P @ 1}
RUN_DEPTH = 100
RUN_TAG = "talksbot"
CV_K1 = (0.9, 1.2, 1.5, 1.8)
CV_B = (0.5, 0.75, 0.9)
DEFAULT_K1_B = (1.5, 0.75)  # rank_bm25's defaults; preferred among equals


class CollectionError(ValueError):
    """The folder is not a BEIR collection TalksBot can read."""


@dataclass(frozen=True)
class Collection:
    corpus: list[dict]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise CollectionError(f"cannot read {path}: {exc}") from None


def load_collection(folder: Path, split: str) -> Collection:
    corpus = _jsonl(folder / "corpus.jsonl")
    queries = {str(q["_id"]): q["text"] for q in _jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    qrels_path = folder / "qrels" / f"{split}.tsv"
    try:
        with qrels_path.open(encoding="utf-8") as rows:
            reader = csv.reader(rows, delimiter="\t")
            next(reader, None)  # header
            for row in reader:
                if len(row) >= 3:
                    qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    except (OSError, ValueError) as exc:
        raise CollectionError(f"cannot read {qrels_path}: {exc}") from None
    return Collection(corpus, {qid: text for qid, text in queries.items() if qid in qrels}, qrels)


async def ingest(engine: Engine, corpus: list[dict], *, progress: bool) -> dict[int, str]:
    """Add every entry (title + text) as a document; returns store id -> collection id."""
    items = [(str(entry["_id"]), entry.get("title") or "", entry.get("text") or "") for entry in corpus]
    ids = await engine.add_many(
        [(text, title or None) for _, title, text in items],
        added_by="eval",
        progress=tqdm(total=len(items), desc="adding documents", unit="doc", file=sys.stderr, disable=not progress),
    )
    return {doc_id: items[i][0] for i, doc_id in enumerate(ids) if doc_id is not None}


def run_queries(index: PassageIndex, queries: dict[str, str], collection_ids: dict[int, str], *, progress: bool):
    run: dict[str, list[tuple[str, float]]] = {}
    for qid, text in tqdm(queries.items(), desc="querying", unit="q", file=sys.stderr, disable=not progress):
        ranked = index.search_documents(analyzer.analyze(text), RUN_DEPTH)
        run[qid] = [(collection_ids[doc], score) for doc, score in ranked if doc in collection_ids]
    return run


async def answer_rates(
    engine: Engine, queries: dict[str, str], qrels: dict[str, dict[str, int]], collection_ids: dict[int, str]
) -> dict[str, float]:
    """How often the answerer speaks on the collection's (answerable) queries, and how often its
    answer is quoted from a relevant document. The abstain rule's "answers when it should"."""
    answered = from_relevant = 0
    for qid, text in queries.items():
        answer = await engine.ask(text, everything=True, limit=1)
        if answer.answer is not None:
            answered += 1
            doc = collection_ids.get(answer.sources[0].doc_id)
            from_relevant += qrels.get(qid, {}).get(doc, 0) > 0
    count = max(1, len(queries))
    return {"answered": answered / count, "answered_from_relevant": from_relevant / count}


def write_run(path: Path, run: dict[str, list[tuple[str, float]]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for qid, ranked in run.items():
            for rank, (docid, score) in enumerate(ranked, start=1):
                out.write(f"{qid} Q0 {docid} {rank} {score:.6f} {RUN_TAG}\n")


def _strictly_ranked(run: dict[str, list[tuple[str, float]]], qrels: dict[str, dict[str, int]]) -> dict:
    # trec_eval orders by score; make the scores strictly decreasing so it keeps our rank order.
    scored = {qid: {d: float(len(r) - i) for i, (d, _) in enumerate(r)} for qid, r in run.items()}
    for qid in qrels:
        scored.setdefault(qid, {})
    return scored


async def cross_validate(engine: Engine, collection: Collection, collection_ids: dict[int, str], folds: int) -> dict:
    """k1 and b chosen by cross-validation over the queries, never on the queries they are scored on.

    Each fold's parameters are the grid point with the best nDCG@10 on the other folds; the
    reported figure is nDCG@10 on each fold's own queries with its own fold's choice.
    """
    records = await engine.store.all_passages()
    per_query: dict[tuple[float, float], dict[str, float]] = {}
    for k1 in CV_K1:
        for b in CV_B:
            index = await asyncio.to_thread(PassageIndex.build, records, k1=k1, b=b)
            run = run_queries(index, collection.queries, collection_ids, progress=False)
            scored = _strictly_ranked(run, collection.qrels)
            per_query[(k1, b)] = {m.query_id: m.value for m in ir_measures.iter_calc([nDCG @ 10], collection.qrels, scored)}
    qids = sorted(collection.queries)
    held_out: list[float] = []
    chosen: list[tuple[float, float]] = []
    for fold in range(folds):
        test = set(qids[fold::folds])
        train = [q for q in qids if q not in test]
        best = max(per_query, key=lambda p: (sum(per_query[p].get(q, 0.0) for q in train), p == DEFAULT_K1_B))
        chosen.append(best)
        held_out += [per_query[best].get(q, 0.0) for q in test]
    return {"cv_nDCG@10": sum(held_out) / max(1, len(held_out)), "cv_chosen_k1_b": chosen}


def measure(qrels: dict[str, dict[str, int]], run: dict[str, list[tuple[str, float]]]) -> dict[str, float]:
    scored = _strictly_ranked(run, qrels)
    results = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, scored)
    return {name: float(results[m]) for name, m in MEASURES.items()}


async def evaluate(
    folder: Path, *, split: str, settings: Settings, run_path: Path, progress: bool, folds: int = 0
) -> dict:
    collection = load_collection(folder, split)
    # Test collections' queries are longer than a chat question may be.
    engine = await Engine.open(settings.model_copy(update={"max_question_chars": 4000}), seed=False)
    try:
        ids = await ingest(engine, collection.corpus, progress=progress)
        run = run_queries(engine.index, collection.queries, ids, progress=progress)
        rates = await answer_rates(engine, collection.queries, collection.qrels, ids)
        tuning = await cross_validate(engine, collection, ids, folds) if folds else {}
    finally:
        await engine.close()
    write_run(run_path, run)
    metrics = measure(collection.qrels, run)
    return {
        "collection": str(folder),
        "split": split,
        "documents": len(collection.corpus),
        "queries": len(collection.queries),
        "run": str(run_path),
        **metrics,
        **rates,
        **tuning,
    }


async def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    folder: Path = args.dir
    squad = is_squad_file(folder)
    if not squad and not folder.is_dir():
        raise CommandError(f"{folder} is neither a SQuAD 2.0 .json file nor a folder with corpus.jsonl, queries.jsonl and qrels/")
    run_path = args.run or (None if squad else Path(f"{folder.resolve().name}.run"))

    async def measure_with(eval_settings: Settings) -> dict:
        if not squad:
            return await evaluate(
                folder, split=args.split, settings=eval_settings, run_path=run_path, progress=True, folds=args.cv
            )
        engine = await Engine.open(eval_settings, seed=False)
        try:
            return await evaluate_squad(engine, folder, run_path=run_path, progress=True)
        finally:
            await engine.close()

    try:
        if args.db:  # the global --db: keep the ingested store
            report = await measure_with(settings)
        else:
            with tempfile.TemporaryDirectory(prefix="talksbot-eval-") as tmp:
                report = await measure_with(settings.model_copy(update={"db": Path(tmp) / "eval.db"}))
    except (CollectionError, SquadError) as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(report))
    elif squad:
        print_squad_report(report)
    else:
        print(f"{report['documents']} documents, {report['queries']} queries; run file: {report['run']}")
        for name in [*MEASURES, "answered", "answered_from_relevant"]:
            print(f"{name:>22}  {report[name]:.4f}")
        if args.cv:
            choices = ", ".join(f"k1 {k1} b {b}" for k1, b in report["cv_chosen_k1_b"])
            print(f"{'cv_nDCG@10':>22}  {report['cv_nDCG@10']:.4f}  ({args.cv} folds chose: {choices})")
    return 0
