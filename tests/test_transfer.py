"""Export and import (bot/transfer.py, ``talksbot export`` / ``talksbot import``).

A server's documents go to a JSON Lines file and back into another store, where they answer
questions the same way; a damaged file adds nothing; documents already there are skipped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.documents import content_hash
from bot.engine.service import Engine
from bot.settings import Settings
from bot.store import BUNDLED, StoreError
from bot.transfer import FIELDS, TransferError, export_documents, import_documents, parse_export, read_export

SCRIPT = Path(sys.executable).with_name("talksbot")
LIMIT = Settings.model_fields["max_upload_bytes"].default

FERRY = (
    "Harbor Report\n\n"
    "Ferries\n\n"
    "The ferry service to Lamma Island was suspended because of the typhoon.\n\n"
    "Ferries will resume when the storm signal is lowered."
)
BRIDGE = "Bridge Closure\n\nThe old bridge was closed because engineers found cracks in its pillars."
MARKET = "Market Notes\n\nThe night market moved to the pier after the fire."


@pytest.fixture
async def other(tmp_path):
    """A second, separate store (the one a backup is restored into)."""
    engine = await Engine.open(Settings(db=tmp_path / "other.db"))
    try:
        yield engine
    finally:
        await engine.close()


async def fill(engine: Engine) -> dict[str, int]:
    ferry = await engine.add_text(FERRY, guild_id=5, added_by="111", date="2024-03-01", url="https://example.com/ferry")
    bridge = await engine.add_text(BRIDGE, guild_id=5, added_by="222")
    market = await engine.add_text(MARKET, guild_id=6, added_by="333")
    return {"ferry": ferry.id, "bridge": bridge.id, "market": market.id}


async def visible(engine: Engine, query: str, guild_id: int) -> set[str]:
    """Titles of the documents a search in that server finds."""
    return {hit.title for hit in (await engine.search(query, guild_id=guild_id, limit=10)).hits}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# -- round trip ----------------------------------------------------------------------------------


async def test_round_trip_between_two_stores(engine, other, tmp_path):
    await fill(engine)
    backup = tmp_path / "guild5.jsonl"
    assert await export_documents(engine.store, backup, guild_id=5) == 2

    rows = lines(backup)
    assert [row["title"] for row in rows] == ["Harbor Report", "Bridge Closure"]
    assert all(tuple(row) == FIELDS for row in rows)
    assert (rows[0]["date"], rows[0]["url"], rows[0]["guild_id"], rows[0]["added_by"]) == (
        "2024-03-01", "https://example.com/ferry", 5, "111"
    )

    assert "Harbor Report" not in await visible(other, "ferry typhoon", 5)
    documents = read_export(backup, max_body_bytes=LIMIT)
    result = await import_documents(other, documents, imported_by="test")
    assert (len(result.added), len(result.skipped)) == (2, 0)

    # The index was rebuilt: the live engine answers at once, in the right server only.
    answer = await other.ask("Why was the ferry service suspended?", guild_id=5)
    assert "because of the typhoon" in answer.answer
    assert answer.sources[0].title == "Harbor Report" and answer.sources[0].section == "Ferries"
    assert "cracks" in (await other.ask("Why was the bridge closed?", guild_id=5)).answer
    assert "Harbor Report" not in await visible(other, "ferry typhoon", 6)

    # Every field and every passage as it was in the first store.
    for source in await engine.store.list_documents(5):
        if source.guild_id != 5:
            continue
        copy = await other.store.find_by_hash(source.content_hash, 5)
        assert copy is not None
        assert (copy.title, copy.date, copy.url, copy.added_by, copy.added_at, copy.passages) == (
            source.title, source.date, source.url, source.added_by, source.added_at, source.passages
        )
        assert await other.store.document_body(copy.id) == await engine.store.document_body(source.id)
        old = [(p.ordinal, p.paragraph, p.section, p.start, p.end, p.text) for p in await engine.store.document_passages(source.id)]
        new = [(p.ordinal, p.paragraph, p.section, p.start, p.end, p.text) for p in await other.store.document_passages(copy.id)]
        assert new == old
    assert [action for _, action, *_ in await other.store.audit_log(5)] == ["import", "import"]


async def test_export_replaces_the_file_whole_and_leaves_no_temporary_file(engine, tmp_path):
    await fill(engine)
    backup = tmp_path / "backup.jsonl"
    backup.write_text("an older, longer backup\n" * 1000, encoding="utf-8")
    assert await export_documents(engine.store, backup, guild_id=6) == 1
    assert [row["title"] for row in lines(backup)] == ["Market Notes"]
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == ["backup.jsonl"]


async def test_export_to_a_missing_folder_is_a_transfer_error(engine, tmp_path):
    with pytest.raises(TransferError, match="cannot write"):
        await export_documents(engine.store, tmp_path / "no" / "such" / "dir.jsonl")


# -- scoping -------------------------------------------------------------------------------------


async def test_export_is_one_server_and_the_default_is_the_bundled_scope(engine, tmp_path):
    await fill(engine)
    await export_documents(engine.store, tmp_path / "5.jsonl", guild_id=5)
    await export_documents(engine.store, tmp_path / "6.jsonl", guild_id=6)
    await export_documents(engine.store, tmp_path / "0.jsonl")
    assert [r["title"] for r in lines(tmp_path / "5.jsonl")] == ["Harbor Report", "Bridge Closure"]
    assert [r["title"] for r in lines(tmp_path / "6.jsonl")] == ["Market Notes"]
    bundled = lines(tmp_path / "0.jsonl")
    assert [(r["guild_id"], r["added_by"]) for r in bundled] == [(BUNDLED, "bundled")]
    assert bundled[0]["title"].startswith("Top U.S. and Chinese Defense Officials")
    assert await export_documents(engine.store, tmp_path / "9.jsonl", guild_id=9) == 0
    assert (tmp_path / "9.jsonl").read_text("utf-8") == ""


async def test_import_keeps_each_line_server_or_moves_all_to_another(engine, other, tmp_path):
    await fill(engine)
    await export_documents(engine.store, tmp_path / "5.jsonl", guild_id=5)

    moved = await import_documents(other, read_export(tmp_path / "5.jsonl", max_body_bytes=LIMIT, guild_id=7), imported_by="t")
    assert {d.guild_id for d in moved.added} == {7}
    assert "typhoon" in (await other.ask("Why was the ferry service suspended?", guild_id=7)).answer
    assert "Harbor Report" not in await visible(other, "ferry typhoon", 5)

    kept = await import_documents(other, read_export(tmp_path / "5.jsonl", max_body_bytes=LIMIT), imported_by="t")
    assert {d.guild_id for d in kept.added} == {5}  # not a duplicate: another server
    assert "typhoon" in (await other.ask("Why was the ferry service suspended?", guild_id=5)).answer
    assert "Harbor Report" not in await visible(other, "ferry typhoon", 6)


# -- duplicates ----------------------------------------------------------------------------------


async def test_documents_already_there_are_skipped_and_counted(engine, other, tmp_path):
    await fill(engine)
    await export_documents(engine.store, tmp_path / "5.jsonl", guild_id=5)
    documents = read_export(tmp_path / "5.jsonl", max_body_bytes=LIMIT)
    await other.add_text(BRIDGE, guild_id=5, added_by="someone")  # one of them is already there

    first = await import_documents(other, documents, imported_by="t")
    assert ([d.title for d in first.added], [d.title for d in first.skipped]) == (["Harbor Report"], ["Bridge Closure"])
    again = await import_documents(other, documents, imported_by="t")
    assert (len(again.added), len(again.skipped)) == (0, 2)
    assert len([d for d in await other.store.list_documents(5) if d.guild_id == 5]) == 2


async def test_the_same_document_twice_in_one_file_is_added_once(engine, tmp_path):
    await fill(engine)
    backup = tmp_path / "5.jsonl"
    await export_documents(engine.store, backup, guild_id=6)
    backup.write_text(backup.read_text("utf-8") * 2, encoding="utf-8")
    result = await import_documents(engine, read_export(backup, max_body_bytes=LIMIT, guild_id=8), imported_by="t")
    assert (len(result.added), len(result.skipped)) == (1, 1)
    assert result.skipped[0].id == result.added[0].id


async def test_the_bundled_article_is_skipped_when_restored_into_a_new_store(engine, other, tmp_path):
    await export_documents(engine.store, tmp_path / "0.jsonl")
    result = await import_documents(other, read_export(tmp_path / "0.jsonl", max_body_bytes=LIMIT), imported_by="t")
    assert (len(result.added), len(result.skipped)) == (0, 1)
    assert await other.store.count_documents() == 1


# -- damaged files -------------------------------------------------------------------------------


def good_line(**changes) -> dict:
    body = "The ferry service was suspended because of the typhoon."
    line = {
        "title": "Harbor", "date": "2024-03-01", "url": None, "guild_id": 5, "added_by": "111",
        "added_at": "2024-03-02T10:00:00+00:00", "body": body, "content_hash": content_hash(body),
    }
    return line | changes


def as_file(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


DAMAGE = {
    "truncated line": (as_file(good_line()) + json.dumps(good_line(title="Other", body="x", content_hash="y")).encode()[:60], 2, "JSON"),
    "bad JSON": (as_file(good_line(), b"{not json", good_line(title="T3")), 2, "JSON"),
    "bad hash": (as_file(good_line(), good_line(body="The ferry service ran all day.")), 2, "content_hash"),
    "missing field": (as_file({k: v for k, v in good_line().items() if k != "added_at"}), 1, "missing added_at"),
    "wrong type": (as_file(good_line(), good_line(guild_id="5")), 2, "guild_id must be an integer"),
    "bool guild": (as_file(good_line(guild_id=True)), 1, "guild_id must be an integer"),
    "negative guild": (as_file(good_line(guild_id=-1)), 1, "server id"),
    "bad date": (as_file(good_line(date="2024-13-45")), 1, "date"),
    "bad added_at": (as_file(good_line(added_at="yesterday")), 1, "added_at"),
    "bad url": (as_file(good_line(url="javascript:alert(1)")), 1, "url"),
    "empty title": (as_file(good_line(title="  ")), 1, "title"),
    "not an object": (as_file(good_line(), [1, 2, 3]), 2, "not a JSON object"),
    "not UTF-8": (as_file(good_line(), b'{"title": "\xff\xfe"}'), 2, "UTF-8"),
    "deep nesting": (as_file(b"[" * 100_000), 1, "JSON"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_lines_are_named_by_number(damage):
    data, number, fragment = DAMAGE[damage]
    with pytest.raises(TransferError) as info:
        parse_export(data, name="backup.jsonl", max_body_bytes=LIMIT)
    message = str(info.value)
    assert message.startswith(f"backup.jsonl line {number}: "), message
    assert fragment in message
    assert "\n" not in message


def test_a_body_over_the_upload_limit_is_refused():
    body = "word " * 500
    data = as_file(good_line(body=body, content_hash=content_hash(body)))
    with pytest.raises(TransferError, match="line 1: the body is larger than the limit"):
        parse_export(data, name="b", max_body_bytes=1000)


def test_blank_lines_are_ignored():
    data = b"\n" + as_file(good_line()) + b"\n  \n"
    assert [d.doc.title for d in parse_export(data, name="b", max_body_bytes=LIMIT)] == ["Harbor"]


async def test_a_failure_inside_the_import_transaction_adds_none(engine, other, tmp_path, monkeypatch):
    await fill(engine)
    await export_documents(engine.store, tmp_path / "5.jsonl", guild_id=5)
    documents = read_export(tmp_path / "5.jsonl", max_body_bytes=LIMIT)
    calls = []

    async def audit_fails_the_second_time(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk went away")

    monkeypatch.setattr(other.store, "_audit", audit_fails_the_second_time)
    with pytest.raises(RuntimeError):
        await import_documents(other, documents, imported_by="t")
    assert await other.store.count_documents() == 1  # the bundled article only
    assert {p.doc_id for p in await other.store.all_passages()} == {1}


async def test_import_into_a_locked_store_is_a_store_error(engine, tmp_path):
    await export_documents(engine.store, tmp_path / "0.jsonl")
    documents = read_export(tmp_path / "0.jsonl", max_body_bytes=LIMIT, guild_id=3)
    engine.store.busy_timeout_s = 0.1
    await engine.store._run("PRAGMA busy_timeout = 100")
    holder = sqlite3.connect(engine.settings.db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            await import_documents(engine, documents, imported_by="t")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert await engine.store.count_documents() == 1


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_") and k != "DISCORD_TOKEN"}

    def cli(db: str, *args: str):
        return subprocess.run(
            [str(SCRIPT), "--db", str(tmp_path / db), *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )

    return cli


def test_cli_export_and_import_round_trip(cli, tmp_path):
    (tmp_path / "ferry.txt").write_text(FERRY, encoding="utf-8")
    (tmp_path / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    assert cli("a.db", "add", "ferry.txt", "bridge.txt", "--guild", "5").returncode == 0

    exported = cli("a.db", "export", "backup.jsonl", "--guild", "5")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == "exported 2 documents of server 5 to backup.jsonl"
    assert len(lines(tmp_path / "backup.jsonl")) == 2

    imported = cli("b.db", "import", "backup.jsonl")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "imported 2 documents; 0 already there, skipped"
    again = cli("b.db", "import", "backup.jsonl", "--guild", "5")
    assert again.stdout.strip() == "imported 0 documents into server 5; 2 already there, skipped"

    answer = cli("b.db", "ask", "--guild", "5", "Why was the ferry service suspended?")
    assert answer.returncode == 0 and "because of the typhoon. [1]" in answer.stdout
    docs = json.loads(cli("b.db", "docs", "--json").stdout)
    assert [(d["title"], d["guild_id"]) for d in docs][1:] == [("Harbor Report", 5), ("Bridge Closure", 5)]

    bundled = cli("b.db", "export", "bundled.jsonl")
    assert bundled.stdout.strip() == "exported 1 document of the bundled scope (guild 0) to bundled.jsonl"


def test_cli_damaged_file_is_one_line_and_adds_nothing(cli, tmp_path):
    (tmp_path / "ferry.txt").write_text(FERRY, encoding="utf-8")
    (tmp_path / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    assert cli("a.db", "add", "ferry.txt", "bridge.txt", "--guild", "5").returncode == 0
    assert cli("a.db", "export", "backup.jsonl", "--guild", "5").returncode == 0
    data = (tmp_path / "backup.jsonl").read_bytes()
    (tmp_path / "cut.jsonl").write_bytes(data[: len(data) - 40])  # cut short in the second line

    result = cli("b.db", "import", "cut.jsonl")
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "talksbot: cut.jsonl line 2: not valid JSON (damaged or cut short); nothing was imported"
    ]
    assert not (tmp_path / "b.db").exists()  # checked before the store was even opened

    missing = cli("b.db", "import", "nowhere.jsonl")
    assert missing.returncode == 1 and missing.stderr.startswith("talksbot: cannot read nowhere.jsonl")
    negative = cli("b.db", "export", "x.jsonl", "--guild", "-3")
    assert negative.returncode == 1 and "server id" in negative.stderr


# -- between SQLite and PostgreSQL --------------------------------------------------------------


def talksbot(db: Path | str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_")}
    return subprocess.run(
        [str(SCRIPT), "--db", str(db), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize("direction", ["sqlite to postgresql", "postgresql to sqlite"])
def test_a_server_moves_between_sqlite_and_postgresql(tmp_path, postgres_url, direction):
    sqlite_db = tmp_path / "bot.db"
    source, target = (sqlite_db, postgres_url) if direction.startswith("sqlite") else (postgres_url, sqlite_db)
    for text, date in ((FERRY, "2024-03-01"), (BRIDGE, "2024-03-02")):
        (tmp_path / "doc.txt").write_text(text, "utf-8")
        added = talksbot(source, "add", str(tmp_path / "doc.txt"), "--guild", "5", "--date", date)
        assert added.returncode == 0 and added.stdout.startswith("added #"), added.stderr
    (tmp_path / "doc.txt").write_text(MARKET, "utf-8")
    assert talksbot(source, "add", str(tmp_path / "doc.txt"), "--guild", "6").returncode == 0

    exported = talksbot(source, "export", str(tmp_path / "five.jsonl"), "--guild", "5")
    assert exported.stdout.strip() == f"exported 2 documents of server 5 to {tmp_path / 'five.jsonl'}", exported.stderr
    imported = talksbot(target, "import", str(tmp_path / "five.jsonl"))
    assert imported.stdout.strip() == "imported 2 documents; 0 already there, skipped", imported.stderr
    again = talksbot(target, "import", str(tmp_path / "five.jsonl"))
    assert again.stdout.strip() == "imported 0 documents; 2 already there, skipped"

    answer = json.loads(talksbot(target, "ask", "Why was the ferry suspended?", "--guild", "5", "--json").stdout)
    assert answer["answer"] == "The ferry service to Lamma Island was suspended because of the typhoon. [1]"
    assert answer["sources"][0]["title"] == "Harbor Report" and answer["sources"][0]["date"] == "2024-03-01"
    listed = talksbot(target, "docs", "--json")
    titles = {(d["title"], d.get("guild_id")) for d in json.loads(listed.stdout)}
    assert ("Harbor Report", 5) in titles and ("Bridge Closure", 5) in titles
    assert not any(title == "Market Notes" for title, _ in titles)  # server 6 was not exported
