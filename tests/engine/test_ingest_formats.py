"""Uploads in other formats and encodings: PDF text, legacy encodings, what is refused."""

from __future__ import annotations

import pytest

from bot.engine.ingest import UploadError, extract_text
from bot.measure.hostile import text_pdf

LIMIT = 5_000_000


def test_pdf_text_and_title_are_extracted():
    data = text_pdf(["The harbor festival was postponed", "because the storm damaged the pier."])
    extracted = extract_text(data, "report.pdf", max_bytes=LIMIT)
    assert "harbor festival was postponed" in extracted.text
    assert "storm damaged the pier" in extracted.text
    assert extracted.title == "Harbor Report"


def test_pdf_is_recognised_by_its_content_without_suffix():
    assert "postponed" in extract_text(text_pdf(["postponed"]), "upload", max_bytes=LIMIT).text


def test_damaged_pdf_is_refused_in_one_line():
    with pytest.raises(UploadError, match="not a readable PDF") as refused:
        extract_text(b"%PDF-1.4\nthis is not really a pdf", "broken.pdf", max_bytes=LIMIT)
    assert "\n" not in str(refused.value)


def test_legacy_encoding_is_detected():
    text = "Le festival du port a été reporté à cause de la tempête qui a endommagé la jetée. " * 5
    extracted = extract_text(text.encode("cp1252"), "notes.txt", max_bytes=LIMIT)
    assert "été reporté" in extracted.text and "tempête" in extracted.text


def test_utf8_text_with_a_stray_windows_1252_byte_keeps_every_accent():
    # One byte that is not UTF-8 (a Windows apostrophe pasted into a UTF-8 file) sent the whole
    # file to the encoding detector, which read it as another encoding: every accented word came
    # out garbled ("été" as "ûˋtûˋ"), quoted so and found by nothing a member would type.
    text = "Le festival du port a été reporté à cause de la tempête qui a endommagé la jetée. " * 5
    data = text.encode("utf-8") + b"The harbour master\x92s office agreed.\n"
    extracted = extract_text(data, "notes.txt", max_bytes=LIMIT)
    assert extracted.text == text + "The harbour master\u2019s office agreed.\n"

