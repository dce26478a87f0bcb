"""Fetching a page an admin links to, safely: the bot must not become a way into its own network.

An admin's URL is a server-side request forgery target, so every address the bot would connect to
is checked first, and the connection goes to exactly the address that was checked:

- only ``http`` and ``https``;
- a host that is an IP address is checked as written; a host name is resolved ONCE by
  ``CheckedResolver`` (an aiohttp resolver), every address it resolves to must pass, and aiohttp
  connects to those addresses only (no second lookup that a rebinding DNS server could answer
  differently; the connector's DNS cache is off so each fetch checks again);
- redirects are followed by hand (at most ``MAX_REDIRECTS``), each new URL checked the same way;
- the body is streamed and cut at the size limit; the whole fetch has one deadline;
- only HTML, plain text and PDF are accepted.

Knows nothing of Discord. Every refusal is a ``FetchRefused``: one line naming the rule and the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from bot.engine.documents import DocumentError

MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
CHUNK_BYTES = 64 * 1024
ACCEPTED_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
}
USER_AGENT = "TalksBot/0.1 (a Discord bot adding a page a server admin linked to)"

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
# What TALKSBOT_ALLOW_PRIVATE_URLS opens: RFC 1918, unique-local IPv6 and loopback, nothing else.
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


class FetchRefused(DocumentError):
    """The URL or what it leads to is refused. The message names the rule and the address."""


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # where the body came from, after redirects
    content_type: str
    data: bytes

    @property
    def filename(self) -> str:
        """A name whose suffix tells the extractor the page's type (the URL's own may not)."""
        return "page" + ACCEPTED_TYPES[self.content_type]


def address_problem(address: str, *, allow_private: bool) -> str | None:
    """Why the bot must not connect to ``address`` (an IP address as text), or None if it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id ("fe80::1%eth0") is not part of it
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address"  # would reach the IPv4 address inside it
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        inner = address_problem(str(ip.sixtofour), allow_private=allow_private)
        if inner is not None:  # 6to4 relays deliver to the IPv4 address inside it
            return f"a 6to4 address of {ip.sixtofour}, {inner}"
    if ip.is_link_local:
        return "a link-local address (cloud metadata services answer there)"  # even when private is allowed
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if any(ip in net for net in _PRIVATE):
        return None if allow_private else "a private address"
    if ip.version == 4 and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def check_address(address: str, *, allow_private: bool, host: str) -> None:
    problem = address_problem(address, allow_private=allow_private)
    if problem is not None:
        shown = f"{address} is" if address == host else f"{host} resolves to {address},"
        raise FetchRefused(f"refused: {shown} {problem}")


class CheckedResolver(AbstractResolver):
    """Resolves a host once and returns only addresses that passed the check (all must pass).

    aiohttp connects to what this returns, so the address checked is the address connected to.
    """

    def __init__(self, *, allow_private: bool, resolver: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self._resolver = resolver or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        if not results:
            raise FetchRefused(f"refused: {host} has no address")
        for result in results:
            check_address(result["host"], allow_private=self.allow_private, host=host)
        return results

    async def close(self) -> None:
        await self._resolver.close()


def check_url(url: str, *, allow_private: bool) -> URL:
    """The URL parsed, if its scheme and (for an IP address host) its address are allowed."""
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        raise FetchRefused(f"refused: {url!r} is not a URL") from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "no scheme"
        raise FetchRefused(f"refused: only http:// and https:// links can be added, not {scheme} ({url})")
    if not parsed.host:
        raise FetchRefused(f"refused: {url} has no host")
    host = parsed.raw_host or parsed.host
    if _is_ip(host):
        # aiohttp connects to an IP address host without asking the resolver: check it here.
        check_address(host, allow_private=allow_private, host=host)
    return parsed


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class Fetcher:
    """One aiohttp session for the whole bot, opened on first use."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_s: float,
        allow_private: bool,
        resolver: AbstractResolver | None = None,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self._resolver = CheckedResolver(allow_private=allow_private, resolver=resolver)
        self._trace_configs = trace_configs
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False, limit=8)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT, "Accept": "text/html, application/xhtml+xml, text/plain, application/pdf"},
                trust_env=False,  # no proxy from the environment: the checked address is the one reached
                trace_configs=self._trace_configs,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str) -> FetchedPage:
        """The page at ``url``, or FetchRefused saying which rule it broke."""
        current = check_url(url, allow_private=self.allow_private)  # before any connection
        try:
            async with asyncio.timeout(self.timeout_s):
                previous: URL | None = None
                for _ in range(MAX_REDIRECTS + 1):
                    try:
                        if previous is not None:  # a redirect's target is checked like the first URL
                            current = check_url(str(current), allow_private=self.allow_private)
                        page_or_next = await self._get_once(current)
                    except FetchRefused as exc:
                        if previous is None:
                            raise
                        raise FetchRefused(f"{exc} (a redirect from {previous.host})") from None
                    if isinstance(page_or_next, FetchedPage):
                        return page_or_next
                    previous, current = current, page_or_next
                raise FetchRefused(f"refused: {url} redirects more than {MAX_REDIRECTS} times")
        except TimeoutError:
            raise FetchRefused(f"refused: {current.host} took longer than {self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            reason = getattr(exc, "os_error", None) or exc
            raise FetchRefused(f"could not fetch {current.host}: {_one_line(str(reason) or type(exc).__name__)}") from None

    async def _get_once(self, url: URL) -> FetchedPage | URL:
        async with self._get_session().get(url, allow_redirects=False) as response:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchRefused(f"refused: {url.host} redirects without saying where")
                try:
                    return url.join(URL(location))
                except ValueError:
                    raise FetchRefused(f"refused: {url.host} redirects to {location!r}, not a URL") from None
            if response.status >= 400:
                raise FetchRefused(f"could not fetch {url}: the server answered {response.status} {response.reason or ''}".rstrip())
            content_type = response.content_type.lower()
            if content_type not in ACCEPTED_TYPES:
                raise FetchRefused(
                    f"refused: {url.host} sent {content_type or 'no content type'}; only HTML, plain text and PDF can be added"
                )
            if response.content_length is not None and response.content_length > self.max_bytes:
                raise FetchRefused(self._too_large(url))
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                body += chunk
                if len(body) > self.max_bytes:  # stop reading: the rest is never downloaded
                    raise FetchRefused(self._too_large(url))
            return FetchedPage(str(response.url), content_type, bytes(body))

    def _too_large(self, url: URL) -> str:
        return f"refused: the page at {url.host} is larger than the limit of {self.max_bytes // 1000:,} kB"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
