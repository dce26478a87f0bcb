"""Shared fixtures: settings pointing at a temporary store, an open engine, the dev questions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.engine.service import Engine
from bot.settings import Settings

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parent
ARTICLE = REPO / "corpus" / "2024-01-10-us-china-defense-talks.txt"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TALKSBOT_* variable of the developer's shell may change what a test sees."""
    for name in list(os.environ):
        if name.startswith("TALKSBOT_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "t.db")


@pytest.fixture
async def engine(settings: Settings):
    engine = await Engine.open(settings)
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture(scope="session")
def article_text() -> str:
    return ARTICLE.read_text("utf-8")


@pytest.fixture(scope="session")
def dev_questions() -> dict:
    return json.loads((FIXTURES / "talks-dev.json").read_text("utf-8"))
