"""Odd and hostile input at the command line (issue 16, items 8-11): one line, exit status 1,
nothing changed, nothing hanging, nothing reaching the operator's terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest


@pytest.fixture
def run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_") and k != "DISCORD_TOKEN"}
    env["TALKSBOT_DB"] = str(tmp_path / "cli.db")

    def run(*args: str, extra_env: dict[str, str] | None = None, timeout: float = 60):
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=tmp_path, env=env | (extra_env or {}), capture_output=True, text=True, timeout=timeout,
        )

    return run


def one_line_error(result, *fragments: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("talksbot:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def document_count(run) -> int:
    return len(json.loads(run("docs", "--json").stdout))


def test_terminal_escapes_in_a_document_never_reach_the_terminal(run, tmp_path):
    filler = " ".join(f"The harbor board met on day {i} and agreed on the budget." for i in range(40))
    text = f"Ferry Notice\n\n{filler}\n\nThe ferry \x1b]0;owned\x07\x1b[2J leaves at noon because of the tide.\x9b31m\n"
    (tmp_path / "escape.txt").write_text(text, encoding="utf-8")
    assert run("add", "escape.txt").returncode == 0
    for args in (["ask", "When does the ferry leave?"], ["search", "ferry noon tide"], ["ask", "ferry noon", "--json"]):
        out = run(*args).stdout
        assert "noon" in out
        assert not any(ch in out for ch in "\x1b\x07\x9b"), repr(out)
        assert "\\u001b" in out or "\\u009b" in out


def test_fifos_and_devices_are_refused_at_once(run, tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    one_line_error(run("add", "pipe.txt", timeout=20), "pipe.txt is not a regular file")
    one_line_error(run("add", "/dev/zero", timeout=20), "/dev/zero is not a regular file")
    one_line_error(run("import", "pipe.txt", timeout=20), "pipe.txt is not a regular file")
    assert document_count(run) == 1


def test_export_does_not_replace_a_fifo_or_a_symlink(run, tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")
    one_line_error(run("export", "pipe.jsonl", timeout=20), "not a regular file")
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "link.jsonl").symlink_to(target)
    one_line_error(run("export", "link.jsonl"), "not a regular file")
    assert (tmp_path / "link.jsonl").is_symlink() and target.read_text() == "keep me"
    assert (tmp_path / "pipe.jsonl").is_fifo()


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "talks", "--guild", "99999999999999999999"],
        ["ask", "talks", "--guild", "-3"],
        ["search", "talks", "--guild", "0"],
        ["add", "x.txt", "--guild", "²"],
    ],
    ids=["too-big", "negative", "zero", "superscript"],
)
def test_a_server_id_that_is_not_a_snowflake_is_one_line(run, args):
    one_line_error(run(*args), "is not a server id")


@pytest.mark.parametrize("reference", ["²", "9" * 5000], ids=["superscript-two", "5000-digits"])
def test_odd_document_references_are_one_line(run, reference):
    one_line_error(run("remove", reference), "No document")
    assert document_count(run) == 1


def test_an_import_line_with_a_lone_surrogate_is_one_line(run, tmp_path):
    line = {"title": "T", "date": None, "url": None, "guild_id": 5, "added_by": "a",
            "added_at": "2024-01-01T00:00:00+00:00", "body": "\ud800", "content_hash": "x"}
    (tmp_path / "bad.jsonl").write_text(json.dumps(line) + "\n")  # json.dumps writes "\ud800" as an escape
    one_line_error(run("import", "bad.jsonl"), "line 1", "body is not valid Unicode")
    assert document_count(run) == 1


def test_an_import_line_over_the_limit_is_refused_without_reading_it_all(run, tmp_path):
    (tmp_path / "long.jsonl").write_bytes(b'{"body": "' + b"a" * 300_000 + b'"}\n')
    one_line_error(run("import", "long.jsonl", extra_env={"TALKSBOT_MAX_UPLOAD_BYTES": "10000"}), "line 1: longer than")


def pdf_with_filter(filter_name: bytes) -> bytes:
    stream = zlib.compress(b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Length %d /Filter /%s >>\nstream\n" % (len(stream), filter_name) + stream + b"\nendstream",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def test_a_pdf_pypdf_cannot_decode_is_one_line(run, tmp_path):
    (tmp_path / "odd.pdf").write_bytes(pdf_with_filter(b"NoSuchDecode"))
    (tmp_path / "cut.pdf").write_bytes(pdf_with_filter(b"FlateDecode")[:300])
    for name in ("odd.pdf", "cut.pdf"):
        result = run("add", name)
        one_line_error(result, name)
    assert document_count(run) == 1


def test_a_binary_tail_after_clean_text_is_refused(run, tmp_path):
    (tmp_path / "tail.txt").write_bytes(b"Clean text here. " * 2000 + bytes(range(1, 32)) * 2000)
    one_line_error(run("add", "tail.txt"), "looks like a binary file")


def test_a_missing_second_file_adds_neither(run, tmp_path):
    """`talksbot add a.txt typo.txt`: the first file used to be added before the second was found
    missing, so the error left a change behind."""
    (tmp_path / "harbor.txt").write_text("Harbor Notes\n\nThe harbor master retired in May.\n", "utf-8")
    one_line_error(run("add", "harbor.txt", "typo.txt"), "cannot read typo.txt")
    one_line_error(run("add", "harbor.txt", str(tmp_path)), "is not a regular file")
    assert document_count(run) == 1


def test_a_store_path_that_is_a_folder_is_one_line(run, tmp_path):
    """`--db /tmp` (or TALKSBOT_DB=.): aiosqlite's failed connect left its thread to answer on a
    closed event loop, a traceback and an abort (status 134)."""
    for args, env in (((f"--db={tmp_path}", "docs"), None), (("docs",), {"TALKSBOT_DB": str(tmp_path)})):
        line = one_line_error(run(*args, extra_env=env), f"{tmp_path} is a folder")
        assert "Value error" not in line


@pytest.mark.parametrize("folds", ["1", "-1"])
def test_cross_validation_with_fewer_than_two_folds_is_one_line(run, folds):
    """`eval --cv 1` chose k1 and b on no queries and `--cv -1` printed 'cv_nDCG@10 0.0000 (-1 folds
    chose: )': figures that looked measured and were not."""
    tiny = Path(__file__).parent / "fixtures" / "tiny-beir"
    one_line_error(run("eval", str(tiny), "--cv", folds), "--cv", "2 or more")


@pytest.mark.parametrize("args", [["ask", "talks", "--limit", "abc"], ["bench", "--passages", "1e5"], ["eval", ".", "--cv", "x"]])
def test_a_count_that_is_not_a_number_is_one_plain_line(run, args):
    """It read 'argument --limit: invalid _positive_int value: 'abc'', naming a Python function."""
    line = one_line_error(run(*args), f"{args[-1]!r} is not a whole number")
    assert "_" not in line.split("(see")[0]
