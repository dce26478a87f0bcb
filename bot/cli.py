"""The ``talksbot`` command: the engine from a terminal, no Discord token needed.

Every subcommand is an async function taking the parsed arguments and the settings. Expected
errors print one line on stderr and exit 1; there is never a traceback for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import stat
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import BinaryIO, NoReturn, TextIO
from pathlib import Path

from pydantic import ValidationError

from bot.console import CommandError
from bot.engine.answer import shorten
from bot.engine.documents import DocumentError, passage_count
from bot.engine.service import Answer, Engine, QuestionError, Source, UnknownDocument
from bot.engine.teaching import TAUGHT_NOTE
from bot.settings import Settings
from bot.store import BUNDLED, DuplicateDocument, StoreError, describe_error, open_store
from bot.transfer import TransferError, export_documents, import_documents, read_export

EXIT_ERROR = 1


def _format_source(source: Source) -> str:
    date = f" ({source.date})" if source.date else ""
    url = f" <{source.url}>" if source.url else ""  # angle brackets: the comma after is not the link's
    return f"[{source.n}] {source.title}{date}{url}, para {source.paragraph}: {source.snippet}"


def format_answer(answer: Answer) -> str:
    if answer.answer is None:
        lines = [answer.message or "No answer."]
        if answer.closest:
            lines += ["", "Closest passages (they do not answer the question):"]
            lines += [_format_source(s) for s in answer.closest]
        return "\n".join(lines)
    taught = [TAUGHT_NOTE] if answer.taught else []
    return "\n".join([answer.answer, *taught, "", *(_format_source(s) for s in answer.sources)])


async def _with_engine(settings: Settings, work: Callable[[Engine], Awaitable[int]], *, preload: bool = False) -> int:
    engine = await Engine.open(settings, preload=preload)
    try:
        return await work(engine)
    finally:
        await engine.close()


async def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    async def work(engine: Engine) -> int:
        answer = await engine.ask(args.question, guild_id=args.guild, limit=args.limit, everything=args.guild is None)
        print(json.dumps(answer.to_json(), ensure_ascii=False) if args.json else format_answer(answer))
        return 0

    return await _with_engine(settings, work, preload=True)  # the answer needs the model


async def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    async def work(engine: Engine) -> int:
        result = await engine.search(args.query, guild_id=args.guild, limit=args.limit, everything=args.guild is None)
        if args.json:
            print(json.dumps({"query": result.query, "results": [s.to_json() for s in result.hits]}, ensure_ascii=False))
        elif not result.hits:
            print("No passage matches.")
        else:
            for source in result.hits:
                print(f"{source.score:7.3f}  {_format_source(source)}")
        return 0

    return await _with_engine(settings, work, preload=True)


_LINK = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")  # any scheme: ftp:// and file:// are refused by name


async def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    if len(args.files) > 1 and args.title:
        raise CommandError("--title names one document: add the files one at a time")
    if args.url and any(_LINK.match(name) for name in args.files):
        raise CommandError("--url is the source of a file; a link is its own source")

    # Every file is read before anything is added: a mistyped second name must not leave the
    # first added behind its error.
    files = {name: read_regular_file(Path(name), settings.max_upload_bytes) for name in args.files if not _LINK.match(name)}

    async def work(engine: Engine) -> int:
        for name in args.files:
            if _LINK.match(name):
                try:
                    record = await engine.add_url(
                        name, guild_id=args.guild or BUNDLED, added_by="cli", title=args.title, date=args.date
                    )
                except DuplicateDocument as exc:
                    print(f"{name}: {exc}; not added again")
                    continue
                print(f"added #{record.id} {record.title!r} ({passage_count(record.passages)}) from {record.url}")
                continue
            path, data = Path(name), files[name]
            try:
                record = await engine.add_file(
                    data,
                    path.name,
                    guild_id=args.guild or BUNDLED,
                    added_by="cli",
                    title=args.title,
                    date=args.date,
                    url=args.url,
                )
            except DuplicateDocument as exc:
                print(f"{name}: {exc}; not added again")
                continue
            print(f"added #{record.id} {record.title!r} ({passage_count(record.passages)})")
        return 0

    return await _with_engine(settings, work)


async def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    async def work(engine: Engine) -> int:
        doc = await engine.resolve(args.document, None, everything=True)
        await engine.remove(doc.id, removed_by="cli")
        print(f"removed #{doc.id} {doc.title!r}")
        return 0

    return await _with_engine(settings, work)


async def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    async def work(engine: Engine) -> int:
        docs = await engine.documents(None, everything=True)
        if args.json:
            rows = [
                {
                    "id": d.id,
                    "title": d.title,
                    "date": d.date,
                    "passages": d.passages,
                    "url": d.url,
                    "guild_id": d.guild_id or None,
                    "added_by": d.added_by,
                    "added_at": d.added_at,
                }
                for d in docs
            ]
            print(json.dumps(rows, ensure_ascii=False))
        else:
            for d in docs:
                scope = "everywhere" if d.guild_id == BUNDLED else f"server {d.guild_id}"
                print(f"#{d.id:<4} {d.date or '':10}  {d.passages:4} {'passage' if d.passages == 1 else 'passages':8}  {scope:20}  {d.title}")
            if not docs:
                print("No documents.")
        return 0

    return await _with_engine(settings, work)


async def cmd_gaps(args: argparse.Namespace, settings: Settings) -> int:
    async def work(engine: Engine) -> int:
        rows = []
        for gap in await engine.gaps(args.guild):
            closest = [
                {"doc_id": p.doc_id, "title": p.title, "paragraph": p.paragraph, "snippet": shorten(p.text, 200)}
                for p in await engine.gap_passages(gap)
            ]
            rows.append(
                {"question": gap.question, "count": gap.count, "last_asked": gap.last_asked, "closest": closest}
                | ({} if args.guild is not None else {"guild_id": gap.guild_id})
            )
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
        elif not rows:
            print("No unanswered questions.")
        for row in [] if args.json else rows:
            where = f"  server {row['guild_id']}" if "guild_id" in row else ""
            print(f"{row['count']:>3}x  last asked {row['last_asked'][:16]}{where}  {row['question']}")
            for c in row["closest"]:
                print(f"       closest: #{c['doc_id']} {c['title']}, para {c['paragraph']}")
        return 0

    return await _with_engine(settings, work)


async def cmd_teach(args: argparse.Namespace, settings: Settings) -> int:
    reference, _, paragraph = args.passage.rpartition(":")
    if not reference or not paragraph.isdigit():
        raise CommandError("--passage is DOC:PARAGRAPH, e.g. 1:3 or '#1:3' or 'Harbor Notes:2'")
    guild_id = args.guild or BUNDLED

    async def work(engine: Engine) -> int:
        record = await engine.teach_paragraph(guild_id, args.question, reference, int(paragraph), taught_by="cli")
        [(_, passage)] = [(r, p) for r, p in await engine.taught(guild_id) if r.id == record.id]
        print(f"taught {_scope(guild_id)}: {record.question!r} is answered from #{passage.doc_id} {passage.title!r}, para {passage.paragraph}")
        return 0

    return await _with_engine(settings, work)


async def _with_store(settings: Settings, work: Callable[[Engine], Awaitable[int]]) -> int:
    """Like _with_engine, without building the index first (export and import do not search)."""
    store = await open_store(settings.db, busy_timeout_s=settings.busy_timeout_s)
    try:
        engine = Engine(store, settings)
        await engine.seed_bundled()
        return await work(engine)
    finally:
        await store.close()


def _scope(guild_id: int) -> str:
    return "the bundled scope (guild 0)" if guild_id == BUNDLED else f"server {guild_id}"


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    guild_id = BUNDLED if args.guild is None else args.guild

    async def work(engine: Engine) -> int:
        count = await export_documents(engine.store, args.file, guild_id=guild_id)
        print(f"exported {count} document{'s' * (count != 1)} of {_scope(guild_id)} to {args.file}")
        return 0

    return await _with_store(settings, work)


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    # Every line is checked before the store is even opened: a damaged file changes nothing.
    documents = read_export(args.file, max_body_bytes=settings.max_upload_bytes, guild_id=args.guild)

    async def work(engine: Engine) -> int:
        result = await import_documents(engine, documents, imported_by="cli")
        added, skipped = len(result.added), len(result.skipped)
        where = f" into {_scope(args.guild)}" if args.guild is not None else ""
        print(f"imported {added} document{'s' * (added != 1)}{where}; {skipped} already there, skipped")
        return 0

    return await _with_store(settings, work)


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.client import run_bot

    async with _reaching_discord():
        return await run_bot(settings)


async def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from bot.client import sync_commands

    async with _reaching_discord():
        return await sync_commands(settings, guild_id=args.guild)


@contextlib.asynccontextmanager
async def _reaching_discord():
    """Logging in with no network (or Discord down) is an error worth one line, not aiohttp's
    traceback. Once connected, discord.py reconnects by itself."""
    import aiohttp

    try:
        yield
    except aiohttp.ClientConnectionError as exc:
        raise CommandError(f"cannot reach Discord: {exc}") from None


async def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.measure.evaluation import run_eval_command

    return await run_eval_command(args, settings)


async def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.measure.bench import run_bench_command

    return await run_bench_command(args, settings)


async def cmd_loadtest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.measure.loadtest import run_loadtest_command

    return await run_loadtest_command(args, settings)


def _whole_number(value: str) -> int:
    # Said here: argparse's own message names the function ("invalid _positive_int value").
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def _positive_int(value: str) -> int:
    number = _whole_number(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _folds(value: str) -> int:
    # One fold would choose k1 and b on no queries at all: a figure that only looks held out.
    number = _whole_number(value)
    if number < 2:
        raise argparse.ArgumentTypeError("cross-validation needs 2 or more folds")
    return number


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most ``max_bytes``: a FIFO would block for ever and /dev/zero
    never ends, and st_size says nothing about either."""
    try:
        with open_regular_file(path) as file:
            data = file.read(max_bytes + 1)
    except NotRegularFile:
        raise CommandError(f"{path} is not a regular file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise CommandError(f"{path} is larger than the limit of {max_bytes // 1000:,} kB")
    return data


class NotRegularFile(OSError):
    pass


def open_regular_file(path: Path) -> BinaryIO:
    """Open a regular file for reading; NotRegularFile for anything else. Opened non-blocking
    first: opening a FIFO that no one writes to would wait for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


MAX_SNOWFLAKE = 2**63 - 1  # Discord ids are 64-bit snowflakes; SQLite stores up to 2**63 - 1


def _number(value: str) -> int:
    # ASCII digits only: int() also takes "²"-like digits and "1_000", and 5,000 digits raise.
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise argparse.ArgumentTypeError(f"{value!r} is not a server id (digits, as Discord shows them)")
    return int(value)


def _snowflake(value: str) -> int:
    """A Discord server id: 0 < id < 2**63."""
    number = _number(value)
    if not 0 < number <= MAX_SNOWFLAKE:
        raise argparse.ArgumentTypeError(f"{value} is not a server id (1 to {MAX_SNOWFLAKE})")
    return number


def _guild_id(value: str) -> int:
    """A server id, or 0 for the bundled documents (export and import)."""
    number = _number(value)
    if number > MAX_SNOWFLAKE:
        raise argparse.ArgumentTypeError(f"{value} is not a server id (0 for the bundled ones, or up to {MAX_SNOWFLAKE})")
    return number


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line and exit status 1, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"talksbot: {terminal_safe(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="talksbot", description="Answers questions about news articles, with citations.")
    db_help = "SQLite file or postgresql:// URL (default: $TALKSBOT_DB or the user data directory); before or after the command"
    parser.add_argument("--db", help=db_help)
    # The global options again on every subcommand, so `talksbot ask Q --db PATH` works too.
    # SUPPRESS: a subcommand that was not given --db keeps the value from before the command.
    global_options = argparse.ArgumentParser(add_help=False)
    global_options.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[global_options], **kwargs)

    parser.set_defaults(subparsers=subparsers)


    ask = command("ask", help="answer a question with the sentence that answers it and its sources")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--limit", type=_positive_int, default=None, help="how many sources (default: TALKSBOT_SOURCES, 3)")
    ask.add_argument("--guild", type=_snowflake, help="ask as this server sees the documents")
    ask.set_defaults(handler=cmd_ask)

    search = command("search", help="the best matching passages with their scores")
    search.add_argument("query")
    search.add_argument("--json", action="store_true", help="print one JSON object")
    search.add_argument("--limit", type=_positive_int, default=5, help="how many passages (default 5)")
    search.add_argument("--guild", type=_snowflake, help="search as this server sees the documents")
    search.set_defaults(handler=cmd_search)

    add = command("add", help="add documents: files (text, Markdown, HTML, PDF) or links to pages")
    add.add_argument("files", nargs="+", metavar="FILE_OR_URL")
    add.add_argument("--title", help="the title (default: the document's own, else the file name)")
    add.add_argument("--date", help="YYYY-MM-DD")
    add.add_argument("--url", help="the source URL")
    add.add_argument("--guild", type=_snowflake, help="the server it belongs to (default: visible everywhere)")
    add.set_defaults(handler=cmd_add)

    remove = command("remove", help="remove a document by id or title")
    remove.add_argument("document", metavar="DOC")
    remove.set_defaults(handler=cmd_remove)

    docs = command("docs", help="list the documents")
    docs.add_argument("--json", action="store_true", help="print one JSON list")
    docs.set_defaults(handler=cmd_docs)

    export = command(
        "export",
        help="write one server's documents to a JSON Lines file, a backup (default: guild 0, the bundled ones)",
        description="Write the documents of one server to FILE, one JSON object per line (title, date, url, "
        "guild_id, added_by, added_at, body, content_hash). Without --guild: the bundled documents "
        "(guild 0, those visible everywhere), not every server's. FILE is replaced only when complete.",
    )
    export.add_argument("file", type=Path, metavar="FILE")
    export.add_argument("--guild", type=_guild_id, help="the server whose documents to write (default: 0, the bundled ones)")
    export.set_defaults(handler=cmd_export)

    import_ = command(
        "import",
        help="add the documents of a file written by export",
        description="Add the documents of FILE (written by talksbot export). Every line is checked first "
        "(JSON, fields, content hash, date); if any line is damaged nothing is added. Then all are added "
        "in one transaction; documents already in their server are skipped and counted.",
    )
    import_.add_argument("file", type=Path, metavar="FILE")
    import_.add_argument(
        "--guild", type=_guild_id, help="put the documents in this server (default: the server each line names)"
    )
    import_.set_defaults(handler=cmd_import)

    gaps = command(
        "gaps", help="questions a server asked that the documents did not answer (and Not helpful votes)"
    )
    gaps.add_argument("--guild", type=_guild_id, help="only this server's (default: every server's)")
    gaps.add_argument("--json", action="store_true", help="a list of {question, count, last_asked, closest}")
    gaps.set_defaults(handler=cmd_gaps)

    teach = command(
        "teach",
        help="answer a question (and close variants) from a chosen passage",
        description="Answer QUESTION, and questions worded closely like it, from paragraph PARAGRAPH of "
        "document DOC (an id like 3 or #3, or a title), in one server (default: guild 0, questions "
        "asked without a server). Closes the question's gap.",
    )
    teach.add_argument("question", metavar="QUESTION")
    teach.add_argument("--passage", required=True, metavar="DOC:PARAGRAPH", help="the paragraph that answers, e.g. 1:3")
    teach.add_argument("--guild", type=_guild_id, help="the server taught (default: 0, questions without a server)")
    teach.set_defaults(handler=cmd_teach)

    run = command("run", help="run the Discord bot (needs DISCORD_TOKEN)")
    run.set_defaults(handler=cmd_run)

    sync = command("sync", help="register the slash commands with Discord now")
    sync.add_argument("--guild", type=_snowflake, help="only in this server (instant), instead of globally")
    sync.set_defaults(handler=cmd_sync)

    evaluate = command(
        "eval", help="measure retrieval on a BEIR-format folder, or answer-or-abstain on a SQuAD 2.0 .json file"
    )
    evaluate.add_argument("dir", type=Path, metavar="PATH")
    evaluate.add_argument("--split", default="test", help="BEIR: the judgements qrels/SPLIT.tsv (default test)")
    evaluate.add_argument(
        "--run",
        type=Path,
        help="BEIR: TREC run file to write (default: DIR-name.run in the current folder); "
        "SQuAD: one JSON line per question {id, answer, confidence}",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--cv", type=_folds, default=0, metavar="K", help="also choose k1 and b by K-fold cross-validation over the queries"
    )
    evaluate.set_defaults(handler=cmd_eval)

    bench = command("bench", help="measure speed and memory on a generated corpus")
    bench.add_argument("--passages", type=_positive_int, default=100_000, help="passages generated (default 100000)")
    bench.add_argument("--queries", type=_positive_int, default=100, help="questions timed (default 100)")
    bench.add_argument("--no-peers", action="store_true", help="skip rank_bm25 and bm25s (slow at a million passages)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(handler=cmd_bench)

    loadtest = command("loadtest", help="questions per second through the Discord layer (needs the test extra)")
    loadtest.add_argument("--questions", type=_positive_int, default=200, help="questions asked at once (default 200)")
    loadtest.add_argument("--servers", type=_positive_int, default=4, help="servers they are asked in (default 4)")
    loadtest.add_argument("--json", action="store_true", help="print one JSON object")
    loadtest.set_defaults(handler=cmd_loadtest)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return Settings(db=args.db) if args.db else Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise CommandError(f"invalid configuration: {problems}") from None


_CONTROLS = {code: f"\\u{code:04x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in "\n\t"}


def terminal_safe(text: str) -> str:
    """Control characters shown as \\uXXXX: a document's ESC sequences must not drive the
    operator's terminal (retitle it, clear it). Valid inside JSON strings too."""
    return text.translate(_CONTROLS)


class _TerminalSafe(io.TextIOBase):
    """stdout that writes every text through ``terminal_safe``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(terminal_safe(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()


def main(argv: list[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # said by the command's parser, so the hint is its --help, not talksbot's
        args.subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    stdout = sys.stdout
    sys.stdout = _TerminalSafe(stdout)
    try:
        return _run(args)
    finally:
        sys.stdout = stdout


def _run(args: argparse.Namespace) -> int:
    settings: Settings | None = None
    try:
        settings = _settings(args)
        status = asyncio.run(args.handler(args, settings))
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at exit
        return status
    except BrokenPipeError:
        # The reader went away (`talksbot ask Q | head -1`). As Python's documentation advises
        # (signal module, "Note on SIGPIPE"): point stdout at devnull so the flush at exit does
        # not raise again, and stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except UnknownDocument as exc:
        print(f"talksbot: {terminal_safe(exc.describe('talksbot docs'))}", file=sys.stderr)
        return EXIT_ERROR
    except (CommandError, QuestionError, DocumentError, StoreError, TransferError) as exc:
        print(f"talksbot: {terminal_safe(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except sqlite3.Error as exc:  # a store failure outside the store's own error paths: still one line
        path = settings.db if settings is not None else Path("the store")
        print(f"talksbot: {describe_error(exc, path, settings and settings.busy_timeout_s)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
