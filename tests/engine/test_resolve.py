"""Document references: a number is that document and nothing else; titles exactly or by a unique prefix."""

from __future__ import annotations

import pytest

from bot.engine.service import UnknownDocument

GUILD = 42
OTHER = 43


async def add(engine, title: str, text: str, guild_id: int = GUILD):
    return await engine.add_text(f"{text}\n", title=title, guild_id=guild_id, added_by="t")


async def test_a_removed_number_is_refused_not_matched_to_a_title(engine):
    # The bundled title contains "January 2020": "2" once fell back to it.
    report = await add(engine, "Annual Report 2017", "The harbor report covers the year 2017.")
    assert report.id == 2
    await engine.remove(report.id, removed_by="t")
    for reference in ("2", "#2", " # 2 ", "7"):
        with pytest.raises(UnknownDocument) as refused:
            await engine.resolve(reference, GUILD)
        assert refused.value.describe("/documents") == f"No document #{reference.strip(' #')} in this server (see /documents)"


async def test_a_number_never_reaches_another_servers_document(engine):
    theirs = await add(engine, "Private Memo", "The merger is secret.", guild_id=OTHER)
    with pytest.raises(UnknownDocument, match=f"No document #{theirs.id} in this server"):
        await engine.resolve(str(theirs.id), GUILD)
    assert (await engine.resolve(str(theirs.id), None, everything=True)).title == "Private Memo"


async def test_numbers_in_other_scripts_and_huge_numbers_are_unknown_not_errors(engine):
    for reference in ("²", "٣", "9" * 5000):
        with pytest.raises(UnknownDocument) as refused:
            await engine.resolve(reference, GUILD)
        assert len(str(refused.value)) < 120


async def test_titles_match_exactly_or_by_unique_prefix(engine):
    await add(engine, "Harbor Report", "The ferry was late.")
    budget = await add(engine, "Harbor Report Budget", "The budget was cut.")
    await add(engine, "Library Notes", "The roof leaks.")
    assert (await engine.resolve("harbor report", GUILD)).title == "Harbor Report"  # exact beats prefix
    assert (await engine.resolve("Harbor Report B", GUILD)).id == budget.id
    assert (await engine.resolve("libr", GUILD)).title == "Library Notes"
    with pytest.raises(UnknownDocument, match="No document titled “Notes” in this server"):
        await engine.resolve("Notes", GUILD)  # inside a title, not its start


async def test_an_ambiguous_title_lists_the_candidates(engine):
    first = await add(engine, "Harbor Report", "The ferry was late.")
    second = await add(engine, "Harbor Notes", "The pier was fixed.")
    with pytest.raises(UnknownDocument) as refused:
        await engine.resolve("harbor", GUILD)
    assert str(refused.value) == (
        f"“harbor” matches 2 documents: #{first.id} Harbor Report, #{second.id} Harbor Notes; give its number"
    )
