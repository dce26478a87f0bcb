"""Shared fixtures: settings pointing at a temporary store, an open engine, the dev questions."""

from __future__ import annotations

import json
import os
import urllib.parse
import uuid
from pathlib import Path

import pytest

from bot.engine.sandbox import start_forkserver
from bot.engine.service import Engine
from bot.settings import Settings

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parent
ARTICLE = REPO / "corpus" / "2024-01-10-us-china-defense-talks.txt"

# Read at import, before _clean_environment empties TALKSBOT_* for each test.
POSTGRES_URL = os.environ.get("TALKSBOT_TEST_POSTGRES_URL")
# CI (.ci/run) sets this: a PostgreSQL test may then fail but never skip, and at least one must pass.
REQUIRE_POSTGRES = os.environ.get("TALKSBOT_REQUIRE_POSTGRES") == "1"
NO_POSTGRES = "PostgreSQL tests need TALKSBOT_TEST_POSTGRES_URL; run them with `.ci/with-postgres pytest`"
_postgres_tests: set[str] = set()
_postgres_passed: list[str] = []
_postgres_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _postgres_tests:
        return
    if report.when == "call" and report.passed:
        _postgres_passed.append(report.nodeid)
    elif report.skipped:
        _postgres_skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRE_POSTGRES or not _postgres_tests or exitstatus != 0:
        return
    if _postgres_skipped or not _postgres_passed:
        print(f"\nCI: PostgreSQL tests skipped: {len(_postgres_skipped)}, passed: {len(_postgres_passed)}")
        session.exitstatus = 1


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest):
    """The URL of a fresh, empty PostgreSQL store, dropped after the test.

    One schema per test (asyncpg passes ``search_path`` from the URL to the server): creating
    a schema takes milliseconds where a database takes a second.
    """
    _postgres_tests.add(request.node.nodeid)
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail(NO_POSTGRES)
        pytest.skip(NO_POSTGRES)
    import asyncpg

    name = f"talksbot_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await admin.close()
    yield urllib.parse.urlsplit(POSTGRES_URL)._replace(query=f"search_path={name}").geturl()
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await admin.close()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TALKSBOT_* variable of the developer's shell may change what a test sees."""
    for name in list(os.environ):
        if name.startswith("TALKSBOT_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _parser_forkserver() -> None:
    """Uploads are read in children of a forkserver; start it once, so that no test's timing
    (SimCord settles within 5 s) includes its start on a busy machine."""
    start_forkserver()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "t.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store lives, once for each kind: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "store.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def any_settings(store_target: Path | str) -> Settings:
    """Settings on a SQLite store, then on a PostgreSQL one."""
    return Settings(db=store_target)


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


# -- a news site on 127.0.0.1, for adding by link -------------------------------------------------

NEWS_PAGE = FIXTURES / "news-page.html"


class NewsSite:
    """A real HTTP server on 127.0.0.1 in a thread: the page, redirects, an endless and a slow body.

    ``requests`` lists the paths asked for; ``sent`` counts the bytes each endless body got out.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        site = self
        self.requests: list[str] = []
        self.sent: dict[str, int] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                route = site.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what the size and time limits do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.routes = {
            "/news/ferry": lambda h: self._send(h, NEWS_PAGE.read_bytes(), "text/html; charset=utf-8"),
            "/photo.png": lambda h: self._send(h, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
            "/to-metadata": lambda h: self._redirect(h, "http://169.254.169.254/latest/meta-data/"),
            "/to-mapped-loopback": lambda h: self._redirect(h, f"http://[::ffff:127.0.0.1]:{self.port}/news/ferry"),
            "/to-internal-name": lambda h: self._redirect(h, "http://internal.example/admin"),
            "/to-news": lambda h: self._redirect(h, "/news/ferry"),
            "/loop": lambda h: self._redirect(h, "/loop"),
            "/endless": self._endless,
            "/declared-huge": self._declared_huge,
            "/slow": self._slow,
        }
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, path: str, body: bytes, content_type: str) -> str:
        """Serve ``body`` at ``path`` too; its address."""
        self.routes[path.split("?")[0]] = lambda h: self._send(h, body, content_type)
        return self.base + path

    @staticmethod
    def _send(handler, body: bytes, content_type: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _redirect(handler, location: str) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _endless(self, handler) -> None:
        """An HTML body with no declared length that never ends (stops at 200 MB, or when cut off)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        chunk = b"<p>" + b"filler words " * 5000 + b"</p>\n"
        self.sent["/endless"] = 0
        while self.sent["/endless"] < 200_000_000:
            handler.wfile.write(chunk)
            self.sent["/endless"] += len(chunk)

    @staticmethod
    def _declared_huge(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "900000000")
        handler.end_headers()
        handler.wfile.write(b"<p>just the start</p>")

    def _slow(self, handler) -> None:
        """A page that trickles one byte every 0.2 s for a minute."""
        import time

        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        self.sent["/slow"] = 0
        for _ in range(300):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            self.sent["/slow"] += 1
            time.sleep(0.2)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def news_site():
    site = NewsSite()
    try:
        yield site
    finally:
        site.close()
