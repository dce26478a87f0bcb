"""The buttons under an answer: they last across restarts, and they act for the one who clicks."""

from __future__ import annotations

import re

import pytest

from bot import create_bot

QUESTION = "What did the talks touch on?"


def component_labels(message) -> list[str]:
    return [c.get("label") or c.get("placeholder") for row in message.components for c in row["components"]]


def first_source(message) -> int:
    """The number of the first source a reader sees in an answer's embed ("[4] para 1: ...")."""
    # The sources are the embed's fields; tests/ is no package, so conftest's embed_text is not imported.
    text = "\n".join(f"{field.name}\n{field.value}" for field in message.embeds[0].fields)
    found = re.search(r"^\[(\d+)\] para ", text, re.MULTILINE)
    assert found, text
    return int(found.group(1))


def select_options(message) -> list[str]:
    return [o["label"] for row in message.components for c in row["components"] for o in c.get("options", [])]


async def add_talk_notes(engine, guild_id: int, count: int) -> None:
    """Documents that also match QUESTION, so the answer has several pages of sources."""
    for i in range(count):
        await engine.add_text(
            f"Talks note {i}\n\nThe talks of week {i} touched on fishing quotas and harbour fees.",
            guild_id=guild_id,
            added_by="test",
        )


@pytest.fixture
async def restart(simcord_env, bot_settings):
    """Restart with a new bot from create_bot() on the same store, as after a deploy or a crash."""
    started = []

    async def restart():
        old = simcord_env.bot
        started.append(create_bot(bot_settings))
        await simcord_env.restart_bot(started[-1])
        await old.close()  # SimCord detached it; its store connection must close
        return simcord_env.bot

    yield restart
    for bot in started:
        await bot.close()


async def test_buttons_work_on_an_answer_posted_before_a_restart(simcord_env, server, restart):
    await add_talk_notes(simcord_env.bot.engine, server.guild.id, 6)
    asked = await server.member.slash(server.channel, "ask", question=QUESTION)
    answer = asked.response
    assert component_labels(answer) == ["More sources", "Full passage", "Helpful", "Not helpful"]

    new_bot = await restart()
    assert new_bot is simcord_env.bot

    more = await server.member.click(answer, label="More sources")
    assert more.ephemeral and more.response.content == "Sources, page 2 of 3"
    assert first_source(more.response) == 4

    full = await server.member.click(answer, label="Full passage")
    assert full.ephemeral
    chosen = await server.member.select(full.response, ["1"])
    answered = answer.embeds[0].description.removesuffix(" [1]")
    assert answered in chosen.response.embeds[0].description  # source [1]: the passage that answers

    vote = await server.member.click(answer, label="Not helpful")
    assert vote.ephemeral and "**Not helpful**" in vote.response.content
    feedback = await new_bot.engine.store.feedback()
    assert [(q, helpful) for _, _, q, helpful in feedback] == [(QUESTION, 0)]


async def test_full_passage_of_a_removed_document_says_so_after_a_restart(simcord_env, server, restart):
    engine = simcord_env.bot.engine
    doc = await engine.add_text(
        "Harbour rules\n\nThe harbour master sets the mooring fees every spring.", guild_id=server.guild.id, added_by="t"
    )
    asked = await server.member.slash(server.channel, "ask", question="Who sets the mooring fees?")
    assert "harbour master" in asked.response.embeds[0].description
    await engine.remove(doc.id, removed_by="test")
    await restart()
    full = await server.member.click(asked.response, label="Full passage")
    assert full.ephemeral and full.response.content == "That document has been removed."


async def test_more_sources_is_private_pages_and_stops_at_the_ends(simcord_env, server):
    await add_talk_notes(simcord_env.bot.engine, server.guild.id, 6)
    asked = await server.member.slash(server.channel, "ask", question=QUESTION)
    public = asked.response
    public_before = (public.embeds[0].to_dict(), public.components)

    bystander = server.guild.add_member(simcord_env.create_user("bystander"))
    page2 = await bystander.click(public, label="More sources")
    assert page2.ephemeral and page2.response.content == "Sources, page 2 of 3"
    page3 = await bystander.click(page2.response, label="Next")
    assert page3.response.content == "Sources, page 3 of 3"
    assert first_source(page3.response) == 7
    next_button = next(c for row in page3.response.components for c in row["components"] if c["label"] == "Next")
    assert next_button["disabled"]  # the last page does not wrap round to the first
    back = await bystander.click(page3.response, label="Previous")
    assert back.response.content == "Sources, page 2 of 3"

    public_after = simcord_env.bot.get_channel(server.channel.id).get_partial_message(public.id)
    fetched = await public_after.fetch()
    assert (fetched.embeds[0].to_dict(), public.components) == public_before  # everyone else sees the same answer
    assert first_source(fetched) == 1


async def test_full_passage_offers_every_source_and_opens_the_third(simcord_env, server, seen):
    asked = await server.member.slash(server.channel, "ask", question=QUESTION)
    shown = seen(asked.response.embeds[0])
    third_line = next(line for line in shown.splitlines() if line.startswith("[3] para "))
    paragraph = third_line.removeprefix("[3] para ").split(":")[0]
    full = await server.member.click(asked.response, label="Full passage")
    assert full.ephemeral
    options = select_options(full.response)
    assert [o[:3] for o in options[:3]] == ["[1]", "[2]", "[3]"]
    third = await server.member.select(full.response, ["3"])
    assert third.response.embeds[0].title.endswith(f"para {paragraph}")  # the paragraph of source [3]
    first = await server.member.select(third.response, ["1"])
    assert "Philippine vessels" in first.response.embeds[0].description


async def test_a_vote_can_be_changed_and_the_reply_says_the_current_vote(simcord_env, server):
    asked = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    first = await server.member.click(asked.response, label="Helpful")
    assert "your vote is **Helpful**" in first.response.content
    again = await server.member.click(asked.response, label="Helpful")
    assert again.response.content == "Your vote is already **Helpful**."
    changed = await server.member.click(asked.response, label="Not helpful")
    assert changed.response.content == "Changed your vote from **Helpful** to **Not helpful**."
    feedback = await simcord_env.bot.engine.store.feedback()
    assert [helpful for _, user, _, helpful in feedback if user == server.member.id] == [0]


async def test_an_answer_on_a_single_page_has_no_paging_button(simcord_env, server):
    await simcord_env.bot.engine.add_text(
        "Harbour rules\n\nThe harbour master sets the mooring fees every spring.", guild_id=server.guild.id, added_by="t"
    )
    asked = await server.member.slash(server.channel, "ask", question="Who sets the mooring fees?")
    assert len(asked.response.embeds[0].fields) == 1
    assert component_labels(asked.response) == ["Full passage", "Helpful", "Not helpful"]
    full = await server.member.click(asked.response, label="Full passage")  # one source: no choice to make
    assert "sets the mooring fees every spring" in full.response.embeds[0].description
    abstained = await server.member.slash(server.channel, "ask", question="What is the weather in Paris?")
    assert component_labels(abstained.response) == ["Helpful", "Not helpful"]


async def test_a_button_of_another_server_answer_does_nothing_here(simcord_env, server, other_server):
    """A custom_id carries only an answer id: the answer's own server is checked on every click."""
    asked = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    answer_id = asked.response.components[0]["components"][0]["custom_id"].split(":")[2]
    other = await other_server.member.slash(other_server.channel, "ask", question="why were talks cancelled?")
    # the other server's message, with this server's answer id forced into the custom_id
    stored = simcord_env.backend.get_message(other.response.channel_id, other.response.id)
    stored.components[0]["components"][0]["custom_id"] = f"talks:full:{answer_id}"
    clicked = await other_server.member.click(other.response, custom_id=f"talks:full:{answer_id}")
    assert clicked.response.content.startswith("That answer is no longer available")
