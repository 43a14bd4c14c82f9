"""Scanner damage for sample pages: skew, blur, noise, speckles, grey conversion and JPEG artefacts."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from pipeline.samples.render import A4_MM

__all__ = ["DEGRADE_LEVELS", "degrade"]

DEGRADE_LEVELS = ("none", "mild", "heavy")
_TILE = 1024


def _dpi_of(page: Image.Image) -> float:
    """Return the page's dpi: from its metadata, else from its width taken as A4."""
    dpi = page.info.get("dpi")
    if dpi and float(dpi[0]) > 0:
        return float(dpi[0])
    return page.width * 25.4 / A4_MM[0]


def degrade(page: Image.Image, rng: random.Random, *, level: str = "mild") -> Image.Image:
    """Make a clean page look like an office scan of it.

    "mild" is what a reasonable office scanner produces: a skew of up to ±1.5 degrees, a slight blur,
    gaussian sensor noise (sigma 6-10 on 0-255, applied before the blur) plus fine grain (sigma 1.5-3),
    a few dark speckles, grey ("L") three times in four (else colour is kept), and JPEG artefacts
    (quality 70-85) about half the time. Printed 10 pt text stays readable and barcodes decode.

    "heavy" is a tired scanner or a fax-grade copy: a skew of up to ±2.5 degrees, a little more blur
    (0.8-1.3 px), stronger noise (sigma 8-13), always grey, and many speckles (60-220 dust dots, some
    larger, plus short hair-like scratches), no JPEG: the caller thresholds it to bitonal. Printed 10 pt
    text stays humanly legible at 150 dpi.

    Args:
        page: A clean page as `render_sheet` or `blank_page` returns it.
        rng: Source of every random choice (same seed, same result).
        level: "none" (an unchanged copy), "mild" or "heavy".

    Returns:
        A new image ("L" or "RGB") with ``info["dpi"]`` kept.
    """
    if level not in DEGRADE_LEVELS:
        raise ValueError(f"unknown degrade level {level!r}: expected one of {', '.join(DEGRADE_LEVELS)}")
    dpi = _dpi_of(page)
    if level == "none":
        out = page.copy()
        out.info["dpi"] = (dpi, dpi)
        return out
    scale = dpi / 300.0
    np_rng = np.random.default_rng(rng.getrandbits(64))
    if level == "heavy":
        return _degrade_heavy(page, rng, np_rng, dpi, scale)
    grey = rng.random() < 0.75
    img = page.convert("L" if grey else "RGB")
    white = 255 if grey else (255, 255, 255)
    img = img.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, expand=False, fillcolor=white)
    # Sensor noise goes in before the blur: the scanner's own smoothing softens it, as on a real scan.
    # (Pixel-independent noise of this strength after the blur is harsher than any office scanner, and
    # zbar then misreads Code 128 bars.)
    img = _add_noise(img, np_rng, rng.uniform(6.0, 10.0))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.0)))  # px: the optics, at any dpi
    img = _add_noise(img, np_rng, rng.uniform(1.5, 3.0))  # fine grain
    paper = rng.randint(0, 6)  # scanned paper is never quite 255
    img = img.point([max(0, v - paper) for v in range(256)] * len(img.getbands()))
    _speckle(img, rng, scale)
    out = img
    if rng.random() < 0.5:
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=rng.randint(70, 85))
        buf.seek(0)
        out = Image.open(buf)
        out.load()
    out.info["dpi"] = (dpi, dpi)
    return out


def _degrade_heavy(
    page: Image.Image, rng: random.Random, np_rng: np.random.Generator, dpi: float, scale: float
) -> Image.Image:
    """The "heavy" level (see `degrade`): grey, skewed, noisy, blurred and dusty; no JPEG step."""
    img = page.convert("L")
    img = img.rotate(rng.uniform(-2.5, 2.5), resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    img = _add_noise(img, np_rng, rng.uniform(8.0, 13.0))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.3)))
    img = _add_noise(img, np_rng, rng.uniform(2.0, 4.0))
    paper = rng.randint(4, 14)
    img = img.point([max(0, v - paper) for v in range(256)])
    _speckle(img, rng, scale, count=(60, 220), radius=(1.0, 3.5))
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(rng.randint(0, 4)):  # hairs and scratches on the glass
        x, y = rng.randrange(w), rng.randrange(h)
        dx, dy = rng.uniform(-40, 40) * scale, rng.uniform(-40, 40) * scale
        draw.line([(x, y), (x + dx, y + dy)], fill=rng.randint(40, 120), width=max(1, round(scale * 2)))
    img.info["dpi"] = (dpi, dpi)
    return img


def _add_noise(img: Image.Image, np_rng: np.random.Generator, sigma: float) -> Image.Image:
    """Add gaussian luminance noise of `sigma` (the same on every channel).

    The noise field is a 1024 px tile repeated from a random offset: generating a fresh normal sample per
    pixel of a 300 dpi page costs most of a second, and nobody sees a period of 3.4 inches in noise.
    """
    tile = np.clip(np_rng.standard_normal((_TILE, _TILE), dtype=np.float32) * sigma + 128.0, 0, 255).astype(np.uint8)
    w, h = img.size
    oy, ox = int(np_rng.integers(_TILE)), int(np_rng.integers(_TILE))
    field = np.tile(tile, (h // _TILE + 2, w // _TILE + 2))[oy : oy + h, ox : ox + w]
    noise = Image.fromarray(np.ascontiguousarray(field), "L")
    if img.mode != "L":
        noise = Image.merge(img.mode, [noise] * len(img.getbands()))
    return ImageChops.add(img, noise, scale=1.0, offset=-128)


def _speckle(
    img: Image.Image,
    rng: random.Random,
    scale: float,
    *,
    count: tuple[int, int] = (4, 24),
    radius: tuple[float, float] = (1.0, 2.5),
) -> None:
    """Scatter small dark dots (dust on the glass) over the page, in place."""
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(rng.randint(*count)):
        r = max(1, round(rng.uniform(*radius) * scale))
        x, y = rng.randrange(r, w - r), rng.randrange(r, h - r)
        v = rng.randint(20, 110)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=v if img.mode == "L" else (v, v, v))
