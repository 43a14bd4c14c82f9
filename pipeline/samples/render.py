"""Drawing a sample sign-off sheet: fonts, layout, barcodes, signature strokes and stamps."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import barcode
import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFont

from pipeline.samples.truth import ItemTruth, SheetTruth

__all__ = ["A4_MM", "blank_page", "page_size", "render_sheet"]

A4_MM = (210.0, 297.0)

Ink = tuple[int, int, int]
Font = ImageFont.FreeTypeFont
_Block = tuple[int, Callable[[int], None]]  # (height in px, draw at top y)

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_LIBERATION = Path("/usr/share/fonts/truetype/liberation2")
_NOTO = Path("/usr/share/fonts/opentype/noto")
_CJK_SC = 2  # index of Simplified Chinese in the Noto CJK collections


@dataclass(frozen=True, slots=True)
class _Family:
    """A regular/bold font pair (index selects the face inside a .ttc collection)."""

    name: str
    regular: Path
    bold: Path
    index: int = 0
    condensed: bool = False


_LATIN = (
    _Family("DejaVu Sans", _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"),
    _Family("DejaVu Serif", _DEJAVU / "DejaVuSerif.ttf", _DEJAVU / "DejaVuSerif-Bold.ttf"),
    _Family("Liberation Sans", _LIBERATION / "LiberationSans-Regular.ttf", _LIBERATION / "LiberationSans-Bold.ttf"),
    _Family("Liberation Serif", _LIBERATION / "LiberationSerif-Regular.ttf", _LIBERATION / "LiberationSerif-Bold.ttf"),
)
_CJK = (
    _Family("Noto Sans CJK SC", _NOTO / "NotoSansCJK-Regular.ttc", _NOTO / "NotoSansCJK-Bold.ttc", _CJK_SC),
    _Family("Noto Serif CJK SC", _NOTO / "NotoSerifCJK-Regular.ttc", _NOTO / "NotoSerifCJK-Bold.ttc", _CJK_SC),
)
_TYPED = (  # a handheld printer / typewriter look for filled-in values
    _Family("DejaVu Sans Mono", _DEJAVU / "DejaVuSansMono.ttf", _DEJAVU / "DejaVuSansMono-Bold.ttf"),
    _Family("Liberation Mono", _LIBERATION / "LiberationMono-Regular.ttf", _LIBERATION / "LiberationMono-Bold.ttf"),
)
_STAMP = (
    _Family(
        "DejaVu Sans Condensed",
        _DEJAVU / "DejaVuSansCondensed.ttf",
        _DEJAVU / "DejaVuSansCondensed-Bold.ttf",
        condensed=True,
    ),
    _Family("Liberation Sans", _LIBERATION / "LiberationSans-Regular.ttf", _LIBERATION / "LiberationSans-Bold.ttf"),
)

_VOCAB: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "title": ("Delivery note / Proof of delivery", "DELIVERY NOTE", "Proof of Delivery", "Delivery Note"),
        "delivery": ("Delivery No.", "Delivery note", "Order No."),
        "customer": ("Customer", "Consignee", "Ship to"),
        "items": ("Items", "Items delivered"),
        "col_sku": ("SKU", "Article No.", "Item No."),
        "col_desc": ("Description",),
        "col_qty": ("Qty", "Quantity"),
        "time": ("Received (date/time)", "Date/Time", "Date"),
        "receiver": ("Received by", "Name", "Received by (name)"),
        "signature": ("Customer signature", "Signature"),
        "remarks": ("Remarks", "Notes"),
        "page": ("Page {i} of {n}",),
        "cont": ("(continued)",),
        "next": ("Continued on page {n}",),
        "footer": (
            "Goods remain the property of the shipper until paid in full.",
            "Any damage or shortage must be noted at the time of receipt.",
        ),
    },
    "sv": {
        "title": ("Följesedel / Leveranskvittens", "FÖLJESEDEL", "Leveranskvittens"),
        "delivery": ("Följesedel nr", "Leveransnr"),
        "customer": ("Kund", "Mottagare"),
        "items": ("Artiklar", "Levererade artiklar"),
        "col_sku": ("Artikel", "Artikelnr"),
        "col_desc": ("Benämning",),
        "col_qty": ("Antal",),
        "time": ("Mottaget", "Datum/tid", "Mottaget (datum/tid)"),
        "receiver": ("Mottagen av", "Namn"),
        "signature": ("Underskrift", "Signatur", "Kundens underskrift"),
        "remarks": ("Anmärkning", "Anmärkningar", "Övrigt"),
        "page": ("Sida {i} av {n}",),
        "cont": ("(forts.)",),
        "next": ("Fortsättning på sida {n}",),
        "footer": (
            "Varorna förblir säljarens egendom tills full betalning erlagts.",
            "Eventuella skador ska noteras vid mottagandet.",
        ),
    },
    "zh": {
        "title": ("送货单 / 签收单", "送货单", "送货签收单"),
        "delivery": ("送货单号", "单号"),
        "customer": ("客户", "收货单位"),
        "items": ("货品", "货品明细"),
        "col_sku": ("货号",),
        "col_desc": ("品名",),
        "col_qty": ("数量",),
        "time": ("签收时间", "日期"),
        "receiver": ("签收人",),
        "signature": ("客户签字", "签名"),
        "remarks": ("备注",),
        "page": ("第{i}页 共{n}页",),
        "cont": ("(续)",),
        "next": ("续第{n}页",),
        "footer": ("货物在付清全款前归发货方所有。", "如有破损或短缺请在签收时注明。"),
    },
}

_SHIPPERS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("Northwind Freight Ltd", "Unit 9, Dockside Road, Hull HU9 1TY  ·  Tel 01482 555 210"),
        ("Atlas Haulage Ltd", "Kingsway Industrial Estate, Derby DE22 3FT  ·  Tel 01332 555 840"),
    ),
    "sv": (
        ("Bergströms Åkeri AB", "Industrivägen 5, 431 37 Mölndal  ·  Tel 031-55 12 40"),
        ("Västkust Logistik AB", "Terminalgatan 21, 252 25 Helsingborg  ·  Tel 042-55 80 10"),
    ),
    "zh": (
        ("华东快运集团", "江苏省苏州市工业园区星湖街 328 号  ·  电话 0512-5558 1234"),
        ("金桥速递", "浙江省杭州市余杭区文一西路 1500 号  ·  电话 0571-5550 8899"),
    ),
}

_PRINT_INKS: tuple[Ink, ...] = ((0, 0, 0), (22, 22, 24), (30, 30, 34))
_PEN_INKS: tuple[Ink, ...] = ((18, 32, 120), (25, 40, 140), (20, 20, 28))
_STAMP_INKS: tuple[Ink, ...] = ((30, 60, 170), (40, 70, 160), (185, 30, 40), (170, 25, 45))


def page_size(dpi: int) -> tuple[int, int]:
    """Return the pixel size of an A4 portrait page at `dpi` (300 dpi gives 2480x3508)."""
    return round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)


def blank_page(dpi: int = 300) -> Image.Image:
    """Return a clean white A4 page: the blank back side of a duplex scan, before `degrade`."""
    page = Image.new("RGB", page_size(dpi), "white")
    page.info["dpi"] = (dpi, dpi)
    return page


@lru_cache(maxsize=256)
def _font(path: Path, size: int, index: int = 0) -> Font:
    if not path.exists():
        raise FileNotFoundError(f"font {path} is missing: install fonts-dejavu-core fonts-liberation2 fonts-noto-cjk")
    return ImageFont.truetype(str(path), size, index=index)


@dataclass(frozen=True, slots=True)
class _Style:
    """Every visual choice for one sheet, drawn once so both pages of a sheet look alike."""

    dpi: int
    family: _Family
    typed: _Family  # font for filled-in values (receiver, printed time)
    stamp_family: _Family
    pt: float  # body size in points
    words: dict[str, str]  # the chosen label synonym per field
    colon: str
    label_bold: bool
    margins: tuple[float, float, float, float]  # left, right, top, bottom in mm
    line_factor: float
    gap_mm: tuple[float, float]
    value_gap_mm: float
    min_value_mm: float
    title_pt: float
    title_center: bool
    title_first: bool
    header_rule: bool
    section_rules: bool
    ruled: bool
    row_factor: float
    table_frac: float
    qty_right: bool
    header_underline: bool
    signoff_order: tuple[str, ...]
    remarks_mode: str  # "text" | "blank" | "omit"
    box_mm: tuple[float, float]
    box_lw: float  # px at 300 dpi
    sig_label_centered: bool
    value_line: bool  # printed values sit on a ruled writing line
    slots: dict[str, str]  # barcode kind -> "header_right" | "footer_left" | "footer_center" | "footer_right"
    code128_module_mm: float
    code128_height_mm: float
    qr_module_mm: float
    qr_error: str
    ink: Ink
    pen_ink: Ink
    stamp_ink: Ink
    shipper: tuple[str, str]
    footer_text: str | None

    def px(self, mm: float) -> int:
        """Millimetres to pixels at this sheet's dpi."""
        return round(mm * self.dpi / 25.4)

    def pt_px(self, pt: float) -> int:
        """Points to pixels at this sheet's dpi."""
        return max(6, round(pt * self.dpi / 72))


def _choose_style(sheet: SheetTruth, dpi: int, rng: random.Random) -> _Style:
    lang = sheet.language
    vocab = _VOCAB[lang]
    words = {key: rng.choice(options) for key, options in vocab.items()}
    family = rng.choice(_CJK if lang == "zh" else _LATIN)
    typed = family if lang == "zh" or rng.random() < 0.5 else rng.choice(_TYPED)
    stamp_family = _CJK[0] if lang == "zh" or not (sheet.time_text or "").isascii() else rng.choice(_STAMP)
    order: tuple[str, ...] = rng.choice(
        (("time", "receiver", "signature"), ("receiver", "time", "signature"), ("time", "signature", "receiver"))
    )
    remarks_mode = "text" if sheet.remarks is not None else rng.choice(("blank", "omit", "omit"))
    if remarks_mode != "omit":
        order = ("remarks", *order) if rng.random() < 0.4 else (*order, "remarks")
    slots = _barcode_slots(sheet.barcode, rng)
    return _Style(
        dpi=dpi,
        family=family,
        typed=typed,
        stamp_family=stamp_family,
        pt=rng.uniform(10.5, 12.0),
        words=words,
        colon=rng.choice(("：", ":")) if lang == "zh" else ":",
        label_bold=rng.random() < 0.5,
        margins=(rng.uniform(15, 24), rng.uniform(14, 22), rng.uniform(12, 18), rng.uniform(10, 15)),
        line_factor=rng.uniform(1.35, 1.55),
        gap_mm=(4.0, rng.uniform(9.0, 16.0)),
        value_gap_mm=rng.uniform(5, 14),
        min_value_mm=rng.uniform(35, 55),
        title_pt=rng.uniform(16, 20),
        title_center=rng.random() < 0.35,
        title_first=rng.random() < 0.5,
        header_rule=rng.random() < 0.6,
        section_rules=rng.random() < 0.3,
        ruled=rng.random() < 0.55,
        row_factor=rng.uniform(1.25, 1.5),
        table_frac=rng.uniform(0.8, 1.0),
        qty_right=rng.random() < 0.6,
        header_underline=rng.random() < 0.7,
        signoff_order=order,
        remarks_mode=remarks_mode,
        box_mm=(rng.uniform(70, 90), rng.uniform(25, 35)),
        box_lw=rng.uniform(2, 4),
        sig_label_centered=rng.random() < 0.5,
        value_line=rng.random() < 0.3,
        slots=slots,
        code128_module_mm=rng.uniform(0.26, 0.34),
        code128_height_mm=rng.uniform(13, 17),
        qr_module_mm=rng.uniform(0.7, 0.9),
        qr_error=rng.choice("LMQ"),
        ink=rng.choice(_PRINT_INKS),
        pen_ink=rng.choice(_PEN_INKS),
        stamp_ink=rng.choice(_STAMP_INKS),
        shipper=rng.choice(_SHIPPERS[lang]),
        footer_text=rng.choice(vocab["footer"]) if rng.random() < 0.7 else None,
    )


def _barcode_slots(kind: str, rng: random.Random) -> dict[str, str]:
    footer = ("footer_left", "footer_center", "footer_right")
    if kind == "code128":
        return {"code128": rng.choice(("header_right", "header_right", *footer))}
    if kind == "qr":
        return {"qr": rng.choice(("header_right", "header_right", "footer_left", "footer_right"))}
    if kind == "both":
        return rng.choice(
            (
                {"code128": "header_right", "qr": rng.choice(("footer_left", "footer_right"))},
                {"qr": "header_right", "code128": rng.choice(footer)},
                {"code128": "footer_left", "qr": "footer_right"},
                {"qr": "footer_left", "code128": "footer_right"},
            )
        )
    raise ValueError(f"unknown barcode kind {kind!r}: expected code128, qr or both")


def _code128_image(data: str, style: _Style, max_width: int) -> Image.Image:
    """Draw Code 128 with whole-pixel modules, quiet zones included, no human-readable text.

    python-barcode encodes; we draw the bars ourselves so that every module is exactly the same width,
    which the ImageWriter's mm-to-pixel rounding does not guarantee (it mixes 2, 3 and 4 px bars).
    """
    modules = barcode.Code128(data).build()[0]
    # At least 3 px a module: at 150 dpi a true 0.3 mm module is under 2 px and zbar misses some scans.
    # Only at toy resolutions (under ~110 dpi) does the page width force it smaller.
    m = min(max(3, style.px(style.code128_module_mm)), max(1, max_width // (len(modules) + 20)))
    bars = np.frombuffer(modules.encode("ascii"), dtype=np.uint8) == ord("1")
    row = np.repeat(np.where(bars, 0, 255).astype(np.uint8), m)
    quiet = np.full(10 * m, 255, dtype=np.uint8)
    row = np.concatenate([quiet, row, quiet])
    height = style.px(style.code128_height_mm)
    return Image.fromarray(np.tile(row, (height, 1)), "L")


def _qr_image(data: str, style: _Style, max_width: int) -> Image.Image:
    qr = segno.make(data, error=style.qr_error, micro=False)
    # At least 6 px a module (zbar misses many 4-5 px-module QR codes once blurred), at most a third of the page.
    m = min(max(6, style.px(style.qr_module_mm)), max(1, max_width // 3 // (len(qr.matrix) + 8)))
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    matrix = np.pad(matrix, 4, constant_values=False)  # the 4-module quiet zone
    pixels = np.where(np.kron(matrix, np.ones((m, m), dtype=bool)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "L")


class _Page:
    """One page being drawn: the image, its fonts and the helpers every block uses."""

    def __init__(self, style: _Style, pt: float) -> None:
        self.s = style
        self.image = Image.new("RGB", page_size(style.dpi), "white")
        self.image.info["dpi"] = (style.dpi, style.dpi)
        self.draw = ImageDraw.Draw(self.image)
        self.printed: list[str] = []  # every string drawn as type, in drawing order (the page's text truth)
        fam = style.family
        size = style.pt_px(pt)
        self.body = _font(fam.regular, size, fam.index)
        self.bold = _font(fam.bold, size, fam.index)
        self.label = self.bold if style.label_bold else self.body
        self.typed = _font(style.typed.regular, size, style.typed.index)
        self.small = _font(fam.regular, style.pt_px(pt * 0.8), fam.index)
        self.header = _font(fam.bold, style.pt_px(pt * 1.2), fam.index)
        self.title = _font(fam.bold, style.pt_px(style.title_pt * pt / 11.0), fam.index)
        self.asc, self.desc = self.body.getmetrics()
        self.lh = round(size * style.line_factor)
        self.left = style.px(style.margins[0])
        self.right = self.image.width - style.px(style.margins[1])
        self.top = style.px(style.margins[2])
        self.bottom = self.image.height - style.px(style.margins[3])
        self.thin = max(1, round(2 * style.dpi / 300))
        labels = [self.lbl(k) for k in ("customer", "time", "receiver", "signature", "remarks")]
        widest = max(self.label.getlength(t) for t in labels)
        self.value_x = self.left + max(round(widest) + style.px(style.value_gap_mm), style.px(style.min_value_mm))

    def lbl(self, key: str) -> str:
        return self.s.words[key] + self.s.colon

    def text(self, xy: tuple[float, float], text: str, font: Font, fill: Ink | None = None, anchor: str = "ls") -> None:
        self.draw.text(xy, text, font=font, fill=fill or self.s.ink, anchor=anchor)
        self.printed.append(text)

    def hline(self, x0: float, x1: float, y: float, width: int | None = None) -> None:
        self.draw.line([(x0, y), (x1, y)], fill=self.s.ink, width=width or self.thin)


def render_sheet(sheet: SheetTruth, *, dpi: int = 300, rng: random.Random | None = None) -> list[Image.Image]:
    """Draw a sheet as clean scanned-looking pages.

    Args:
        sheet: What the sheet holds.
        dpi: Resolution; pages are A4 portrait at this dpi (300 dpi gives 2480x3508 px).
        rng: Source of the visual choices (fonts, spacing, block order, signature strokes, stamp tilt).
            Defaults to a generator seeded from the sheet itself, so the same sheet renders the same.

    Returns:
        One RGB image per page of the sheet (`sheet.pages` of them), with ``info["dpi"]`` set and
        ``info["text"]`` holding every string typed on the page, one per line (stamps and handwriting
        are drawn, not typed, and are not in it): the truth a text-recall measure compares with.
    """
    if sheet.pages not in (1, 2):
        raise ValueError(f"a sheet has 1 or 2 pages, not {sheet.pages}")
    if not sheet.items and sheet.pages != 1:
        raise ValueError("a sheet with an empty item table has one page")
    if rng is None:
        seed = zlib.crc32(json.dumps(sheet.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        rng = random.Random(seed)
    style = _choose_style(sheet, dpi, rng)
    split = len(sheet.items) if sheet.pages == 1 else max(1, (len(sheet.items) + 1) // 2)
    parts = [sheet.items[:split], sheet.items[split:]][: sheet.pages]
    # Fit: shrink the body size (never below 9.5 pt) until every page's blocks fit between header and footer.
    pt = style.pt
    seeds = [rng.getrandbits(64) for _ in parts]  # per-page choices (signature, stamp) stay put across retries
    while True:
        pages = [_compose(sheet, style, pt, i, parts[i], seeds[i]) for i in range(sheet.pages)]
        if all(p is not None for p in pages) or pt <= 9.5:
            break
        pt -= 0.5
        style = dataclasses.replace(style, gap_mm=(3.0, style.gap_mm[1]))
    out: list[Image.Image] = []
    for i, composed in enumerate(pages):
        if composed is None:  # last resort: draw with minimum gaps even if the bottom overlaps the footer
            composed = _compose(sheet, style, pt, i, parts[i], seeds[i], force=True)
            assert composed is not None
        out.append(composed())
    return out


def _compose(
    sheet: SheetTruth,
    style: _Style,
    pt: float,
    index: int,
    items: Sequence[ItemTruth],
    seed: int,
    *,
    force: bool = False,
) -> Callable[[], Image.Image] | None:
    """Lay out one page; return a function that draws it, or None if the blocks do not fit."""
    pg = _Page(style, pt)
    sub = random.Random(seed)
    last = index == sheet.pages - 1
    header_bottom, draw_header = _header(pg, sheet, index)
    footer_top, draw_footer = _footer(pg, sheet, index)
    blocks: list[_Block] = []
    if index == 0:
        blocks.append(_customer_block(pg, sheet))
    blocks.append(_items_block(pg, sheet, items, continued=index > 0))
    if last:
        makers: dict[str, Callable[[], _Block]] = {
            "time": lambda: _time_block(pg, sheet, sub),
            "receiver": lambda: _receiver_block(pg, sheet),
            "signature": lambda: _signature_block(pg, sheet, sub),
            "remarks": lambda: _remarks_block(pg, sheet),
        }
        blocks.extend(makers[name]() for name in style.signoff_order)
    else:
        blocks.append(_note_block(pg, style.words["next"].format(n=sheet.pages)))
    space = footer_top - header_bottom
    need = sum(h for h, _ in blocks)
    lo, hi = style.px(style.gap_mm[0]), style.px(style.gap_mm[1])
    n_gaps = len(blocks)  # one before each block
    if need + n_gaps * lo > space and not force:
        return None
    gap = max(lo, min(hi, (space - need) // max(1, n_gaps)))
    gaps = [round(gap * sub.uniform(0.75, 1.0)) if gap > lo else gap for _ in blocks]

    def draw() -> Image.Image:
        draw_header()
        draw_footer()
        y = header_bottom
        for (height, paint), g in zip(blocks, gaps, strict=True):
            y += g
            if style.section_rules and g > 2 * lo and y > header_bottom + g:
                pg.hline(pg.left, pg.right, y - g // 2)
            paint(y)
            y += height
        pg.image.info["text"] = "\n".join(pg.printed)
        return pg.image

    return draw


def _header(pg: _Page, sheet: SheetTruth, index: int) -> tuple[int, Callable[[], None]]:
    """Shipper, title, delivery number and (maybe) the barcode at the top right."""
    s = pg.s
    payload = sheet.barcode_payloads[index]
    code = next((k for k, slot in s.slots.items() if slot == "header_right"), None)
    room = pg.right - pg.left
    mark = (_code128_image(payload, s, room) if code == "code128" else _qr_image(payload, s, room)) if code else None
    mark_x = pg.right - mark.width if mark else pg.right
    mark_bottom = pg.top + mark.height if mark else pg.top
    left_w = mark_x - pg.left - s.px(5)
    shipper, shipper_line = s.shipper
    dn = f"{pg.lbl('delivery')} {sheet.delivery_number}"
    lines: list[tuple[str, Font, bool]] = []  # text, font, is_title
    if s.title_first:
        lines.append((s.words["title"], pg.title, True))
    lines += [(shipper, pg.header, False), (shipper_line, pg.small, False)]
    if not s.title_first:
        lines.append((s.words["title"], pg.title, True))
    lines.append((dn, pg.body, False))
    page_text = s.words["page"].format(i=index + 1, n=sheet.pages) if sheet.pages > 1 else None
    placed: list[tuple[float, float, str, Font]] = []
    y = pg.top
    for text, font, is_title in lines:
        asc, desc = font.getmetrics()
        width = font.getlength(text)
        if is_title:
            y += s.px(2)
        if width > left_w and y < mark_bottom:
            y = mark_bottom + s.px(3)  # too wide to sit beside the barcode: go below it
        x = pg.left
        if is_title and s.title_center and (y >= mark_bottom or not mark):
            x = round((pg.left + pg.right - width) / 2)
        placed.append((x, y + asc, text, font))
        y += asc + desc + (s.px(3) if is_title else round(pg.lh * 0.25))
    if page_text:
        beside = pg.right - pg.body.getlength(page_text) > pg.left + pg.body.getlength(dn) + s.px(20)
        if beside and (not mark or placed[-1][1] - pg.asc > mark_bottom):
            placed.append((pg.right - pg.body.getlength(page_text), placed[-1][1], page_text, pg.body))
        else:
            placed.append((pg.left, y + pg.asc, page_text, pg.body))
            y += pg.asc + pg.desc
    bottom = max(y, mark_bottom) + s.px(2)
    rule_y = bottom + s.px(2)
    if s.header_rule:
        bottom = rule_y + s.px(2)

    def draw() -> None:
        for x, base, text, font in placed:
            pg.text((x, base), text, font)
        if mark:
            pg.image.paste(mark, (mark_x, pg.top))
        if s.header_rule:
            pg.hline(pg.left, pg.right, rule_y, width=max(pg.thin, round(3 * s.dpi / 300)))

    return bottom, draw


def _footer(pg: _Page, sheet: SheetTruth, index: int) -> tuple[int, Callable[[], None]]:
    """Small print at the bottom and any barcodes placed in the footer band."""
    s = pg.s
    payload = sheet.barcode_payloads[index]
    marks: list[tuple[Image.Image, str]] = []
    room = pg.right - pg.left
    for kind in ("qr", "code128"):  # the QR first: a Code 128 beside it gets the width that is left
        slot = s.slots.get(kind, "")
        if slot.startswith("footer"):
            img = _qr_image(payload, s, room) if kind == "qr" else _code128_image(payload, s, room)
            room -= img.width + s.px(5)
            marks.append((img, slot))
    base = pg.bottom
    top = base
    if s.footer_text:
        asc, _ = pg.small.getmetrics()
        top = base - asc - s.px(3)
    placed: list[tuple[Image.Image, int, int]] = []
    band_top = top
    for img, slot in marks:
        if slot == "footer_left":
            x = pg.left
        elif slot == "footer_right":
            x = pg.right - img.width
        else:
            x = (pg.left + pg.right - img.width) // 2
        y = top - img.height
        placed.append((img, x, y))
        band_top = min(band_top, y)

    def draw() -> None:
        if s.footer_text:
            width = pg.small.getlength(s.footer_text)
            pg.text(((pg.left + pg.right - width) / 2, base), s.footer_text, pg.small)
        for img, x, y in placed:
            pg.image.paste(img, (x, y))

    return band_top - s.px(3), draw


def _is_left(sheet: SheetTruth) -> bool:
    return sheet.layout == "left"


def _lines_block(pg: _Page, sheet: SheetTruth, key: str, values: Sequence[str], font: Font | None = None) -> _Block:
    """Lay out a label with one or more value lines (or an empty writing line when `values` is empty)."""
    left = _is_left(sheet)
    font = font or pg.body
    n = max(1, len(values))
    first = 0 if left else pg.lh
    height = pg.asc + first + (n - 1) * pg.lh + pg.desc + (pg.desc if not values or pg.s.value_line else 0)

    def draw(y: int) -> None:
        base = y + pg.asc
        pg.text((pg.left, base), pg.lbl(key), pg.label)
        x = pg.value_x if left else pg.left
        if not values or pg.s.value_line:
            pg.hline(x, min(pg.right, x + pg.s.px(75)), base + first + pg.desc)
        for i, value in enumerate(values):
            pg.text((x, base + first + i * pg.lh), value, font)

    return height, draw


def _customer_block(pg: _Page, sheet: SheetTruth) -> _Block:
    values = (sheet.customer, *sheet.address) if sheet.customer else ()  # blank: the label over an empty line
    return _lines_block(pg, sheet, "customer", values)


def _receiver_block(pg: _Page, sheet: SheetTruth) -> _Block:
    values = (sheet.receiver,) if sheet.receiver else ()
    return _lines_block(pg, sheet, "receiver", values, font=pg.typed)


def _remarks_block(pg: _Page, sheet: SheetTruth) -> _Block:
    values = (sheet.remarks,) if sheet.remarks else ()
    return _lines_block(pg, sheet, "remarks", values, font=pg.typed)


def _note_block(pg: _Page, text: str) -> _Block:
    def draw(y: int) -> None:
        pg.text((pg.right - pg.small.getlength(text), y + pg.asc), text, pg.small)

    return pg.asc + pg.desc, draw


def _time_block(pg: _Page, sheet: SheetTruth, rng: random.Random) -> _Block:
    if sheet.time_style != "stamped" or not sheet.time_text:
        values = (sheet.time_text,) if sheet.time_text else ()
        return _lines_block(pg, sheet, "time", values, font=pg.typed)
    stamp = _stamp(pg, sheet.time_text, rng)
    left = _is_left(sheet)
    x_height = round(pg.asc * 0.35)
    if left:
        label_base = max(pg.asc, stamp.height // 2 + x_height)
        height = max(stamp.height, label_base + pg.desc)
        stamp_top = label_base - x_height - stamp.height // 2
        stamp_x = pg.value_x
    else:
        label_base = pg.asc
        stamp_top = pg.asc + pg.desc + pg.s.px(1.5)
        height = stamp_top + stamp.height
        stamp_x = pg.left + pg.s.px(rng.uniform(0, 10))

    def draw(y: int) -> None:
        pg.text((pg.left, y + label_base), pg.lbl("time"), pg.label)
        ink = Image.new("RGB", stamp.size, pg.s.stamp_ink)
        pg.image.paste(ink, (stamp_x, y + stamp_top), stamp)

    return height, draw


def _stamp(pg: _Page, text: str, rng: random.Random) -> Image.Image:
    """Make a rubber stamp as an ink-coverage mask ("L"): framed, condensed bold text, tilted, unevenly inked."""
    s = pg.s
    fam = s.stamp_family
    font = _font(fam.bold, s.pt_px(rng.uniform(12.5, 15.0)), fam.index)
    asc, desc = font.getmetrics()
    text_w = round(font.getlength(text))
    squeeze = 1.0 if fam.condensed or fam.index else rng.uniform(0.82, 0.9)
    pad_x, pad_y = round(asc * rng.uniform(0.45, 0.7)), round(asc * rng.uniform(0.3, 0.5))
    lw = max(2, round(rng.uniform(4, 6) * s.dpi / 300))
    inner = rng.random() < 0.4  # a double frame
    extra = 2 * lw if inner else 0
    tw = round(text_w * squeeze)
    w, h = tw + 2 * (pad_x + lw + extra), asc + desc + 2 * (pad_y + lw + extra)
    text_layer = Image.new("L", (text_w, asc + desc), 0)
    ImageDraw.Draw(text_layer).text((0, asc), text, font=font, fill=255, anchor="ls")
    if squeeze != 1.0:
        text_layer = text_layer.resize((tw, asc + desc), Image.Resampling.LANCZOS)
    mask = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(mask)
    d.rectangle([0, 0, w - 1, h - 1], outline=255, width=lw)
    if inner:
        d.rectangle([2 * lw, 2 * lw, w - 1 - 2 * lw, h - 1 - 2 * lw], outline=255, width=max(1, lw // 2))
    mask.paste(text_layer, (pad_x + lw + extra, pad_y + lw + extra), text_layer)
    angle = rng.uniform(1.0, 3.0) * rng.choice((-1, 1))
    mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    # Uneven inking: a smooth, low-resolution coverage field between ~0.75 and 1.
    np_rng = np.random.default_rng(rng.getrandbits(32))
    coarse = np_rng.uniform(0.75, 1.0, size=(max(2, mask.height // 24), max(2, mask.width // 24)))
    field = Image.fromarray((coarse * 255).astype(np.uint8), "L").resize(mask.size, Image.Resampling.BILINEAR)
    cover = np.asarray(mask, dtype=np.float32) * (np.asarray(field, dtype=np.float32) / 255.0)
    return Image.fromarray(np.clip(cover, 0, 255).astype(np.uint8), "L")


def _items_block(pg: _Page, sheet: SheetTruth, items: Sequence[ItemTruth], *, continued: bool) -> _Block:
    """Section label and the item table (columns sized from all of the sheet's items)."""
    s = pg.s
    heads = (s.words["col_sku"], s.words["col_desc"], s.words["col_qty"])
    pad = s.px(3)
    # An empty table (items=()) still gets its label and column heads, as a pre-printed form would.
    sku_w = max([pg.bold.getlength(heads[0]), *(pg.body.getlength(i.sku) for i in sheet.items)]) + 2 * pad
    qty_w = max([pg.bold.getlength(heads[2]), *(pg.body.getlength(i.qty_text) for i in sheet.items)]) + 2 * pad
    desc_need = max([pg.bold.getlength(heads[1]), *(pg.body.getlength(i.description) for i in sheet.items)]) + 2 * pad
    full = pg.right - pg.left
    width = min(full, max(sku_w + qty_w + desc_need + s.px(10), round(full * s.table_frac)))
    x0 = pg.left
    cols = (x0, x0 + round(sku_w), x0 + width - round(qty_w), x0 + width)
    row_h = round(pg.lh * s.row_factor)
    label = s.words["items"] + (" " + s.words["cont"] if continued else "") + s.colon
    table_top = pg.asc + pg.desc + s.px(2)
    rows = [heads, *((i.sku, i.description, i.qty_text) for i in items)]
    height = table_top + row_h * len(rows)

    def draw(y: int) -> None:
        pg.text((pg.left, y + pg.asc), label, pg.label)
        top = y + table_top
        for r, cells in enumerate(rows):
            mid = top + r * row_h + row_h // 2
            font = pg.bold if r == 0 else pg.body
            pg.text((cols[0] + pad, mid), cells[0], font, anchor="lm")
            pg.text((cols[1] + pad, mid), cells[1], font, anchor="lm")
            if s.qty_right:
                pg.text((cols[3] - pad, mid), cells[2], font, anchor="rm")
            else:
                pg.text((cols[2] + pad, mid), cells[2], font, anchor="lm")
        bottom = top + row_h * len(rows)
        if s.ruled:
            pg.draw.rectangle([cols[0], top, cols[3], bottom], outline=s.ink, width=pg.thin)
            for r in range(1, len(rows)):
                pg.hline(cols[0], cols[3], top + r * row_h)
            for x in cols[1:3]:
                pg.draw.line([(x, top), (x, bottom)], fill=s.ink, width=pg.thin)
        elif s.header_underline:
            pg.hline(cols[0], cols[3], top + row_h, width=max(pg.thin, round(3 * s.dpi / 300)))

    return height, draw


def _signature_block(pg: _Page, sheet: SheetTruth, rng: random.Random) -> _Block:
    """Lay out the signature label and its ruled box, with ink strokes when the sheet is signed."""
    s = pg.s
    bw, bh = s.px(s.box_mm[0]), s.px(s.box_mm[1])
    lw = max(1, round(s.box_lw * s.dpi / 300))
    left = _is_left(sheet)
    if left:
        bw = min(bw, pg.right - pg.value_x)
        box_dx, box_dy = pg.value_x, 0
        label_base = bh // 2 + round(pg.asc * 0.35) if s.sig_label_centered else pg.asc + s.px(2)
        height = bh
    else:
        box_dx, box_dy = pg.left, pg.asc + pg.desc + s.px(2)
        label_base = pg.asc
        height = box_dy + bh
    strokes = _signature_strokes(rng, bw, bh) if sheet.signed else []
    pen = max(2, round(rng.uniform(3, 6) * s.dpi / 300))

    def draw(y: int) -> None:
        pg.text((pg.left, y + label_base), pg.lbl("signature"), pg.label)
        x0, y0 = box_dx, y + box_dy
        pg.draw.rectangle([x0, y0, x0 + bw, y0 + bh], outline=s.ink, width=lw)
        for path in strokes:
            pts = [(x0 + px, y0 + py) for px, py in path]
            pg.draw.line(pts, fill=s.pen_ink, width=pen, joint="curve")
            r = pen / 2
            for cx, cy in (pts[0], pts[-1]):
                pg.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=s.pen_ink)

    return height, draw


def _signature_strokes(rng: random.Random, bw: int, bh: int) -> list[list[tuple[float, float]]]:
    """Cursive-looking pen strokes in box coordinates: trochoid 'words' with loops, maybe an underline."""
    paths: list[list[tuple[float, float]]] = []
    words = rng.choice((1, 1, 2, 2, 3))
    x = rng.uniform(0.05, 0.18) * bw
    total = rng.uniform(0.5, 0.75) * bw
    gaps = rng.uniform(0.03, 0.07) * bw
    share = [rng.uniform(0.6, 1.4) for _ in range(words)]
    widths = [(total - gaps * (words - 1)) * w / sum(share) for w in share]
    baseline = rng.uniform(0.55, 0.68) * bh
    slope = rng.uniform(-0.12, 0.05) * bh / bw
    unit = rng.uniform(0.22, 0.32) * bh  # height of a small letter
    slant = rng.uniform(0.1, 0.45)  # forward lean
    for n, width in enumerate(widths):
        loops = max(2, round(width / (rng.uniform(0.04, 0.075) * bw)))
        # Per-letter height: a capital first, then mostly small humps, some ascender loops, a descender now and
        # then. Both factors multiply terms that vanish at letter boundaries, so the pen path stays continuous.
        heights = [rng.uniform(1.0, 1.5) if n == 0 and c == 0 else _letter_height(rng) for c in range(loops)]
        widths_k = [rng.uniform(0.8, 2.2) for _ in range(loops)]
        loop_w = width / loops / (2 * math.pi)
        steps = 40 * loops
        path = []
        for j in range(steps + 1):
            u = loops * j / steps
            c = min(loops - 1, int(u))
            theta = 2 * math.pi * u
            py = baseline - unit * heights[c] * (1 - math.cos(theta))
            px = x + width * j / steps + loop_w * widths_k[c] * math.sin(theta) + slant * (baseline - py)
            path.append((px, py + slope * (px - x)))
        paths.append(path)
        x += width + gaps
    if rng.random() < 0.3:  # a crossing stroke, like the bar of a t
        cx, cy = rng.uniform(0.2, 0.8) * (x - paths[0][0][0]) + paths[0][0][0], baseline - unit * 1.6
        half = rng.uniform(0.05, 0.1) * bw
        paths.append(
            [
                _bezier([(cx - half, cy + 4), (cx, cy - 6), (cx + half / 2, cy), (cx + half, cy - 3)], k / 30)
                for k in range(31)
            ]
        )
    if rng.random() < 0.45:  # an underline flourish (cubic Bezier)
        y0 = baseline + rng.uniform(0.08, 0.16) * bh
        p = [
            (paths[0][0][0] - rng.uniform(0, 0.05) * bw, y0 + rng.uniform(-0.03, 0.03) * bh),
            (paths[0][0][0] + total * 0.3, y0 + rng.uniform(0.02, 0.1) * bh),
            (paths[0][0][0] + total * 0.7, y0 - rng.uniform(0.0, 0.1) * bh),
            (x + rng.uniform(0, 0.06) * bw, y0 - rng.uniform(0.05, 0.15) * bh),
        ]
        paths.append([_bezier(p, k / 80) for k in range(81)])
    return _fit(paths, bw, bh, rng)


def _letter_height(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.55:
        return rng.uniform(0.3, 0.55)
    if r < 0.85:
        return rng.uniform(0.9, 1.3)
    return -rng.uniform(0.5, 0.9)


def _bezier(p: Sequence[tuple[float, float]], t: float) -> tuple[float, float]:
    u = 1 - t
    c = (u**3, 3 * u * u * t, 3 * u * t * t, t**3)
    return sum(ci * pi[0] for ci, pi in zip(c, p, strict=True)), sum(ci * pi[1] for ci, pi in zip(c, p, strict=True))


def _fit(
    paths: list[list[tuple[float, float]]], bw: int, bh: int, rng: random.Random
) -> list[list[tuple[float, float]]]:
    """Scale and move the strokes into the box; now and then let them overrun the border a little."""
    xs = [p[0] for path in paths for p in path]
    ys = [p[1] for path in paths for p in path]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    room_w, room_h = bw * 0.9, bh * 0.8
    k = min(1.0, room_w / max(1.0, x1 - x0), room_h / max(1.0, y1 - y0))
    if rng.random() < 0.15:
        k *= rng.uniform(1.08, 1.18)  # crosses the frame slightly
    span = (x1 - x0) * k
    cx = bw * 0.05 + (room_w - span) * rng.uniform(0.0, 1.0) if span < room_w else (bw - span) / 2
    cy = (bh - (y1 - y0) * k) / 2 + rng.uniform(-0.05, 0.05) * bh
    return [[(cx + (px - x0) * k, cy + (py - y0) * k) for px, py in path] for path in paths]
