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
        # Members are told a person chose this passage: the footer's first line.
        assert embed.footer.text.startswith("An admin linked this question to source [1].\nSearched ")
    ranked = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    assert ranked.response.embeds[0].footer.text.startswith("Searched ")  # an answer no admin chose: no such line
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


# Seven questions the article does not answer, each its own gap: two pages of five.
UNANSWERED = [
    "What is the weather in Paris?",
    "Who won the football cup in Lima?",
    "How much does a ferry ticket to Oslo cost?",
    "When does the bakery on Elm Street open?",
    "Which band played the harbor festival?",
    "Where can I park a bicycle downtown?",
    "Why did the library close its garden?",
]


def labels(message) -> dict[str, bool]:
    """The buttons under a message: label -> disabled."""
    return {c["label"]: c.get("disabled", False) for row in message.components for c in row["components"] if c["type"] == 2}


async def test_gaps_page_on_to_the_rest(simcord_env, server, seen):
    for question in UNANSWERED:
        assert (await ask(server, question)).startswith(NOT_FOUND), question
    listed = await server.admin.slash(server.channel, "corpus gaps")
    first = seen(listed.response.embeds[0])
    assert listed.response.embeds[0].footer.text.startswith("Page 1 of 2")
    assert [line[:6] for line in first.splitlines() if line.startswith("**")] == [f"**{n}.**" for n in range(1, 6)]
    assert labels(listed.response) == {"Previous": True, "Next": False}  # the first page: only Next works
    turned = await server.admin.click(listed.response, label="Next")
    second = turned.response.embeds[0]
    assert second.footer.text.startswith("Page 2 of 2")
    assert second.description.startswith("**6.** ") and "**7.** " in second.description and "**5.**" not in second.description
    both_pages = [line.split(".** ")[1] for line in f"{first}\n{second.description}".splitlines() if line.startswith("**")]
    assert sorted(both_pages) == sorted(UNANSWERED)  # every gap on one of the two pages, once
    assert labels(turned.response) == {"Previous": False, "Next": True}
    # Choosing a gap of page 2 opens that one, not the 1st or 2nd of page 1.
    sixth = second.description.split("**6.** ")[1].split("\n")[0]
    opened = await server.admin.select(turned.response, ["5"])
    assert opened.response.embeds[0].title == sixth
    back = await server.admin.click(turned.response, label="Previous")
    assert back.response.embeds[0].footer.text.startswith("Page 1 of 2")


async def test_one_page_of_gaps_has_no_paging_buttons(simcord_env, server):
    await ask(server, UNANSWERED[0])
    listed = await server.admin.slash(server.channel, "corpus gaps")
    assert listed.response.embeds[0].footer.text.startswith("Page 1 of 1")
    assert labels(listed.response) == {}


async def test_links_page_on_and_a_removal_keeps_the_page(simcord_env, server, seen):
    engine = simcord_env.bot.engine
    for question in UNANSWERED:  # taught as `talksbot teach QUESTION --passage 1:1 --guild ID` does
        await engine.teach_paragraph(server.guild.id, question, "1", 1, taught_by="test")
    links = await server.admin.slash(server.channel, "corpus links")
    assert links.response.embeds[0].footer.text == "Page 1 of 2"
    assert labels(links.response) == {**{f"Remove {n}": False for n in range(1, 6)}, "Previous": True, "Next": False}
    page2 = await server.admin.click(links.response, label="Next")
    text = seen(page2.response.embeds[0])
    assert page2.response.embeds[0].footer.text == "Page 2 of 2"
    assert f"**6.** {UNANSWERED[5]}" in text and f"**7.** {UNANSWERED[6]}" in text and "**5.**" not in text
    assert labels(page2.response) == {"Remove 6": False, "Remove 7": False, "Previous": False, "Next": True}
    removed = await server.admin.click(page2.response, label="Remove 7")
    assert removed.response.embeds[0].footer.text == "Page 2 of 2"
    assert f"**6.** {UNANSWERED[5]}" in removed.response.embeds[0].description
    assert UNANSWERED[6] not in removed.response.embeds[0].description
    emptied = await server.admin.click(removed.response, label="Remove 6")  # page 2 is empty: page 1 shows
    assert emptied.response.embeds[0].footer.text == "Page 1 of 1"
    assert labels(emptied.response) == {f"Remove {n}": False for n in range(1, 6)}
    assert [r.question for r, _ in await engine.taught(server.guild.id)] == UNANSWERED[:5]


async def test_an_opened_gap_shows_the_question_as_the_member_typed_it(simcord_env, server):
    from reader import live, read

    typed = "Why did ||the ferry|| stop at ~~pier 2~~ on `Monday`?"  # a member's markdown
    assert (await ask(server, typed)).startswith(NOT_FOUND)
    listed = await server.admin.slash(server.channel, "corpus gaps")
    title = (await server.admin.select(listed.response, ["0"])).response.embeds[0].title
    assert read(title, "title") == typed
    assert live(title, "title") == []  # no spoiler hides part of it, no strike-through, no code


async def test_every_gap_and_link_of_a_page_is_listed_whatever_its_question(simcord_env, server, seen):
    from reader import read

    # Members' questions of 500 characters, mostly markdown characters (each escaped: twice as long).
    topics = ["harbor", "ferry", "bakery", "library", "garden"]
    questions = [f"Why {topic} " + "*_" * ((500 - len(topic) - 5) // 2) for topic in topics]
    for question in questions:
        assert (await ask(server, question)).startswith(NOT_FOUND)
    listed = (await server.admin.slash(server.channel, "corpus gaps")).response.embeds[0]
    lines = [read(line, "description") for line in listed.description.split("\n") if line.startswith("**")]
    assert [line.split(" ", 2)[:2] for line in lines] == [[f"{n}.", "Why"] for n in range(1, 6)]  # all five
    assert {line.split(" ", 2)[2].split(" ")[0] for line in lines} == set(topics)

    for question in questions:
        await simcord_env.bot.engine.teach_paragraph(server.guild.id, question, "1", 1, taught_by="test")
    links = (await server.admin.slash(server.channel, "corpus links")).response.embeds[0]
    entries = [read(entry, "description") for entry in links.description.split("\n**")]
    assert len(entries) == 5 and all("→ Para 1 of #1 Top U.S." in entry for entry in entries)  # each says what it removes
