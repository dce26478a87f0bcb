"""All configuration in one place: environment variables with the TALKSBOT_ prefix.

Tests build ``Settings(...)`` directly; the CLI and ``create_bot()`` read the environment.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("talksbot", appauthor=False)) / "talksbot.db"


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """ "0-3" -> (0, 1, 2, 3); "0,2,5" -> (0, 2, 5); ranges and ids may be mixed. ValueError if bad."""
    ids: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"shard ids look like 0-3 or 0,2,5, not {text!r}")
        ids.update(range(int(low), int(high) + 1) if dash else [int(low)])
    return tuple(sorted(ids))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALKSBOT_", extra="ignore", frozen=True)

    # A SQLite file, or a PostgreSQL URL (postgresql://user@host:port/db) for several processes.
    db: Path | str = Field(default_factory=default_db_path, description="the store: a SQLite file or a PostgreSQL URL")
    discord_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "TALKSBOT_DISCORD_TOKEN"),
    )

    # Retrieval: BM25Okapi's parameters and how much is shown.
    k1: float = Field(default=1.5, gt=0, le=5)  # rank_bm25's own default
    b: float = Field(default=0.75, ge=0, le=1)
    sources: int = Field(default=3, ge=1, le=10, description="sources cited under an answer")
    # How sure the decision must be to answer (bot/engine/decide.py; README, "When TalksBot does
    # not answer"): higher is quieter.
    answer_threshold: float = Field(default=0.25, ge=0, le=1)  # = decide.THRESHOLD

    # Limits (see README, "Limits and safety").
    max_question_chars: int = Field(default=500, ge=20, le=4000)
    max_upload_bytes: int = Field(default=5_000_000, ge=1_000, le=100_000_000)
    busy_timeout_s: float = Field(default=5.0, ge=0, le=120)
    # How often a process checks the store for other processes' adds and removes (SQLite; on
    # PostgreSQL NOTIFY wakes it at once and this is the fallback).
    change_poll_s: float = Field(default=0.5, ge=0.05, le=60)
    max_passages_per_document: int = Field(default=50_000, ge=10, le=1_000_000)
    max_server_bytes: int = Field(default=50_000_000, ge=1_000, le=10_000_000_000, description="documents of one server")
    # Reading an upload: in a child process with these budgets (bot/engine/sandbox.py).
    parse_timeout_s: float = Field(default=20.0, gt=0, le=600)
    parse_memory_mb: int = Field(default=512, ge=128, le=65_536)
    parse_workers: int = Field(default=2, ge=1, le=64, description="uploads read at once, over all servers")
    parse_queue_per_server: int = Field(default=3, ge=1, le=100, description="uploads one server may have waiting")

    # Discord: per-user question cooldown (rate questions per `per` seconds).
    question_rate: int = Field(default=4, ge=1, le=100)
    question_per_s: float = Field(default=30.0, gt=0, le=3600)
    uploads_per_hour: int = Field(default=20, ge=1, le=1000)

    # Where the index snapshot is kept (a start loads it instead of analyzing every passage);
    # default: next to a SQLite file, in the user cache directory for PostgreSQL.
    index_snapshot: Path | None = None

    # Shard clusters: this process runs these shards of that many (Discord's sharding), and
    # indexes only the bundled documents and those of servers on its shards.
    shard_count: int | None = Field(default=None, ge=1, le=100_000)
    shard_ids: str | None = Field(default=None, description='this process\'s shards, e.g. "0-3" or "0,2,5"')

    @model_validator(mode="after")
    def _check_shards(self) -> Settings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("TALKSBOT_SHARD_IDS needs TALKSBOT_SHARD_COUNT")
            ids = parse_shard_ids(self.shard_ids)
            if not ids or max(ids) >= self.shard_count:
                raise ValueError(f"TALKSBOT_SHARD_IDS must be shards 0 to {self.shard_count - 1}, like 0-3 or 0,2")
        return self

    @property
    def shards(self) -> tuple[int, ...] | None:
        """This process's shards; None: not sharded (one process serves every server)."""
        if self.shard_count is None:
            return None
        if self.shard_ids is None:
            return tuple(range(self.shard_count))
        return parse_shard_ids(self.shard_ids)

    def snapshot_path(self) -> Path | None:
        """The index snapshot's file for this store and these shards (None: an in-memory store)."""
        if self.index_snapshot is not None:
            return self.index_snapshot
        suffix = "" if self.shards is None else f".shards-{self.shard_count}-{'_'.join(map(str, self.shards))}"
        if isinstance(self.db, str):  # PostgreSQL: one cache file per URL
            digest = hashlib.sha256(self.db.encode()).hexdigest()[:16]
            return Path(platformdirs.user_cache_dir("talksbot", appauthor=False)) / f"postgresql-{digest}{suffix}.index"
        if str(self.db) == ":memory:":
            return None
        return self.db.with_name(f"{self.db.name}{suffix}.index")

    @property
    def syncs_commands(self) -> bool:
        """Slash commands are global: only the process holding shard 0 syncs them."""
        return self.shards is None or 0 in self.shards

    @field_validator("db", mode="before")
    @classmethod
    def _path_unless_url(cls, value: object) -> object:
        """A PostgreSQL URL stays text (a Path would fold its "//"); anything else is a path, with
        "~" expanded: no shell expands it in an .env file or a service's environment."""
        if isinstance(value, str) and not value.startswith(("postgresql://", "postgres://")):
            return Path(value).expanduser()
        return value.expanduser() if isinstance(value, Path) else value

    @field_validator("index_snapshot")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("db")
    @classmethod
    def _not_a_folder(cls, value: Path | str) -> Path | str:
        # SQLite cannot open a folder, and aiosqlite's failed connect then ends the process with
        # an abort instead of an error: refused here, in words.
        if isinstance(value, Path) and value.is_dir():
            raise ValueError(f"{value} is a folder; name a file in it, such as {value / 'talksbot.db'}")
        return value

    # Adding by link (bot/engine/fetch.py): private and loopback addresses only for tests and
    # intranet deployments; link-local (cloud metadata) stays refused even then.
    allow_private_urls: bool = False
    fetch_timeout_s: float = Field(default=15.0, gt=0, le=120, description="the whole fetch, redirects included")

    # Questions the documents did not answer, kept for /corpus gaps.
    gaps_days: int = Field(default=30, ge=1, le=3650)
