"""Bad input is refused with a clear reason before any OCR runs."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from pipeline.errors import BadInput, ReasonCode
from pipeline.ingest import open_source


def test_zero_bytes(tmp_path: Path) -> None:
    f = tmp_path / "empty.pdf"
    f.write_bytes(b"")
    with pytest.raises(BadInput) as e:
        open_source(f)
    assert e.value.reason is ReasonCode.ZERO_BYTES


def test_not_an_image_whatever_the_name(tmp_path: Path) -> None:
    f = tmp_path / "scan.jpg"
    f.write_text("hello, this is text")
    with pytest.raises(BadInput) as e:
        open_source(f)
    assert e.value.reason is ReasonCode.UNSUPPORTED


def test_corrupt_pdf(tmp_path: Path) -> None:
    f = tmp_path / "broken.pdf"
    f.write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    with pytest.raises(BadInput) as e:
        open_source(f)
    assert e.value.reason is ReasonCode.CORRUPT_PDF


def test_encrypted_pdf(tmp_path: Path) -> None:
    f = tmp_path / "secret.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(f, encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(BadInput) as e:
        open_source(f)
    assert e.value.reason is ReasonCode.ENCRYPTED_PDF


def test_tiny_image(tmp_path: Path) -> None:
    f = tmp_path / "thumb.png"
    Image.new("L", (100, 140), 255).save(f)
    src = open_source(f)
    with pytest.raises(BadInput) as e:
        list(src.pages())
    assert e.value.reason is ReasonCode.TOO_SMALL


def test_multipage_tiff_pages(tmp_path: Path) -> None:
    f = tmp_path / "batch.tif"
    pages = [Image.new("L", (850, 1100), 255) for _ in range(3)]
    pages[0].save(f, save_all=True, append_images=pages[1:], dpi=(100, 100))
    src = open_source(f)
    assert src.kind == "tiff" and src.page_count == 3
    assert [p.number for p in src.pages()] == [1, 2, 3]
    assert all(p.dpi == 100 for p in src.pages())


def test_a_page_alone_is_the_page_pages_yields(tmp_path: Path) -> None:
    """SourceFile.page(n), as a reading process takes its page, is pages()'s n-th page: PDF and TIFF."""
    tiff = tmp_path / "batch.tif"
    frames = [Image.new("L", (850, 1100), 255) for _ in range(3)]
    for i, frame in enumerate(frames):
        frame.putpixel((i, i), 0)
    frames[0].save(tiff, save_all=True, append_images=frames[1:], dpi=(100, 100))
    pdf = tmp_path / "batch.pdf"
    frames[0].save(pdf, save_all=True, append_images=frames[1:], resolution=100)
    for path in (tiff, pdf):
        src = open_source(path, dpi=100)
        for whole in src.pages():
            alone = src.page(whole.number)
            assert (alone.number, alone.dpi, alone.image.tobytes()) == (whole.number, whole.dpi, whole.image.tobytes())


def test_a_page_alone_is_refused_as_pages_refuses_it(tmp_path: Path) -> None:
    f = tmp_path / "thumb.png"
    Image.new("L", (100, 140), 255).save(f)
    with pytest.raises(BadInput) as e:
        open_source(f).page(1)
    assert e.value.reason is ReasonCode.TOO_SMALL
