"""The hostile uploads of the security review (issue 16), built byte for byte as the attacker did,
and a measure of how long the event loop is held meanwhile. Used by the tests of the limits; the
PDF writer also makes the plain PDFs of the reading tests.
"""

from __future__ import annotations

import asyncio
import time
import zlib


def nested_tables(cells: int = 16_000) -> bytes:
    """'<table><tr><td>x ' * 16000: 272 KB that took 52 s and 826 MB."""
    return ("<html><body>" + "<table><tr><td>x " * cells).encode()


def pdf(content: bytes, pages: int = 1, *, compress: bool = True, title: str | None = None) -> bytes:
    """A PDF whose ``pages`` pages all draw the same content stream (object 3), FlateDecode-compressed
    unless ``compress`` is false, with a Helvetica font and, if given, a title; the xref table correct.

    Written by hand: an attacker's PDF is bytes, and pypdf (which reads uploads) writes no text."""
    stream = zlib.compress(content, 9) if compress else content
    flate = b" /Filter /FlateDecode" if compress else b""
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    font = 4 + pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d%s >>\nstream\n" % (len(stream), flate) + stream + b"\nendstream",
        *(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
            for _ in range(pages)
        ),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title is not None:
        objects.append(b"<< /Title (%s) >>" % title.encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    info = b" /Info %d 0 R" % len(objects) if title is not None else b""
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


def text_pdf(lines: list[str], title: str = "Harbor Report") -> bytes:
    """A plain one-page PDF: ``lines`` of text one under the other, and its title."""
    text_ops = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    return pdf(f"BT /F1 12 Tf 72 720 Td {text_ops} ET".encode(), compress=False, title=title)


def shared_stream_pdf(pages: int = 3, megabytes: int = 5) -> bytes:
    """An ~8 KB PDF whose pages share one 5 MB content stream: 43 s, then accepted."""
    operator = b"BT /F1 12 Tf 72 712 Td (Lorem ipsum dolor sit amet) Tj ET\n"
    return pdf(operator * (megabytes * 2**20 // len(operator)), pages)


def small_pdf(text: str) -> bytes:
    return pdf(b"BT /F1 12 Tf 72 712 Td (%s) Tj ET\n" % text.encode(), 1)


def unpunctuated(kilobytes: int = 112) -> bytes:
    """A paragraph with no sentence punctuation, pysbd's quadratic case (10 s to add)."""
    words = " ".join(f"word{i % 97}" for i in range(kilobytes * 1024 // 7))
    return f"Long Paragraph\n\n{words} with the phrase quokka census at the end\n".encode()


def many_passages(count: int = 1_600_000) -> bytes:
    """'x\\n\\n' * 1.6 M, 4.8 MB: 1.6 M passages, 18.5 s and 1.37 GB."""
    return b"x\n\n" * count


def huge_word(size: int = 4_900_000) -> bytes:
    """One 4.9 MB word: 590 MB of regex stack in the analyzer."""
    return b"Word\n\n" + b"a" * size + b"\n"


HELD_TICK_S = 0.005


class HeldLoop:
    """``async with HeldLoop() as held: ...``; then ``held.worst_s``, ``held.worst_wall_s``.
    How long the event loop was held by this process's own work, robust to a busy machine.

    A 5 ms ticker on the loop is late either because a callback held the loop or because the machine
    gave the loop's thread no CPU (many agents share two cores here, and the bot's worker threads
    compete with it). Only the first is the bot's fault, and it shows as CPU time spent by the loop's
    own thread between two ticks: that is ``worst_s``. ``worst_wall_s`` is the raw lateness, for the
    report. (A worker thread holding the GIL in one long C call would not show in ``worst_s``; the
    passages are bounded in size so that no such call is long, see documents.MAX_PASSAGE_CHARS.)
    """

    def __init__(self) -> None:
        self.worst_s = 0.0  # CPU time the loop's thread spent between two ticks, beyond the tick
        self.worst_wall_s = 0.0  # raw lateness
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wall, cpu = loop.time(), time.thread_time()  # the ticker runs in the loop's thread
            await asyncio.sleep(HELD_TICK_S)
            self.worst_wall_s = max(self.worst_wall_s, loop.time() - wall - HELD_TICK_S)
            self.worst_s = max(self.worst_s, time.thread_time() - cpu)

    async def __aenter__(self) -> HeldLoop:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
