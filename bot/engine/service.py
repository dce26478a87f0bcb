"""The engine: the one object the command line and the Discord bot talk to.

It owns the store and the current index, and knows nothing of Discord. Slow work (parsing,
index builds) runs in worker threads; the index is swapped in whole when it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import importlib.resources
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.engine import analyzer, semantic, snapshot
from bot.engine.answer import (
    Candidate,
    ScoredSentence,
    best_sentences,
    context_of,
    shorten,
    snippet,
    taught_sentence,
)
from bot.engine.decide import decide, gather
from bot.engine.documents import (
    DocumentError,
    ParsedDocument,
    found_title,
    found_url,
    parse_text,
    split_sentences,
    validate_date,
    validate_title,
    validate_url,
)
from bot.engine.index import Hit, IndexBuilder, PassageIndex, View, indexed_text
from bot.engine.query import Query, Turn, question_terms, typed_words
from bot.engine.sandbox import TEXT, ParseJob, ParseLimits, ParseQueue
from bot.settings import Settings
from bot.store import BUNDLED, ChangesPruned, DocumentRecord, DuplicateDocument, PassageRecord, Store, StoreError, TaughtRecord, open_store
from bot.engine.teaching import GapGroup, best_match, group_gaps, terms_key

if TYPE_CHECKING:
    from bot.engine.fetch import Fetcher
    from bot.engine.ingest import ExtractedText

log = logging.getLogger(__name__)

NOT_FOUND = "I couldn't find an answer to that in the documents."
NOTHING_TO_LOOK_FOR = "That question has no words to look for. Try asking about something in the documents."


class QuestionError(ValueError):
    """The question cannot be asked as given (empty, too long)."""


class UnknownDocument(LookupError):
    """A reference that names no document, or several. ``describe`` adds where to see the list."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def describe(self, listing: str) -> str:
        return f"{self.problem} (see {listing})"

    def __str__(self) -> str:
        return self.problem


MAX_SHOWN_CANDIDATES = 10
_MAX_ID_DIGITS = 18  # SQLite ids are 64-bit; a longer number names no document (and int() of 5,000 digits raises)


@dataclass(frozen=True, slots=True)
class Source:
    n: int
    doc_id: int
    title: str
    date: str | None
    paragraph: int
    section: str | None
    snippet: str
    score: float
    passage_id: int
    url: str | None = None
    # For the source that answers: the sentence before, the answer, the sentence after (clipped).
    context: tuple[str, str, str] | None = None

    def to_json(self) -> dict:
        keys = ("n", "doc_id", "title", "date", "paragraph", "section", "snippet", "score")
        return {key: getattr(self, key) for key in keys} | {"score": round(self.score, 4)}


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    answer: str | None  # the quoted sentence(s) with [n] markers, or None when abstaining
    sources: list[Source]  # what the [n] markers point into
    terms: list[str]  # what was looked for (analyzer terms)
    message: str | None = None  # why there is no answer
    closest: list[Source] = field(default_factory=list)  # labelled "closest", shown when abstaining
    searched: int = 0  # passages searched
    elapsed_ms: float = 0.0
    term_share: float = 0.0  # share of the question's terms in the best sentence
    confidence: float = 0.0  # the decision's confidence in the best sentence (see engine/decide.py)
    followed: str | None = None  # the earlier question of the conversation this answer followed
    looked_for: list[str] = field(default_factory=list)  # the searched words as typed (terms are stems)
    taught: str | None = None  # the question an admin taught, when the answer comes from teaching

    def to_json(self) -> dict:
        return {
            "taught": self.taught,
            "question": self.question,
            "answer": self.answer,
            "sources": [s.to_json() for s in self.sources],
            "message": self.message,
            "closest": [s.to_json() for s in self.closest],
            "searched": self.searched,
            "term_share": round(self.term_share, 4),
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    terms: list[str]
    hits: list[Source]
    searched: int
    elapsed_ms: float


def bundled_corpus_dir() -> Path:
    """The bundled articles: inside the installed package, or corpus/ in a source checkout."""
    packaged = Path(str(importlib.resources.files("bot"))) / "corpus"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "corpus"


_started_objects_frozen = False


def _freeze_started_objects() -> None:
    """Keep the objects a started process has (modules, classes, functions: about 44,000) out of
    every later full garbage collection. A full collection walks every tracked object with the GIL
    held (40-90 ms here), and an index build's allocations in its worker thread trigger one every
    few seconds, each stalling the event loop that long. Once per process: these objects live as
    long as it does anyway (gc.freeze; the start's garbage is collected first, not frozen)."""
    global _started_objects_frozen
    if not _started_objects_frozen:
        _started_objects_frozen = True
        gc.collect()
        gc.freeze()


class Engine:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.index = PassageIndex.empty(k1=settings.k1, b=settings.b)
        self._index_lock = asyncio.Lock()  # one index change at a time, each on the latest index
        self._change_seen = 0  # the store's last change the index includes
        self._snapshot_change: int | None = None  # the change the saved snapshot includes
        self._follower: asyncio.Task | None = None
        self._notified: asyncio.Task | None = None
        self._following = False
        self.without_bundled: set[int] = set()  # servers whose admins turned the bundled article off
        self._fetcher: Fetcher | None = None
        self._taught: dict[int, list[TaughtRecord]] = {}  # per server, loaded on first question
        self.parse_queue = ParseQueue(settings.parse_workers, settings.parse_queue_per_server)
        self.parse_limits = ParseLimits(
            timeout_s=settings.parse_timeout_s,
            memory_bytes=settings.parse_memory_mb * 2**20,
            max_upload_bytes=settings.max_upload_bytes,
            max_passages=settings.max_passages_per_document,
        )
        # Committed changes not yet in the index. Each caller queues its own, and whoever holds
        # the lock applies everything queued, so a failed or cancelled update is retried by the
        # next one and the index follows exactly what was committed.
        self._unindexed_added: list[int] = []
        self._unindexed_removed: list[int] = []

    @classmethod
    async def open(cls, settings: Settings, *, seed: bool = True, preload: bool = False) -> Engine:
        """The engine on ``settings.db``. ``preload``: load the semantic model in the background
        meanwhile (the bot, ``talksbot ask``), so the first question does not wait for it."""
        if preload:
            semantic.preload()
        _freeze_started_objects()
        store = await open_store(settings.db, busy_timeout_s=settings.busy_timeout_s)
        engine = cls(store, settings)
        try:
            if seed:
                await engine.seed_bundled()
            engine.without_bundled = await store.guilds_without_bundled()
            await engine.load_index()
        except BaseException:
            await store.close()
            raise
        return engine

    @property
    def fetcher(self) -> Fetcher:
        """The one HTTP session for adding by link, made on first use (aiohttp loads only then)."""
        if self._fetcher is None:
            from bot.engine.fetch import Fetcher

            self._fetcher = Fetcher(
                max_bytes=self.settings.max_upload_bytes,
                timeout_s=self.settings.fetch_timeout_s,
                allow_private=self.settings.allow_private_urls,
            )
        return self._fetcher

    async def close(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()
        with contextlib.suppress(StoreError):  # a store gone away leaves the older snapshot
            await self.save_snapshot()
        for task in (self._follower, self._notified):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._follower = self._notified = None
        await self.store.close()

    # -- documents -----------------------------------------------------------------------

    async def seed_bundled(self) -> int:
        """Add the bundled articles once. A bundled article an admin removed stays removed."""
        added = 0
        for path in sorted(bundled_corpus_dir().glob("*.txt")):
            parsed = await asyncio.to_thread(parse_text, path.read_text("utf-8"), filename=path.name)
            key = f"bundled:{parsed.content_hash}"
            if await self.store.get_value(key):
                continue
            try:
                await self.store.add_document(parsed, guild_id=BUNDLED, added_by="bundled")
                added += 1
            except DuplicateDocument:
                pass
            await self.store.set_value(key, path.name)
        return added

    async def rebuild(self, *, save: bool = True) -> None:
        """Rebuild the index from the store (the store is the truth) and save its snapshot."""
        async with self._index_lock:
            await self._rebuild()
            self._snapshot_change = None  # what is saved is no longer this index
        if save:
            await self.save_snapshot()

    async def _rebuild(self) -> None:
        # Read first: a change committed while the passages are read is then applied again by
        # catch_up, which is harmless (applying a change twice does nothing the second time).
        self._change_seen = await self.store.last_change()
        shards = self.settings.shards
        builder = IndexBuilder()
        # Streamed: the build holds one batch of passage texts at a time, never all of them.
        async for batch in self.store.iter_passages(shard_count=self.settings.shard_count, shard_ids=shards or ()):
            await asyncio.to_thread(builder.add, batch)
        index = await asyncio.to_thread(builder.finish, k1=self.settings.k1, b=self.settings.b)
        retired, self.index = [self.index], index
        # The old index is freed in a worker thread: its vocabulary, a string per term, takes
        # 14 ms to free at 1M passages, which on the loop would hold up every server's questions.
        await asyncio.to_thread(retired.clear)

    # -- the index snapshot -------------------------------------------------------------------

    async def _snapshot_tag(self) -> dict:
        return {
            "store": await self.store.store_id(),
            "code": snapshot.code_version(),
            "k1": self.settings.k1,
            "b": self.settings.b,
            "shards": None if self.settings.shards is None else [self.settings.shard_count, *self.settings.shards],
        }

    async def load_index(self) -> None:
        """At start: the saved snapshot brought up to date from the store's changes, else a rebuild.

        Never trusted blindly: a snapshot of another store, code version or setting, a damaged
        one, or one from a later state than the store's (a store restored from a backup) is
        rebuilt from the store instead.
        """
        path = self.settings.snapshot_path()
        async with self._index_lock:
            loaded = None
            if path is not None:
                loaded = await asyncio.to_thread(snapshot.load, path, await self._snapshot_tag(), k1=self.settings.k1, b=self.settings.b)
            if loaded is not None and loaded[1] > await self.store.last_change():
                log.warning("index snapshot %s is ahead of its store: rebuilding", path)
                loaded = None
            if loaded is not None:
                self.index, self._change_seen = loaded
                self._snapshot_change = self._change_seen
            else:
                await self._rebuild()
        await self.catch_up()  # what changed since the snapshot was saved
        await self.save_snapshot()

    async def save_snapshot(self) -> None:
        """Save the index if it changed since it was last saved or loaded (in a worker thread)."""
        path = self.settings.snapshot_path()
        if path is None:
            return
        async with self._index_lock:
            if self._snapshot_change == self._change_seen:
                return
            index, change = self.index, self._change_seen
            tag = await self._snapshot_tag()
        try:
            await asyncio.to_thread(snapshot.save, index, path, tag, change)
            self._snapshot_change = change
        except OSError as exc:  # a read-only or full disk costs the next start a rebuild, nothing else
            log.warning("could not save the index snapshot %s: %s", path, exc)

    async def read_upload(self, data: bytes, filename: str, *, guild_id: int = BUNDLED) -> ExtractedText:
        """An uploaded file's text (text, Markdown, HTML, PDF), read in a child process within
        the parse budgets, like every upload."""
        job = ParseJob(data=data, filename=filename, extract_only=True)
        return await self.parse_queue.parse(job, self.parse_limits, server=guild_id, name=filename)

    # -- every process sees every change ------------------------------------------------------

    async def follow_changes(self, *, poll: bool = True) -> None:
        """Keep the index up to date with every process's adds and removes, in the background.

        PostgreSQL NOTIFYs each change on commit and the store calls back at once; otherwise
        (SQLite, or a lost notification) a poll of the changes table every TALKSBOT_CHANGE_POLL_S
        finds it. ``catch_up`` re-indexes only the documents that changed. ``poll=False`` leaves
        the polling to the caller (the bot runs it as a discord.ext.tasks loop).
        """
        if self._following:
            return
        self._following = True
        await self.store.listen(self._changed)
        await self.catch_up()  # what changed between the index build and LISTEN
        if poll:
            self._follower = asyncio.create_task(self._poll(), name="talksbot-poll-changes")

    def _changed(self) -> None:
        """A change was committed (NOTIFY): catch up now, unless a catch-up is already running."""
        if self._notified is None or self._notified.done():
            self._notified = asyncio.create_task(self.catch_up_logged(), name="talksbot-catch-up")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.change_poll_s)
            await self.catch_up_logged()

    async def catch_up_logged(self) -> None:
        try:
            await self.catch_up()
        except Exception:  # a store hiccup must not stop following: log it, try again next time
            log.exception("could not apply the store's changes; retrying")

    async def catch_up(self) -> int:
        """Apply the changes committed since the index last looked; how many there were."""
        async with self._index_lock:
            try:
                changes = await self.store.changes_since(self._change_seen)
            except ChangesPruned as exc:  # not looked for longer than the store keeps changes
                log.warning("%s: rebuilding the index from the store", exc)
                await self._rebuild()
                self._snapshot_change = None
                return 1
            if not changes:
                return 0
            latest = {change.doc_id: change for change in changes}  # a document's last change wins
            added = [doc_id for doc_id, change in latest.items() if change.action == "add"]
            removed = [doc_id for doc_id, change in latest.items() if change.action == "remove"]
            await self._apply(added, removed)
            self._change_seen = changes[-1].id
            return len(changes)

    async def add_file(
        self,
        data: bytes,
        filename: str,
        *,
        guild_id: int = BUNDLED,
        added_by: str,
        title: str | None = None,
        date: str | None = None,
        url: str | None = None,
        fetched_from: str | None = None,
    ) -> DocumentRecord:
        """Extract and add an uploaded (or fetched) file. An HTML page's own metadata (title,
        published date, canonical URL) is used where the caller gives none."""
        _check_typed(title, date, url)  # before the file is read: a wrong date needs no 20 s parse to say so
        # Read in a child process within the parse budgets (read_upload), then parsed in another.
        extracted = await self.read_upload(data, filename, guild_id=guild_id)
        return await self.add_text(
            extracted.text,
            filename=filename,
            title=title or found_title(extracted.title),
            date=date or extracted.date,
            url=url or found_url(extracted.url) or found_url(fetched_from),
            guild_id=guild_id,
            added_by=added_by,
        )

    async def add_url(
        self,
        url: str,
        *,
        guild_id: int = BUNDLED,
        added_by: str,
        title: str | None = None,
        date: str | None = None,
    ) -> DocumentRecord:
        """Fetch a page (see fetch.py for what is refused) and add it like an uploaded file.

        The document's URL is the page's canonical URL when it names one, else where it was fetched from.
        """
        _check_typed(title, date, None)  # before the page is fetched
        page = await self.fetcher.fetch(url)
        return await self.add_file(
            page.data, page.filename, guild_id=guild_id, added_by=added_by, title=title, date=date, fetched_from=page.url
        )

    async def add_text(
        self,
        text: str,
        *,
        guild_id: int = BUNDLED,
        added_by: str,
        filename: str | None = None,
        title: str | None = None,
        date: str | None = None,
        url: str | None = None,
    ) -> DocumentRecord:
        """Parse, store (one transaction) and make searchable. Raises DocumentError, DuplicateDocument."""
        if len(text.encode("utf-8", "surrogatepass")) > self.settings.max_upload_bytes:
            raise DocumentError(f"the text is larger than the limit of {self.settings.max_upload_bytes // 1000:,} kB")
        url, date = validate_url(url), validate_date(date)  # what the admin typed: refused before any reading
        title = validate_title(title) if title else None
        job = ParseJob(text=text, filename=filename, title=title, date=date)
        parsed = await self.parse_queue.parse(job, self.parse_limits, server=guild_id, name=filename or TEXT)
        return await self._store(parsed, guild_id=guild_id, added_by=added_by, url=url)

    async def _store(self, parsed: ParsedDocument, *, guild_id: int, added_by: str, url: str | None) -> DocumentRecord:
        # The operator's bundled scope has no size quota; each server does.
        quota = None if guild_id == BUNDLED else self.settings.max_server_bytes
        record = await self.store.add_document(parsed, guild_id=guild_id, added_by=added_by, url=url, max_guild_bytes=quota)
        await self._update_index(added=[record.id])
        return record

    async def add_many(
        self, items: list[tuple[str, str | None]], *, added_by: str, progress=None
    ) -> list[int | None]:
        """Add many (text, title) documents, each in its own transaction, then index them at once.

        Returns each item's document id (the existing one for a duplicate, None if refused).
        """
        ids: list[int | None] = []
        new_ids: list[int] = []
        for text, title in items:
            try:
                parsed = await asyncio.to_thread(parse_text, text, title=title)
                record = await self.store.add_document(parsed, guild_id=BUNDLED, added_by=added_by)
                new_ids.append(record.id)
                ids.append(record.id)
            except DuplicateDocument as exc:
                ids.append(exc.existing.id)
            except DocumentError as exc:
                log.warning("not added (%s): %s", title, exc)
                ids.append(None)
            if progress is not None:
                progress.update(1)
        if progress is not None:
            progress.close()
        await self._update_index(added=new_ids)
        return ids

    async def remove(self, doc_id: int, *, removed_by: str) -> DocumentRecord | None:
        record = await self.store.remove_document(doc_id, removed_by=removed_by)
        if record is not None:
            await self._update_index(removed=[doc_id])
        return record

    async def _update_index(self, *, added: Sequence[int] = (), removed: Sequence[int] = ()) -> None:
        """Make this process's own adds and removes searchable now: they are in the store's
        changes, so catching up applies them (and whatever other processes changed meanwhile).
        Questions asked meanwhile use the old index."""
        await self.catch_up()

    async def _apply(self, added: Sequence[int], removed: Sequence[int]) -> None:
        """Index ``added`` and drop ``removed`` (the caller holds the index lock).

        Idempotent: a document already indexed is not added again and one not indexed is not
        removed, so this process's own change, seen again in the changes table, costs nothing.
        """
        present = await asyncio.to_thread(self.index.documents_present, [*added, *removed])
        added = [doc_id for doc_id in added if doc_id not in present]
        removed = [doc_id for doc_id in removed if doc_id in present]
        if not added and not removed:
            return
        if removed:
            self._taught.clear()  # a removed document's taught questions went with its passages
        passages = [p for doc_id in added for p in await self.store.document_passages(doc_id) if self.serves(p.guild_id)]
        self.index = await asyncio.to_thread(self.index.with_changes, added=passages, removed_docs=removed)

    def serves(self, guild_id: int) -> bool:
        """Whether this process indexes the documents of ``guild_id``: the bundled ones always;
        a server's when it is on one of this process's shards (all of them when not sharded)."""
        shards = self.settings.shards
        return guild_id == BUNDLED or shards is None or (guild_id >> 22) % self.settings.shard_count in shards

    def shows_bundled(self, guild_id: int | None) -> bool:
        """Whether ``guild_id`` sees the bundled article (DMs always do: it is all they see)."""
        return guild_id is None or guild_id not in self.without_bundled

    async def set_bundled_shown(self, guild_id: int, shown: bool) -> None:
        """Show or hide the bundled article in one server (``/corpus bundled``)."""
        await self.store.set_bundled_shown(guild_id, shown)
        if shown:
            self.without_bundled.discard(guild_id)
        else:
            self.without_bundled.add(guild_id)

    async def documents(self, guild_id: int | None, *, everything: bool = False) -> list[DocumentRecord]:
        """Documents a server sees (bundled + its own; bundled only in DMs), or all of them."""
        if everything:
            return await self.store.list_documents()
        docs = await self.store.list_documents(guild_id if guild_id is not None else BUNDLED)
        if not self.shows_bundled(guild_id):
            docs = [d for d in docs if d.guild_id != BUNDLED]
        return docs

    async def resolve(self, reference: str, guild_id: int | None, *, everything: bool = False) -> DocumentRecord:
        """A document by number ("3", "#3": that document and nothing else) or by title (exact,
        case-insensitive, else the only title starting with it). Raises UnknownDocument saying why."""
        docs = await self.documents(guild_id, everything=everything)
        here = "" if everything else " in this server"
        ref = " ".join(reference.split())
        number = ref.removeprefix("#").strip()
        if number.isascii() and number.isdigit():
            if len(number) <= _MAX_ID_DIGITS:
                found = [doc for doc in docs if doc.id == int(number)]
                if found:
                    return found[0]
            raise UnknownDocument(f"No document #{shorten(number, 20)}{here}")
        folded = ref.casefold()
        if not folded:
            raise UnknownDocument("Name a document by its number or title")
        match = [d for d in docs if d.title.casefold() == folded] or [
            d for d in docs if d.title.casefold().startswith(folded)
        ]
        if len(match) == 1:
            return match[0]
        if not match:
            raise UnknownDocument(f"No document titled \u201c{shorten(ref, 60)}\u201d{here}")
        shown = ", ".join(f"#{d.id} {shorten(d.title, 60)}" for d in match[:MAX_SHOWN_CANDIDATES])
        more = f" and {len(match) - MAX_SHOWN_CANDIDATES} more" if len(match) > MAX_SHOWN_CANDIDATES else ""
        raise UnknownDocument(
            f"\u201c{shorten(ref, 60)}\u201d matches {len(match)} documents: {shown}{more}; give its number"
        )

    async def passage(self, doc: DocumentRecord, paragraph: int) -> list[PassageRecord]:
        """The passages of one paragraph of a document (several when it was windowed)."""
        return await self.store.paragraph_passages(doc.id, paragraph)

    async def passage_by_id(self, passage_id: int, guild_id: int | None, *, everything: bool = False) -> PassageRecord | None:
        """One passage, if it still exists and ``guild_id`` sees it (an old answer's button)."""
        found = await self.store.get_passages([passage_id], visible_in=_visible_in(guild_id, everything))
        return found.get(passage_id)

    # -- questions -----------------------------------------------------------------------

    def check_question(self, question: str) -> str:
        """The question with its spacing folded, or QuestionError saying why it cannot be asked."""
        question = " ".join(question.split())
        if not question:
            raise QuestionError("Ask a question, for example: why were the talks cancelled?")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"That question is too long (the limit is {self.settings.max_question_chars} characters).")
        return question

    async def _retrieve(self, view: View, query: Query, k: int, guild_id: int | None, everything: bool) -> list[tuple[Hit, PassageRecord]]:
        """The k best passages of ``view`` with their text, overlapping windows removed.

        A passage removed since the view's index was built, or one the server does not see, is
        skipped: the store is the truth, and it checks visibility again.
        """
        if query.context:
            hits = view.search_in_conversation(
                query.terms, k, context_terms=query.context_terms(), prefer_docs=query.context_docs()
            )
        else:
            hits = view.search(query.terms, k)
        passages = await self.store.get_passages(
            (h.passage_id for h in hits), visible_in=_visible_in(guild_id, everything)
        )
        ranked = _dedupe([(h, passages[h.passage_id]) for h in hits if h.passage_id in passages])
        # Sentence splitting (pysbd, pure Python) in a worker thread, never on the event loop:
        # the answer's steps then find these passages' sentences in split_sentences' cache.
        await asyncio.to_thread(_split_all, [p.text for _, p in ranked])
        if not semantic.is_loaded():  # the sentence choice needs the model: load (or wait for) it off the loop
            await asyncio.to_thread(semantic.model)
        return ranked

    async def _view(self, guild_id: int | None, everything: bool = False) -> View:
        """What ``guild_id`` sees of the current index, with the statistics of only that.

        A server's statistics are made on its first question after an index change, in time
        linear in the vocabulary (3 ms at 100k passages): in a worker thread, off the event loop.
        """
        index, bundled = self.index, self.shows_bundled(guild_id)
        if everything or index.has_statistics(guild_id, bundled=bundled):
            return index.view(guild_id, bundled=bundled, everything=everything)
        return await asyncio.to_thread(index.view, guild_id, bundled=bundled)

    async def search(
        self, query: str, *, guild_id: int | None = None, limit: int = 5, everything: bool = False
    ) -> SearchResult:
        started = time.perf_counter()
        query = self.check_question(query)
        view = await self._view(guild_id, everything)  # one index for the whole request
        parsed = Query.parse(query)
        ranked = (await self._retrieve(view, parsed, limit * 2, guild_id, everything))[:limit]
        sentences = {s.key: s for s in best_sentences(parsed, _candidates(ranked), view.idf)}
        sources = [_source(n, h, p, sentences.get(h.passage_id)) for n, (h, p) in enumerate(ranked, start=1)]
        return SearchResult(query, list(parsed.terms), sources, len(view), (time.perf_counter() - started) * 1000)

    def _choose_and_decide(self, view: View, query: Query, ranked: list[tuple[Hit, PassageRecord]]):
        sentences = best_sentences(query, _candidates(ranked), view.idf)
        evidence = evidence_for(query, view.knows, ranked, sentences)
        return sentences, decide(query, evidence, view.idf, view.max_idf, self.settings.answer_threshold)

    async def ask(
        self,
        question: str,
        *,
        guild_id: int | None = None,
        limit: int | None = None,
        everything: bool = False,
        context: Sequence[Turn | str] = (),
    ) -> Answer:
        """Retrieve -> choose the sentence -> decide -> Answer. ``context``: the conversation's
        earlier questions and the documents that answered them, oldest first (a follow-up)."""
        started = time.perf_counter()
        query = Query.parse(self.check_question(question), context=context)
        borrowed = bool(query.context) and not query.terms
        if borrowed:  # "and when?", "who was there?": nothing of its own to look for, so the last question's
            query = replace(query, terms=question_terms(query.context[-1].question))
        limit = limit or self.settings.sources
        view = await self._view(guild_id, everything)  # one index for the whole request
        searched = len(view)

        def done(**kwargs) -> Answer:
            elapsed = (time.perf_counter() - started) * 1000
            looked_for = list(typed_words(query.context[-1].question if borrowed else query.text))
            return Answer(
                query.text, terms=list(query.terms), searched=searched, elapsed_ms=elapsed, looked_for=looked_for, **kwargs
            )

        if not query.terms:
            return done(answer=None, sources=[], message=NOTHING_TO_LOOK_FOR)
        ranked = await self._retrieve(view, query, max(10, limit * 3), guild_id, everything)
        sentences, decision = self._choose_and_decide(view, query, ranked)
        best_of = {s.key: s for s in sentences}
        taught = await self._taught_answer(query, guild_id, ranked, best_of, view, limit)
        if taught is not None:
            return done(**taught)
        best = sentences[0] if sentences else None
        scores = {"term_share": decision.term_share, "confidence": decision.confidence}
        if best is None or not decision.answer:
            closest = [_source(n, h, p, best_of.get(h.passage_id)) for n, (h, p) in enumerate(ranked[:limit], 1)]
            if guild_id and not everything:  # a server's question it could not answer: a gap
                await self.record_gap(guild_id, query.text, query.terms, [s.passage_id for s in closest])
            return done(answer=None, sources=[], message=NOT_FOUND, closest=closest, **scores)
        # The answering passage is source [1]; the other best passages follow in rank order.
        order = [hp for hp in ranked if hp[0].passage_id == best.key]
        order += [hp for hp in ranked if hp[0].passage_id != best.key][: limit - 1]
        sources = [_source(n, h, p, best_of.get(h.passage_id)) for n, (h, p) in enumerate(order, start=1)]
        sources[0] = replace(sources[0], context=context_of(order[0][1].text, best.sentence))
        followed = _followed(query, sources[0].doc_id, borrowed)
        return done(answer=f"{best.sentence.text} [1]", sources=sources, followed=followed, **scores)


    # -- gaps and teaching (bot/engine/teaching.py) --------------------------------------------

    async def record_gap(
        self, guild_id: int, question: str, terms: Sequence[str], closest: Sequence[int], *, vote_key: str | None = None
    ) -> None:
        """Remember a question a server's documents did not answer. Never fails the answer itself."""
        if not terms:
            return  # nothing to look for: nothing an admin could teach
        try:
            await self.store.record_gap(guild_id, question, terms_key(terms), closest, vote_key=vote_key)
        except StoreError as exc:
            log.warning("gap not recorded for server %s: %s", guild_id, exc)

    async def record_not_helpful(self, answer: Answer, guild_id: int | None, *, message_id: int, user_id: int) -> None:
        """A "Not helpful" vote makes the question a gap of its server (once per message and voter)."""
        if guild_id:
            shown = answer.sources or answer.closest
            await self.record_gap(
                guild_id, answer.question, answer.terms, [s.passage_id for s in shown], vote_key=f"{message_id}:{user_id}"
            )

    async def gaps(self, guild_id: int | None) -> list[GapGroup]:
        """Open gaps of a server (every server's for None), most asked first; older ones are deleted."""
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.settings.gaps_days)
        await self.store.expire_gaps(cutoff.isoformat(timespec="seconds"))
        return group_gaps(await self.store.gaps(guild_id))

    async def gap_passages(self, gap: GapGroup) -> list[PassageRecord]:
        """The closest passages recorded with a gap that still exist, best first."""
        found = await self.store.get_passages(gap.closest, visible_in=gap.guild_id)
        return [found[p] for p in gap.closest if p in found]

    async def dismiss_gap(self, guild_id: int, terms: str) -> int:
        return await self.store.forget_gaps(guild_id, terms)

    async def teach(self, guild_id: int, question: str, passage_id: int, *, taught_by: str) -> TaughtRecord:
        """Answer ``question`` (and close variants) in one server from one passage; closes its gap."""
        query = Query.parse(self.check_question(question))
        if not query.terms:
            raise QuestionError(NOTHING_TO_LOOK_FOR)
        passage = (await self.store.get_passages([passage_id], visible_in=guild_id)).get(passage_id)
        if passage is None or passage.guild_id not in (BUNDLED, guild_id):
            raise UnknownDocument(f"passage {passage_id}")
        key = terms_key(query.terms)
        record = await self.store.teach(guild_id, query.text, key, passage_id, taught_by=taught_by)
        await self.store.forget_gaps(guild_id, key)
        self._taught.pop(guild_id, None)
        return record

    async def teach_paragraph(
        self, guild_id: int, question: str, reference: str, paragraph: int, *, taught_by: str
    ) -> TaughtRecord:
        """Teach by document (id, #id or title, as the server sees them) and paragraph number."""
        doc = await self.resolve(reference, guild_id)
        windows = await self.passage(doc, paragraph)
        if not windows:
            raise DocumentError(f"#{doc.id} {doc.title!r} has no paragraph {paragraph} (it has {doc.passages} passages)")
        # A long paragraph is several windows: the one holding the best sentence for the question.
        query = Query.parse(self.check_question(question))
        ranked = best_sentences(query, [Candidate(p.id, p.text, 1.0) for p in windows], (await self._view(guild_id)).idf)
        return await self.teach(guild_id, question, ranked[0].key if ranked else windows[0].id, taught_by=taught_by)

    async def taught(self, guild_id: int) -> list[tuple[TaughtRecord, PassageRecord]]:
        """What a server was taught, with the passages (those removed since are gone with them)."""
        records = await self.store.taught(guild_id)
        passages = await self.store.get_passages((r.passage_id for r in records), visible_in=guild_id)
        return [(r, passages[r.passage_id]) for r in records if r.passage_id in passages]

    async def unteach(self, guild_id: int, taught_id: int) -> bool:
        removed = await self.store.unteach(guild_id, taught_id)
        self._taught.pop(guild_id, None)
        return removed

    async def _taught_answer(
        self,
        query: Query,
        guild_id: int | None,
        ranked: list[tuple[Hit, PassageRecord]],
        best_of: dict[int, ScoredSentence],
        view: View,
        limit: int,
    ) -> dict | None:
        """The answer from a taught passage when the question matches one this server taught.

        Questions with no server (DMs, the command line without --guild) use guild 0's teaching.
        """
        scope = BUNDLED if guild_id is None else guild_id
        if scope not in self._taught:
            self._taught[scope] = await self.store.taught(scope)
        match = best_match(query.terms, self._taught[scope])
        if match is None:
            return None
        record, score = match
        passage = (await self.store.get_passages([record.passage_id], visible_in=scope)).get(record.passage_id)
        if passage is None or passage.guild_id not in (BUNDLED, scope):
            return None
        # Quote the passage's sentence best for the question in either wording.
        sentence = taught_sentence(query, [*query.terms, *record.terms.split()], passage.id, passage.text, view.idf)
        if sentence is None:
            return None
        score_of = {h.passage_id: h.score for h, _ in ranked}
        first = _source(1, Hit(-1, passage.id, passage.doc_id, score_of.get(passage.id, 0.0)), passage, sentence)
        first = replace(first, context=context_of(passage.text, sentence.sentence))  # as any answer's [1]
        others = [hp for hp in ranked if hp[1].id != passage.id][: limit - 1]
        sources = [first] + [_source(n, h, p, best_of.get(h.passage_id)) for n, (h, p) in enumerate(others, start=2)]
        return {
            "answer": f"{sentence.sentence.text} [1]",
            "sources": sources,
            "term_share": score,
            "confidence": score,
            "taught": record.question,
        }


def _check_typed(title: str | None, date: str | None, url: str | None) -> None:
    """What the admin typed with an upload or link, refused before anything is read or fetched
    (add_text checks it again for the text it is given)."""
    validate_url(url)
    validate_date(date)
    if title:
        validate_title(title)


def _followed(query: Query, doc_id: int, borrowed: bool) -> str | None:
    """The earlier question an answer followed: the latest one its document answered (or whose
    terms it borrowed); None when it answered as a new question."""
    if borrowed:
        return query.context[-1].question
    return next((turn.question for turn in reversed(query.context) if turn.doc_id == doc_id), None)


def evidence_for(
    query: Query, known: Callable[[str], bool], ranked: list[tuple[Hit, PassageRecord]], sentences: list[ScoredSentence]
):
    """What the decision looks at for the best sentence (None when there is none)."""
    if not sentences:
        return None
    passage = next(p for _, p in ranked if p.id == sentences[0].key)
    scores = [h.score for h, _ in ranked]
    return gather(query, known, sentences, passage.text, _passage_terms(passage), scores, passage.id == ranked[0][1].id)


def _candidates(ranked: list[tuple[Hit, PassageRecord]]) -> list[Candidate]:
    return [Candidate(h.passage_id, p.text, h.score) for h, p in ranked]


def _passage_terms(passage: PassageRecord) -> frozenset[str]:
    """What a passage mentions: its text, section and its document's title."""
    return frozenset(analyzer.analyze(indexed_text(passage) + "\n" + passage.title))


def _split_all(texts: list[str]) -> None:
    for text in texts:
        split_sentences(text)


def _visible_in(guild_id: int | None, everything: bool) -> int | None:
    """The store's visibility filter: None for every server, else a server (DMs: the bundled scope)."""
    if everything:
        return None
    return BUNDLED if guild_id is None else guild_id


def _dedupe(ranked: list[tuple[Hit, PassageRecord]]) -> list[tuple[Hit, PassageRecord]]:
    """Drop passages overlapping a better-ranked one of the same document (windows overlap)."""
    kept: list[tuple[Hit, PassageRecord]] = []
    for hit, passage in ranked:
        if not any(p.doc_id == passage.doc_id and p.start < passage.end and passage.start < p.end for _, p in kept):
            kept.append((hit, passage))
    return kept


def _source(n: int, hit: Hit, passage: PassageRecord, sentence: ScoredSentence | None) -> Source:
    if sentence is None:
        sentences = split_sentences(passage.text)
        text = snippet(passage.text, sentences[0]) if sentences else shorten(passage.text, 300)
    else:
        text = snippet(passage.text, sentence.sentence)
    return Source(
        n=n,
        doc_id=passage.doc_id,
        title=passage.title,
        date=passage.date,
        paragraph=passage.paragraph,
        section=passage.section,
        snippet=text,
        score=hit.score,
        passage_id=passage.id,
        url=passage.url,
    )
