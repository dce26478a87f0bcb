"""``talksbot loadtest``: questions per second through the Discord layer, under a burst.

The real bot from ``create_bot()`` runs in this process against SimCord's simulated Discord (the
``test`` extra), on a temporary store. It gets S servers, each with one document of its own added
through ``/corpus add``, and members who ask N questions *at once*: every interaction (and
mention) is created before the bot runs any of them, then the bot runs until all are answered
and it has nothing left to do. So all N questions wait in the same burst, as if N people pressed
Enter in the same second.

Questions are a mix: a server's own document ("Why was the <place> lantern festival
postponed?"), the bundled article ("why were talks cancelled?"), and one in ten about another
server's document, which must never be answered from that document.

The report: questions, servers, members, seconds (first question to last answer), questions_per_s
(right answers per second), latency_p50_ms / latency_p95_ms (question to answer: in a burst this
is mostly queueing), ack_max_ms (slowest acknowledgement), max_loop_lag_ms (worst lateness of a
5 ms ticker on the bot's event loop while it answers), answered, errors, all_answered. With
``--json``, one JSON object on the last stdout line. Exit status 1 when not all were answered.

SimCord 3.2.1 has no public verb that does not wait for the bot: ``fire_slash_nowait`` and
``fire_mention_nowait`` use its internals (the steps of ``MemberActor.slash`` / ``send`` without
the settle), so they are tied to that version. The load test in ``tests/cogs/test_load.py`` uses
the same helpers. SimCord's clock is virtual, so a slow bot never gets 10062 Unknown Interaction
from it: the real time from each interaction to the bot's acknowledgement is measured instead
(Discord's limit is 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.console import CommandError, print_report
from bot.settings import Settings

if TYPE_CHECKING:
    import simcord

SIMCORD_MISSING = 'talksbot loadtest runs the bot under SimCord, which is not installed: pip install ".[test]"'

BUNDLED_QUESTION = "why were talks cancelled?"
BUNDLED_ANSWER = "abruptly halted in 2023"
QUESTIONS_PER_MEMBER = 5
FOREIGN_EVERY = 10  # every 10th question asks about another server's document
ACK_LIMIT_S = 3.0  # Discord's limit for the first response to an interaction
TICK_S = 0.005
SEED = 20240110

_SYLLABLES = [c + v for c in "bdgklmprstvz" for v in "aiou"]
MAX_SERVERS = len(_SYLLABLES) ** 3


# -- the world: servers, their documents, their members -------------------------------------


def place_names(count: int) -> list[str]:
    """``count`` distinct made-up place names, all of the same length (none contains another)."""
    if count > MAX_SERVERS:
        raise ValueError(f"at most {MAX_SERVERS} servers")
    n = len(_SYLLABLES)
    codes = random.Random(SEED).sample(range(n**3), count)
    return [(_SYLLABLES[c // n**2] + _SYLLABLES[c // n % n] + _SYLLABLES[c % n] + "ton").capitalize() for c in codes]


@dataclass(frozen=True)
class ServerDoc:
    place: str

    @property
    def filename(self) -> str:
        return f"{self.place.lower()}-notes.txt"

    @property
    def text(self) -> str:
        return (
            f"{self.place} Town Notes\n\n"
            f"The {self.place} lantern festival was postponed because the river flooded the market square.\n\n"
            f"Volunteers from {self.place} will meet at the north gate at nine in the morning.\n"
        )

    @property
    def question(self) -> str:
        return f"Why was the {self.place} lantern festival postponed?"

    @property
    def answer(self) -> str:
        """A phrase of the sentence that answers ``question``."""
        return f"The {self.place} lantern festival was postponed because the river flooded"


@dataclass
class LoadServer:
    doc: ServerDoc
    guild: Any  # simcord GuildHandle
    channel: Any  # simcord ChannelHandle
    admin: Any  # MemberActor with Manage Server
    members: list  # MemberActors


async def build_servers(env: simcord.Env, servers: int, members_per_server: int) -> list[LoadServer]:
    """Create the servers, each with its document added by its admin through ``/corpus add``."""
    import discord

    built = []
    for place in place_names(servers):
        guild = env.create_guild(f"{place} server")
        channel = guild.create_text_channel("general")
        managers = guild.create_role("Managers", permissions=discord.Permissions(manage_guild=True))
        admin = guild.add_member(env.create_user(f"{place}-admin"), roles=[managers])
        members = [guild.add_member(env.create_user(f"{place}-member-{i}")) for i in range(members_per_server)]
        doc = ServerDoc(place)
        added = await admin.slash(channel, "corpus add", file=(doc.filename, doc.text.encode()))
        if added.response is None or not added.response.content.startswith("Added"):
            raise RuntimeError(f"/corpus add failed in {place}: {added.response and added.response.content!r}")
        built.append(LoadServer(doc, guild, channel, admin, members))
    return built


# -- the questions ------------------------------------------------------------------------------


@dataclass
class Question:
    server: LoadServer
    member: Any
    text: str
    kind: str  # "own", "bundled" or "foreign"
    via: str  # "slash" or "mention"
    expect: str | None  # a phrase the answer must contain (None: any answer or none)
    forbidden: tuple[str, ...]  # place names that must not appear in the answer (other servers')
    # Filled by fire() and collect():
    fired_at: float = 0.0
    ack_key: tuple[str, str] | None = None  # the bot's first request for it (see _StampedLog)
    answer_key: tuple[str, str] | None = None  # the bot's request that answers it
    result: Any = None  # simcord InteractionResult (slash)
    message_id: int | None = None  # the member's message (mention)
    reply: Any = None  # the bot's answer: a ResponseMessage or a discord.Message
    acked_at: float | None = None
    answered_at: float | None = None
    problem: str | None = None

    @property
    def embed(self):
        if self.reply is None or not self.reply.embeds:
            return None
        return self.reply.embeds[0]


def plan_questions(servers: list[LoadServer], count: int, *, via: str = "slash", start: int = 0) -> list[Question]:
    """``count`` questions spread over the servers and their members, in a fixed mix."""
    places = [s.doc.place for s in servers]
    questions = []
    for i in range(start, start + count):
        server = servers[i % len(servers)]
        member = server.members[(i // len(servers)) % len(server.members)]
        others = tuple(p for p in places if p != server.doc.place)
        if i % FOREIGN_EVERY == FOREIGN_EVERY - 1 and len(servers) > 1:
            foreign = servers[(i + 1) % len(servers)].doc
            questions.append(Question(server, member, foreign.question, "foreign", via, None, others))
        elif i % 2 == 0:
            questions.append(Question(server, member, server.doc.question, "own", via, server.doc.answer, others))
        else:
            questions.append(Question(server, member, BUNDLED_QUESTION, "bundled", via, BUNDLED_ANSWER, others))
    return questions


# -- firing without waiting (SimCord 3.2.1 internals) ------------------------------------------


def fire_slash_nowait(actor, channel, name: str, /, **options):
    """Emit one slash-command interaction and return its ``InteractionResult`` without running the bot.

    The steps of ``MemberActor.slash`` (visibility, options, payload) minus its settle, so many can be
    in flight at once; ``await env.settle()`` afterwards runs them all.
    """
    from simcord import InteractionResult
    from simcord import interactions as sc_int
    from simcord.actors import _resolve_visible_command
    from simcord.enums import AppCommandType, InteractionType

    env, parts = actor._env, name.split()
    root = _resolve_visible_command(actor, channel.id, parts[0], AppCommandType.CHAT_INPUT)
    leaf, nesting = sc_int.walk_to_subcommand(root, parts[1:])
    opts, resolved = sc_int.build_options(actor, name, leaf, options, channel_id=channel.id)
    data = {
        "id": root["id"],
        "name": root["name"],
        "type": root.get("type", 1),
        "options": sc_int.nest_options(root, nesting, opts),
    }
    if resolved:
        data["resolved"] = resolved
    if root.get("guild_id"):
        data["guild_id"] = root["guild_id"]
    record, payload = sc_int.base_payload(
        env.backend,
        type=InteractionType.APPLICATION_COMMAND,
        channel_id=channel.id,
        guild_id=actor.guild.id,
        user_id=actor.id,
        data=data,
    )
    env.backend.emit("INTERACTION_CREATE", payload)
    return InteractionResult(env, record)


def fire_mention_nowait(actor, channel, content: str) -> int:
    """Post a member's message (MESSAGE_CREATE) without running the bot; returns its id."""
    actor._check(channel, "send_messages")
    return actor._env.backend.create_message(channel.id, actor.id, content).id


def fire(env: simcord.Env, questions: list[Question]) -> None:
    """Create every question's interaction or message; the bot runs none of them yet."""
    mention = env.bot.user.mention
    app_id = env.backend.application_id
    for q in questions:
        q.fired_at = time.perf_counter()
        if q.via == "slash":
            q.result = fire_slash_nowait(q.member, q.server.channel, "ask", question=q.text)
            record = q.result._interaction  # SimCord 3.2.1: the backend's interaction record
            q.ack_key = ("path", f"/interactions/{record.id}/{record.token}/callback")
            q.answer_key = ("path", f"/webhooks/{app_id}/{record.token}")  # the followup with the answer
        else:
            q.message_id = fire_mention_nowait(q.member, q.server.channel, f"{mention} {q.text}")
            q.answer_key = q.ack_key = ("reply", str(q.message_id))


# -- measuring -----------------------------------------------------------------------------------


class _StampedLog(list):
    """SimCord's request log, noting when the bot first made each kind of request.

    SimCord logs a request before handling it, so the time is when the bot sent it. ``first`` maps
    ("path", path) and ("reply", message id) for POSTs to the first time they were seen.
    """

    def __init__(self, items) -> None:
        super().__init__(items)
        self.first: dict[tuple[str, str], float] = {}

    def append(self, entry) -> None:
        now = time.perf_counter()
        if entry.method == "POST":
            self.first.setdefault(("path", entry.path), now)
            reference = entry.json.get("message_reference") if isinstance(entry.json, dict) else None
            if reference and reference.get("message_id"):
                self.first.setdefault(("reply", str(reference["message_id"])), now)
        super().append(entry)


def stamp_requests(env: simcord.Env) -> _StampedLog:
    """Time the bot's REST calls from now on (replaces SimCord 3.2.1's request list in place)."""
    log = env.backend.http_requests
    if not isinstance(log, _StampedLog):
        log = env.backend.http_requests = _StampedLog(log)
    return log


class LoopTicker:
    """Worst lateness of a 5 ms ticker on the running event loop, while in the ``async with``.

    A callback that holds the loop (CPU work in a handler, many handlers ready at once) makes the
    ticker late by as long; Discord's heartbeats and every other handler wait as long.
    """

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self.worst_s = 0.0
        self.ticks = 0
        self._expected: float | None = None
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._expected = loop.time() + self.tick_s
            await asyncio.sleep(self.tick_s)
            self.worst_s = max(self.worst_s, loop.time() - self._expected)
            self.ticks += 1

    async def __aenter__(self) -> LoopTicker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._task is not None
        if self._expected is not None:  # the tick in progress may already be late
            self.worst_s = max(self.worst_s, asyncio.get_running_loop().time() - self._expected)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def wait_answered(log: _StampedLog, questions: list[Question], *, timeout: float) -> bool:
    """Let the bot run until every question is answered (or refused), or ``timeout`` real seconds.

    Polls SimCord's request log instead of ``env.settle()``: settling re-inspects every pending task
    and stored view on each turn, so with hundreds of answers (each with its buttons' view) SimCord
    itself would hold the loop for long stretches and hide the bot's own responsiveness.
    """
    deadline = time.perf_counter() + timeout
    waiting = list(questions)
    while waiting:
        waiting = [q for q in waiting if not _done(q, log)]
        if not waiting:
            return True
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


def _done(q: Question, log: _StampedLog) -> bool:
    if q.via == "slash":  # answered, or refused with a message (an error, the cooldown)
        return q.result.acknowledged and not q.result.deferred
    return q.answer_key in log.first


def collect(env: simcord.Env, questions: list[Question], log: _StampedLog) -> None:
    """Each question's acknowledgement and answer, with their times, and what is wrong with it."""
    replies: dict[int, Any] = {}
    for channel in {q.server.channel.id: q.server.channel for q in questions if q.via == "mention"}.values():
        for message in channel.history():
            if message.reference is not None and message.author.id == env.bot.user.id:
                replies.setdefault(message.reference.message_id, message)
    for q in questions:
        q.acked_at = log.first.get(q.ack_key)
        q.answered_at = log.first.get(q.answer_key)
        q.reply = q.result.response if q.via == "slash" else replies.get(q.message_id)
        q.problem = judge(q)


def answer_text(embed) -> str:
    """What an answer shows below its title (the title repeats the question)."""
    parts = [embed.description or ""]
    parts += [f"{f.name}\n{f.value}" for f in embed.fields]
    parts.append(embed.footer.text or "" if embed.footer else "")
    return "\n".join(parts)


def judge(q: Question) -> str | None:
    """None when the question got a right answer, else what is wrong."""
    if q.via == "slash" and not q.result.acknowledged:
        return "not acknowledged"
    embed = q.embed
    if embed is None:
        return "no answer"
    if embed.title != q.text:
        return f"answer to another question: {embed.title!r}"
    body = answer_text(embed)
    if q.expect is not None and q.expect not in (embed.description or ""):
        return f"expected {q.expect!r}, got {embed.description!r}"
    if q.kind == "foreign" and not (embed.description or "").startswith("I couldn't find"):
        return f"answered a question about another server's document: {embed.description!r}"
    # The question's own words may be shown back ("I looked for: ..."); anything else is a leak.
    leaked = [p for p in q.forbidden if p.lower() in body.lower() and p.lower() not in q.text.lower()]
    if leaked:
        return f"another server's document in the answer: {', '.join(leaked)}"
    return None


# -- one burst, and the command ------------------------------------------------------------------


@dataclass
class Burst:
    questions: list[Question]
    seconds: float  # from the first question fired to the last answer
    max_loop_lag_s: float
    errors: list[BaseException] = field(default_factory=list)

    @property
    def answered(self) -> list[Question]:
        return [q for q in self.questions if q.problem is None]

    @property
    def latencies_s(self) -> list[float]:
        return [q.answered_at - q.fired_at for q in self.questions if q.answered_at is not None]

    @property
    def ack_latencies_s(self) -> list[float]:
        return [q.acked_at - q.fired_at for q in self.questions if q.via == "slash" and q.acked_at is not None]


async def run_burst(env: simcord.Env, questions: list[Question], *, timeout: float) -> Burst:
    """Fire every question at once, let the bot answer them all, settle, and judge the answers.

    The loop's lateness is measured while the bot answers (from the first question fired to the
    last answer sent), not during the final ``env.settle()``, which is SimCord's bookkeeping.
    """
    log = stamp_requests(env)
    async with LoopTicker() as ticker:
        fire(env, questions)
        await wait_answered(log, questions, timeout=timeout)
    await env.settle(timeout=timeout)  # join what is left: views, typing, the tree's error replies
    collect(env, questions, log)
    started = min(q.fired_at for q in questions)
    ends = [q.answered_at for q in questions if q.answered_at is not None]
    seconds = (max(ends) if ends else time.perf_counter()) - started
    return Burst(questions, seconds, ticker.worst_s, list(env.errors))


def _percentile_ms(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)  # nearest-rank percentile
    return round(ordered[rank] * 1000, 1)


def members_for(questions: int, servers: int) -> int:
    """Members per server so that nobody asks more than QUESTIONS_PER_MEMBER questions."""
    return max(1, math.ceil(questions / servers / QUESTIONS_PER_MEMBER))


async def run_loadtest(questions: int, servers: int, *, settings: Settings | None = None) -> dict:
    """The report of ``talksbot loadtest``: N /ask questions from S servers at once, through the bot.

    The store is temporary; the other settings come from ``settings`` (the environment), except
    that the per-user question cooldown allows at least QUESTIONS_PER_MEMBER questions.
    Raises ModuleNotFoundError (name "simcord") when SimCord is not installed.
    """
    import simcord

    from bot.client import create_bot

    if servers > MAX_SERVERS:
        raise ValueError(f"at most {MAX_SERVERS} servers")
    base = settings or Settings()
    members = members_for(questions, servers)
    with tempfile.TemporaryDirectory(prefix="talksbot-loadtest-") as tmp:
        bot_settings = base.model_copy(
            update={"db": Path(tmp) / "loadtest.db", "question_rate": max(base.question_rate, QUESTIONS_PER_MEMBER)}
        )
        bot = create_bot(bot_settings)
        try:
            async with simcord.run(bot, check_errors=False) as env:
                world = await build_servers(env, servers, members)
                burst = await run_burst(env, plan_questions(world, questions), timeout=60 + questions * 0.05)
        finally:
            await bot.close()
    latencies = burst.latencies_s
    return {
        "questions": questions,
        "servers": servers,
        "members": members * servers,
        "seconds": round(burst.seconds, 3),
        "questions_per_s": round(len(burst.answered) / burst.seconds, 1) if burst.seconds > 0 else None,
        "latency_p50_ms": _percentile_ms(latencies, 50),
        "latency_p95_ms": _percentile_ms(latencies, 95),
        "ack_max_ms": _percentile_ms(burst.ack_latencies_s, 100),
        "max_loop_lag_ms": round(burst.max_loop_lag_s * 1000, 1),
        "answered": len(burst.answered),
        "errors": len(burst.errors),
        "all_answered": len(burst.answered) == questions and not burst.errors,
    }


async def run_loadtest_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.servers > MAX_SERVERS:
        raise CommandError(f"--servers: at most {MAX_SERVERS}")
    try:
        report = await run_loadtest(args.questions, args.servers, settings=settings)
    except ModuleNotFoundError as exc:
        if exc.name != "simcord":
            raise
        raise CommandError(SIMCORD_MISSING) from None
    except TimeoutError as exc:  # SimCord's settle: the bot still had work it could not finish
        raise CommandError(f"the bot did not finish the questions: {str(exc).splitlines()[0]}") from None
    print_report(report, as_json=args.json)
    return 0 if report["all_answered"] else 1
