"""/corpus gaps and /corpus links: members' unanswered questions reach the admin, who closes them
from Discord by picking the passage that answers; other servers are not changed."""

from __future__ import annotations

import pytest
import simcord

# The article answers it in other words: "lead by Pentagon's Michael Chase and China's Maj. Gen. Song Yanchao".
QUESTION = "Who represented the Chinese side?"
VARIANT = "Who represented the Chinese side at the talks?"
LEADERS = "Michael Chase and China’s Maj. Gen. Song Yanchao"
NOT_FOUND = "I couldn't find"


async def ask(server, question: str) -> str:
    result = await server.member.slash(server.channel, "ask", question=question)
    return result.response.embeds[0].description


async def test_a_gap_asked_twice_is_taught_by_the_admin_and_answered_in_that_server_only(
    simcord_env, server, other_server, seen
):
    bot = simcord_env.bot
    await server.member.send(server.channel, f"{bot.user.mention} {QUESTION}")
    assert server.channel.last_message.embeds[0].description.startswith(NOT_FOUND)
    assert (await ask(server, QUESTION.lower())).startswith(NOT_FOUND)  # the same question, other case
    assert (await ask(other_server, QUESTION)).startswith(NOT_FOUND)

    listed = await server.admin.slash(server.channel, "corpus gaps")
    assert listed.ephemeral
    text = seen(listed.response.embeds[0])
    assert "**1.** who represented the chinese side?" in text and "asked 2 times" in text
    assert "-member" not in text and str(server.member.id) not in text  # who asked is never shown
    opened = await server.admin.select(listed.response, ["0"])
    gap = opened.response
    assert opened.ephemeral and gap.embeds[0].title == "who represented the chinese side?"
    assert "Which passage answers it?" in gap.embeds[0].description
    menu = next(c for row in gap.components for c in row["components"] if c["type"] == 3)
    para_1 = next(o for o in menu["options"] if o["label"].startswith("Para 1 of #1 Top U.S. and Chinese"))
    taught = await server.admin.select(gap, [para_1["value"]])
    assert "Taught: questions like **who represented the chinese side?** are now answered from" in taught.response.content
    assert "Para 1 of #1 Top U.S. and Chinese Defense Officials" in taught.response.content

    for question in (QUESTION, VARIANT):
        answer = await server.member.slash(server.channel, "ask", question=question)
        embed = answer.response.embeds[0]
        assert LEADERS in embed.description and embed.description.endswith("[1]"), question
        assert embed.fields[0].name.startswith("Top U.S. and Chinese Defense Officials")
        assert embed.fields[0].value.startswith("[1] para 1: ")
    assert (await ask(other_server, QUESTION)).startswith(NOT_FOUND)  # another server: unchanged
    empty = await server.admin.slash(server.channel, "corpus gaps")
    assert "No unanswered questions" in empty.response.embeds[0].description


async def test_links_lists_what_was_taught_and_removes_it(simcord_env, server, seen):
    await ask(server, QUESTION)
    listed = await server.admin.slash(server.channel, "corpus gaps")
    gap = (await server.admin.select(listed.response, ["0"])).response
    shown = await server.admin.click(gap, label="Another passage…")
    assert shown.modal is not None
    bad = await server.admin.submit_modal(shown, {"document": "#1", "paragraph": "40"})
    assert bad.ephemeral and "has no paragraph 40" in bad.response.content
    simcord_env.errors  # noqa: B018  (the refusal went through the view's error handler)
    shown = await server.admin.click(gap, label="Another passage…")
    await server.admin.submit_modal(shown, {"document": "#1", "paragraph": "1"})
    assert LEADERS in await ask(server, VARIANT)

    links = await server.admin.slash(server.channel, "corpus links")
    text = seen(links.response.embeds[0])
    assert links.ephemeral and f"**1.** {QUESTION}\n   → Para 1 of #1 Top U.S." in text
    removed = await server.admin.click(links.response, label="Remove 1")
    assert "Nothing taught yet" in removed.response.embeds[0].description
    assert (await ask(server, VARIANT)).startswith(NOT_FOUND)


async def test_dismissing_a_gap(simcord_env, server):
    await ask(server, "What is the weather in Paris?")
    listed = await server.admin.slash(server.channel, "corpus gaps")
    gap = (await server.admin.select(listed.response, ["0"])).response
    dismissed = await server.admin.click(gap, label="Dismiss")
    assert dismissed.response.content == "Dismissed **What is the weather in Paris?**."
    again = await server.admin.slash(server.channel, "corpus gaps")
    assert "No unanswered questions" in again.response.embeds[0].description


async def test_a_not_helpful_vote_is_a_gap(simcord_env, server):
    result = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    for _ in range(2):  # one voter counts once
        await server.member.click(result.response, label="Not helpful")
    listed = await server.admin.slash(server.channel, "corpus gaps")
    assert "**1.** why were talks cancelled?\n   asked 1 time," in listed.response.embeds[0].description


async def test_members_cannot_see_gaps(simcord_env, server):
    with pytest.raises(simcord.SetupError):
        await server.member.slash(server.channel, "corpus gaps")
