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
        await simcord_env.settle()
        assert all(a.response.content.startswith("Added") for a in added), [a.response.content for a in added]
        for s, topic in zip(servers, topics, strict=False):
            asked = await s.member.slash(s.channel, "ask", question=f"Why was the {topic} census cancelled?")
            assert "bridge flooded" in asked.response.embeds[0].description
    assert not simcord_env.errors
