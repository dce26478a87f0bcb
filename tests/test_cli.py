"""The real ``talksbot`` console script, run from a temporary folder with a temporary store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("talksbot")
TITLE = "Top U.S. and Chinese Defense Officials Hold Face-to-Face Meeting at the Pentagon, First Since January 2020"


@pytest.fixture
def run(tmp_path):
    """Run ``talksbot ARGS`` in tmp_path (not the checkout) with TALKSBOT_DB in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_") and k != "DISCORD_TOKEN"}
    env["TALKSBOT_DB"] = str(tmp_path / "store" / "cli.db")

    def run(*args: str, extra_env: dict[str, str] | None = None, module: bool = False):
        command = [sys.executable, "-m", "bot", *args] if module else [str(SCRIPT), *args]
        return subprocess.run(
            command, cwd=tmp_path, env=env | (extra_env or {}), capture_output=True, text=True, timeout=60
        )

    return run


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("talksbot:")
    for fragment in fragments:
        assert fragment in lines[0]


def test_console_script_is_installed():
    assert SCRIPT.is_file()


def test_ask_prints_the_answer_and_its_source(run, tmp_path):
    result = run("ask", "why were talks cancelled?")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "abruptly halted in 2023" in lines[0]
    assert lines[0].endswith("[1]")
    assert re.search(
        r"^\[1\] Top U\.S\. .* \(2024-01-10\), para 3: .*abruptly halted in 2023", result.stdout, re.MULTILINE
    )
    assert result.stderr == ""
    assert (tmp_path / "store" / "cli.db").is_file()  # the store named by TALKSBOT_DB


def test_ask_json(run):
    result = run("ask", "--json", "why were talks cancelled?")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    data = json.loads(result.stdout)
    assert {"question", "answer", "sources"} <= data.keys()
    assert data["question"] == "why were talks cancelled?"
    assert "abruptly halted in 2023" in data["answer"]
    assert data["sources"], "an answer has sources"
    for source in data["sources"]:
        assert {"n", "doc_id", "title", "date", "paragraph", "section", "snippet", "score"} <= source.keys()
    first = data["sources"][0]
    assert (first["n"], first["title"], first["date"], first["paragraph"]) == (1, TITLE, "2024-01-10", 3)
    assert first["section"] == "Resumption After a Tense Delay"
    assert isinstance(first["score"], float) and first["score"] > 0


def test_ask_json_without_answer(run):
    data = json.loads(run("ask", "--json", "How tall is Mount Everest?").stdout)
    assert data["answer"] is None
    assert data["sources"] == []
    assert data["message"]


def test_ask_without_answer_prints_the_message(run):
    result = run("ask", "Recommend a good pizza place")
    assert result.returncode == 0
    assert "couldn't find an answer" in result.stdout
    assert "[1]" not in result.stdout


def test_db_option(run, tmp_path):
    other = tmp_path / "elsewhere" / "other.db"
    result = run("--db", str(other), "ask", "why were talks cancelled?")
    assert result.returncode == 0, result.stderr
    assert "abruptly halted in 2023" in result.stdout
    assert other.is_file()
    assert not (tmp_path / "store" / "cli.db").exists()


def test_db_option_after_the_command(run, tmp_path):
    other = tmp_path / "after" / "other.db"
    result = run("ask", "why were talks cancelled?", "--db", str(other))
    assert result.returncode == 0, result.stderr
    assert "abruptly halted in 2023" in result.stdout
    assert other.is_file()
    assert not (tmp_path / "store" / "cli.db").exists()
    # given on both sides, the one after the command is the one used
    third = tmp_path / "third.db"
    listed = run("--db", str(other), "docs", "--json", "--db", str(third))
    assert listed.returncode == 0, listed.stderr
    assert third.is_file()


def test_ask_piped_into_head_prints_one_line_and_no_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_")}
    env["TALKSBOT_DB"] = str(tmp_path / "pipe.db")
    pipeline = f"{SCRIPT} ask 'why were talks cancelled?' | head -1"
    result = subprocess.run(["sh", "-c", pipeline], env=env, capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1
    assert "abruptly halted in 2023" in result.stdout


def test_a_reader_closing_the_pipe_first_gives_no_traceback(tmp_path):
    """The reader is gone before the answer is written: the write itself fails, every time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKSBOT_")}
    env["TALKSBOT_DB"] = str(tmp_path / "pipe.db")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [str(SCRIPT), "search", "talks", "--limit", "10"],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 1  # as Python's documentation does for a closed pipe


def test_measuring_commands_do_not_import_the_cli():
    """bot.measure shares the error type and report printer with the CLI through bot.console."""
    code = (
        "import sys; sys.modules['bot.cli'] = None\n"  # importing bot.cli now fails
        "import bot.measure.evaluation, bot.measure.bench, bot.measure.loadtest\n"
        "from bot.console import CommandError\n"
        "assert bot.measure.evaluation.CommandError is CommandError\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_add_docs_search_remove(run, tmp_path):
    note = tmp_path / "harbor.txt"
    note.write_text(
        "The ferry service to Lamma Island was suspended because of the typhoon.\n\n"
        "Ferries will resume when the storm signal is lowered.\n",
        encoding="utf-8",
    )
    added = run("add", str(note), "--title", "Harbor Report", "--date", "2024-03-01")
    assert added.returncode == 0, added.stderr
    assert "Harbor Report" in added.stdout

    docs = json.loads(run("docs", "--json").stdout)
    assert [d["title"] for d in docs] == [TITLE, "Harbor Report"]
    for d in docs:
        assert {"id", "title", "date", "passages"} <= d.keys()
    harbor = docs[1]
    assert (harbor["date"], harbor["passages"]) == ("2024-03-01", 2)
    assert (docs[0]["date"], docs[0]["passages"]) == ("2024-01-10", 5)

    search = run("search", "--json", "ferry typhoon")
    assert search.returncode == 0, search.stderr
    results = json.loads(search.stdout)["results"]
    assert results and results[0]["doc_id"] == harbor["id"]
    assert "typhoon" in results[0]["snippet"]
    assert {"n", "doc_id", "title", "date", "paragraph", "section", "snippet", "score"} <= results[0].keys()

    answer = run("ask", "Why was the ferry service suspended?")
    assert "because of the typhoon" in answer.stdout

    again = run("add", str(note), "--title", "Harbor Report")
    assert again.returncode == 0 and "not added again" in again.stdout
    assert len(json.loads(run("docs", "--json").stdout)) == 2

    removed = run("remove", str(harbor["id"]))
    assert removed.returncode == 0, removed.stderr
    assert "Harbor Report" in removed.stdout
    assert [d["title"] for d in json.loads(run("docs", "--json").stdout)] == [TITLE]
    assert "No passage matches" in run("search", "ferry typhoon").stdout


def test_remove_by_title_and_plain_docs(run):
    listing = run("docs")
    assert listing.returncode == 0 and "2024-01-10" in listing.stdout and "5 passages" in listing.stdout
    removed = run("remove", "top u.s. and chinese")
    assert removed.returncode == 0, removed.stderr
    assert run("docs").stdout.strip() == "No documents."


def test_python_dash_m_bot(run):
    result = run("ask", "why were talks cancelled?", module=True)
    assert result.returncode == 0, result.stderr
    assert "abruptly halted in 2023" in result.stdout
    assert "[1] Top U.S." in result.stdout


# -- errors -----------------------------------------------------------------------------------------


def test_missing_file(run, tmp_path):
    assert_one_line_error(run("add", str(tmp_path / "missing.txt")), "missing.txt")


def test_bad_date(run, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Some notes about the talks.", encoding="utf-8")
    assert_one_line_error(run("add", str(note), "--date", "2024-13-45"), "date")
    assert len(json.loads(run("docs", "--json").stdout)) == 1  # nothing was added


def test_empty_question(run):
    assert_one_line_error(run("ask", "   "))


def test_bad_k1_setting(run):
    assert_one_line_error(run("ask", "why?", extra_env={"TALKSBOT_K1": "abc"}), "invalid configuration", "k1")


def test_unknown_document(run):
    assert_one_line_error(run("remove", "no such article"), "no such article")


def test_adding_a_document_without_terms_keeps_the_store_usable(run, tmp_path):
    """Regression: when no indexed passage has a term (the bundled article removed, then a note of stop
    words with a stop-word title), building the index divides by zero in rank_bm25's _calc_idf.
    The document is already stored, so every later command crashes with a traceback at start."""
    assert run("remove", "1").returncode == 0
    note = tmp_path / "note.txt"
    note.write_text("It is what it is.\n", encoding="utf-8")
    added = run("add", str(note), "--title", "Why not")
    assert "Traceback" not in added.stderr
    docs = run("docs")
    assert docs.returncode == 0, docs.stderr
    assert "Traceback" not in docs.stderr


def test_add_html_page(run, tmp_path):
    """BUG (same as tests/engine/test_ingest.py HTML tests): ingest imports selectolax.parser,
    which selectolax >= 1.0 (allowed by pyproject) replaced with an ImportError: a traceback."""
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Harbor Page</title></head><body>"
        "<p>The ferry service was suspended because of the typhoon.</p></body></html>",
        encoding="utf-8",
    )
    added = run("add", str(page))
    assert "Traceback" not in added.stderr
    assert added.returncode == 0, added.stderr
    assert "Harbor Page" in run("docs").stdout


def test_run_without_a_token_is_one_clear_line(run):
    assert_one_line_error(run("run"), "DISCORD_TOKEN")


def test_sync_without_a_token_is_one_clear_line(run):
    assert_one_line_error(run("sync", "--guild", "123"), "DISCORD_TOKEN")


def test_a_20000_character_question_is_one_clear_line(run):
    assert_one_line_error(run("ask", "why were talks cancelled? " * 800), "too long")


def test_remove_by_a_missing_number_removes_nothing(run, tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("The ferry ran late all year.\n", encoding="utf-8")
    assert run("add", str(report), "--title", "Annual Report 2017").returncode == 0
    assert_one_line_error(run("remove", "7"), "No document #7 (see talksbot docs)")  # "7" is in "2017"
    assert_one_line_error(run("remove", "²"), "No document titled “²”")  # not an ASCII number: a title
    assert len(json.loads(run("docs", "--json").stdout)) == 2


# -- adding by link ---------------------------------------------------------------------------

PRIVATE_OK = {"TALKSBOT_ALLOW_PRIVATE_URLS": "1"}
FERRY_TITLE = "Harbor City Ferry Service Suspended After Typhoon"


def test_add_a_news_page_by_its_link(run, news_site):
    added = run("add", f"{news_site.base}/news/ferry", "--guild", "77", extra_env=PRIVATE_OK)
    assert added.returncode == 0, added.stderr
    assert f"'{FERRY_TITLE}'" in added.stdout and "https://coastal-ledger.example/news/2024/03/ferry-suspended" in added.stdout
    [doc] = [d for d in json.loads(run("docs", "--json").stdout) if d["guild_id"] == 77]
    assert (doc["title"], doc["date"]) == (FERRY_TITLE, "2024-03-14")
    answer = json.loads(run("ask", "How long will the pier repairs take?", "--guild", "77", "--json").stdout)
    assert "about six weeks" in answer["answer"] and answer["sources"][0]["title"] == FERRY_TITLE
    for word in ("zeppelins", "trampoline", "accordion"):  # menu, cookie banner, footer
        found = json.loads(run("search", word, "--guild", "77", "--json").stdout)
        assert found["results"] == [], word


def test_a_local_link_is_refused_without_the_setting_and_nothing_is_added(run, news_site):
    before = run("docs", "--json").stdout
    assert_one_line_error(
        run("add", f"{news_site.base}/news/ferry", "--guild", "77"), "refused: 127.0.0.1 is a loopback address"
    )
    assert_one_line_error(
        run("add", "http://169.254.169.254/latest/meta-data/", extra_env=PRIVATE_OK), "link-local"
    )
    assert_one_line_error(run("add", "file:///etc/passwd"), "only http:// and https://", "not file")
    assert_one_line_error(run("add", "ftp://files.example/a.txt"), "not ftp")
    assert run("docs", "--json").stdout == before
    assert news_site.requests == []


# -- gaps and teaching --------------------------------------------------------------------------


def test_gaps_and_teaching_loop(run):
    question = "Who represented the Chinese side?"
    for wording in (question, "who represented the chinese side"):
        asked = json.loads(run("ask", wording, "--guild", "5", "--json").stdout)
        assert asked["answer"] is None
    assert json.loads(run("ask", question, "--json").stdout)["answer"] is None  # no server: no gap
    [gap] = json.loads(run("gaps", "--guild", "5", "--json").stdout)
    assert (gap["question"], gap["count"]) == ("who represented the chinese side", 2)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", gap["last_asked"])
    assert gap["closest"] and all(c["title"] == TITLE for c in gap["closest"])
    assert json.loads(run("gaps", "--guild", "6", "--json").stdout) == []
    taught = run("teach", question, "--passage", "#1:1", "--guild", "5")
    assert taught.returncode == 0, taught.stderr
    assert "server 5" in taught.stdout and "para 1" in taught.stdout
    for wording in (question, "Who represented the Chinese side at the talks?"):
        answer = json.loads(run("ask", wording, "--guild", "5", "--json").stdout)
        assert "Michael Chase and China’s Maj. Gen. Song Yanchao" in answer["answer"], wording
        assert answer["sources"][0]["paragraph"] == 1 and answer["taught"] == question
    shown = run("ask", question, "--guild", "5").stdout.splitlines()
    assert "Michael Chase" in shown[0] and shown[1] == "An admin linked this question to source [1]."
    assert json.loads(run("ask", question, "--guild", "6", "--json").stdout)["answer"] is None
    assert json.loads(run("gaps", "--guild", "5", "--json").stdout) == []  # the gap was closed
    listed = run("gaps").stdout
    assert "server 6" in listed and "Who represented the Chinese side?" in listed


def test_teach_refuses_a_bad_passage_in_one_line(run):
    assert_one_line_error(run("teach", "Who led?", "--passage", "1", "--guild", "5"), "DOC:PARAGRAPH")
    assert_one_line_error(run("teach", "Who led?", "--passage", "1:99", "--guild", "5"), "has no paragraph 99")
    assert_one_line_error(run("teach", "Who led?", "--passage", "Nonexistent title:1", "--guild", "5"), "No document titled")


RANGER_LOG = """Ranger Log

The nightjar nightjar nightjar calls were recorded at dusk by the rangers.

The survey covered the heath and the burned heath near the old quarry this summer.

Counting stopped because a fire burned the heath where the nightjar nests.
"""


def test_search_scores_a_server_sees_ignore_another_servers_documents(run, tmp_path):
    """Issue 16, item 5: `search --guild` prints scores; another server's private adds move none."""
    log, memo = tmp_path / "log.txt", tmp_path / "memo.txt"
    log.write_text(RANGER_LOG, "utf-8")
    memo.write_text("Operation Nightjar\n\n" + "\n\n".join(f"Nightjar phase {i}: the nightjar unit moves." for i in range(8)))
    assert run("add", str(log), "--guild", "222").returncode == 0

    def scores(*guild: str) -> list[tuple[str, int, float]]:
        found = json.loads(run("search", "nightjar heath", *guild, "--json").stdout)["results"]
        return [(hit["title"], hit["paragraph"], hit["score"]) for hit in found]

    before, everywhere_before = scores("--guild", "222"), scores()
    assert [paragraph for _, paragraph, _ in before] == [3, 1, 2]
    assert run("add", str(memo), "--guild", "111").returncode == 0
    assert scores("--guild", "222") == before
    # Without --guild the command line searches every server: there the memo does count.
    assert scores()[:3] != everywhere_before[:3]


def test_run_and_sync_with_discord_out_of_reach_end_in_one_clear_line(run):
    """Offline (or Discord down), `talksbot run` printed aiohttp's 60-line traceback. Where the
    network is up, Discord refuses the token instead: one line either way."""
    for command in ("run", "sync"):
        result = run(command, extra_env={"DISCORD_TOKEN": "not-a-real-token"})
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]  # `run` logs discord.py's start above it
        assert re.fullmatch(r"talksbot: (cannot reach Discord: .+|Discord rejected the token in DISCORD_TOKEN)", last), last


def test_one_passage_is_not_passages(run, tmp_path):
    (tmp_path / "harbor.txt").write_text("Harbor Notes\n\nThe harbor master retired in May.\n", "utf-8")
    assert run("add", "harbor.txt").stdout == "added #2 'Harbor Notes' (1 passage)\n"
    assert re.search(r"^#2 +1 passage +everywhere +Harbor Notes$", run("docs").stdout, re.MULTILINE)


def test_a_source_added_with_its_url_shows_the_url(run, tmp_path):
    (tmp_path / "harbor.txt").write_text("Harbor Notes\n\nThe harbor master retired in May.\n", "utf-8")
    assert run("add", "harbor.txt", "--url", "https://harbor.example/notes").returncode == 0
    for args in (("ask", "When did the harbor master retire?"), ("search", "harbor master")):
        out = run(*args).stdout
        assert "[1] Harbor Notes <https://harbor.example/notes>, para 1: The harbor master retired in May." in out, out


COMMANDS = ["ask", "search", "add", "remove", "docs", "export", "import", "gaps", "teach", "run", "sync", "eval", "bench", "loadtest"]


def test_every_option_in_help_says_what_it_does(run):
    """`talksbot search --help` listed --json and --limit with nothing after them (so did add --title,
    eval --split, bench and loadtest): a newcomer could not tell what they take or default to."""
    bare = []
    for command in COMMANDS:
        lines = run(command, "--help").stdout.splitlines()
        for line, following in zip(lines, [*lines[1:], ""]):
            option = re.fullmatch(r"  (-[^ ].*?)(?: {2,}(\S.*))?", line)
            described = option and (option[2] or re.match(r" {10,}\S", following))
            if option and not described:
                bare.append(f"{command} {option[1]}")
    assert bare == []
    assert "how many passages (default 5)" in run("search", "--help").stdout


def test_a_store_path_starting_with_a_tilde_is_in_the_home_folder(run, tmp_path):
    """TALKSBOT_DB=~/talksbot.db (quoted, as in an .env file or a systemd unit, where no shell
    expands it) made a folder named '~' in the current one and the store inside it."""
    home = tmp_path / "home"
    home.mkdir()
    for args, env in ((("docs",), {"TALKSBOT_DB": "~/env.db"}), (("--db=~/option.db", "docs"), {})):
        result = run(*args, extra_env={"HOME": str(home)} | env)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in home.iterdir() if p.suffix == ".db") == ["env.db", "option.db"]
    assert not (tmp_path / "~").exists()


def test_an_unknown_option_points_to_its_commands_help(run, tmp_path):
    """`talksbot add notes.txt --tilte X` said '(see talksbot --help)', whose page lists the
    commands but not add's options."""
    (tmp_path / "notes.txt").write_text("Harbor Notes\n\nThe harbor master retired in May.\n", "utf-8")
    assert_one_line_error(
        run("add", "notes.txt", "--tilte", "X"), "talksbot: unrecognized arguments: --tilte X (see talksbot add --help)"
    )
    assert_one_line_error(run("ask", "why?", "--jsno"), "(see talksbot ask --help)")
    assert len(json.loads(run("docs", "--json").stdout)) == 1
