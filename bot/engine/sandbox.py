"""Reading an upload in a separate process with a time and memory budget it cannot exceed.

A hostile file under the size limit can make a parser run for minutes or take gigabytes (nested
HTML tables, a PDF whose pages share one huge content stream, a paragraph without punctuation for
the sentence splitter). So the whole parse step, bytes to passages (``extract_text`` and
``parse_text``, whatever extractor they use), runs in a child process. Children are forked from a
forkserver (a clean single-threaded process with the parsers already imported), so a start costs
milliseconds, and each child caps its own address space (RLIMIT_AS) and CPU time. The event loop
only reads a pipe; at the wall-time budget the child is killed.

``ParseQueue`` decides who may start a child: a fixed number at once, at most one per server, and
a bounded number waiting per server, so one server's uploads cannot starve another's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import pickle
import resource
from collections import defaultdict
from multiprocessing import spawn
from dataclasses import dataclass

from bot.engine.documents import DocumentError, ParsedDocument, found_title, parse_text
from bot.engine.ingest import ExtractedText, UploadError, extract_text

# The path of the parent's main script, for bot/engine/forkserver_main.py in the forkserver.
MAIN_PATH_VARIABLE = "TALKSBOT_FORKSERVER_MAIN"
# Imported once in the forkserver, so each child starts with them loaded.
_PRELOAD = ["bot.engine.sandbox", "pypdf", "selectolax.lexbor", "pysbd", "charset_normalizer", "bot.engine.markdown"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    timeout_s: float  # wall time, the child is killed after it
    memory_bytes: int  # address space of the child
    max_upload_bytes: int
    max_passages: int  # passages in one document


@dataclass(frozen=True, slots=True)
class ParseJob:
    """Bytes of an uploaded file (``data`` with ``filename``), or text that is already text."""

    data: bytes | None = None
    text: str | None = None
    filename: str | None = None
    title: str | None = None
    date: str | None = None
    extract_only: bool = False  # only the upload's text (ExtractedText), no passages


def parse_job(job: ParseJob, limits: ParseLimits) -> ParsedDocument | ExtractedText:
    """The parse itself, as the child runs it: upload -> text -> title, date and passages."""
    text, title = job.text, job.title
    if job.data is not None:
        extracted = extract_text(job.data, job.filename or "upload", max_bytes=limits.max_upload_bytes)
        if job.extract_only:
            return extracted
        text, title = extracted.text, job.title or found_title(extracted.title)  # <title>, PDF metadata
    assert text is not None
    # Checked before any work on the lines: a paragraph has at least one, and a text of far more
    # lines than passages allowed ("x\n\n" * 1.6 M) would be read for seconds only to be refused.
    if text.count("\n") > 8 * limits.max_passages:
        raise DocumentError(f"it has more than {8 * limits.max_passages:,} lines, too many for one document")
    return parse_text(text, filename=job.filename, title=title, date=job.date, max_passages=limits.max_passages)


def _child_main(out, job: ParseJob, limits: ParseLimits) -> None:
    """In the child: cap memory and CPU, parse, write ("ok", doc) or ("refused", reason) and exit."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = math.ceil(limits.timeout_s) + 1  # the parent kills at the wall budget; this is a backstop
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    os.nice(10)  # on a busy machine the bot's event loop gets the CPU first
    logging.disable(logging.CRITICAL)  # pypdf's warnings on damaged files are not for users; the refusal says it
    try:
        result: tuple = ("ok", parse_job(job, limits))
    except DocumentError as exc:
        result = ("refused", str(exc))
    except MemoryError:
        result = ("memory", None)
    except RecursionError:
        result = ("refused", "it is nested too deeply to read")
    payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    fd = out.fileno()
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
    out.close()


_context = None


def _get_context():
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        # multiprocessing re-imports the parent's main script in every child unless the
        # forkserver imported it once already (a script, e.g. the talksbot or pytest entry point):
        # forkserver_main imports it there, at the path the children will be sent.
        main_path = spawn.get_preparation_data("talksbot-parse").get("init_main_from_path")
        if main_path and os.path.isfile(main_path):
            os.environ[MAIN_PATH_VARIABLE] = main_path
        else:
            os.environ.pop(MAIN_PATH_VARIABLE, None)
        context.set_forkserver_preload(["bot.engine.forkserver_main", *_PRELOAD])
        _context = context
    return _context


def start_forkserver() -> None:
    """Start the forkserver now (about a second: a Python with the parsers imported), so the
    first upload does not wait for it. Blocking: call it in a thread."""
    _get_context()
    from multiprocessing import forkserver

    forkserver.ensure_running()


async def parse_in_child(job: ParseJob, limits: ParseLimits, *, name: str) -> ParsedDocument | ExtractedText:
    """Run ``parse_job`` in a child process within ``limits``; refusals are DocumentError."""
    context = _get_context()
    reading, writing = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(writing, job, limits), daemon=True)
    try:
        # start() talks to the forkserver (and starts it the first time): blocking, so in a thread.
        await asyncio.to_thread(process.start)
    finally:
        writing.close()  # the child has its own copy: EOF comes when it exits
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(os.dup(reading.fileno()), "rb", buffering=0)
    reading.close()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        payload = await asyncio.wait_for(reader.read(), limits.timeout_s)
    except TimeoutError:
        raise UploadError(
            f"{name} took too long to read (over {limits.timeout_s:g} s); it may be built to stall the reader"
        ) from None
    finally:
        transport.close()
        if process.is_alive():
            process.kill()
        await asyncio.to_thread(process.join, 5)
    if not payload:
        # Killed by its limits (RLIMIT_CPU sends SIGXCPU) or crashed inside a C parser.
        raise UploadError(f"{name} could not be read within the limits (time, memory) for one document")
    # In a thread: rebuilding tens of thousands of passages is Python code, which lets the loop run.
    status, value = await asyncio.to_thread(pickle.loads, payload)
    if status == "ok":
        return value
    if status == "memory":
        raise UploadError(f"{name} needs more memory to read than the limit of {limits.memory_bytes // 2**20} MB")
    raise UploadError(value if name == TEXT or value.startswith(name) else f"{name}: {value}")


TEXT = "the text"  # the name of text that is not from a file: its refusals are shown as they are


class QueueFull(DocumentError):
    """A server already has as many uploads waiting as it may."""


class ParseQueue:
    """At most ``workers`` parses at once, one per server at a time, ``per_server`` waiting each."""

    def __init__(self, workers: int, per_server: int) -> None:
        self._workers = asyncio.Semaphore(workers)
        self._per_server = per_server
        self._waiting: defaultdict[int, int] = defaultdict(int)
        self._server_turn: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def parse(self, job: ParseJob, limits: ParseLimits, *, server: int, name: str) -> ParsedDocument | ExtractedText:
        if self._waiting[server] >= self._per_server:
            raise QueueFull(
                f"this server already has {self._per_server} documents being read; add {name} when they are done"
            )
        self._waiting[server] += 1
        try:
            async with self._server_turn[server], self._workers:
                return await parse_in_child(job, limits, name=name)
        finally:
            self._waiting[server] -= 1
            if not self._waiting[server]:
                del self._waiting[server]
                self._server_turn.pop(server, None)
