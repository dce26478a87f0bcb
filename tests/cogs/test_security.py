"""Attacks from the security review (issue 16), done through the real bot as an attacker would."""

from __future__ import annotations

NOTE = b"""Harbor Festival Notes

The harbor festival was moved to Saturday because the storm damaged the main pier.

Volunteers will meet at the lighthouse at nine in the morning.
"""

MEMO = b"""Board Memo

The board approved the merger with Initech because the harbor festival pier deal fell through.

Volunteers for the merger team meet at the lighthouse office on Saturday morning.
"""


async def test_an_old_answer_never_shows_another_servers_new_passage(simcord_env, server, other_server):
    await server.admin.slash(server.channel, "corpus add", file=("harbor.txt", NOTE))
    asked = await server.member.slash(server.channel, "ask", question="Why was the festival moved?")
    assert "storm damaged the main pier" in asked.response.embeds[0].description
    [doc] = [d for d in await simcord_env.bot.engine.documents(server.guild.id) if d.guild_id]
    await server.admin.slash(server.channel, "corpus remove", document=str(doc.id))
    # Server B adds a private memo right after: under version 2 it took the freed ids.
    await other_server.admin.slash(other_server.channel, "corpus add", file=("memo.txt", MEMO))

    full = await server.member.click(asked.response, label="Full passage")
    assert full.ephemeral
    shown = full.response.content + "".join(str(e.to_dict()) for e in full.response.embeds)
    assert "Initech" not in shown and "merger" not in shown
    assert full.response.content == "That document has been removed."

    again = await server.member.slash(server.channel, "ask", question="Why was the festival moved?")
    assert "Initech" not in str(again.response.embeds[0].to_dict())


def _report(topic: str) -> bytes:
    paragraphs = "\n\n".join(f"Paragraph {i}: the {topic} census counted {i} animals near the river." for i in range(40))
    return f"{topic.title()} Report\n\n{paragraphs}\n\nThe {topic} census was cancelled because the bridge flooded.\n".encode()


async def test_concurrent_uploads_from_many_servers_all_succeed(simcord_env, new_server):
    from bot.measure.loadtest import fire_slash_nowait

    topics = ["quokka", "narwhal", "axolotl", "pangolin", "okapi", "tapir"]
    for count in (2, 6):
        servers = [new_server(f"{topic}-{count}") for topic in topics[:count]]
        # All in flight at once (SimCord's slash() would run them one after another).
        added = [
            fire_slash_nowait(s.admin, s.channel, "corpus add", file=(f"{topic}.txt", _report(topic)))
            for s, topic in zip(servers, topics, strict=False)
        ]
        await simcord_env.settle(timeout=60)  # six child processes on a busy machine
        assert all(a.response.content.startswith("Added") for a in added), [a.response.content for a in added]
        for s, topic in zip(servers, topics, strict=False):
            asked = await s.member.slash(s.channel, "ask", question=f"Why was the {topic} census cancelled?")
            assert "bridge flooded" in asked.response.embeds[0].description
    assert not simcord_env.errors


async def test_one_servers_pdf_flood_does_not_hold_up_another_servers_add(simcord_env, server, other_server):
    import asyncio

    from bot.measure.loadtest import fire_slash_nowait
    from bot.measure import hostile

    flood = [
        fire_slash_nowait(server.admin, server.channel, "corpus add", file=(f"f{i}.pdf", hostile.shared_stream_pdf(3 + i)))
        for i in range(6)
    ]
    await asyncio.sleep(0.05)
    note = fire_slash_nowait(
        other_server.admin, other_server.channel, "corpus add", file=("ferry.txt", b"Ferry\n\nThe ferry leaves at noon.")
    )
    await simcord_env.settle(timeout=60)
    assert note.response.content.startswith("Added"), note.response.content
    replies = [f.response.content for f in flood]
    read = [i for i, r in enumerate(replies) if "more page content than TalksBot reads" in r]
    assert sum("already has 3 documents being read" in r for r in replies) == 3, replies
    assert len(read) == 3, replies
    # Not asserted: that the note finished before the flood's last read. A refused PDF takes
    # about as long as the note's own store and index work, so that order is a race (it failed
    # by 10 ms in one CI run). What cannot race is asserted: the flood is capped per server and
    # the other server's add succeeds meanwhile.
    simcord_env.errors  # noqa: B018  (the refusals went through the tree's handler)


async def test_source_on_a_document_at_the_passage_limit_reads_one_paragraph(simcord_env, server):
    from bot.measure.hostile import HeldLoop

    lines = "\n\n".join(f"Paragraph {i} says the ferry number {i} leaves on time." for i in range(1, 9_001))
    # Added through the engine: SimCord gives one command 5 s, too little for 9,000 passages on a busy machine.
    doc = await simcord_env.bot.engine.add_file(
        f"Timetable\n\n{lines}".encode(), "big.txt", guild_id=server.guild.id, added_by=str(server.admin.id)
    )
    assert doc.passages == 9_000
    async with HeldLoop() as held:
        shown = await server.member.slash(server.channel, "source", document=f"#{doc.id}", paragraph=8_500)
    assert "ferry number 8500 leaves" in shown.response.embeds[0].description
    assert held.worst_s < 0.100
    too_far = await server.member.slash(server.channel, "source", document=f"#{doc.id}", paragraph=9_001)
    assert "has paragraphs 1 to 9000" in too_far.response.content
    simcord_env.errors  # noqa: B018  (the refusal went through the tree's handler)


SURVEY = b"""Ranger Log

The nightjar nightjar nightjar calls were recorded at dusk by the rangers.

The survey covered the heath and the burned heath near the old quarry this summer.

Counting stopped because a fire burned the heath where the nightjar nests.
"""

OPERATION = "Operation Nightjar\n\n" + "\n\n".join(
    f"Operation Nightjar phase {i}: the nightjar team moves north; Nightjar stays secret." for i in range(8)
)


def _as_seen(embed) -> str:
    """An embed as a member reads it, without the time it took (which differs between runs)."""
    text = "\n".join(
        [embed.title or "", embed.description or "", *(f"{f.name}\n{f.value}" for f in embed.fields), embed.footer.text or ""]
    )
    return text.rsplit(" in ", 1)[0]  # the footer ends "Searched N passages in X ms"


async def test_another_servers_private_operation_nightjar_changes_nothing_a_server_sees(simcord_env, server, other_server):
    """Server A's private adds must not move server B's results: per-server statistics (item 5)."""
    await other_server.admin.slash(other_server.channel, "corpus add", file=("survey.txt", SURVEY))
    questions = [("search", {"query": "nightjar heath"}), ("ask", {"question": "Why did the nightjar heath counting stop?"})]

    async def what_b_sees() -> list[str]:
        replies = [await other_server.member.slash(other_server.channel, name, **options) for name, options in questions]
        return [_as_seen(reply.response.embeds[0]) for reply in replies]

    before = await what_b_sees()
    assert "fire burned the heath" in before[1]
    # The order is what global statistics would change: with A's memo counted, "nightjar" would
    # be in most passages and weigh almost nothing, and the heath paragraph would rank first.
    assert "[1] para 3: Counting stopped" in before[0] and "[2] para 1: The **nightjar" in before[0]

    added = await server.admin.slash(server.channel, "corpus add", file=("nightjar.txt", OPERATION.encode()))
    assert added.response.content.startswith("Added"), added.response.content
    mine = await server.member.slash(server.channel, "search", query="nightjar heath")
    assert "Operation Nightjar" in _as_seen(mine.response.embeds[0])

    after = await what_b_sees()
    assert after == before
    assert "Operation" not in "".join(after)
    assert not simcord_env.errors
