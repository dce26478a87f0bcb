"""Export and import a server's documents as JSON Lines: backups, and moves between stores.

One document per line, a JSON object with exactly the fields of ``FIELDS``. The body is the
document's stored text; its passages are cut again from it on import, the same way as when it
was added. An import checks every line before it changes anything: one damaged line (not JSON,
a missing or wrongly typed field, a body whose content hash does not match, an invalid date) and
nothing is added. Then all documents are added in one transaction and the index is rebuilt.

No Discord here: the command line calls it (``talksbot export`` / ``talksbot import``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.engine.documents import (
    DocumentError,
    ParsedDocument,
    content_hash,
    reflow,
    split_passages,
    validate_date,
    validate_title,
    validate_url,
)
from bot.engine.service import Engine
from bot.store import BUNDLED, DocumentRecord, NewDocument, Store

FIELDS = ("title", "date", "url", "guild_id", "added_by", "added_at", "body", "content_hash")
MAX_GUILD_ID = 2**63 - 1  # SQLite INTEGER; Discord ids are well below


class TransferError(ValueError):
    """The file cannot be written or read, or one of its lines is damaged. One line for the user."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: list[DocumentRecord]
    skipped: list[DocumentRecord]  # the documents already there (same server, same content)


# -- export ------------------------------------------------------------------------------------


async def export_documents(store: Store, path: Path, *, guild_id: int = BUNDLED) -> int:
    """Write the documents of ``guild_id`` (only that server's) to ``path``; how many.

    Written to a temporary file next to ``path`` and renamed over it at the end, so an
    interrupted export never leaves a partial file under the final name.
    """
    path = Path(path)
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise TransferError(f"cannot write {path}: {exc.strerror or exc}") from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        # Renaming over a symlink or a FIFO would replace it, not write where it points.
        raise TransferError(f"{path} exists and is not a regular file (a link, a pipe, a device); choose another name")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    count = 0
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as out:
            async for doc in store.stored_documents(guild_id):
                line = {field: getattr(doc, field) for field in FIELDS}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise TransferError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


# -- import ------------------------------------------------------------------------------------


def line_limit(max_body_bytes: int) -> int:
    """The longest line an import reads: a body at the limit, every character escaped (\\uXXXX),
    and the other fields."""
    return 6 * max_body_bytes + 100_000


def read_export(path: Path, *, max_body_bytes: int, guild_id: int | None = None) -> list[NewDocument]:
    """Read and check a whole export file, line by line. ``guild_id`` moves every document to
    that server."""
    path = Path(path)
    try:
        # Non-blocking open: a FIFO no one writes to would wait for ever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise TransferError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TransferError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    try:
        with os.fdopen(fd, "rb") as file:
            return parse_export(file, name=str(path), max_body_bytes=max_body_bytes, guild_id=guild_id)
    except OSError as exc:
        raise TransferError(f"cannot read {path}: {exc.strerror or exc}") from None


def parse_export(
    data: bytes | BinaryIO, *, name: str, max_body_bytes: int, guild_id: int | None = None
) -> list[NewDocument]:
    """Every line checked; the first damaged one raises TransferError naming its line number.

    Read line by line, none longer than ``line_limit``: a 300 MB line is refused, not loaded.
    Blank lines are ignored (a file may end with one).
    """
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    limit = line_limit(max_body_bytes)
    documents = []
    for number, raw in enumerate(iter(lambda: stream.readline(limit + 1), b""), start=1):
        if len(raw) > limit:
            raise TransferError(f"{name} line {number}: longer than {limit // 1_000_000:,} MB; nothing was imported")
        if not raw.strip():
            continue
        try:
            documents.append(_document(raw.rstrip(b"\n"), max_body_bytes, guild_id))
        except (TransferError, DocumentError) as exc:
            raise TransferError(f"{name} line {number}: {exc}; nothing was imported") from None
    return documents


def _document(raw: bytes, max_body_bytes: int, guild_id: int | None) -> NewDocument:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TransferError("not UTF-8 text") from None
    try:
        line = json.loads(text)
    except (ValueError, RecursionError):
        raise TransferError("not valid JSON (damaged or cut short)") from None
    if not isinstance(line, dict):
        raise TransferError("not a JSON object")
    missing = [field for field in FIELDS if field not in line]
    if missing:
        raise TransferError(f"missing {', '.join(missing)}")

    title = validate_title(_field(line, "title", str))
    date = line["date"]
    if date is not None:
        date = validate_date(_field(line, "date", str))
    url = line["url"]
    if url is not None:
        try:
            url = validate_url(_field(line, "url", str))
        except DocumentError as exc:
            raise TransferError(f"bad url: {exc}") from None
    origin = _field(line, "guild_id", int)
    if not 0 <= origin <= MAX_GUILD_ID:
        raise TransferError("guild_id is not a server id")
    added_by = _field(line, "added_by", str)
    if not added_by.strip():
        raise TransferError("added_by is empty")
    added_at = _field(line, "added_at", str)
    _check(added_at, dt.datetime.fromisoformat, "added_at is not an ISO date and time")
    body = _field(line, "body", str)
    if len(body.encode("utf-8", "surrogatepass")) > max_body_bytes:
        raise TransferError(f"the body is larger than the limit of {max_body_bytes // 1000:,} kB")
    if _field(line, "content_hash", str) != content_hash(body):
        raise TransferError("content_hash does not match the body (the line is damaged)")
    body = reflow(body)  # a no-op on bodies stored since paragraphs are reflowed; older ones are read the same way
    passages = split_passages(body)
    if not passages:
        raise TransferError("the body has no text")
    doc = ParsedDocument(title, date, body, passages)
    return NewDocument(doc, origin if guild_id is None else guild_id, added_by, added_at, url)


def _field(line: dict, name: str, kind: type) -> object:
    value = line[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = {str: "a string", int: "an integer"}[kind]
        raise TransferError(f"{name} must be {expected}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON allows "\ud800", a lone surrogate: not text
            raise TransferError(f"{name} is not valid Unicode text (a lone surrogate)") from None
    return value


def _check(value: str, parse: Callable[[str], object], message: str) -> None:
    try:
        parse(value)
    except ValueError:
        raise TransferError(message) from None


async def import_documents(engine: Engine, documents: list[NewDocument], *, imported_by: str) -> ImportResult:
    """Add checked documents in one transaction (duplicates skipped), then rebuild the index."""
    added, skipped = await engine.store.add_documents(documents, by=imported_by, action="import")
    if added:
        await engine.rebuild()
    return ImportResult(added, skipped)
