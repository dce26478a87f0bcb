"""Adding a page by its link: what is fetched, what is kept of it, and everything that is refused."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver

from bot.engine.documents import DocumentError
from bot.engine.fetch import Fetcher, FetchRefused, address_problem
from bot.engine.service import Engine
from bot.measure.hostile import text_pdf
from bot.settings import Settings
from bot.store import DuplicateDocument

GUILD = 4242
MENU_BANNER_FOOTER_WORDS = ["zeppelins", "marmalade", "trampoline", "accordion", "kazoo", "quokka", "xylophone"]


@pytest.mark.parametrize(
    ("address", "refused_as", "with_private_allowed"),
    [
        ("93.184.216.34", None, None),
        ("2606:4700::6810:85e5", None, None),
        ("127.0.0.1", "a loopback address", None),
        ("::1", "a loopback address", None),
        ("10.1.2.3", "a private address", None),
        ("172.16.5.4", "a private address", None),
        ("192.168.1.1", "a private address", None),
        ("fd12:3456::1", "a private address", None),
        ("169.254.169.254", "a link-local address (cloud metadata services answer there)", "link-local"),
        ("fe80::1", "a link-local address (cloud metadata services answer there)", "link-local"),
        ("fe80::1%eth0", "a link-local address (cloud metadata services answer there)", "link-local"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address", "shared"),
        ("224.0.0.1", "a multicast address", "multicast"),
        ("ff02::1", "a multicast address", "multicast"),
        ("240.0.0.1", "a reserved address", "reserved"),
        ("0.0.0.0", "the unspecified address", "unspecified"),
        ("::", "the unspecified address", "unspecified"),
        ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 address", "IPv4-mapped"),
        ("::ffff:8.8.8.8", "an IPv4-mapped IPv6 address", "IPv4-mapped"),
        ("192.0.2.10", "not a public address", "not a public"),  # documentation range
        ("2002:a9fe:a9fe::1", "a 6to4 address of 169.254.169.254, a link-local address (cloud metadata services answer there)", "link-local"),
        ("2002:5db8:d822::1", None, None),  # 6to4 of a public address
    ],
)
def test_which_addresses_the_bot_may_connect_to(address, refused_as, with_private_allowed):
    assert address_problem(address, allow_private=False) == refused_as
    allowed = address_problem(address, allow_private=True)
    if with_private_allowed is None:  # loopback and private open up with the setting; public always was
        assert allowed is None
    else:
        assert with_private_allowed in allowed


class FakeDNS(AbstractResolver):
    """A DNS server's answers, as aiohttp's resolvers return them; ``asked`` records the lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        return [
            {"hostname": host, "host": ip, "port": port, "family": socket.AF_INET6 if ":" in ip else socket.AF_INET,
             "proto": 0, "flags": 0}
            for ip in self.answers[host]
        ]

    async def close(self) -> None:
        pass


class Connections:
    """aiohttp's own trace hooks: every request started and every connection it began to open."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.opened = 0
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._request)
        self.config.on_connection_create_start.append(self._connection)

    async def _request(self, session, context, params) -> None:
        self.requests.append(str(params.url))

    async def _connection(self, session, context, params) -> None:
        self.opened += 1


@pytest.fixture
async def sock_connects(monkeypatch) -> list[tuple]:
    """Every address a socket of this event loop connects to (aiohttp connects with loop.sock_connect)."""
    loop = asyncio.get_running_loop()
    connects: list[tuple] = []
    real = loop.sock_connect

    async def recording(sock, address):
        connects.append(tuple(address[:2]))
        return await real(sock, address)

    monkeypatch.setattr(loop, "sock_connect", recording)
    return connects


@pytest.fixture
def private_ok(tmp_path) -> Settings:
    return Settings(db=tmp_path / "t.db", allow_private_urls=True, max_upload_bytes=200_000, fetch_timeout_s=1.5)


@pytest.fixture
async def link_engine(private_ok):
    engine = await Engine.open(private_ok)
    try:
        yield engine
    finally:
        await engine.close()


def watched_fetcher(settings: Settings, *, dns: FakeDNS | None = None) -> tuple[Fetcher, Connections]:
    connections = Connections()
    fetcher = Fetcher(
        max_bytes=settings.max_upload_bytes,
        timeout_s=settings.fetch_timeout_s,
        allow_private=settings.allow_private_urls,
        resolver=dns,
        trace_configs=[connections.config],
    )
    return fetcher, connections


async def own_documents(engine: Engine) -> list:
    return [d for d in await engine.documents(None, everything=True) if d.guild_id == GUILD]


async def test_news_page_is_stored_with_its_title_date_and_canonical_url(link_engine, news_site):
    record = await link_engine.add_url(f"{news_site.base}/news/ferry", guild_id=GUILD, added_by="admin")
    assert record.title == "Harbor City Ferry Service Suspended After Typhoon"
    assert record.date == "2024-03-14"
    assert record.url == "https://coastal-ledger.example/news/2024/03/ferry-suspended"
    answer = await link_engine.ask("Why was the ferry service suspended?", guild_id=GUILD)
    assert answer.answer is not None and "typhoon damaged the main pier" in answer.answer
    assert answer.sources[0].title == record.title and answer.sources[0].date == "2024-03-14"


async def test_menu_banner_footer_related_and_comment_words_find_nothing(link_engine, news_site):
    await link_engine.add_url(f"{news_site.base}/news/ferry", guild_id=GUILD, added_by="admin")
    for word in MENU_BANNER_FOOTER_WORDS:
        result = await link_engine.search(word, guild_id=GUILD)
        assert result.hits == [], word
    body = await link_engine.store.document_body((await own_documents(link_engine))[0].id)
    assert "Accept all cookies" not in body and "Related stories" not in body and "Mara Quintero" not in body


async def test_a_saved_page_and_its_link_are_the_same_document(link_engine, news_site):
    await link_engine.add_url(f"{news_site.base}/news/ferry", guild_id=GUILD, added_by="admin")
    with pytest.raises(DuplicateDocument):
        await link_engine.add_file(news_site_page_bytes(), "ferry.html", guild_id=GUILD, added_by="admin")
    saved = await link_engine.add_file(news_site_page_bytes(), "ferry.html", guild_id=GUILD + 1, added_by="admin")
    assert (saved.title, saved.date, saved.url) == (
        "Harbor City Ferry Service Suspended After Typhoon",
        "2024-03-14",
        "https://coastal-ledger.example/news/2024/03/ferry-suspended",
    )


def news_site_page_bytes() -> bytes:
    """The page the news site serves, as a reader would save it."""
    return (Path(__file__).resolve().parents[1] / "fixtures" / "news-page.html").read_bytes()


async def test_a_redirect_within_the_site_is_followed(link_engine, news_site):
    record = await link_engine.add_url(f"{news_site.base}/to-news", guild_id=GUILD, added_by="admin")
    assert record.date == "2024-03-14"
    assert news_site.requests == ["/to-news", "/news/ferry"]


async def test_without_the_setting_a_local_page_is_refused_and_nothing_stored(engine, news_site):
    with pytest.raises(FetchRefused, match=r"^refused: 127\.0\.0\.1 is a loopback address$"):
        await engine.add_url(f"{news_site.base}/news/ferry", guild_id=GUILD, added_by="admin")
    with pytest.raises(FetchRefused, match=r"^refused: localhost resolves to 127\.0\.0\.1, a loopback address$"):
        await engine.add_url(f"http://localhost:{news_site.port}/news/ferry", guild_id=GUILD, added_by="admin")
    assert news_site.requests == []
    assert await own_documents(engine) == []


async def test_cloud_metadata_is_refused_before_any_connection(private_ok, sock_connects):
    fetcher, connections = watched_fetcher(private_ok)
    try:
        with pytest.raises(FetchRefused, match=r"^refused: 169\.254\.169\.254 is a link-local address"):
            await fetcher.fetch("http://169.254.169.254/latest/meta-data/")
    finally:
        await fetcher.close()
    assert connections.requests == [] and connections.opened == 0 and sock_connects == []


async def test_a_name_resolving_to_metadata_is_refused_after_one_lookup_and_no_connection(private_ok, sock_connects):
    dns = FakeDNS({"metadata.example": ["169.254.169.254"]})
    fetcher, _ = watched_fetcher(private_ok, dns=dns)
    try:
        with pytest.raises(FetchRefused, match="metadata.example resolves to 169.254.169.254, a link-local address"):
            await fetcher.fetch("http://metadata.example/latest/meta-data/")
    finally:
        await fetcher.close()
    assert dns.asked == ["metadata.example"] and sock_connects == []


async def test_one_private_address_among_public_ones_refuses_the_host(tmp_path):
    settings = Settings(db=tmp_path / "t.db")
    dns = FakeDNS({"rebind.example": ["93.184.216.34", "10.0.0.7"]})
    fetcher, _ = watched_fetcher(settings, dns=dns)
    try:
        with pytest.raises(FetchRefused, match="rebind.example resolves to 10.0.0.7, a private address"):
            await fetcher.fetch("https://rebind.example/story")
    finally:
        await fetcher.close()


async def test_the_connection_goes_to_the_address_that_was_checked(private_ok, news_site, sock_connects):
    # The name exists only in our DNS: one lookup, and the one socket goes to the address it gave.
    dns = FakeDNS({"ledger.example": ["127.0.0.1"]})
    fetcher, _ = watched_fetcher(private_ok, dns=dns)
    try:
        page = await fetcher.fetch(f"http://ledger.example:{news_site.port}/news/ferry")
    finally:
        await fetcher.close()
    assert b"Saltmarsh Point" in page.data and dns.asked == ["ledger.example"]
    assert sock_connects == [("127.0.0.1", news_site.port)]


@pytest.mark.parametrize(
    ("path", "refusal"),
    [
        ("/to-metadata", r"^refused: 169\.254\.169\.254 is a link-local address .* \(a redirect from 127\.0\.0\.1\)$"),
        ("/to-mapped-loopback", r"an IPv4-mapped IPv6 address \(a redirect from 127\.0\.0\.1\)$"),
    ],
)
async def test_a_redirect_to_a_forbidden_address_is_refused(private_ok, news_site, path, refusal):
    fetcher, connections = watched_fetcher(private_ok)
    try:
        with pytest.raises(FetchRefused, match=refusal):
            await fetcher.fetch(f"{news_site.base}{path}")
    finally:
        await fetcher.close()
    assert connections.requests == [f"{news_site.base}{path}"]  # the redirect target was never asked for
    assert news_site.requests == [path]


async def test_a_redirect_to_a_name_of_a_forbidden_address_is_refused(private_ok, news_site, sock_connects):
    # The first site is fine; its redirect names a host our DNS puts on the metadata address.
    dns = FakeDNS({"news.example": ["127.0.0.1"], "internal.example": ["169.254.170.2"]})
    fetcher, _ = watched_fetcher(private_ok, dns=dns)
    try:
        with pytest.raises(
            FetchRefused,
            match=r"internal\.example resolves to 169\.254\.170\.2, a link-local address .* \(a redirect from news\.example\)$",
        ):
            await fetcher.fetch(f"http://news.example:{news_site.port}/to-internal-name")
    finally:
        await fetcher.close()
    assert dns.asked == ["news.example", "internal.example"]
    assert sock_connects == [("127.0.0.1", news_site.port)]  # only the first site was ever connected to


async def test_more_than_five_redirects_are_refused(private_ok, news_site):
    fetcher, _ = watched_fetcher(private_ok)
    try:
        with pytest.raises(FetchRefused, match="redirects more than 5 times"):
            await fetcher.fetch(f"{news_site.base}/loop")
    finally:
        await fetcher.close()
    assert news_site.requests == ["/loop"] * 6


async def test_an_endless_page_stops_at_the_size_limit(link_engine, news_site):
    with pytest.raises(FetchRefused, match=r"^refused: the page at 127\.0\.0\.1 is larger than the limit of 200 kB$"):
        await link_engine.add_url(f"{news_site.base}/endless", guild_id=GUILD, added_by="admin")
    time.sleep(0.5)  # let the server notice the closed connection
    # The server was cut off long before its 200 MB (what is in flight is socket buffers).
    assert news_site.sent["/endless"] < 20_000_000
    assert await own_documents(link_engine) == []


async def test_a_declared_huge_page_is_refused_before_reading(link_engine, news_site):
    with pytest.raises(FetchRefused, match="larger than the limit of 200 kB"):
        await link_engine.add_url(f"{news_site.base}/declared-huge", guild_id=GUILD, added_by="admin")


async def test_a_slow_page_stops_at_the_time_limit(link_engine, news_site):
    started = time.monotonic()
    with pytest.raises(FetchRefused, match=r"^refused: 127\.0\.0\.1 took longer than 1\.5 s$"):
        await link_engine.add_url(f"{news_site.base}/slow", guild_id=GUILD, added_by="admin")
    # The page would trickle for 60 s; the fetch gave up at its 1.5 s limit (generous bound for a busy machine).
    assert time.monotonic() - started < 15
    assert await own_documents(link_engine) == []


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("ftp://files.example/report.txt", r"^refused: only http:// and https:// links can be added, not ftp "),
        ("file:///etc/passwd", r"^refused: only http:// and https:// links can be added, not file "),
        ("gopher://old.example/", r"not gopher"),
        ("not a link", r"^refused: only http:// and https://"),
    ],
)
async def test_other_schemes_are_refused(link_engine, url, refusal):
    with pytest.raises(FetchRefused, match=refusal):
        await link_engine.add_url(url, guild_id=GUILD, added_by="admin")
    assert await own_documents(link_engine) == []


async def test_only_html_text_and_pdf_are_accepted(link_engine, news_site):
    with pytest.raises(FetchRefused, match="sent image/png; only HTML, plain text and PDF can be added"):
        await link_engine.add_url(f"{news_site.base}/photo.png", guild_id=GUILD, added_by="admin")
    assert await own_documents(link_engine) == []


LONG_HEADLINE = (
    "Harbor City Ferry Service Resumes After Typhoon Repairs to the Main Pier Are Finished Ahead of Schedule,"
    " Officials Say, as Commuters Return to the Morning Crossings and Tourism Operators Prepare for a Busy"
    " Summer Season on the Islands | The Coastal Ledger"
)
TRACKED = "/news/ferry-resumes?" + "&".join(f"utm_param{n}=campaign-value-{n}" for n in range(30))


def page_with_unkept_metadata(canonical: str) -> bytes:
    return f"""<!doctype html><html><head><title>{LONG_HEADLINE}</title>
<link rel="canonical" href="{canonical}"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><p>The ferry between Harbor City and the islands resumed on Monday after the typhoon repairs.</p>
<p>The first crossing left at six in the morning with more than two hundred commuters on board.</p></article>
<footer>The Coastal Ledger</footer></body></html>""".encode()


async def test_a_page_whose_own_title_and_address_are_too_long_to_keep_is_still_added(link_engine, news_site):
    # A page's <title> over 200 characters or a canonical or fetched address over 500 refused the
    # whole page ("the title is longer than 200 characters") though the admin typed neither.
    assert len(LONG_HEADLINE) > 200 and len(news_site.base + TRACKED) > 500
    long_canonical = "https://coastal-ledger.example/news/" + "-".join(["ferry-resumes-after-typhoon-repairs"] * 16)
    link = news_site.serve(TRACKED, page_with_unkept_metadata(long_canonical), "text/html; charset=utf-8")
    record = await link_engine.add_url(link, guild_id=GUILD, added_by="admin")
    assert record.title.startswith("Harbor City Ferry Service Resumes After Typhoon Repairs")
    assert len(record.title) <= 200 and record.title.endswith("…")
    assert record.url is None  # neither address fits; the document is kept without one
    answer = await link_engine.ask("When did the ferry to the islands resume?", guild_id=GUILD)
    assert answer.answer is not None and "resumed on Monday" in answer.answer

    saved = await link_engine.add_file(
        page_with_unkept_metadata("https://coastal-ledger.example/ferry"), "ferry.html", guild_id=GUILD + 1, added_by="admin"
    )
    assert saved.title == record.title and saved.url == "https://coastal-ledger.example/ferry"


async def test_a_pdf_whose_metadata_title_has_a_control_character_is_added_under_that_title(link_engine):
    pdf = text_pdf(["The harbor festival was postponed because the storm damaged the pier."], title="Harbor\x07Report")
    record = await link_engine.add_file(pdf, "report.pdf", guild_id=GUILD, added_by="admin")
    assert record.title == "Harbor Report"


async def test_a_title_or_address_the_admin_types_is_still_checked(link_engine, news_site):
    with pytest.raises(DocumentError, match="longer than 200"):
        await link_engine.add_file(page_with_unkept_metadata("/"), "ferry.html", guild_id=GUILD, added_by="admin", title="x" * 201)
    with pytest.raises(DocumentError, match="source URL"):
        await link_engine.add_text("The ferry resumed.", guild_id=GUILD, added_by="admin", url="https://x.example/" + "a" * 600)
    assert await own_documents(link_engine) == []


@pytest.mark.parametrize(("title", "date", "refused"), [(None, "2024-02-30", "is not a date"), ("x" * 201, None, "longer than 200")])
async def test_a_bad_title_or_date_is_refused_before_the_page_is_fetched_or_read(link_engine, news_site, title, date, refused):
    # They were checked only after the page was fetched and read in a child process (up to the
    # fetch and parse time limits), and an unreachable page hid them behind "could not fetch".
    with pytest.raises(DocumentError, match=refused):
        await link_engine.add_url(f"{news_site.base}/news/ferry", guild_id=GUILD, added_by="admin", title=title, date=date)
    assert news_site.requests == []
    with pytest.raises(DocumentError, match=refused):
        await link_engine.add_file(b"%PDF-1.4 not read", "x.pdf", guild_id=GUILD, added_by="admin", title=title, date=date)
    assert await own_documents(link_engine) == []
