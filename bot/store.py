"""The SQLite store: every SQL statement of the project lives here, all parameterised.

One file, WAL mode, schema versioned with ``PRAGMA user_version`` and numbered migrations that
are applied each in one transaction together with the version bump. Adding or removing a
document is one transaction: a crash leaves the whole document or none of it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.engine.documents import DocumentError, ParsedDocument

BUNDLED = 0  # guild_id of the bundled corpus, visible in every server and in DMs

# One migration history for both stores. A migration is a tuple of statements written for SQLite,
# which the PostgreSQL store turns into its dialect (bot/store_pg.py: postgres_ddl), or, where
# the two differ more, a dict of such tuples per dialect: {"sqlite": (...), "postgresql": (...)}.
Migration = tuple[str, ...] | dict[str, tuple[str, ...]]

MIGRATIONS: tuple[Migration, ...] = (
    # 1: documents and their passages
    (
        """CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER NOT NULL DEFAULT 0,
            title TEXT NOT NULL,
            date TEXT,
            url TEXT,
            added_by TEXT NOT NULL,
            added_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX documents_guild_hash ON documents(guild_id, content_hash)",
        """CREATE TABLE passages (
            id INTEGER PRIMARY KEY,
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            paragraph INTEGER NOT NULL,
            section TEXT,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            text TEXT NOT NULL
        )""",
        "CREATE INDEX passages_doc ON passages(doc_id, ordinal)",
    ),
    # 2: per-server settings, the audit log of adds and removes, answer feedback, key-values
    (
        """CREATE TABLE ask_channels (
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            PRIMARY KEY (guild_id, channel_id)
        )""",
        """CREATE TABLE guild_settings (
            guild_id INTEGER PRIMARY KEY,
            admin_role_id INTEGER
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            action TEXT NOT NULL,
            doc_id INTEGER NOT NULL,
            title TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE TABLE feedback (
            message_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            question TEXT NOT NULL,
            helpful INTEGER NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (message_id, user_id)
        )""",
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # 3: ids are never reused (AUTOINCREMENT). Without it SQLite hands a deleted row's id to the
    # next insert, and an old answer's passage id then names another server's new passage.
    # SQLite cannot add AUTOINCREMENT to a table, so both tables are rebuilt with their ids. The
    # old ones are renamed first and dropped child first: dropping a parent table that a child
    # still references would run its ON DELETE CASCADE into the copied passages.
    # PostgreSQL's identity columns (migration 1 there) never hand out an id twice already.
    {
        "sqlite": (
            "ALTER TABLE passages RENAME TO passages_v2",
            "ALTER TABLE documents RENAME TO documents_v2",
            """CREATE TABLE documents (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                guild_id INTEGER NOT NULL DEFAULT 0,
                title TEXT NOT NULL,
                date TEXT,
                url TEXT,
                added_by TEXT NOT NULL,
                added_at TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                body TEXT NOT NULL
            )""",
            """CREATE TABLE passages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL,
                paragraph INTEGER NOT NULL,
                section TEXT,
                start INTEGER NOT NULL,
                "end" INTEGER NOT NULL,
                text TEXT NOT NULL
            )""",
            "INSERT INTO documents SELECT id, guild_id, title, date, url, added_by, added_at, content_hash, body"
            " FROM documents_v2",
            'INSERT INTO passages SELECT id, doc_id, ordinal, paragraph, section, start, "end", text FROM passages_v2',
            "DROP TABLE passages_v2",
            "DROP TABLE documents_v2",
            "CREATE UNIQUE INDEX documents_guild_hash ON documents(guild_id, content_hash)",
            "CREATE INDEX passages_doc ON passages(doc_id, ordinal)",
            "CREATE INDEX passages_doc_paragraph ON passages(doc_id, paragraph)",
            # Ids removed before this migration are known from the audit log: never hand them out again.
            """UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(doc_id), 0) FROM audit_log))
                WHERE name = 'documents'""",
            """INSERT INTO sqlite_sequence (name, seq) SELECT 'documents', MAX(doc_id) FROM audit_log
                WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'documents')
                HAVING MAX(doc_id) IS NOT NULL""",
        ),
        "postgresql": ("CREATE INDEX passages_doc_paragraph ON passages(doc_id, paragraph)",),
    },
    # 4: every add and remove in commit order, so every process can re-index what others changed
    # (Engine.follow_changes); written in the same transaction as the change itself.
    (
        """CREATE TABLE changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL,
            guild_id INTEGER NOT NULL,
            action TEXT NOT NULL
        )""",
    ),
    # 5: answers the bot posted, so their buttons work after a restart and days later (the
    # button's custom_id carries the answer's id), follow-ups find the conversation (parent_id,
    # doc_id) and an edited or deleted question finds its answer (question_message_id);
    # and a server's choice to show the bundled article or not. Answer ids are never reused
    # (AUTOINCREMENT): an old button never finds a newer answer.
    (
        """CREATE TABLE answers (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            asker_id INTEGER NOT NULL,
            question_message_id INTEGER,
            message_id INTEGER,
            parent_id INTEGER REFERENCES answers(id) ON DELETE SET NULL,
            question TEXT NOT NULL,
            doc_id INTEGER,
            payload TEXT NOT NULL,
            asked_at TEXT NOT NULL
        )""",
        "CREATE INDEX answers_message ON answers(message_id)",
        "CREATE INDEX answers_question_message ON answers(question_message_id)",
        "ALTER TABLE guild_settings ADD COLUMN bundled INTEGER NOT NULL DEFAULT 1",
    ),
    # 6: questions a server's documents did not answer (gaps), and questions admins taught
    (
        """CREATE TABLE gaps (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER NOT NULL,
            question TEXT NOT NULL,
            terms TEXT NOT NULL,
            asked_at TEXT NOT NULL,
            closest TEXT NOT NULL,
            vote_key TEXT
        )""",
        "CREATE INDEX gaps_guild ON gaps(guild_id, terms)",
        "CREATE UNIQUE INDEX gaps_vote ON gaps(guild_id, vote_key)",
        """CREATE TABLE taught (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER NOT NULL,
            question TEXT NOT NULL,
            terms TEXT NOT NULL,
            passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
            taught_by TEXT NOT NULL,
            taught_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX taught_guild_terms ON taught(guild_id, terms)",
    ),
    # 7: when each change was recorded, so rows no process needs any more are deleted
    # (Store._prune_changes); older rows have none and count as old.
    ("ALTER TABLE changes ADD COLUMN at TEXT",),
)


def migration_statements(migration: Migration, dialect: str) -> tuple[str, ...]:
    return migration[dialect] if isinstance(migration, dict) else migration


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


async def open_store(target: Path | str, *, busy_timeout_s: float = 5.0) -> Store:
    """The store ``target`` names: a PostgreSQL URL, else the path of a SQLite file."""
    if is_postgres_url(target):
        from bot.store_pg import PostgresStore  # asyncpg only when it is used

        return await PostgresStore.open(str(target), busy_timeout_s=busy_timeout_s)
    return await Store.open(target, busy_timeout_s=busy_timeout_s)


class StoreError(RuntimeError):
    """The store cannot do what was asked (locked, damaged, unreadable)."""


class ChangesPruned(LookupError):
    """The changes after the one asked for are no longer all in the store: rebuild the index."""


class DuplicateDocument(ValueError):
    def __init__(self, existing: DocumentRecord) -> None:
        super().__init__(f"already in the documents as #{existing.id} {existing.title!r}")
        self.existing = existing


class ServerFull(DocumentError):
    """Adding the document would take a server's documents over its size limit."""

    def __init__(self, used: int, size: int, limit: int) -> None:
        super().__init__(
            f"this server's documents would take {_size(used + size)}, over its limit of {_size(limit)};"
            " remove some documents first"
        )


def _size(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 1e6 else f"{count / 1e3:,.0f} kB"


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: int
    guild_id: int
    title: str
    date: str | None
    url: str | None
    added_by: str
    added_at: str
    content_hash: str
    passages: int


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A whole document as it is stored, body included: what an export writes and an import reads."""

    title: str
    date: str | None
    url: str | None
    guild_id: int
    added_by: str
    added_at: str
    body: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A parsed document to store with its own server, author and time (an import keeps them)."""

    doc: ParsedDocument
    guild_id: int
    added_by: str
    added_at: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One add or remove of a document, as ``changes_since`` reports it."""

    id: int  # increasing in commit order
    doc_id: int
    guild_id: int
    action: str  # "add" or "remove"


@dataclass(frozen=True, slots=True)
class GapRecord:
    """One question a server's documents did not answer (or whose answer was voted not helpful)."""

    id: int
    guild_id: int
    question: str
    terms: str  # the analyzed terms, distinct and sorted, space-separated: what groups variants
    asked_at: str
    closest: tuple[int, ...]  # passage ids, best first


@dataclass(frozen=True, slots=True)
class TaughtRecord:
    """A question an admin answered with a passage, for one server."""

    id: int
    guild_id: int
    question: str
    terms: str
    passage_id: int
    taught_by: str
    taught_at: str


@dataclass(frozen=True, slots=True)
class PassageRecord:
    id: int
    doc_id: int
    guild_id: int
    ordinal: int
    paragraph: int
    section: str | None
    start: int
    end: int
    text: str
    title: str
    date: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """An answer as posted: ``payload`` is the engine's answer as JSON (what the buttons show)."""

    id: int
    guild_id: int  # 0 in DMs
    channel_id: int
    asker_id: int
    question_message_id: int | None  # the member's message; None for /ask
    message_id: int | None  # the bot's message, once sent
    parent_id: int | None  # the earlier answer this one followed up
    question: str
    doc_id: int | None  # the answering document; None when it did not answer
    payload: str
    asked_at: str


_ANSWER_COLUMNS = """id, guild_id, channel_id, asker_id, question_message_id, message_id, parent_id,
    question, doc_id, payload, asked_at"""




def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_DOC_COLUMNS = """d.id, d.guild_id, d.title, d.date, d.url, d.added_by, d.added_at, d.content_hash,
    (SELECT COUNT(*) FROM passages p WHERE p.doc_id = d.id)"""
_PASSAGE_COLUMNS = """p.id, p.doc_id, d.guild_id, p.ordinal, p.paragraph, p.section, p.start, p."end",
    p.text, d.title, d.date, d.url"""


class Store:
    """Async access to the SQLite file. Open with ``await Store.open(path)``.

    The PostgreSQL store (bot/store_pg.py) inherits every query method and replaces the
    connection layer (``_run``, ``_run_count``, ``_one``, ``_all``, ``_run_many``, ``_stream``, ``_transaction``),
    so SQL written here must run on both: ``?`` placeholders, standard SQL, ``ON CONFLICT``.
    """

    dialect = "sqlite"
    # Changes are kept this long (a day: far above the 0.5 s poll), then deleted as adds and
    # removes go on; a process that did not look for that long rebuilds its index.
    changes_kept_s: float = 86_400.0
    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)

    def __init__(self, connection: aiosqlite.Connection, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self._db = connection
        # One writer at a time. Every task shares this one connection, and a transaction is the
        # connection's: without the lock a second BEGIN fails and its ROLLBACK undoes the first
        # task's open transaction, which then goes on in autocommit.
        self._write_lock = asyncio.Lock()
        self.path = path
        self.busy_timeout_s = busy_timeout_s  # how long a write waits for another process's lock

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_s: float = 5.0) -> Store:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
            # what we say it is (sqlite3's implicit transactions would split migrations).
            connection = await aiosqlite.connect(path, timeout=busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        store = cls(connection, path, busy_timeout_s=busy_timeout_s)
        try:
            await store._run(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            await store._use_wal()
            await store._run("PRAGMA foreign_keys = ON")
            await store._run("PRAGMA synchronous = NORMAL")
            await store._migrate()
        except sqlite3.Error as exc:
            await connection.close()
            raise StoreError(describe_error(exc, path, busy_timeout_s)) from exc
        except BaseException:
            await connection.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _use_wal(self) -> None:
        """Switch the file to WAL (a no-op once it is). Switching a new file needs it to itself,
        and SQLite answers "database is locked" at once, without its busy timeout, when another
        process opens it at that moment (1 in 12 starts of four at once): so try again until
        the busy timeout has passed."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                await self._run("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.01)

    async def _migrate(self) -> None:
        (version,) = await self._one("PRAGMA user_version")
        while version < len(MIGRATIONS):
            async with self._transaction():
                # Read again under the write lock: a process started at the same time may have
                # applied this migration since (applying it twice fails: "table ... already exists").
                (version,) = await self._one("PRAGMA user_version")
                if version < len(MIGRATIONS):
                    for statement in migration_statements(MIGRATIONS[version], self.dialect):
                        await self._run(statement)
                    version += 1
                    await self._run(f"PRAGMA user_version = {version}")
        if version > len(MIGRATIONS):
            raise StoreError(f"the store {self.path} is from a newer TalksBot (schema {version})")

    async def schema_version(self) -> int:
        return (await self._one("PRAGMA user_version"))[0]

    async def _run(self, sql: str, params: Sequence = ()) -> int | None:
        """Execute one statement and close its cursor (an open cursor blocks COMMIT); the row id."""
        async with self._db.execute(sql, params) as cursor:
            return cursor.lastrowid

    async def _run_count(self, sql: str, params: Sequence = ()) -> int:
        """Execute one statement that changes rows; how many it changed."""
        async with self._db.execute(sql, params) as cursor:
            return cursor.rowcount

    async def _run_many(self, sql: str, rows: Iterable[Sequence]) -> None:
        async with self._db.executemany(sql, rows):
            pass

    async def _one(self, sql: str, params: Sequence = ()) -> tuple | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _stream(self, sql: str, params: Sequence = (), batch: int = 64) -> AsyncIterator[tuple]:
        """The rows of one SELECT (one snapshot), fetched ``batch`` at a time."""
        async with self._db.execute(sql, params) as cursor:
            while rows := await cursor.fetchmany(batch):
                for row in rows:
                    yield row

    # -- documents -----------------------------------------------------------------------

    async def add_document(
        self,
        doc: ParsedDocument,
        *,
        guild_id: int = BUNDLED,
        added_by: str,
        url: str | None = None,
        max_guild_bytes: int | None = None,
    ) -> DocumentRecord:
        """Store a document and its passages in one transaction. Raises DuplicateDocument, and
        ServerFull when the server's documents would exceed ``max_guild_bytes`` (None: no limit)."""
        added_at = _now()
        try:
            async with self._transaction():
                existing = await self.find_by_hash(doc.content_hash, guild_id)
                if existing:  # checked under the write lock: no one adds the same one meanwhile
                    raise DuplicateDocument(existing)
                if max_guild_bytes is not None:
                    await self._lock_server_size(guild_id)
                    used = await self.guild_bytes(guild_id)
                    size = len(doc.body.encode("utf-8", "surrogatepass"))
                    if used + size > max_guild_bytes:
                        raise ServerFull(used, size, max_guild_bytes)
                record = await self._insert(NewDocument(doc, guild_id, added_by, added_at, url))
                if guild_id != BUNDLED:
                    await self._audit(guild_id, added_by, "add", record.id, doc.title, added_at)
                await self._prune_changes()
        except self.integrity_errors:
            existing = await self.find_by_hash(doc.content_hash, guild_id)
            if existing:  # added by another process since the check above
                raise DuplicateDocument(existing) from None
            raise
        return record

    async def add_documents(
        self, items: Sequence[NewDocument], *, by: str, action: str = "import"
    ) -> tuple[list[DocumentRecord], list[DocumentRecord]]:
        """Store many documents in ONE transaction: all of them or, on any error, none.

        A document already in its server (same content, also earlier in ``items``) is skipped.
        Returns (the added documents, the existing documents that were skipped). Each added
        server document gets an audit entry ``action`` by ``by``.
        """
        added: list[DocumentRecord] = []
        skipped: list[DocumentRecord] = []
        async with self._transaction():  # the write lock: no one adds the same one meanwhile
            for item in items:
                existing = await self.find_by_hash(item.doc.content_hash, item.guild_id)
                if existing:
                    skipped.append(existing)
                    continue
                record = await self._insert(item)
                if item.guild_id != BUNDLED:
                    await self._audit(item.guild_id, by, action, record.id, record.title, _now())
                added.append(record)
            await self._prune_changes()
        return added, skipped

    async def _insert(self, item: NewDocument) -> DocumentRecord:
        """Insert a document and its passages; the caller owns the transaction."""
        doc = item.doc
        doc_id = await self._run(
            "INSERT INTO documents (guild_id, title, date, url, added_by, added_at, content_hash, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (item.guild_id, doc.title, doc.date, item.url, item.added_by, item.added_at, doc.content_hash, doc.body),
        )
        await self._record_change(doc_id, item.guild_id, "add")
        await self._run_many(
            'INSERT INTO passages (doc_id, ordinal, paragraph, section, start, "end", text)'
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            # A generator: consumed in the database thread, not on the event loop.
            ((doc_id, p.ordinal, p.paragraph, p.section, p.start, p.end, p.text) for p in doc.passages),
        )
        return DocumentRecord(
            doc_id,
            item.guild_id,
            doc.title,
            doc.date,
            item.url,
            item.added_by,
            item.added_at,
            doc.content_hash,
            len(doc.passages),
        )

    async def remove_document(self, doc_id: int, *, removed_by: str) -> DocumentRecord | None:
        """Remove a document; None if it is not there (or another process removed it meanwhile:
        only the one whose delete takes it records the change and the server's log entry)."""
        async with self._transaction():
            record = await self.get_document(doc_id)
            if record is None:
                return None
            await self._run("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
            if not await self._run_count("DELETE FROM documents WHERE id = ?", (doc_id,)):
                return None  # PostgreSQL: read before another process's removal committed
            await self._record_change(doc_id, record.guild_id, "remove")
            if record.guild_id != BUNDLED:
                await self._audit(record.guild_id, removed_by, "remove", doc_id, record.title, _now())
            await self._prune_changes()
        return record

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """One write transaction: all of it commits or none of it does (also on a crash).

        BEGIN IMMEDIATE takes the write lock at once, so a busy store waits the busy timeout
        here instead of failing half-way. SQLite errors become a StoreError, except an
        IntegrityError, which the caller may know how to explain. Holds the writer lock throughout.
        """
        async with self._write_lock:
            try:
                await self._run("BEGIN IMMEDIATE")
                yield
                await self._run("COMMIT")
            except sqlite3.IntegrityError:
                await self._rollback()
                raise
            except sqlite3.Error as exc:
                await self._rollback()
                raise StoreError(self._describe(exc)) from exc
            except BaseException:
                await self._rollback()
                raise

    async def _lock_server_size(self, guild_id: int) -> None:
        """Inside a transaction: no other add to ``guild_id`` reads its size until this one ends.
        Nothing to do on SQLite: BEGIN IMMEDIATE already holds the whole file's write lock."""

    async def _rollback(self) -> None:
        if self._db.in_transaction:
            await self._run("ROLLBACK")

    def _describe(self, exc: sqlite3.Error) -> str:
        return describe_error(exc, self.path, self.busy_timeout_s)

    async def _write(self, sql: str, params: Sequence = ()) -> None:
        """One statement that writes on its own (autocommit): a busy store is a StoreError.

        Under the writer lock, or it would land inside another task's open transaction.
        """
        async with self._write_lock:
            try:
                await self._run(sql, params)
            except sqlite3.OperationalError as exc:
                raise StoreError(self._describe(exc)) from exc

    async def _audit(self, guild_id: int, user: str, action: str, doc_id: int, title: str, at: str) -> None:
        await self._run(
            "INSERT INTO audit_log (guild_id, user_id, action, doc_id, title, at) VALUES (?, ?, ?, ?, ?, ?)",
            (guild_id, user, action, doc_id, title, at),
        )

    # -- changes: how processes learn of each other's adds and removes ---------------------

    async def _record_change(self, doc_id: int, guild_id: int, action: str) -> None:
        """Part of the add's or remove's transaction: the change is seen exactly when it commits."""
        await self._run(
            "INSERT INTO changes (doc_id, guild_id, action, at) VALUES (?, ?, ?, ?)",
            (doc_id, guild_id, action, dt.datetime.now(dt.UTC).isoformat()),
        )

    async def _prune_changes(self) -> None:
        """Part of each add's or remove's transaction: delete the changes recorded more than
        ``changes_kept_s`` ago, except the latest (``last_change`` stays right), and remember up
        to which id they are gone. A process (or a snapshot) that has not looked since then
        gets ChangesPruned from ``changes_since`` and rebuilds its index instead of missing them.
        """
        oldest = await self._one("SELECT at FROM changes ORDER BY id LIMIT 1")  # the primary key: cheap
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.changes_kept_s)).isoformat()
        if oldest is None or (oldest[0] is not None and oldest[0] >= cutoff):
            return  # nothing old (almost always): no scan
        (through,) = await self._one(
            "SELECT MAX(id) FROM changes WHERE (at IS NULL OR at < ?) AND id < (SELECT MAX(id) FROM changes)", (cutoff,)
        )
        if through is None:
            return
        await self._run("DELETE FROM changes WHERE id <= ?", (through,))
        await self._run(
            "INSERT INTO kv (key, value) VALUES ('changes_pruned_through', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(through),),
        )

    async def last_change(self) -> int:
        """The id of the latest change (0 for none): a cheap lookup of the primary key's end."""
        return (await self._one("SELECT COALESCE(MAX(id), 0) FROM changes"))[0]

    async def changes_since(self, change_id: int) -> list[Change]:
        """The changes after ``change_id``, oldest first; ChangesPruned if some were deleted."""
        rows = await self._all(
            "SELECT id, doc_id, guild_id, action FROM changes WHERE id > ? ORDER BY id", (change_id,)
        )
        # Read after the rows: a prune that committed before them is seen here too.
        pruned = await self.get_value("changes_pruned_through")
        if pruned is not None and change_id < int(pruned):
            raise ChangesPruned(f"changes up to {pruned} were deleted; the index is at {change_id}")
        return [Change(*row) for row in rows]

    async def listen(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` when another process commits a change. SQLite cannot tell, so this
        does nothing and the engine polls ``changes_since``; PostgreSQL uses LISTEN/NOTIFY."""

    async def find_by_hash(self, content_hash: str, guild_id: int) -> DocumentRecord | None:
        row = await self._one(
            f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.content_hash = ? AND d.guild_id = ?",
            (content_hash, guild_id),
        )
        return DocumentRecord(*row) if row else None

    async def guild_bytes(self, guild_id: int) -> int:
        """The size of a server's documents, their bodies in UTF-8 bytes."""
        # Bytes, not characters: SQLite counts a BLOB's bytes; octet_length is PostgreSQL's (and
        # SQLite's only from 3.43, newer than many Pythons ship).
        size = "LENGTH(CAST(body AS BLOB))" if self.dialect == "sqlite" else "octet_length(body)"
        row = await self._one(f"SELECT COALESCE(SUM({size}), 0) FROM documents WHERE guild_id = ?", (guild_id,))
        return row[0] if row else 0

    async def get_document(self, doc_id: int) -> DocumentRecord | None:
        row = await self._one(f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.id = ?", (doc_id,))
        return DocumentRecord(*row) if row else None

    async def document_body(self, doc_id: int) -> str | None:
        row = await self._one("SELECT body FROM documents WHERE id = ?", (doc_id,))
        return row[0] if row else None

    async def list_documents(self, guild_id: int | None = None) -> list[DocumentRecord]:
        """Documents visible in ``guild_id`` (bundled + that server's); all of them for None."""
        if guild_id is None:
            rows = await self._all(f"SELECT {_DOC_COLUMNS} FROM documents d ORDER BY d.id")
        else:
            rows = await self._all(
                f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.guild_id IN (?, ?) ORDER BY d.id",
                (BUNDLED, guild_id),
            )
        return [DocumentRecord(*row) for row in rows]

    async def count_documents(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM documents"))[0]

    async def stored_documents(self, guild_id: int) -> AsyncIterator[StoredDocument]:
        """Every document of one server (only that ``guild_id``), body included, oldest first.

        Read in batches from one snapshot (a single SELECT), so a large server is not held in memory.
        """
        sql = (
            "SELECT title, date, url, guild_id, added_by, added_at, body, content_hash"
            " FROM documents WHERE guild_id = ? ORDER BY id"
        )
        async for row in self._stream(sql, (guild_id,)):
            yield StoredDocument(*row)

    # -- passages ------------------------------------------------------------------------

    def _passages_sql(self, shard_count: int | None, shard_ids: Sequence[int]) -> tuple[str, list[int]]:
        sql = f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.doc_id"
        params: list[int] = []
        if shard_count is not None:
            marks = ", ".join("?" * len(shard_ids)) or "NULL"
            sql += f" WHERE d.guild_id = ? OR ((d.guild_id >> 22) % ?) IN ({marks})"
            params = [BUNDLED, shard_count, *shard_ids]
        return sql + " ORDER BY p.id", params

    async def all_passages(self, *, shard_count: int | None = None, shard_ids: Sequence[int] = ()) -> list[PassageRecord]:
        """Every passage; with ``shard_count``, only the bundled ones and those of servers on
        ``shard_ids`` (Discord's rule: a server is on shard ``(guild_id >> 22) % shard_count``)."""
        return [PassageRecord(*row) for row in await self._all(*self._passages_sql(shard_count, shard_ids))]

    async def iter_passages(
        self, *, batch: int = 2000, shard_count: int | None = None, shard_ids: Sequence[int] = ()
    ) -> AsyncIterator[list[PassageRecord]]:
        """``all_passages`` in lists of ``batch``, from one snapshot: an index build holds one batch."""
        rows: list[PassageRecord] = []
        async for row in self._stream(*self._passages_sql(shard_count, shard_ids), batch=batch):
            rows.append(PassageRecord(*row))
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows

    async def _passages(self, sql: str, params: Sequence = ()) -> list[PassageRecord]:
        """Rows made into PassageRecords in a worker thread: tens of thousands of them would
        otherwise be built on the event loop."""
        rows = await self._all(sql, params)
        return await asyncio.to_thread(lambda: [PassageRecord(*row) for row in rows])

    async def document_passages(self, doc_id: int) -> list[PassageRecord]:
        return await self._passages(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.doc_id"
            " WHERE p.doc_id = ? ORDER BY p.ordinal",
            (doc_id,),
        )

    async def get_passages(self, passage_ids: Iterable[int], *, visible_in: int | None) -> dict[int, PassageRecord]:
        """Passages by id, only those whose document ``visible_in`` sees: the bundled ones and
        that server's (BUNDLED: only the bundled ones, as in DMs); None: every server's (the
        command line). An id of another server's passage is simply not found.
        """
        ids = list(passage_ids)
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.doc_id WHERE p.id IN ({marks})"
        params: list[int] = ids
        if visible_in is not None:
            sql += " AND d.guild_id IN (?, ?)"
            params = [*ids, BUNDLED, visible_in]
        rows = await self._all(sql, params)
        return {row[0]: PassageRecord(*row) for row in rows}

    async def paragraph_passages(self, doc_id: int, paragraph: int) -> list[PassageRecord]:
        """The passages of one paragraph (several when it was windowed), without reading the rest."""
        rows = await self._all(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.doc_id"
            " WHERE p.doc_id = ? AND p.paragraph = ? ORDER BY p.ordinal",
            (doc_id, paragraph),
        )
        return [PassageRecord(*row) for row in rows]

    async def last_paragraph(self, doc_id: int) -> int:
        row = await self._one("SELECT COALESCE(MAX(paragraph), 0) FROM passages WHERE doc_id = ?", (doc_id,))
        return row[0] if row else 0

    # -- server settings, feedback, key-values --------------------------------------------

    async def ask_channels(self, guild_id: int) -> set[int]:
        rows = await self._all("SELECT channel_id FROM ask_channels WHERE guild_id = ?", (guild_id,))
        return {row[0] for row in rows}

    async def set_ask_channel(self, guild_id: int, channel_id: int, enabled: bool) -> None:
        if enabled:
            sql = "INSERT INTO ask_channels (guild_id, channel_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        else:
            sql = "DELETE FROM ask_channels WHERE guild_id = ? AND channel_id = ?"
        await self._write(sql, (guild_id, channel_id))

    async def admin_role(self, guild_id: int) -> int | None:
        row = await self._one("SELECT admin_role_id FROM guild_settings WHERE guild_id = ?", (guild_id,))
        return row[0] if row else None

    async def set_admin_role(self, guild_id: int, role_id: int | None) -> None:
        await self._write(
            "INSERT INTO guild_settings (guild_id, admin_role_id) VALUES (?, ?)"
            " ON CONFLICT(guild_id) DO UPDATE SET admin_role_id = excluded.admin_role_id",
            (guild_id, role_id),
        )

    async def audit_log(self, guild_id: int) -> list[tuple[str, str, int, str, str]]:
        return await self._all(
            "SELECT user_id, action, doc_id, title, at FROM audit_log WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )

    async def record_feedback(self, message_id: int, user_id: int, question: str, helpful: bool) -> None:
        await self._write(
            "INSERT INTO feedback (message_id, user_id, question, helpful, at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(message_id, user_id) DO UPDATE SET helpful = excluded.helpful, at = excluded.at",
            (message_id, user_id, question, int(helpful), _now()),
        )

    async def feedback(self) -> list[tuple[int, int, str, int]]:
        return await self._all("SELECT message_id, user_id, question, helpful FROM feedback ORDER BY at")

    async def store_id(self) -> str:
        """A random id given to the store once: an index snapshot names the store it belongs to."""
        existing = await self.get_value("store_id")
        if existing is not None:
            return existing
        await self._write(  # two processes may get here at once: the first one's id stays
            "INSERT INTO kv (key, value) VALUES ('store_id', ?) ON CONFLICT(key) DO NOTHING", (uuid.uuid4().hex,)
        )
        return await self.get_value("store_id")

    async def vote_of(self, message_id: int, user_id: int) -> bool | None:
        """The member's current vote on an answer: True helpful, False not, None no vote."""
        row = await self._one("SELECT helpful FROM feedback WHERE message_id = ? AND user_id = ?", (message_id, user_id))
        return bool(row[0]) if row else None

    async def bundled_shown(self, guild_id: int) -> bool:
        """Whether the server sees the bundled article (on unless an admin turned it off)."""
        row = await self._one("SELECT bundled FROM guild_settings WHERE guild_id = ?", (guild_id,))
        return bool(row[0]) if row else True

    async def set_bundled_shown(self, guild_id: int, shown: bool) -> None:
        await self._write(
            "INSERT INTO guild_settings (guild_id, bundled) VALUES (?, ?)"
            " ON CONFLICT(guild_id) DO UPDATE SET bundled = excluded.bundled",
            (guild_id, int(shown)),
        )

    async def guilds_without_bundled(self) -> set[int]:
        rows = await self._all("SELECT guild_id FROM guild_settings WHERE bundled = 0")
        return {row[0] for row in rows}

    # -- posted answers ------------------------------------------------------------------

    async def add_answer(
        self,
        *,
        guild_id: int,
        channel_id: int,
        asker_id: int,
        question: str,
        payload: str,
        doc_id: int | None,
        question_message_id: int | None = None,
        parent_id: int | None = None,
    ) -> int:
        async with self._transaction():  # the writer lock, on SQLite and PostgreSQL alike
            answer_id = await self._run(
                "INSERT INTO answers (guild_id, channel_id, asker_id, question_message_id, parent_id, question,"
                " doc_id, payload, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (guild_id, channel_id, asker_id, question_message_id, parent_id, question, doc_id, payload, _now()),
            )
        assert answer_id is not None
        return answer_id

    async def set_answer_message(self, answer_id: int, message_id: int) -> None:
        await self._write("UPDATE answers SET message_id = ? WHERE id = ?", (message_id, answer_id))

    async def update_answer(self, answer_id: int, *, question: str, payload: str, doc_id: int | None) -> None:
        """The answer to an edited question, in place (same id: the posted buttons stay valid)."""
        await self._write(
            "UPDATE answers SET question = ?, payload = ?, doc_id = ? WHERE id = ?", (question, payload, doc_id, answer_id)
        )

    async def delete_answer(self, answer_id: int) -> None:
        await self._write("DELETE FROM answers WHERE id = ?", (answer_id,))

    async def get_answer(self, answer_id: int) -> AnswerRecord | None:
        row = await self._one(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE id = ?", (answer_id,))
        return AnswerRecord(*row) if row else None

    async def answer_posted_as(self, message_id: int) -> AnswerRecord | None:
        """The answer the bot posted as message ``message_id``."""
        row = await self._one(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE message_id = ?", (message_id,))
        return AnswerRecord(*row) if row else None

    async def answer_to(self, question_message_id: int) -> AnswerRecord | None:
        """The answer to the member's message ``question_message_id``."""
        row = await self._one(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE question_message_id = ? ORDER BY id DESC LIMIT 1",
            (question_message_id,),
        )
        return AnswerRecord(*row) if row else None

    # -- gaps and taught questions ---------------------------------------------------------

    async def record_gap(
        self,
        guild_id: int,
        question: str,
        terms: str,
        closest: Sequence[int],
        *,
        vote_key: str | None = None,
        at: str | None = None,
    ) -> None:
        """One unanswered question. A vote (``vote_key``) is recorded once however often it is cast."""
        await self._write(
            "INSERT INTO gaps (guild_id, question, terms, asked_at, closest, vote_key) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (guild_id, question, terms, at or _now(), " ".join(map(str, closest)), vote_key),
        )

    async def gaps(self, guild_id: int | None) -> list[GapRecord]:
        """A server's gaps (every server's for None), oldest first."""
        columns = "id, guild_id, question, terms, asked_at, closest"
        if guild_id is None:
            rows = await self._all(f"SELECT {columns} FROM gaps ORDER BY id")
        else:
            rows = await self._all(f"SELECT {columns} FROM gaps WHERE guild_id = ? ORDER BY id", (guild_id,))
        return [GapRecord(*row[:5], tuple(int(p) for p in row[5].split())) for row in rows]

    async def forget_gaps(self, guild_id: int, terms: str) -> int:
        """Close a gap (taught or dismissed): every question of the server analyzing to ``terms``."""
        before = await self._one("SELECT COUNT(*) FROM gaps WHERE guild_id = ? AND terms = ?", (guild_id, terms))
        await self._write("DELETE FROM gaps WHERE guild_id = ? AND terms = ?", (guild_id, terms))
        return before[0] if before else 0

    async def expire_gaps(self, older_than: str) -> None:
        await self._write("DELETE FROM gaps WHERE asked_at < ?", (older_than,))

    async def teach(self, guild_id: int, question: str, terms: str, passage_id: int, *, taught_by: str) -> TaughtRecord:
        """Store a taught question (teaching the same terms again replaces the passage)."""
        at = _now()
        await self._write(
            "INSERT INTO taught (guild_id, question, terms, passage_id, taught_by, taught_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(guild_id, terms) DO UPDATE SET question = excluded.question,"
            " passage_id = excluded.passage_id, taught_by = excluded.taught_by, taught_at = excluded.taught_at",
            (guild_id, question, terms, passage_id, taught_by, at),
        )
        row = await self._one(
            "SELECT id, guild_id, question, terms, passage_id, taught_by, taught_at FROM taught"
            " WHERE guild_id = ? AND terms = ?",
            (guild_id, terms),
        )
        return TaughtRecord(*row)

    async def taught(self, guild_id: int) -> list[TaughtRecord]:
        rows = await self._all(
            "SELECT id, guild_id, question, terms, passage_id, taught_by, taught_at FROM taught"
            " WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        return [TaughtRecord(*row) for row in rows]

    async def unteach(self, guild_id: int, taught_id: int) -> bool:
        row = await self._one("SELECT id FROM taught WHERE id = ? AND guild_id = ?", (taught_id, guild_id))
        if row is None:
            return False
        await self._write("DELETE FROM taught WHERE id = ? AND guild_id = ?", (taught_id, guild_id))
        return True

    async def get_value(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM kv WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_value(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def integrity_check(self) -> str:
        return (await self._one("PRAGMA integrity_check"))[0]


def describe_error(exc: sqlite3.Error, path: Path, busy_timeout_s: float | None = None) -> str:
    """One line for the user about a failed store operation (locked, damaged, other)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        waited = f" (gave up after {busy_timeout_s:g} s, see TALKSBOT_BUSY_TIMEOUT_S)" if busy_timeout_s is not None else ""
        return f"the store {path} is locked by another process{waited}; try again when it is done"
    if "not a database" in text or "malformed" in text:
        return f"the store {path} is damaged or not a TalksBot store"
    return f"store error ({path}): {text}"
