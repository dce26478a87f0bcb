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
