"""Faults: a real ``talksbot add`` killed mid-way, and a store locked by another process.

The store promises (bot/store.py) that adding a document is one transaction: whatever moment
the process dies at, the store is sound and holds the whole document or none of it. And a store
another process is writing to is waited for (the busy timeout), then refused in one clear line.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.engine.documents import parse_text
from bot.store import Store, StoreError

SCRIPT = Path(sys.executable).with_name("talksbot")
WORDS = (
    "talks defense pentagon china ferry harbor typhoon meeting minister policy signal storm island "
    "resume delegation coordination dialogue military channel officials"
).split()


@pytest.fixture
def cli(tmp_path):
    """``cli(*args, env=...)`` runs the real console script against tmp_path/store.db."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_") and k != "DISCORD_TOKEN"}
    env["TALKSBOT_DB"] = str(tmp_path / "store.db")

    def cli(*args: str, extra_env: dict[str, str] | None = None, popen: bool = False):
        command = [str(SCRIPT), *args]
        options = dict(cwd=tmp_path, env=env | (extra_env or {}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if popen:
            return subprocess.Popen(command, **options)
        return subprocess.run(command, timeout=60, **options)

    cli.db = tmp_path / "store.db"
    return cli


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def count_documents(db: Path) -> int:
    with connect(db) as connection:
        return connection.execute("SELECT COUNT(*) FROM documents").fetchone()[0]


def large_document(path: Path, size: int = 2_500_000) -> str:
    """Many short distinct paragraphs: quick to parse, thousands of passages to store."""
    rng = random.Random(7)
    paragraphs, total = [], 0
    while total < size:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        paragraph = f"Paragraph {len(paragraphs)}: {words}."
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    text = "Large Report\n\n" + "\n\n".join(paragraphs) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def inspect(db: Path, content_hash: str) -> tuple[int | None, int]:
    """Check the store is sound; (the document's id or None, its passage count)."""
    connection = connect(db)  # a writable connection: closing it checkpoints the WAL a kill left
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = connection.execute("SELECT COUNT(*) FROM passages WHERE doc_id NOT IN (SELECT id FROM documents)")
        assert orphans.fetchone()[0] == 0, "passages without their document"
        row = connection.execute("SELECT id FROM documents WHERE content_hash = ?", (content_hash,)).fetchone()
        if row is None:
            return None, 0
        ordinals = [r[0] for r in connection.execute("SELECT ordinal FROM passages WHERE doc_id = ? ORDER BY ordinal", row)]
        assert ordinals == list(range(len(ordinals))), "passages missing in the middle"
        return row[0], len(ordinals)
    finally:
        connection.close()


def wal_size(db: Path) -> int:
    try:
        return os.stat(f"{db}-wal").st_size
    except FileNotFoundError:
        return 0


# -- a process killed while adding ---------------------------------------------------------------


def test_add_killed_at_any_moment_leaves_the_whole_document_or_none(cli, tmp_path):
    big = tmp_path / "large.txt"
    expected = parse_text(large_document(big), filename=big.name)
    assert len(expected.passages) > 10_000
    assert cli("docs").returncode == 0  # create and seed the store first

    # One whole add on a copy of the store: how long it takes and how much its transaction writes.
    reference = tmp_path / "reference.db"
    reference.write_bytes(cli.db.read_bytes())
    process = cli("add", str(big), popen=True, extra_env={"TALKSBOT_DB": str(reference)})
    started, written = time.monotonic(), 0
    while process.poll() is None:
        written = max(written, wal_size(reference))
        time.sleep(0.0005)
    duration = time.monotonic() - started
    assert process.returncode == 0 and written > 1_000_000, (process.communicate(), written)

    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    # "wal": killed once the transaction has written this much of its WAL frames (so inside it,
    # at any point from the document row to the last passages); "time": killed at a random
    # moment of the whole command (start-up, parsing, storing, indexing).
    kills = [("wal", int(written * rng.uniform(0.02, 0.95))) for _ in range(4)]
    kills += [("time", rng.uniform(0.05, duration)) for _ in range(3)]
    rng.shuffle(kills)
    outcomes = []
    for mode, when in kills:
        process = cli("add", str(big), popen=True)
        started = time.monotonic()
        grew = False
        while process.poll() is None and time.monotonic() - started < 20:
            if mode == "wal" and wal_size(cli.db) >= when:
                grew = True
                break
            if mode == "time" and time.monotonic() - started >= when:
                break
            time.sleep(0.0005)
        finished = process.poll() is not None
        process.kill()
        process.communicate()
        doc_id, passages = inspect(cli.db, expected.content_hash)
        context = f"seed {seed}, kill {mode} {when}"
        if doc_id is None:
            assert passages == 0, context
        else:
            assert passages == len(expected.passages), f"a partial document ({passages} passages), {context}"
        outcomes.append((mode, grew, finished, doc_id is not None))
        if doc_id is not None:  # committed before the kill: start the next round without it
            asyncio.run(_remove(cli.db, doc_id))

    # At least one kill hit the transaction after it had written to the WAL, and it was rolled back.
    assert any(mode == "wal" and grew and not present for mode, grew, _, present in outcomes), (seed, outcomes)

    # The same add then works, on the store every kill left behind.
    again = cli("add", str(big))
    assert again.returncode == 0, again.stderr
    assert f"({len(expected.passages)} passages)" in again.stdout
    doc_id, passages = inspect(cli.db, expected.content_hash)
    assert doc_id is not None and passages == len(expected.passages)
    answer = cli("search", "--json", "Paragraph 1234")
    assert answer.returncode == 0 and f'"doc_id": {doc_id}' in answer.stdout


async def _remove(db: Path, doc_id: int) -> None:
    store = await Store.open(db)
    try:
        assert await store.remove_document(doc_id, removed_by="test") is not None
    finally:
        await store.close()


# -- a store locked by another process ----------------------------------------------------------


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("talksbot:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another process's writer in the middle of a transaction (uncommitted row included)."""
    holder = connect(db)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO kv (key, value) VALUES ('holder', 'uncommitted')")
    return holder


@pytest.fixture
def note(tmp_path) -> Path:
    path = tmp_path / "harbor.txt"
    path.write_text("Harbor Report\n\nThe ferry service was suspended because of the typhoon.\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["add", "remove", "import"])
def test_a_locked_store_is_waited_for_then_refused_in_one_line(cli, note, tmp_path, command):
    assert cli("docs").returncode == 0
    backup = tmp_path / "backup.jsonl"
    assert cli("export", str(backup)).returncode == 0
    args = {"add": ["add", str(note)], "remove": ["remove", "1"], "import": ["import", str(backup), "--guild", "5"]}
    holder = hold_write_lock(cli.db)
    try:
        started = time.monotonic()
        result = cli(*args[command], extra_env={"TALKSBOT_BUSY_TIMEOUT_S": "0.5"})
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_one_line_error(result, "locked", str(cli.db), "0.5 s")
    assert elapsed >= 0.5  # it waited the busy timeout first
    assert result.stdout == ""
    assert count_documents(cli.db) == 1  # nothing added, nothing removed
    assert [d.split()[0] for d in cli("docs").stdout.splitlines()] == ["#1"]


def test_a_lock_released_within_the_busy_timeout_is_waited_out(cli, note):
    assert cli("docs").returncode == 0
    holder = hold_write_lock(cli.db)
    try:
        process = cli("add", str(note), popen=True, extra_env={"TALKSBOT_BUSY_TIMEOUT_S": "30"})
        time.sleep(1.5)  # start-up and parsing take well under a second: it is waiting for the lock
        assert process.poll() is None, process.communicate()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "added #2 'Harbor Report'" in stdout
    assert count_documents(cli.db) == 2


async def test_single_writes_on_a_locked_store_raise_store_error(tmp_path):
    """Settings writes outside a transaction (kv, ask channels, admin role) fail as StoreError too."""
    store = await Store.open(tmp_path / "s.db", busy_timeout_s=0.1)
    holder = hold_write_lock(tmp_path / "s.db")
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            await store.set_value("k", "v")
        with pytest.raises(StoreError, match="locked by another process"):
            await store.set_ask_channel(1, 2, True)
        assert await store.get_value("holder") is None  # reading still works (WAL), uncommitted unseen
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await store.set_value("k", "v")  # and the store works once the lock is gone
    assert await store.get_value("k") == "v"
    await store.close()
