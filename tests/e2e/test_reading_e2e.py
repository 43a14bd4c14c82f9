"""Reading real sheets, end to end: date shapes and the date-order setting, item tables in other column
orders with units, barcodes anywhere on the page, multi-page sheets inside a batch, customer names
matched to the customer list, and signatures that run over their box.

The forms are drawn here, not by the project's generator: other fonts (DejaVu Sans Condensed, Noto
Mono, Droid Sans Fallback for Chinese), other positions for every part, barcodes where the
generator never puts them. Each file is read by the real `signoff` command with real tesseract.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import barcode
import img2pdf
import numpy as np
import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from pipeline.filing import safe_name
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]

_FONTS = Path("/usr/share/fonts/truetype")
BODY = _FONTS / "dejavu" / "DejaVuSansCondensed.ttf"
BOLD = _FONTS / "dejavu" / "DejaVuSansCondensed-Bold.ttf"
TYPED = _FONTS / "noto" / "NotoMono-Regular.ttf"
CJK = _FONTS / "droid" / "DroidSansFallbackFull.ttf"

W, H = 2480, 3508  # A4 at 300 dpi
NOW = datetime.now().replace(second=0, microsecond=0)


# -- drawing a form -------------------------------------------------------------------------------
class Form:
    """One A4 page at 300 dpi, grey, drawn part by part at positions the caller chooses."""

    def __init__(self, *, size: int = 40) -> None:
        self.img = Image.new("L", (W, H), 255)
        self.d = ImageDraw.Draw(self.img)
        self.size = size

    def text(
        self, x: int, y: int, text: str, *, size: int | None = None, bold: bool = False, typed: bool = False
    ) -> int:
        """Draw `text` with its top-left at (x, y); return the x where it ends. Chinese characters come
        from Droid Sans Fallback, everything else from the Latin face (as a Chinese dispatch system
        mixes them)."""
        size = size or self.size
        latin = ImageFont.truetype(str(TYPED if typed else BOLD if bold else BODY), size)
        cjk = ImageFont.truetype(str(CJK), size)
        for run in re.findall(r"[\u3000-\u9fff\uff00-\uffef]+|[^\u3000-\u9fff\uff00-\uffef]+", text):
            font = cjk if "\u3000" <= run[0] <= "\uffef" else latin
            self.d.text((x, y), run, font=font, fill=0)
            x += round(font.getlength(run))
        return x

    def field(self, label: str, value: str, x: int, y: int, *, above: bool = False, typed: bool = False) -> None:
        """A label with its value to its right (one gap away) or on the line below it."""
        end = self.text(x, y, label, bold=True)
        if above:
            self.text(x, y + round(self.size * 1.45), value, typed=typed)
        else:
            self.text(end + 40, y, value, typed=typed)

    def table(
        self, x: int, y: int, columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[str]], *, ruled: bool
    ) -> int:
        """An item table: columns as (header, width px), one row per item; return the y below it."""
        row_h = round(self.size * 1.9)
        width = sum(w for _, w in columns)
        pad = 14
        ys = [y + i * row_h for i in range(len(rows) + 2)]
        for i, cells in enumerate([[h for h, _ in columns], *rows]):
            cx = x
            for (_, w), cell in zip(columns, cells):
                self.text(cx + pad, ys[i] + (row_h - self.size) // 2 - 4, cell, bold=i == 0)
                cx += w
        if ruled:
            for yy in ys:
                self.d.line((x, yy, x + width, yy), fill=0, width=3)
            cx = x
            for _, w in [*columns, ("", 0)]:
                self.d.line((cx, ys[0], cx, ys[-1]), fill=0, width=3)
                cx += w
        else:
            self.d.line((x, ys[1] - 4, x + width, ys[1] - 4), fill=0, width=2)  # a rule under the header only
        return ys[-1]

    def qr(self, data: str, x: int, y: int, module: int = 9) -> None:
        qr = segno.make(data, error="m", micro=False)
        matrix = np.pad(np.array([list(r) for r in qr.matrix], dtype=bool), 4, constant_values=False)
        img = Image.fromarray(np.where(np.kron(matrix, np.ones((module, module), dtype=bool)), 0, 255).astype(np.uint8))
        self.img.paste(img, (x, y))

    def code128(self, data: str, x: int, y: int, *, module: int = 4, height: int = 170, vertical: bool = False) -> None:
        bars = np.frombuffer(barcode.Code128(data).build()[0].encode("ascii"), dtype=np.uint8) == ord("1")
        row = np.repeat(np.where(bars, 0, 255).astype(np.uint8), module)
        quiet = np.full(12 * module, 255, dtype=np.uint8)
        img = Image.fromarray(np.tile(np.concatenate([quiet, row, quiet]), (height, 1)), "L")
        if vertical:
            img = img.rotate(90, expand=True)
        self.img.paste(img, (x, y))

    def signature_box(self, x: int, y: int, w: int, h: int, *, ink: str, seed: int = 1) -> None:
        """A ruled box; ink "none" leaves it empty, "inside" signs within it, "over" signs across its
        bottom and right borders (a big hand whose loops and tail run out of the box)."""
        self.d.rectangle((x, y, x + w, y + h), outline=0, width=4)
        if ink == "none":
            return
        rng = random.Random(seed)
        if ink == "inside":
            x0, base, length, amp = x + 60, y + h * 0.55, w * 0.6, h * 0.22
        else:  # from the lower part of the box, through the bottom border, out past the right one
            x0, base, length, amp = x + w * 0.45, y + h * 0.7, w * 0.75, h * 0.3
        pts = []
        for i in range(0, round(length), 3):
            t = i / 16.0
            wave = amp * math.sin(t) * (0.6 + 0.4 * math.sin(t / 5))
            pts.append((x0 + i + 11 * math.cos(t * 1.6), base + wave + rng.uniform(-2, 2)))
        self.d.line(pts, fill=40, width=5)
        # A flourish under the name, which in the "over" case crosses the bottom border twice.
        fx0, fy = x0 - 30, base + amp * 1.1
        self.d.line([(fx0 + k * 8, fy + 25 * math.sin(k / 9)) for k in range(round(length / 8))], fill=40, width=4)

    def save(self, path: Path) -> None:
        self.img.save(path, "PNG", dpi=(300, 300))


def save_pdf(path: Path, pages: Sequence[Form]) -> None:
    """Pages as a scanner writes a batch: one grey JPEG per page, wrapped in a PDF at 300 dpi."""
    blobs = []
    for page in pages:
        buf = io.BytesIO()
        page.img.save(buf, "JPEG", quality=90, dpi=(300, 300))
        blobs.append(buf.getvalue())
    path.write_bytes(img2pdf.convert(blobs, layout_fun=img2pdf.get_fixed_dpi_layout_fun((300, 300)), nodate=True))


def run_all(*calls: tuple[Sequence[str], Path]) -> list[subprocess.CompletedProcess[str]]:
    """Run several `signoff` commands side by side (the machine has two cores; `inspect` reads one
    file at a time), each as its own process like `signoff` in test_first_light."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for args, cwd in calls
    ]
    out = []
    for p, (args, _) in zip(procs, calls):
        stdout, stderr = p.communicate(timeout=1200)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


# -- a sheet, as data -----------------------------------------------------------------------------
VOCAB = {
    "en": {
        "title": "PROOF OF DELIVERY", "shipper": "Meridian Parcel Services  -  14 Quay Lane, Bristol BS1 4RT",
        "delivery": "Delivery No.:", "customer": "Consignee:", "items": "Items",
        "sku": "Article No.", "desc": "Description", "qty": "Qty",
        "time": "Received (date/time):", "receiver": "Received by:", "signature": "Customer signature:",
        "page": "Page {i} of {n}", "next": "Continued on page {n}",
    },
    "sv": {
        "title": "LEVERANSKVITTENS", "shipper": "Fjällbacka Frakt AB  -  Hamngatan 9, 457 40 Fjällbacka",
        "delivery": "Leveransnr:", "customer": "Kund:", "items": "Artiklar",
        "sku": "Artikelnr", "desc": "Benämning", "qty": "Antal",
        "time": "Mottaget:", "receiver": "Mottagen av:", "signature": "Underskrift:",
        "page": "Sida {i} av {n}", "next": "Fortsättning på sida {n}",
    },
    "zh": {
        "title": "送货签收单", "shipper": "南方物流有限公司  广州市天河区中山大道 200 号",
        "delivery": "送货单号：", "customer": "收货单位：", "items": "货品",
        "sku": "货号", "desc": "品名", "qty": "数量",
        "time": "签收时间：", "receiver": "签收人：", "signature": "客户签字：",
        "page": "第{i}页 共{n}页", "next": "续第{n}页",
    },
}
COLUMN_WIDTH = {"sku": 380, "desc": 820, "qty": 300}

# Where a barcode may go: none of these is where the project's generator puts one (top right, footer).
SPOTS = {
    "top_left": (260, 90),  # above the title
    "mid_right": (1960, 1000),  # beside the item table
    "left_margin": (40, 900),  # Code 128 turned on its side, along the left edge
    "under_signature": (260, 2500),
    "lower_middle": (1000, 2750),  # well above the footer band
}


@dataclass(frozen=True)
class Item:
    sku: str
    desc: str
    qty: int
    unit: str | None = None

    def cell(self, column: str) -> str:
        if column == "qty":
            return f"{self.qty} {self.unit}" if self.unit else str(self.qty)
        return self.sku if column == "sku" else self.desc


@dataclass(frozen=True)
class Sheet:
    """What one drawn page shows. A value left None is not drawn (its label still is), but for the
    customer: None leaves out its label too (the second page of a sheet)."""

    lang: str
    number: str
    customer: str | None
    items: tuple[Item, ...]
    received: str | None = None
    receiver: str | None = None
    signature: str = "inside"  # "inside", "over" (runs over the box border) or "none"
    columns: tuple[str, ...] = ("sku", "desc", "qty")
    ruled: bool = True
    above: bool = False  # labels above their values (and the signature box under its label)
    codes: tuple[tuple[str, str, str], ...] = ()  # (kind "qr"|"code128", payload, spot)
    page: tuple[int, int] | None = None  # (i, n): prints "Page i of n"
    sign_off_part: bool = True  # False: a first page of two, whose time and signature come on page 2


def draw(sheet: Sheet) -> Form:
    """Draw `sheet` top to bottom in this file's own layout."""
    v = VOCAB[sheet.lang]
    f = Form()
    step = 150 if sheet.above else 95
    f.text(260, 420, v["title"], size=62, bold=True)
    f.text(260, 510, v["shipper"], size=30)
    if sheet.page:
        f.text(1750, 430, v["page"].format(i=sheet.page[0], n=sheet.page[1]), size=40)
    y = 640
    f.field(v["delivery"], sheet.number, 260, y, above=sheet.above)
    y += step
    if sheet.customer is not None:
        f.field(v["customer"], sheet.customer, 260, y, above=sheet.above)
    y += step + 60
    f.text(260, y, v["items"], size=44, bold=True)
    columns = [(v[c], COLUMN_WIDTH[c]) for c in sheet.columns]
    rows = [[item.cell(c) for c in sheet.columns] for item in sheet.items]
    y = f.table(260, y + 80, columns, rows, ruled=sheet.ruled) + 120
    if not sheet.sign_off_part:
        if sheet.page:
            f.text(260, y, v["next"].format(n=sheet.page[1]), size=36)
        return _codes(f, sheet)
    f.field(v["time"], sheet.received or "", 260, y, above=sheet.above, typed=True)
    y += step
    f.field(v["receiver"], sheet.receiver or "", 260, y, above=sheet.above, typed=True)
    y += step + 40
    end = f.text(260, y, v["signature"], bold=True)
    if sheet.above:
        f.signature_box(260, y + 80, 1100, 330, ink=sheet.signature, seed=len(sheet.number))
    else:
        f.signature_box(end + 40, y - 20, 1000, 320, ink=sheet.signature, seed=len(sheet.number))
    return _codes(f, sheet)


def _codes(f: Form, sheet: Sheet) -> Form:
    for kind, payload, spot in sheet.codes:
        x, y = SPOTS[spot]
        if kind == "qr":
            f.qr(payload, x, y)
        else:
            f.code128(payload, x, y, vertical=spot == "left_margin")
    return f


# -- dates, item tables and barcodes: six sheets, each in its own shape ----------------------------
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def days_ago(days: int, hour: int, minute: int) -> datetime:
    return (NOW - timedelta(days=days)).replace(hour=hour, minute=minute)


def ambiguous_day() -> tuple[datetime, datetime]:
    """A past date whose day and month can swap into another plausible past date (e.g. 5 July and
    7 May), both within the last 300 days: the one page that day-first and month-first read apart."""
    for days in range(20, 300):
        d = days_ago(days, 14, 25)
        if d.day <= 12 and d.day != d.month:
            swapped = d.replace(month=d.day, day=d.month)
            if NOW - timedelta(days=300) <= swapped <= NOW - timedelta(days=20):
                return d, swapped
    raise AssertionError("no ambiguous date in the last 300 days")  # cannot happen: every year has some


@dataclass(frozen=True)
class Case:
    """One drawn page and what a user must see in its record."""

    file: str
    sheet: Sheet
    time: str  # the ISO value read day-first (the default); "" for a page only read month-first
    codes: tuple[tuple[str, str], ...]  # (symbology, data) the record's barcodes must hold
    mdy_time: str | None = None  # the ISO value under `--date-order mdy`, for pages read both ways


def cases() -> list[Case]:
    iso = days_ago(23, 10, 30)
    dmy, mdy = ambiguous_day()
    dot = days_ago(41, 8, 0)
    cjk = days_ago(67, 9, 15)
    dmon = days_ago(95, 16, 20)
    us = next(d for d in (days_ago(n, 14, 45) for n in range(130, 170)) if d.day > 12)  # 14:45 is 02:45 PM
    return [
        Case(
            "iso-qty-first.png",
            Sheet(
                "en", "DN-2025-310447", "Ekbacken Joinery Ltd",
                (Item("MX-4471", "Steel shelf bracket", 12, "pcs"), Item("RT-2208", "Corner plate 90 mm", 3),
                 Item("WK-3350", "Anchor bolt M10", 150, "pcs")),
                received=f"{iso:%Y-%m-%d %H:%M}", receiver="Tom Harris",
                columns=("qty", "desc", "sku"), ruled=False, codes=(("qr", "DN-2025-310447", "mid_right"),),
            ),
            f"{iso:%Y-%m-%dT%H:%M}", (("QRCODE", "DN-2025-310447"),),
        ),
        Case(
            "slash-ambiguous.png",
            Sheet(
                "en", "DN-2025-318802", "Harbour Lane Bakery",
                (Item("BL-5520", "Blue tarpaulin 4x6 m", 2), Item("HN-7012", "Ratchet strap 5 m", 24, "pcs")),
                received=f"{dmy:%d/%m/%Y %H:%M}", receiver="Priya Shah",
                columns=("qty", "sku", "desc"), ruled=True, above=True,
                codes=(("code128", "DN-2025-318802", "top_left"),),
            ),
            f"{dmy:%Y-%m-%dT%H:%M}", (("CODE128", "DN-2025-318802"),), mdy_time=f"{mdy:%Y-%m-%dT%H:%M}",
        ),
        Case(
            "dotted-sv.png",
            Sheet(
                "sv", "DN-2025-322916", "Ekbackens Snickeri AB",
                (Item("FK-2210", "Fönsterkarm ek", 3, "st"), Item("TR-8840", "Tröskel 90 cm", 10, "st")),
                received=f"{dot:%d.%m.%Y}", receiver="Lena Berg",
                columns=("desc", "qty", "sku"), ruled=True,
                codes=(("code128", "DN-2025-322916", "left_margin"), ("qr", "DN-2025-322916", "lower_middle")),
            ),
            f"{dot:%Y-%m-%d}", (("CODE128", "DN-2025-322916"), ("QRCODE", "DN-2025-322916")),
        ),
        Case(
            "cjk-zh.png",
            Sheet(
                "zh", "DN-2025-330158", "广州华星贸易有限公司",
                (Item("ZP-3301", "纸箱 60x40", 5, "件"), Item("DP-1180", "胶带 48mm", 36, "件")),
                received=f"{cjk.year}年{cjk.month}月{cjk.day}日 {cjk:%H:%M}", receiver="王伟",
                columns=("qty", "desc", "sku"), ruled=False, above=True,
                codes=(("code128", "DN-2025-330158", "under_signature"),),
            ),
            f"{cjk:%Y-%m-%dT%H:%M}", (("CODE128", "DN-2025-330158"),),
        ),
        Case(
            "day-month-name.png",
            Sheet(
                "en", "DN-2025-341075", "Copperfield Garden Centre",
                (Item("PW-6610", "Power cable 10 m", 7), Item("GH-2045", "Garden hose 25 m", 4, "pcs")),
                received=f"{dmon.day} {MONTHS[dmon.month - 1]} {dmon.year}", receiver="Sam Ortiz",
                columns=("sku", "qty", "desc"), ruled=False,
                codes=(("qr", "DN-2025-341075", "top_left"), ("code128", "DN-2025-341075", "lower_middle")),
            ),
            f"{dmon:%Y-%m-%d}", (("QRCODE", "DN-2025-341075"), ("CODE128", "DN-2025-341075")),
        ),
        Case(
            "us-12-hour.png",
            Sheet(
                "en", "DN-2025-352231", "Lakeside Print Works",
                (Item("TN-4090", "Toner cartridge black", 6, "pcs"),),
                received=f"{us:%m/%d/%Y} 02:45 PM", receiver="Dana Cole",
                above=True, codes=(("qr", "DN-2025-352231", "under_signature"),),
            ),
            "", (("QRCODE", "DN-2025-352231"),), mdy_time=f"{us:%Y-%m-%dT%H:%M}",
        ),
    ]


@pytest.fixture(scope="module")
def read_both_ways(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Case], dict[str, dict], dict[str, dict]]:
    """Every case drawn and inspected as a day-first deployment (the default), and the pages that
    carry a month-first reading inspected again with `--date-order mdy`, side by side."""
    root = tmp_path_factory.mktemp("shapes")
    all_cases = cases()
    for case in all_cases:
        draw(case.sheet).save(root / case.file)
    dmy_files = [c.file for c in all_cases if c.time]
    mdy_files = [c.file for c in all_cases if c.mdy_time]
    dmy, mdy = run_all(
        (["inspect", "--json", *dmy_files], root),
        (["--date-order", "mdy", "inspect", "--json", *mdy_files], root),
    )
    assert dmy.returncode == 0 and mdy.returncode == 0, dmy.stderr + mdy.stderr
    by_file = lambda out: {Path(r["source"]).name: r for r in jsonl(out)}  # noqa: E731
    return all_cases, by_file(dmy.stdout), by_file(mdy.stdout)


def status_value(field: dict[str, Any]) -> tuple[str, Any]:
    return field["status"], field.get("value")


def test_every_date_shape_is_read_to_its_iso_value(read_both_ways) -> None:
    """GIVEN sheets whose time of receipt is printed as 2025-03-14 10:30, 14/03/2025 10:30,
    14.03.2025, 2025年3月14日 10:30 and 14 Mar 2025 (days within the last months)
    WHEN they are inspected by a day-first deployment
    THEN each time field is ok with the ISO value of that day (and minute, where one is printed)."""
    all_cases, dmy, _ = read_both_ways
    got = {c.file: status_value(dmy[c.file]["fields"]["time"]) for c in all_cases if c.time}
    assert got == {c.file: ("ok", c.time) for c in all_cases if c.time}


def test_day_first_or_month_first_is_the_deployments_setting(read_both_ways) -> None:
    """GIVEN a sheet dated DD/MM/YYYY with a day of 12 or less, and one dated MM/DD/YYYY hh:mm PM
    WHEN they are inspected with `--date-order mdy`
    THEN the ambiguous date is read month first (not as the day-first deployment read it), and the
    12-hour US time comes back as its 24-hour ISO value."""
    all_cases, dmy, mdy = read_both_ways
    for case in all_cases:
        if case.mdy_time:
            assert status_value(mdy[case.file]["fields"]["time"]) == ("ok", case.mdy_time), case.file
    ambiguous = next(c for c in all_cases if c.time and c.mdy_time)
    assert dmy[ambiguous.file]["fields"]["time"]["value"] != mdy[ambiguous.file]["fields"]["time"]["value"]


def test_item_tables_in_any_column_order_with_units(read_both_ways) -> None:
    """GIVEN item tables ruled and unruled, with quantity first and SKU last (and other orders),
    quantities with units (12 pcs, 3 st, 5 件) and without
    WHEN the sheets are inspected
    THEN each record's items are exactly the printed lines: SKU, quantity and unit."""
    all_cases, dmy, mdy = read_both_ways
    for case in all_cases:
        rec = dmy.get(case.file) or mdy[case.file]
        items = rec["fields"]["items"]
        assert items["status"] == "ok", case.file
        got = [(i["sku"], i["qty"], i.get("unit")) for i in items["value"]]
        assert got == [(i.sku, i.qty, i.unit) for i in case.sheet.items], case.file


def test_barcodes_anywhere_on_the_page_give_the_delivery_number(read_both_ways) -> None:
    """GIVEN sheets with a QR code only, a Code 128 only, or both, above the title, beside the
    table, under the signature or low in the middle of the page (and one Code 128 turned on its
    side along the left margin, with a QR code upright at the foot of the page)
    WHEN they are inspected
    THEN every code is found under its symbology with the delivery number, and the record carries it."""
    all_cases, dmy, mdy = read_both_ways
    for case in all_cases:
        rec = dmy.get(case.file) or mdy[case.file]
        assert rec["delivery_number"] == case.sheet.number, case.file
        assert sorted((b["symbology"], b["data"]) for b in rec["barcodes"]) == sorted(case.codes), case.file
        assert rec["kind"] == "signoff" and rec["complete"] is True, case.file


def test_a_barcode_on_its_side_alone_does_not_turn_an_upright_page(tmp_path: Path) -> None:
    """GIVEN an upright sheet whose only code is a Code 128 printed on its side along the margin
    (the code's orientation says "turn 90 degrees", the text says otherwise)
    WHEN it is inspected
    THEN it is read upright: a complete sign-off sheet with its delivery number and fields."""
    sheet = Sheet("en", "DN-2025-370001", "Ekbacken Joinery Ltd", (Item("MX-4471", "Steel shelf bracket", 12, "pcs"),),
                  received=days_ago(12, 11, 40).strftime("%Y-%m-%d %H:%M"), receiver="Tom Harris",
                  codes=(("code128", "DN-2025-370001", "left_margin"),))
    draw(sheet).save(tmp_path / "side.png")
    (rec,) = jsonl(signoff("inspect", "--json", "side.png", cwd=tmp_path).stdout)
    assert (rec["kind"], rec["delivery_number"], rec["complete"]) == ("signoff", "DN-2025-370001", True)
    assert rec["fields"]["customer"]["value"] == "Ekbacken Joinery Ltd"
    assert [(i["sku"], i["qty"]) for i in rec["fields"]["items"]["value"]] == [("MX-4471", 12)]


# -- a batch holding two-page sheets ---------------------------------------------------------------
def test_a_two_page_sheet_in_a_batch_stays_one_document(tmp_path: Path) -> None:
    """GIVEN one batch PDF of five pages: a sheet over two pages marked "Page 1 of 2" / "Page 2 of 2"
    (its QR codes say "1/2" and "2/2"), a one-page sheet, and a Swedish sheet over two pages with no
    page marker but the same delivery number (and Code 128) on both
    WHEN it is inspected
    THEN there are three documents, on pages 1-2, 3 and 4-5; each two-page sheet has the items of
    both its pages, its customer from the first and its time and signature from the second, and is
    complete."""
    a, b, c = "DN-2025-360512", "DN-2025-361877", "DN-2025-362340"
    a_items = (Item("MX-4471", "Steel shelf bracket", 12, "pcs"), Item("RT-2208", "Corner plate 90 mm", 3),
               Item("WK-3350", "Anchor bolt M10", 150, "pcs"), Item("BL-5520", "Blue tarpaulin 4x6 m", 2))
    a_more = (Item("HN-7012", "Ratchet strap 5 m", 24, "pcs"), Item("TN-4090", "Toner cartridge black", 6))
    c_items = (Item("FK-2210", "Fönsterkarm ek", 3, "st"), Item("TR-8840", "Tröskel 90 cm", 10, "st"),
               Item("LS-4620", "Lister furu 2,4 m", 40, "st"))
    c_more = (Item("DH-3060", "Dörrhandtag mässing", 8, "st"), Item("SK-9920", "Skruvlåda 200 st", 2))
    received = days_ago(12, 11, 40)
    when = f"{received:%Y-%m-%d %H:%M}"
    pages = [
        Sheet("en", a, "Ekbacken Joinery Ltd", a_items, columns=("qty", "desc", "sku"), page=(1, 2),
              sign_off_part=False, codes=(("qr", f"{a} 1/2", "top_left"),)),
        Sheet("en", a, None, a_more, columns=("qty", "desc", "sku"), page=(2, 2), received=when,
              receiver="Tom Harris", codes=(("qr", f"{a} 2/2", "top_left"),)),
        Sheet("en", b, "Copperfield Garden Centre", (Item("GH-2045", "Garden hose 25 m", 4, "pcs"),),
              received=when, receiver="Sam Ortiz", codes=(("code128", b, "lower_middle"),)),
        Sheet("sv", c, "Ekbackens Snickeri AB", c_items, ruled=False, sign_off_part=False,
              codes=(("code128", c, "under_signature"),)),
        Sheet("sv", c, None, c_more, ruled=False, received=f"{received:%d.%m.%Y %H:%M}", receiver="Lena Berg",
              codes=(("code128", c, "lower_middle"),)),
    ]
    save_pdf(tmp_path / "batch.pdf", [draw(p) for p in pages])
    proc = signoff("inspect", "--json", "batch.pdf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recs = jsonl(proc.stdout)
    assert [(r["delivery_number"], r["pages"]) for r in recs] == [(a, [1, 2]), (b, [3]), (c, [4, 5])]
    want_items = {a: a_items + a_more, b: pages[2].items, c: c_items + c_more}
    customers = {a: "Ekbacken Joinery Ltd", b: "Copperfield Garden Centre", c: "Ekbackens Snickeri AB"}
    for rec in recs:
        dn = rec["delivery_number"]
        got = [(i["sku"], i["qty"]) for i in rec["fields"]["items"]["value"]]
        assert got == [(i.sku, i.qty) for i in want_items[dn]], dn
        assert rec["fields"]["customer"] == {"status": "ok", "value": customers[dn]}, dn
        assert status_value(rec["fields"]["time"]) == ("ok", f"{received:%Y-%m-%dT%H:%M}"), dn
        assert rec["fields"]["signature"]["status"] == "ok", dn
        assert rec["complete"] is True, dn


# -- customers matched to the list, signatures over the border --------------------------------------
CUSTOMERS_CSV = """id,name
K-101,Brightwater Supplies Ltd
K-102,Harbour View Hotels Ltd
K-103,Göteborgs Hamnlager AB
K-104,Ekbacken Joinery Ltd
"""


@pytest.fixture(scope="module")
def filed_with_customers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """Four sheets whose customer is printed a little off the list (or not on it at all), signed over
    the box border, inside it, or not at all, filed by `watch --once` with a customer list."""
    root = tmp_path_factory.mktemp("customers")
    (root / "inbox").mkdir()
    (root / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    when = days_ago(8, 13, 50)
    item = (Item("MX-4471", "Steel shelf bracket", 12, "pcs"),)
    iso, dmy, dot = f"{when:%Y-%m-%d %H:%M}", f"{when:%d/%m/%Y %H:%M}", f"{when:%d.%m.%Y %H:%M}"
    printed = [  # delivery number, customer as printed, language, time, receiver, signature, labels above, code
        ("DN-2025-380101", "Brightwater Suplies Ltd.", "en", iso, "Tom Harris", "over", False, ("qr", "mid_right")),
        ("DN-2025-380102", "Harb0ur View Hotel Ltd", "en", dmy, "Priya Shah", "over", True, ("code128", "lower_middle")),
        ("DN-2025-380103", "Goteborgs Hamnlager", "sv", dot, "Lena Berg", "inside", False, ("qr", "top_left")),
        ("DN-2025-380104", "Zenith Marine Holdings", "en", iso, "Sam Ortiz", "none", False, ("qr", "under_signature")),
    ]
    sheets = {
        number: Sheet(lang, number, customer, item, received=time, receiver=receiver, signature=ink, above=above,
                      codes=((code[0], number, code[1]),))
        for number, customer, lang, time, receiver, ink, above, code in printed
    }
    for number, sheet in sheets.items():
        draw(sheet).save(root / "inbox" / f"{number}.png")
    proc = signoff("--customers", "customers.csv", "watch", "--once", "--workers", "2", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rows = {r["delivery_number"]: r for r in jsonl(proc.stdout)}
    assert sorted(rows) == sorted(sheets)
    return root, rows


def sidecar(root: Path, row: dict[str, Any]) -> dict[str, Any]:
    return json.loads((root / row["path"]).with_suffix(".json").read_text(encoding="utf-8"))


def test_a_customer_name_a_little_off_is_filed_under_the_known_customer(filed_with_customers) -> None:
    """GIVEN a customer list, and sheets printed "Brightwater Suplies Ltd.", "Harb0ur View Hotel Ltd"
    and "Goteborgs Hamnlager" (a letter lost, a zero for an o, no ö and no AB)
    WHEN they are filed by `watch --once`
    THEN each is filed under the canonical name and id from the list, in that customer's folder."""
    root, rows = filed_with_customers
    known = {
        "DN-2025-380101": ("K-101", "Brightwater Supplies Ltd"),
        "DN-2025-380102": ("K-102", "Harbour View Hotels Ltd"),
        "DN-2025-380103": ("K-103", "Göteborgs Hamnlager AB"),
    }
    for number, (cid, name) in known.items():
        row = rows[number]
        assert row["customer"] == name, number
        assert row["path"].startswith(f"archive/{safe_name(name)}/"), number
        side = sidecar(root, row)
        assert (side["customer"], side["customer_id"]) == (name, cid), number
        assert side["fields"]["customer"]["status"] == "ok" and side["fields"]["customer"]["value"] == name, number


def test_a_customer_matching_nothing_is_unreadable_and_goes_to_review(filed_with_customers) -> None:
    """GIVEN a sheet for "Zenith Marine Holdings", which is like no name on the customer list
    WHEN it is filed
    THEN its customer is unreadable (something is printed there), not filed under any known customer."""
    root, rows = filed_with_customers
    row = rows["DN-2025-380104"]
    side = sidecar(root, row)
    assert side["fields"]["customer"]["status"] == "unreadable"
    assert side["customer_id"] is None
    known = [line.split(",", 1)[1] for line in CUSTOMERS_CSV.splitlines()[1:]]
    assert len(known) == 4 and not any(row["path"].startswith(f"archive/{safe_name(n)}/") for n in known)


def test_a_signature_over_the_box_border_counts_and_an_empty_box_is_missing(filed_with_customers) -> None:
    """GIVEN sheets signed with a big hand whose strokes run out over the bottom and right border of
    the box (box right of its label, and box under it), one signed inside, and one box left empty
    WHEN they are filed
    THEN the three signed ones have signature ok and are complete; the empty one is missing, incomplete."""
    root, rows = filed_with_customers
    for number in ("DN-2025-380101", "DN-2025-380102", "DN-2025-380103"):
        assert sidecar(root, rows[number])["fields"]["signature"]["status"] == "ok", number
        assert rows[number]["complete"] is True, number
    empty = sidecar(root, rows["DN-2025-380104"])
    assert empty["fields"]["signature"]["status"] == "missing"
    assert empty["complete"] is False and rows["DN-2025-380104"]["complete"] is False


# -- scan damage, blank back sides, and codes zbar cannot read --------------------------------------
def stained_colour_scan(page: Image.Image, *, dpi: int, skew: float, fold: int) -> Image.Image:
    """`page` as a tired office copy comes back: cream paper scanned in colour, a coffee ring across
    the item table, the crease of a fold across the page at height `fold`, turned `skew` degrees, at `dpi`."""
    rgb = Image.merge("RGB", [page.point(lambda v, p=p: round(v * p / 255)) for p in (250, 244, 228)])
    ring = Image.new("L", page.size, 0)
    d = ImageDraw.Draw(ring)
    cx, cy, r = 1450, 1180, 230  # a mug's foot, over the right of the item table
    for k in range(0, 360, 2):  # uneven thickness, darker at the rim, as coffee dries
        a = math.radians(k)
        width = 14 + 10 * math.sin(3 * a) ** 2
        d.ellipse((cx + r * math.cos(a) - width, cy + r * math.sin(a) - width,
                   cx + r * math.cos(a) + width, cy + r * math.sin(a) + width), fill=110)
    d.ellipse((cx - r + 30, cy - r + 30, cx + r - 30, cy + r - 30), fill=35)  # the faint stain inside
    rgb = Image.composite(Image.new("RGB", page.size, (150, 105, 55)), rgb, ring)
    crease = Image.new("L", page.size, 0)
    d = ImageDraw.Draw(crease)
    for dy in range(-18, 19):  # a shaded valley with a dark line at its bottom
        d.line((0, fold + dy, page.width, fold + dy + 6), fill=round(90 * (1 - abs(dy) / 19) ** 2))
    d.line((0, fold, page.width, fold + 6), fill=170, width=3)
    rgb = Image.composite(Image.new("RGB", page.size, (70, 70, 70)), rgb, crease)
    rgb = rgb.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=(250, 244, 228))
    return rgb.resize((round(W * dpi / 300), round(H * dpi / 300)), Image.Resampling.LANCZOS)


def bleed_through(front: Form) -> Image.Image:
    """The blank back of `front` in a duplex scan: its print seen through the paper, mirrored, blurred
    and faint (the darkest grey 228 on paper 250), with the scanner's noise on top."""
    grey = ImageOps.mirror(front.img).filter(ImageFilter.GaussianBlur(2.0))
    grey = grey.point(lambda v: round(228 + (250 - 228) * v / 255))
    noise = np.random.default_rng(5).normal(0, 2.5, (H, W))
    return Image.fromarray(np.clip(np.asarray(grey, dtype=float) + noise, 0, 255).astype(np.uint8))


def test_stained_folded_skewed_colour_scans_and_a_blank_back_with_bleed_through(tmp_path: Path) -> None:
    """GIVEN two sheets scanned in colour at 200 dpi as JPEGs, turned 3 degrees, with a coffee ring
    over the item table and the crease of a fold across the middle of the page, through the
    signature box (one signed, one not); and a batch PDF holding a sheet, its blank back side (the
    front showing faintly through the paper) and another sheet
    WHEN they are inspected
    THEN the stained sheets are read in full (delivery number, customer, items, time), the crease is
    no signature (the unsigned one is missing, the signed one ok), and the batch gives two
    documents, on pages 1 and 3: no document for the back side."""
    when = days_ago(16, 15, 10)
    items = (Item("MX-4471", "Steel shelf bracket", 12, "pcs"), Item("RT-2208", "Corner plate 90 mm", 3),
             Item("HT-3350", "Anchor bolt M10", 150, "pcs"))
    stained = {"stained-signed.jpg": ("DN-2025-390417", "inside"), "stained-unsigned.jpg": ("DN-2025-390418", "none")}
    for name, (number, ink) in stained.items():
        sheet = Sheet("en", number, "Copperfield Garden Centre", items, received=f"{when:%d/%m/%Y %H:%M}",
                      receiver="Sam Ortiz", signature=ink, columns=("sku", "qty", "desc"),
                      codes=(("code128", number, "under_signature"),))
        scan = stained_colour_scan(draw(sheet).img, dpi=200, skew=3.0, fold=H // 2)
        scan.save(tmp_path / name, "JPEG", quality=70, dpi=(200, 200))

    front = draw(Sheet("en", "DN-2025-390501", "Ekbacken Joinery Ltd", items[:1], received=f"{when:%Y-%m-%d %H:%M}",
                       receiver="Tom Harris", codes=(("qr", "DN-2025-390501", "mid_right"),)))
    back = Form()
    back.img = bleed_through(front)
    other = draw(Sheet("sv", "DN-2025-390502", "Ekbackens Snickeri AB", (Item("FK-2210", "Fönsterkarm ek", 3, "st"),),
                       received=f"{when:%d.%m.%Y %H:%M}", receiver="Lena Berg",
                       codes=(("qr", "DN-2025-390502", "top_left"),)))
    save_pdf(tmp_path / "duplex.pdf", [front, back, other])

    proc = signoff("inspect", "--json", "stained-signed.jpg", "stained-unsigned.jpg", "duplex.pdf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recs = jsonl(proc.stdout)
    for name, (number, ink) in stained.items():
        signature = "missing" if ink == "none" else "ok"
        (rec,) = [r for r in recs if r["source"] == name]
        assert rec["delivery_number"] == number, name
        assert rec["fields"]["customer"] == {"status": "ok", "value": "Copperfield Garden Centre"}, name
        assert [(i["sku"], i["qty"]) for i in rec["fields"]["items"]["value"]] == [(i.sku, i.qty) for i in items], name
        # A note may say how a stained digit was mended: the value is what counts.
        assert status_value(rec["fields"]["time"]) == ("ok", f"{when:%Y-%m-%dT%H:%M}"), name
        assert rec["fields"]["signature"]["status"] == signature, name
        assert rec["complete"] is (signature == "ok"), name
    batch = [(r["delivery_number"], r["pages"]) for r in recs if r["source"] == "duplex.pdf"]
    assert batch == [("DN-2025-390501", [1]), ("DN-2025-390502", [3])]


def test_a_datamatrix_is_read_and_a_code_that_disagrees_with_the_print_is_said(tmp_path: Path) -> None:
    """GIVEN a sheet whose only code is a DataMatrix (which zbar cannot read), and a sheet whose QR
    code holds another delivery number than the one printed (a label stuck on the wrong sheet)
    WHEN they are inspected
    THEN the DataMatrix is reported as DATAMATRIX with the delivery number; the other record keeps one
    delivery number and its notes say that the code and the printed text disagree."""
    item = (Item("TN-4090", "Toner cartridge black", 6, "pcs"),)
    when = days_ago(30, 9, 40)
    dm = draw(Sheet("en", "DN-2025-395120", "Lakeside Print Works", item, received=f"{when:%Y-%m-%d %H:%M}",
                    receiver="Dana Cole"))
    code = zxingcpp.create_barcode("DN-2025-395120", zxingcpp.BarcodeFormat.DataMatrix)
    dm.img.paste(Image.fromarray(np.asarray(zxingcpp.write_barcode_to_image(code, scale=10))), SPOTS["mid_right"])
    dm.save(tmp_path / "datamatrix.png")
    wrong = Sheet("en", "DN-2025-395127", "Lakeside Print Works", item, received=f"{when:%Y-%m-%d %H:%M}",
                  receiver="Dana Cole", codes=(("qr", "DN-2025-395721", "top_left"),))  # 721 for 127
    draw(wrong).save(tmp_path / "wrong-label.png")

    proc = signoff("inspect", "--json", "datamatrix.png", "wrong-label.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    dm_rec, wrong_rec = jsonl(proc.stdout)
    assert dm_rec["delivery_number"] == "DN-2025-395120"
    assert [(b["symbology"], b["data"]) for b in dm_rec["barcodes"]] == [("DATAMATRIX", "DN-2025-395120")]
    assert wrong_rec["delivery_number"] in ("DN-2025-395127", "DN-2025-395721")
    assert any("DN-2025-395127" in n and "DN-2025-395721" in n for n in wrong_rec["notes"]), wrong_rec["notes"]
