"""Lookups: /source with autocomplete, /documents with pages, /help."""

from __future__ import annotations


async def test_source_autocomplete_and_paragraph(simcord_env, server):
    choices = await server.member.autocomplete(server.channel, "source", "document", "top u.s.")
    assert len(choices) == 1
    assert len(choices[0]["name"]) <= 100 and choices[0]["name"].startswith("#1 Top U.S. and Chinese")
    result = await server.member.slash(server.channel, "source", document=choices[0]["value"], paragraph=3)
    embed = result.response.embeds[0]
    assert embed.title.endswith("para 3")
    assert "abruptly halted in 2023" in embed.description
    assert "Resumption After a Tense Delay" in embed.footer.text
    [document] = [f for f in embed.fields if f.name == "Document"]
    assert document.value.startswith("#1 - 5 passages - added ")
    await simcord_env.bot.engine.add_text("Harbor Notice\n\nThe ferry leaves at noon.", guild_id=server.guild.id, added_by="t")
    one = (await server.member.slash(server.channel, "source", document="Harbor Notice")).response.embeds[0]
    assert [f.value for f in one.fields if f.name == "Document"][0].startswith("#2 - 1 passage - added ")


async def test_source_unknown_document_or_paragraph_is_a_short_private_error(simcord_env, server):
    missing = await server.member.slash(server.channel, "source", document="no such thing")
    assert missing.ephemeral and missing.response.content == "No document titled “no such thing” in this server (see /documents)"
    too_far = await server.member.slash(server.channel, "source", document="1", paragraph=99)
    assert too_far.ephemeral and "paragraphs 1 to 5" in too_far.response.content
    assert len(simcord_env.errors) == 2  # both went through the tree's handler


async def test_documents_pages_with_buttons(simcord_env, server):
    engine = simcord_env.bot.engine
    for i in range(12):
        await engine.add_text(f"Notice {i}\n\nThe notice number {i} is about parking.", guild_id=server.guild.id, added_by="t")
    listed = await server.member.slash(server.channel, "documents")
    assert listed.ephemeral
    first = listed.response.embeds[0]
    assert "Page 1 of 2" in first.footer.text and first.description.count("\n") == 9
    turned = await server.member.click(listed.response, label="Next")
    assert "Page 2 of 2" in turned.response.embeds[0].footer.text
    assert "Notice 11" in turned.response.embeds[0].description


async def test_help_is_short_and_private(simcord_env, server):
    result = await server.member.slash(server.channel, "help")
    assert result.ephemeral and "/ask" in result.response.content and len(result.response.content) < 1000


async def test_every_document_of_a_page_is_listed_whatever_its_title(simcord_env, server):
    from reader import read

    engine = simcord_env.bot.engine
    await server.admin.slash(server.channel, "corpus bundled", shown="off")
    # A page's <title> of 200 characters made of markdown characters: each is escaped, doubling it.
    added = [
        await engine.add_text(
            f"Sale {i}\n\nThe harbor shop sale number {i} starts on Monday.",
            guild_id=server.guild.id,
            added_by="t",
            title=f"Sale {i} " + "~*" * 96,
            date="2024-05-01",
        )
        for i in range(10)
    ]
    embed = (await server.member.slash(server.channel, "documents")).response.embeds[0]
    assert embed.footer.text == "Page 1 of 1 - 10 documents"
    shown = [read(line, "description") for line in embed.description.split("\n")]
    assert [line.split(" ", 1)[0] for line in shown] == [f"#{doc.id}" for doc in added]  # none left out
    assert all(line.startswith(f"#{doc.id} Sale {i} ~*~*~*") for i, (doc, line) in enumerate(zip(added, shown, strict=True)))
    assert all(line.endswith("(2024-05-01) - 1 passage - this server") for line in shown)
