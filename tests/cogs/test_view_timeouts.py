"""Lists with buttons (/documents, /corpus gaps, /corpus links) lose their buttons when they time out.

Only an interaction can edit an ephemeral message, and only for 15 minutes after it came
(Discord's interaction token). Buttons left on a list after that fail when clicked ("This
interaction failed"), so the bot takes them off in time, whatever was clicked meanwhile.
"""

from __future__ import annotations

import pytest

from bot.engine.service import UnknownDocument
from bot.settings import Settings

MINUTE = 60.0
QUESTION = "Who represented the Chinese side?"  # the bundled article does not answer it: a gap


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    # The store is polled each minute, not each half second: an hour of virtual time stays quick.
    return Settings(db=tmp_path / "bot.db", question_rate=50, change_poll_s=60)


def buttons(result) -> list[str]:
    message = result.response
    return [c.get("label") or c.get("placeholder") for row in message.components for c in row["components"]]


async def test_a_document_list_turned_to_page_two_loses_its_buttons_before_they_would_fail(simcord_env, server):
    for i in range(11):
        await simcord_env.bot.engine.add_text(
            f"Ferry note {i}\n\nThe ferry number {i} leaves at noon.", guild_id=server.guild.id, added_by="test"
        )
    listed = await server.member.slash(server.channel, "documents")
    assert buttons(listed) == ["Previous", "Next"]
    await simcord_env.advance_time(10 * MINUTE)
    turned = await server.member.click(listed.response, label="Next")
    assert turned.response.embeds[0].footer.text.startswith("Page 2 of 2")
    # The /documents command's own token ran out at 15 minutes; the click's lasts until 25.
    await simcord_env.advance_time(16 * MINUTE)
    assert buttons(listed) == []


async def test_a_gap_list_and_an_opened_gap_lose_their_buttons_before_they_would_fail(simcord_env, server):
    await server.member.slash(server.channel, "ask", question=QUESTION)
    listed = await server.admin.slash(server.channel, "corpus gaps")
    assert buttons(listed) == ["Answer or dismiss a question…"]
    await simcord_env.advance_time(10 * MINUTE)
    opened = await server.admin.select(listed.response, ["0"])
    assert "Dismiss" in buttons(opened)
    await simcord_env.advance_time(5 * MINUTE)  # /corpus gaps was run 15 minutes ago
    assert buttons(listed) == []
    await simcord_env.advance_time(5 * MINUTE)
    shown = await server.admin.click(opened.response, label="Another passage…")
    assert shown.modal is not None  # the admin closes it without submitting
    await simcord_env.advance_time(6 * MINUTE)  # the gap was opened 16 minutes ago
    assert buttons(opened) == []
    assert not simcord_env.errors


async def test_an_opened_gap_loses_its_buttons_in_time_after_a_pick_that_fails(simcord_env, server):
    # A click whose callback fails edits nothing: the gap's buttons still go within the 15 minutes
    # of the interaction that showed them, not 14 minutes after the failed click.
    doc = await simcord_env.bot.engine.add_text(
        "Ferry timetable\n\nThe ferry to Oslo leaves at noon from pier four.", guild_id=server.guild.id, added_by="test"
    )
    answer = await server.member.slash(server.channel, "ask", question="When does the ferry to Oslo leave?")
    assert answer.response.embeds[0].fields[0].name.startswith("Ferry timetable")
    await server.member.click(answer.response, label="Not helpful")  # the question becomes a gap
    listed = await server.admin.slash(server.channel, "corpus gaps")
    opened = await server.admin.select(listed.response, ["0"])
    menu = next(c for row in opened.response.components for c in row["components"] if c["type"] == 3)
    ferry = next(o["value"] for o in menu["options"] if f"#{doc.id} Ferry timetable" in o["label"])
    await server.admin.slash(server.channel, "corpus remove", document=str(doc.id))
    await simcord_env.advance_time(10 * MINUTE)
    failed = await server.admin.select(opened.response, [ferry])  # its document is gone: teaching fails
    assert failed.ephemeral and "/documents" in failed.response.content
    assert "Dismiss" in buttons(opened)  # the failed pick changed nothing
    await simcord_env.advance_time(4.5 * MINUTE)  # the gap was opened 14.5 minutes ago
    assert buttons(opened) == []
    # The refusal went through the view's error handler; nothing else failed (taking the buttons off included).
    assert [type(error) for error in simcord_env.errors] == [UnknownDocument]
