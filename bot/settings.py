"""All configuration in one place: environment variables with the TALKSBOT_ prefix.

Tests build ``Settings(...)`` directly; the CLI and ``create_bot()`` read the environment.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("talksbot", appauthor=False)) / "talksbot.db"


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

    # Limits (see README, "Limits and safety").
    max_question_chars: int = Field(default=500, ge=20, le=4000)
    max_upload_bytes: int = Field(default=5_000_000, ge=1_000, le=100_000_000)
    busy_timeout_s: float = Field(default=5.0, ge=0, le=120)
    # How often a process checks the store for other processes' adds and removes (SQLite; on
    # PostgreSQL NOTIFY wakes it at once and this is the fallback).
    change_poll_s: float = Field(default=0.5, ge=0.05, le=60)

    # Discord: per-user question cooldown (rate questions per `per` seconds).
    question_rate: int = Field(default=4, ge=1, le=100)
    question_per_s: float = Field(default=30.0, gt=0, le=3600)
    uploads_per_hour: int = Field(default=20, ge=1, le=1000)

    @field_validator("db", mode="before")
    @classmethod
    def _path_unless_url(cls, value: object) -> object:
        """A PostgreSQL URL stays text (a Path would fold its "//"); anything else is a path."""
        if isinstance(value, str) and not value.startswith(("postgresql://", "postgres://")):
            return Path(value)
        return value
