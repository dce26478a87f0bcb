"""Admin document commands: adds, removes, permissions, server separation, hostile documents."""

from __future__ import annotations

import re

import pytest
import simcord

NOTE = b"""Harbor Festival Notes

The harbor festival was moved to Saturday because the storm damaged the main pier.

Volunteers will meet at the lighthouse at nine in the morning.
"""


async def add_note(server, data: bytes = NOTE, **options):
    return await server.admin.slash(server.channel, "corpus add", file=("harbor.txt", data), **options)


async def test_admin_adds_a_file_that_members_can_ask_about(simcord_env, server):
    added = await add_note(server, date="2024-05-01")
    assert "Added" in added.response.content and "Harbor Festival Notes" in added.response.content
    result = await server.member.slash(server.channel, "ask", question="Why was the festival moved?")
    embed = result.response.embeds[0]
    assert "storm damaged the main pier" in embed.description
    assert embed.fields[0].name == "Harbor Festival Notes - 2024-05-01"
    assert embed.fields[0].value.startswith("[1] para 1: ")
    log = await simcord_env.bot.engine.store.audit_log(server.guild.id)
    assert [(user, action, title) for user, action, _, title, _ in log] == [
        (str(server.admin.id), "add", "Harbor Festival Notes")
    ]


async def test_members_cannot_see_or_use_admin_commands(simcord_env, server):
    assert not any(name.startswith("corpus") for name in server.member.available_commands(server.channel))
    with pytest.raises(simcord.SetupError):
        await server.member.slash(server.channel, "corpus add", file=("x.txt", NOTE))


async def test_bot_refuses_non_admins_even_when_discord_lets_them_in(simcord_env, server):
    # A server owner may open the commands to everyone in the server settings: the bot checks again.
    corpus = next(c for c in await simcord_env.bot.tree.fetch_commands() if c.name == "corpus")
    server.guild.set_command_permissions(corpus, {server.member: True})
    refused = await server.member.slash(server.channel, "corpus add", file=("harbor.txt", NOTE))
    assert refused.ephemeral and "Manage Server" in refused.response.content
    await add_note(server)
    [doc] = [d for d in await simcord_env.bot.engine.documents(server.guild.id) if d.guild_id]
    refused = await server.member.slash(server.channel, "corpus remove", document=str(doc.id))
    assert refused.ephemeral and "Manage Server" in refused.response.content
    assert len(await simcord_env.bot.engine.documents(server.guild.id)) == 2
    simcord.assert_error(simcord_env, Exception)  # the NotAdmin failures went through the tree's handler


async def test_documents_stay_in_their_server(simcord_env, server, other_server):
    await add_note(server)
    elsewhere = await other_server.member.slash(other_server.channel, "ask", question="Why was the festival moved?")
    assert elsewhere.response.embeds[0].description.startswith("I couldn't find")
    found = await other_server.member.slash(other_server.channel, "search", query="harbor festival storm")
    assert "Harbor" not in str(found.response.embeds[0].to_dict())
    listed = await other_server.member.slash(other_server.channel, "documents")
    assert "Harbor" not in listed.response.embeds[0].description
    choices = await other_server.member.autocomplete(other_server.channel, "source", "document", "Harbor")
    assert choices == []
    # ... and the bundled article is everywhere.
    bundled = await other_server.member.slash(other_server.channel, "ask", question="why were talks cancelled?")
    assert "abruptly halted" in bundled.response.embeds[0].description


async def test_admin_removes_a_document(simcord_env, server):
    await add_note(server)
    choices = await server.admin.autocomplete(server.channel, "corpus remove", "document", "harb")
    assert [c["name"] for c in choices] == [choices[0]["name"]] and "Harbor Festival Notes" in choices[0]["name"]
    removed = await server.admin.slash(server.channel, "corpus remove", document=choices[0]["value"])
    assert "Removed" in removed.response.content
    result = await server.member.slash(server.channel, "ask", question="Why was the festival moved?")
    assert result.response.embeds[0].description.startswith("I couldn't find")


async def test_duplicate_upload_is_reported_not_stored(simcord_env, server):
    await add_note(server)
    again = await add_note(server)
    assert again.ephemeral and "already here" in again.response.content
    assert len(await simcord_env.bot.engine.documents(server.guild.id)) == 2
    simcord_env.errors  # noqa: B018  (the refusal went through the tree's handler)


async def test_refused_upload_changes_nothing(simcord_env, server):
    binary = await server.admin.slash(server.channel, "corpus add", file=("x.txt", b"\x00\x01\x02binary" * 50))
    assert binary.ephemeral and "binary" in binary.response.content
    bad_date = await add_note(server, date="2024-13-45")
    assert bad_date.ephemeral and "date" in bad_date.response.content
    assert len(await simcord_env.bot.engine.documents(server.guild.id)) == 1
    simcord_env.errors  # noqa: B018


async def test_document_text_cannot_ping_or_inject_markdown(simcord_env, server):
    hostile = b"Ping Test\n\nThe mayor said @everyone should read [this](https://evil.example) about the <@123> parade budget."
    await server.admin.slash(server.channel, "corpus add", file=("ping.txt", hostile))
    await server.member.send(server.channel, f"{simcord_env.bot.user.mention} what about the parade budget?")
    reply = server.channel.last_message
    embed = reply.embeds[0]
    assert "everyone" in embed.description
    assert not reply.mention_everyone
    assert re.search(r"(?<!\\)\[this\]\(", embed.description) is None  # the masked link is escaped
    assert "\\[this\\]" in embed.description


async def test_long_document_answers_stay_within_discord_limits(simcord_env, server):
    filler = " ".join(f"The committee reviewed budget line {i} and approved it without changes." for i in range(400))
    text = f"Budget Review\n\n{filler}\n\nThe treasurer resigned because the audit found missing receipts.\n".encode()
    await server.admin.slash(server.channel, "corpus add", file=("budget.txt", text))
    result = await server.member.slash(server.channel, "ask", question="why did the treasurer resign?")
    embed = result.response.embeds[0]
    assert "missing receipts" in embed.description
    assert len(embed) <= 6000 and len(embed.description) <= 4096
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    searched = await server.member.slash(server.channel, "search", query="committee budget approved", limit=10)
    embed = searched.response.embeds[0]
    lines = [line for field in embed.fields for line in field.value.splitlines()]
    assert [line.split(" ", 1)[0] for line in lines] == [f"[{n}]" for n in range(1, 11)] and len(embed) <= 6000
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)


async def test_paste_modal_adds_a_document(simcord_env, server):
    shown = await server.admin.slash(server.channel, "corpus paste")
    ids = {c["label"]: c["custom_id"] for row in shown.modal["components"] for c in row["components"]}
    submitted = await server.admin.submit_modal(
        shown, {ids["Title"]: "Ferry Schedule", ids["Text"]: "The ferry leaves at noon because of low tide."}
    )
    assert "Ferry Schedule" in submitted.response.content
    result = await server.member.slash(server.channel, "ask", question="When does the ferry leave?")
    assert "noon" in result.response.embeds[0].description


def modal_inputs(shown) -> dict[str, dict]:
    """A shown modal's text inputs by label."""
    return {c["label"]: c for row in shown.modal["components"] for c in row["components"]}


async def test_add_to_corpus_message_menu(simcord_env, server):
    message = await server.member.send(server.channel, "The bake sale raised 400 dollars for the library roof.")
    shown = await server.admin.context_menu(server.channel, "Add to corpus", message)
    title = modal_inputs(shown)["Title"]
    assert title["value"] == "Message from news-member: The bake sale raised 400 dollars for the library roof."
    added = await server.admin.submit_modal(shown, {title["custom_id"]: title["value"]})
    assert "Added" in added.response.content
    docs = [d for d in await simcord_env.bot.engine.documents(server.guild.id) if d.guild_id]
    assert docs[0].url and str(message.id) in docs[0].url
    result = await server.member.slash(server.channel, "ask", question="How much did the bake sale raise?")
    assert "400 dollars" in result.response.embeds[0].description


async def test_add_to_corpus_takes_an_announcement_by_its_automatic_title(simcord_env, server):
    # A name with an emoji joined by U+200D (the rainbow flag), a message to @everyone: both common.
    ana = server.guild.add_member(simcord_env.create_user("Ana \U0001f3f3\ufe0f\u200d\U0001f308"))
    message = await ana.send(server.channel, "@everyone The ferry moves to pier 4 on Friday because of the storm.")
    shown = await server.admin.context_menu(server.channel, "Add to corpus", message)
    title = modal_inputs(shown)["Title"]
    added = await server.admin.submit_modal(shown, {title["custom_id"]: title["value"]})  # kept as offered
    assert added.ephemeral and added.response.content.startswith("Added `#2` **Message from Ana"), added.response.content
    # Nothing invisible in it (the add refuses titles with such characters): the joiner is a space.
    assert title["value"] == "Message from Ana \U0001f3f3\ufe0f \U0001f308: @everyone The ferry moves to pier 4 on Friday because of the storm."
    result = await server.member.slash(server.channel, "ask", question="Why does the ferry move to pier 4?")
    assert "because of the storm" in result.response.embeds[0].description


async def test_remove_by_a_number_that_is_gone_is_refused_and_removes_nothing(simcord_env, server):
    await server.admin.slash(server.channel, "corpus add", file=("report.txt", b"Annual Report 2017\n\nThe ferry ran late all year."))
    await server.admin.slash(server.channel, "corpus add", file=("minutes.txt", b"Board Minutes\n\nThe board met on Monday."))
    removed = await server.admin.slash(server.channel, "corpus remove", document="2")
    assert "Removed `#2` **Annual Report 2017**" in removed.response.content
    for reference in ("2", "#2"):
        again = await server.admin.slash(server.channel, "corpus remove", document=reference)
        assert again.ephemeral
        assert again.response.content == "No document #2 in this server (see /documents)"
    missing = await server.admin.slash(server.channel, "corpus remove", document="#7")  # "7" is in "2017"
    assert missing.response.content == "No document #7 in this server (see /documents)"
    source = await server.member.slash(server.channel, "source", document="#2")
    assert source.ephemeral and source.response.content == "No document #2 in this server (see /documents)"
    titles = [d.title for d in await simcord_env.bot.engine.documents(server.guild.id)]
    assert len(titles) == 2 and "Board Minutes" in titles  # the bundled article and the minutes stay
    assert len(simcord_env.errors) == 4  # each refusal went through the tree's handler


async def test_add_to_corpus_with_an_edited_title_reads_discord_markdown(simcord_env, server):
    message = await server.member.send(
        server.channel,
        "**Reminder:** the *pool* opens at ||noon|| on <t:1767225600:D>, see [the schedule](https://pool.example/s)\n"
        "- bring a towel",
    )
    shown = await server.admin.context_menu(server.channel, "Add to corpus", message)
    added = await server.admin.submit_modal(shown, {modal_inputs(shown)["Title"]["custom_id"]: "Pool Opening"})
    assert added.ephemeral
    assert added.response.content.startswith("Added `#2` **Pool Opening** (2 passages). Members can ask about it now.")
    # The first passage, as members will see it quoted: no markup, no URL.
    assert added.response.content.endswith(
        "It starts: Reminder: the pool opens at noon on 2026-01-01 00:00 UTC, see the schedule"
    )
    result = await server.member.slash(server.channel, "ask", question="When does the pool open?")
    embed = result.response.embeds[0]
    assert "Reminder: the pool opens at noon" in embed.description
    assert "Pool Opening" in embed.fields[0].name


async def test_add_to_corpus_reads_a_text_attachment(simcord_env, server):
    minutes = (
        b"Board Minutes\nThe board met on Monday and agreed that the annual\npicnic will be held in the park on"
        b" June 3 because\nthe hall is being repainted this summer.\nMembers should bring their own chairs\n"
    )
    message = await server.member.send(server.channel, attachments=[("minutes.txt", minutes)])
    shown = await server.admin.context_menu(server.channel, "Add to corpus", message)
    title = modal_inputs(shown)["Title"]
    assert not title.get("value") and not title.get("required", True)  # empty: the file's own title
    added = await server.admin.submit_modal(shown, {})
    assert added.response.content.startswith("Added `#2` **Board Minutes** (1 passage).")
    assert "It starts: The board met on Monday and agreed that the annual picnic" in added.response.content
    result = await server.member.slash(server.channel, "search", query="chairs")
    assert "Board Minutes" in str(result.response.embeds[0].to_dict())


async def test_add_to_corpus_refuses_a_message_without_text(simcord_env, server):
    message = await server.member.send(server.channel, attachments=[("photo.png", b"\x89PNG\r\n")])
    refused = await server.admin.context_menu(server.channel, "Add to corpus", message)
    assert refused.ephemeral and refused.response.content == "That message has no text or text file (.txt, .md) to add."
    assert len(simcord_env.errors) == 1


async def test_paste_errors_reach_the_admin_privately(simcord_env, server):
    async def paste(title: str, text: str):
        shown = await server.admin.slash(server.channel, "corpus paste")
        inputs = modal_inputs(shown)
        return await server.admin.submit_modal(
            shown, {inputs["Title"]["custom_id"]: title, inputs["Text"]["custom_id"]: text}
        )

    blank = await paste("   ", "The ferry leaves at noon because of low tide.")
    assert blank.ephemeral and blank.response.content == "the title is empty"
    first = await paste("Ferry Schedule", "The ferry leaves at noon because of low tide.")
    assert first.response.content.startswith("Added `#2` **Ferry Schedule**")
    again = await paste("Ferry Times", "The ferry leaves at noon because of low tide.")
    assert again.ephemeral and again.response.content == "That is already here as `#2` Ferry Schedule."
    assert len(await simcord_env.bot.engine.documents(server.guild.id)) == 2
    assert len(simcord_env.errors) == 2


async def test_corpus_role_gives_a_working_path(simcord_env, server):
    editors = server.guild.create_role("Editors")
    editor = server.guild.add_member(simcord_env.create_user("news-editor"), roles=[editors])
    everyone = await server.admin.slash(server.channel, "corpus role", role=server.guild.default_role)
    assert everyone.ephemeral and everyone.response.content.startswith("Choose a role, not @everyone")

    saved = await server.admin.slash(server.channel, "corpus role", role=editors)
    text = saved.response.content
    assert saved.ephemeral and text.startswith(f"TalksBot now accepts <@&{editors.id}> for /corpus and *Add to corpus*.")
    assert "Discord still hides /corpus and *Add to corpus* from members without Manage Server" in text
    assert "Server Settings → Integrations → TestBot" in text and f"add <@&{editors.id}>" in text
    assert not any(name.startswith("corpus") for name in editor.available_commands(server.channel))

    # The admin follows the reply: the two commands allowed for @Editors in the server's settings.
    for command in await simcord_env.bot.tree.fetch_commands():
        if command.name in ("corpus", "Add to corpus"):
            server.guild.set_command_permissions(command, {editors: True})
    checked = await server.admin.slash(server.channel, "corpus role", role=editors)
    assert checked.response.content.endswith("Discord shows them the commands too: they can use them now.")

    added = await editor.slash(server.channel, "corpus add", file=("harbor.txt", NOTE))
    assert added.response.content.startswith("Added `#2` **Harbor Festival Notes**")
    message = await server.member.send(server.channel, "The swimming pool reopens on Friday after repairs.")
    shown = await editor.context_menu(server.channel, "Add to corpus", message)
    title = modal_inputs(shown)["Title"]
    menu_added = await editor.submit_modal(shown, {title["custom_id"]: "Pool News"})
    assert menu_added.response.content.startswith("Added `#3` **Pool News**")
    simcord_env.errors  # noqa: B018  (the @everyone refusal went through the tree's handler)


async def test_markdown_upload_is_quoted_without_markup(simcord_env, server):
    garden = (
        b"# Community Garden Rules\n\n"
        b"Each plot costs **$25 per season**, paid to the [garden treasurer](https://garden.example/pay).\n\n"
        b"## Tools\n\n- Shared *hoes* are kept in the shed\n- Return them by dusk\n"
    )
    added = await server.admin.slash(server.channel, "corpus add", file=("garden.md", garden))
    assert added.response.content.startswith("Added `#2` **Community Garden Rules** (3 passages).")
    assert added.response.content.endswith("It starts: Each plot costs $25 per season, paid to the garden treasurer.")
    result = await server.member.slash(server.channel, "ask", question="How much does a plot cost?")
    embed = result.response.embeds[0]
    # What a member reads: the sentence, with only the bot's own bold on the question's words.
    shown = embed.description.replace("**", "")
    assert shown == "Each plot costs $25 per season, paid to the garden treasurer. [1]"
    assert "garden.example" not in str(embed.to_dict())


async def test_bundled_off_hides_the_article_in_that_server_only(simcord_env, server, other_server):
    garden = "Garden rules\n\nWater your plot in the early morning, before the sun is high.\n"
    await simcord_env.bot.engine.add_text(garden, guild_id=server.guild.id, added_by="test")
    before = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    assert "abruptly halted" in before.response.embeds[0].description
    off = await server.admin.slash(server.channel, "corpus bundled", shown="off")
    assert off.ephemeral and "only from this server's documents" in off.response.content
    after = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    assert "abruptly halted" not in str(after.response.embeds[0].to_dict())
    assert "Pentagon" not in str(after.response.embeds[0].to_dict())
    water = await server.member.slash(server.channel, "ask", question="when should I water my plot?")
    assert "early morning" in water.response.embeds[0].description
    assert "Pentagon" not in str(water.response.embeds[0].to_dict())
    listed = await server.member.slash(server.channel, "documents")
    assert "Garden rules" in listed.response.embeds[0].description and "Pentagon" not in listed.response.embeds[0].description
    elsewhere = await other_server.member.slash(other_server.channel, "ask", question="why were talks cancelled?")
    assert "abruptly halted" in elsewhere.response.embeds[0].description  # other servers unchanged
    on = await server.admin.slash(server.channel, "corpus bundled", shown="on")
    assert "again" in on.response.content
    back = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    assert "abruptly halted" in back.response.embeds[0].description


async def test_the_first_own_document_offers_to_hide_the_bundled_article(simcord_env, server):
    garden = b"Garden rules\n\nWater your plot in the early morning, before the sun is high.\n"
    added = await server.admin.slash(server.channel, "corpus add", file=("garden.txt", garden))
    labels = [c["label"] for row in added.response.components for c in row["components"]]
    assert labels == ["Hide the bundled article here"]
    hidden = await server.admin.click(added.response, label="Hide the bundled article here")
    assert hidden.ephemeral and "only from this server's documents" in hidden.response.content
    asked = await server.member.slash(server.channel, "ask", question="why were talks cancelled?")
    assert "abruptly halted" not in str(asked.response.embeds[0].to_dict())
    second = await server.admin.slash(server.channel, "corpus add", file=("tools.txt", b"Tools\n\nReturn the hoes by dusk.\n"))
    assert second.response.components == []  # only the first document offers it


async def test_corpus_log_shows_the_latest_changes_however_long_the_titles(simcord_env, server):
    from reader import read

    engine = simcord_env.bot.engine
    for i in range(14):  # ordinary newsletter titles, about 90 characters each
        title = f"Harbor committee minutes {i:02d}: the ferry timetable, the pier repairs and the festival budget"
        body = f"{title}\n\nThe committee met in week {i} and approved item {i} of the budget."
        await engine.add_text(body, guild_id=server.guild.id, added_by=str(server.admin.id), title=title)
    newest = next(d for d in await engine.documents(server.guild.id) if "minutes 13" in d.title)
    await server.admin.slash(server.channel, "corpus remove", document=str(newest.id))

    log = (await server.admin.slash(server.channel, "corpus log")).response
    lines = [read(line, "content") for line in log.content.split("\n")]
    assert len(log.content) <= 2000
    # The removal just made is what the admin looks for: it is the last line, whole.
    assert lines[-1].endswith(f"remove #{newest.id} {newest.title}"), lines[-1]
    assert lines[-2].endswith(f"add #{newest.id} {newest.title}"), lines[-2]
    # The operator's own adds from the command line name no member (not a raw "<@cli>").
    notice = await engine.add_text("Ferry Notice\n\nThe ferry leaves at noon.", guild_id=server.guild.id, added_by="cli")
    log = (await server.admin.slash(server.channel, "corpus log")).response
    assert "<@cli>" not in log.content
    assert read(log.content.split("\n")[-1], "content").endswith(f"the command line add #{notice.id} Ferry Notice")


async def test_corpus_channel_says_when_the_bot_cannot_answer_there(simcord_env, server):
    import discord

    # A staff channel the admin can see and the bot cannot (no override lets its role in).
    staff = server.guild.create_text_channel(
        "staff",
        overwrites={
            server.guild.default_role: discord.PermissionOverwrite(view_channel=False),
            server.admin: discord.PermissionOverwrite(view_channel=True),
        },
    )
    told = await server.admin.slash(server.channel, "corpus channel", channel=staff, enabled=True)
    assert told.ephemeral
    assert told.response.content == (
        f"TalksBot now answers every question in <#{staff.id}>. It cannot answer there yet: give it View Channel, "
        "Send Messages, Read Message History and Embed Links in that channel's permissions (Edit Channel → Permissions)."
    )
    await server.admin.send(staff, "why were talks cancelled?")
    assert staff.last_message.author.id == server.admin.id  # indeed no answer
    ok = await server.admin.slash(server.channel, "corpus channel", channel=server.channel, enabled=True)
    assert ok.response.content == f"TalksBot now answers every question in <#{server.channel.id}>."
