"""``talksbot eval FILE.json``: answer or abstain, measured on a SQuAD 2.0 file.

Each article becomes one document (its title; its paragraphs, in order, the passages) in a fresh
store, and every question is asked the way /ask asks it, across all the articles. An answer is
right when the quoted sentence lies in the question's own paragraph and contains one of its gold
answer texts (case, runs of spaces and curly quotes folded); an unanswerable question is handled
right when the bot abstains.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bot.engine.service import Answer, Engine, QuestionError

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


class SquadError(ValueError):
    """The file is not SQuAD 2.0 JSON TalksBot can read."""


@dataclass(frozen=True, slots=True)
class SquadQuestion:
    id: str
    question: str
    article: int  # position of the article in the file
    context: str  # the question's own paragraph
    answers: tuple[str, ...]  # gold answer texts (empty when it is unanswerable)


@dataclass(frozen=True, slots=True)
class SquadArticle:
    title: str
    paragraphs: tuple[str, ...]


def fold(text: str) -> str:
    return " ".join(text.translate(_QUOTES).casefold().split())


def is_squad_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".json"


def load_squad(path: Path) -> tuple[list[SquadArticle], list[SquadQuestion]]:
    try:
        data = json.loads(path.read_text("utf-8"))["data"]
        articles, questions = [], []
        for a, article in enumerate(data):
            paragraphs = [p["context"] for p in article["paragraphs"]]
            articles.append(SquadArticle(str(article["title"]).replace("_", " "), tuple(paragraphs)))
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    gold = () if qa.get("is_impossible") else tuple(x["text"] for x in qa["answers"])
                    questions.append(SquadQuestion(str(qa["id"]), qa["question"], a, paragraph["context"], gold))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SquadError(f"cannot read {path} as SQuAD 2.0 JSON: {exc}") from None
    return articles, questions


def quoted_sentence(answer: Answer) -> str | None:
    return None if answer.answer is None else answer.answer.removesuffix(" [1]")


def is_right(question: SquadQuestion, answer: Answer, doc_id: int | None) -> bool:
    """Right: quiet on an unanswerable question; else a sentence of its own paragraph with a gold text."""
    sentence = quoted_sentence(answer)
    if not question.answers:
        return sentence is None
    if sentence is None or answer.sources[0].doc_id != doc_id:
        return False
    folded = fold(sentence)
    return folded in fold(question.context) and any(fold(gold) in folded for gold in question.answers)


async def evaluate_squad(engine: Engine, path: Path, *, run_path: Path | None, progress: bool) -> dict:
    articles, questions = load_squad(path)
    doc_ids = await engine.add_many(
        [("\n\n".join(a.paragraphs), a.title) for a in articles],
        added_by="eval",
        progress=tqdm(total=len(articles), desc="adding articles", unit="doc", file=sys.stderr, disable=not progress),
    )
    counts = {"has_answer": 0, "has_answer_right": 0, "no_answer": 0, "no_answer_quiet": 0}
    run = run_path.open("w", encoding="utf-8") if run_path else None
    try:
        for question in tqdm(questions, desc="asking", unit="q", file=sys.stderr, disable=not progress):
            try:
                answer = await engine.ask(question.question, everything=True)
            except QuestionError:  # an empty question: nothing asked, the bot says nothing
                answer = Answer(question.question, None, [], [])
            right = is_right(question, answer, doc_ids[question.article])
            if question.answers:
                counts["has_answer"] += 1
                counts["has_answer_right"] += right
            else:
                counts["no_answer"] += 1
                counts["no_answer_quiet"] += right
            if run:
                line = {"id": question.id, "answer": quoted_sentence(answer), "confidence": round(answer.confidence, 4)}
                run.write(json.dumps(line) + "\n")
    finally:
        if run:
            run.close()
    total = max(1, len(questions))
    return {
        "file": str(path),
        "articles": len(articles),
        "questions": len(questions),
        **counts,
        "overall": (counts["has_answer_right"] + counts["no_answer_quiet"]) / total,
        "never_answer": counts["no_answer"] / total,
        **({"run": str(run_path)} if run_path else {}),
    }


def print_squad_report(report: dict) -> None:
    has, no = max(1, report["has_answer"]), max(1, report["no_answer"])
    print(f"{report['articles']} articles, {report['questions']} questions")
    print(f"{'answerable: right sentence':>30}  {report['has_answer_right']}/{report['has_answer']}  {report['has_answer_right'] / has:.3f}")
    print(f"{'unanswerable: quiet':>30}  {report['no_answer_quiet']}/{report['no_answer']}  {report['no_answer_quiet'] / no:.3f}")
    print(f"{'overall':>30}  {report['overall']:.4f}")
    print(f"{'never answer':>30}  {report['never_answer']:.4f}")
