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


def _scan_pdf(path: Path, dpi: int, size_in: tuple[float, float] = (8.27, 11.69), page_in: tuple[float, float] | None = None) -> Path:
    """A PDF as a scanner writes it: one grey image per page, at ``dpi``."""
    import io

    import img2pdf

    img = Image.new("L", (round(size_in[0] * dpi), round(size_in[1] * dpi)), 255)
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi))
    pw, ph = page_in or size_in
    layout = img2pdf.get_layout_fun((img2pdf.in_to_pt(pw), img2pdf.in_to_pt(ph)), fit=img2pdf.FitMode.into)
    path.write_bytes(img2pdf.convert(buf.getvalue(), layout_fun=layout))
    return path


@pytest.mark.parametrize(("scanned", "rendered"), [(100, 250), (150, 250), (200, 250), (240, 250), (300, 300), (600, 300)])
def test_a_scanned_page_is_rasterised_at_its_own_resolution_within_bounds(tmp_path: Path, scanned: int, rendered: int) -> None:
    """GIVEN a PDF wrapping one scan per page WHEN it is rasterised THEN at the scan's resolution,
    raised to what tesseract reads well (250) and never above the setting (300)."""
    from pipeline.ingest import render_dpi, scan_dpi

    pdf = _scan_pdf(tmp_path / "scan.pdf", scanned)
    assert scan_dpi(pdf, 1) == scanned
    assert render_dpi(pdf, 1, 300) == rendered
    page = open_source(pdf, 300).page(1)
    assert page.dpi == rendered
    assert abs(page.image.width - 8.27 * rendered) <= 2


def test_a_page_that_is_not_one_scan_filling_it_is_rasterised_at_the_setting(tmp_path: Path) -> None:
    from pipeline.ingest import render_dpi, scan_dpi

    drawn = tmp_path / "drawn.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.save(drawn)
    assert scan_dpi(drawn, 1) is None and render_dpi(drawn, 1, 300) == 300
    # A half-page image centred on an A4 page: its pixels over the page's size say nothing.
    small = _scan_pdf(tmp_path / "small.pdf", 200, size_in=(4.0, 4.0), page_in=(8.27, 11.69))
    assert scan_dpi(small, 1) is None and render_dpi(small, 1, 300) == 300
