"""Uploads in other formats and encodings: PDF text, legacy encodings, what is refused."""

from __future__ import annotations

import pytest

from bot.engine.ingest import UploadError, extract_text

LIMIT = 5_000_000


def minimal_pdf(lines: list[str], title: str = "Harbor Report") -> bytes:
    """A real one-page PDF with text in Helvetica, built by hand (with a correct xref table)."""
    text_ops = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text_ops} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (%s) >>" % title.encode(),
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_and_title_are_extracted():
    data = minimal_pdf(["The harbor festival was postponed", "because the storm damaged the pier."])
    extracted = extract_text(data, "report.pdf", max_bytes=LIMIT)
    assert "harbor festival was postponed" in extracted.text
    assert "storm damaged the pier" in extracted.text
    assert extracted.title == "Harbor Report"


def test_pdf_is_recognised_by_its_content_without_suffix():
    assert "postponed" in extract_text(minimal_pdf(["postponed"]), "upload", max_bytes=LIMIT).text


def test_damaged_pdf_is_refused_in_one_line():
    with pytest.raises(UploadError, match="not a readable PDF") as refused:
        extract_text(b"%PDF-1.4\nthis is not really a pdf", "broken.pdf", max_bytes=LIMIT)
    assert "\n" not in str(refused.value)


def test_legacy_encoding_is_detected():
    text = "Le festival du port a été reporté à cause de la tempête qui a endommagé la jetée. " * 5
    extracted = extract_text(text.encode("cp1252"), "notes.txt", max_bytes=LIMIT)
    assert "été reporté" in extracted.text and "tempête" in extracted.text
