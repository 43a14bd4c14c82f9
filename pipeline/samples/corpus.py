"""Choosing random sample sheets and writing the demo set of scan files."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import img2pdf
from PIL import Image

from pipeline.samples.degrade import degrade
from pipeline.samples.render import blank_page, render_sheet
from pipeline.samples.truth import BARCODE_KINDS, LANGUAGES, LAYOUTS, TIME_STYLES, ItemTruth, SampleFile, SheetTruth

__all__ = [
    "CUSTOMERS",
    "DATE_ORDERS",
    "REFERENCE_DATE",
    "Customer",
    "format_time",
    "random_sheet",
    "write_customers_csv",
    "write_demo_set",
]

REFERENCE_DATE = date(2026, 11, 1)  # fixed, so a seed gives the same corpus on any day
DATE_ORDERS = ("DMY", "MDY")


@dataclass(frozen=True, slots=True)
class Customer:
    """A known customer: what customers.csv lists and what sheets print."""

    id: str
    name: str
    language: str  # the language of its sheets' usual shipper
    address: tuple[str, ...]


CUSTOMERS: tuple[Customer, ...] = (
    Customer("C-1001", "Nordic Timber AB", "sv", ("Sågverksvägen 14", "824 43 Hudiksvall")),
    Customer("C-1002", "Göteborgs Hamnlager AB", "sv", ("Skeppsbron 3", "411 21 Göteborg")),
    Customer("C-1003", "Åkerlunds Bygg & Järn AB", "sv", ("Industrigatan 7", "582 77 Linköping")),
    Customer("C-1004", "Östra Kyl & Frys AB", "sv", ("Kylvägen 2", "791 71 Falun")),
    Customer("C-1005", "Brightwater Supplies Ltd", "en", ("42 Canal Street", "Manchester M1 3HE")),
    Customer("C-1006", "Harbour View Hotels Ltd", "en", ("7 Marine Parade", "Brighton BN2 1TL")),
    Customer("C-1007", "Redwood Construction Inc.", "en", ("1180 Mission Road", "Sacramento, CA 95814")),
    Customer("C-1008", "上海恒达物流有限公司", "zh", ("上海市浦东新区张江路 88 号", "邮编 201203")),
    Customer("C-1009", "深圳华南电子有限公司", "zh", ("深圳市南山区科技园南路 16 号", "邮编 518057")),
    Customer("C-1010", "北京京城建材有限公司", "zh", ("北京市朝阳区建国路 99 号", "邮编 100022")),
)

# sku, English, Swedish, Chinese description, unit kind
_CATALOGUE: tuple[tuple[str, str, str, str, str], ...] = (
    ("A-1001", "Pine board 45x95 mm", "Furuplanka 45x95 mm", "松木板 45x95", "length"),
    ("TB-2x4-240", "Timber 2x4, 240 cm", "Regel 2x4, 240 cm", "木方 2x4 240cm", "piece"),
    ("SE-44120", "Wood screws M6 x 40", "Träskruv M6 x 40", "螺丝 M6 x 40", "box"),
    ("HD-7731", "Door hinge, steel", "Dörrgångjärn, stål", "门铰链 钢制", "piece"),
    ("PK-2040", "Cardboard box 40x30x30", "Kartong 40x30x30", "纸箱 40x30x30", "piece"),
    ("PL-1200", "Euro pallet", "EUR-pall", "欧标托盘", "piece"),
    ("CB-305", "Cable ties 300 mm", "Buntband 300 mm", "扎带 300mm", "box"),
    ("GL-88", "Work gloves, size 9", "Arbetshandskar, storlek 9", "劳保手套 9号", "piece"),
    ("PT-5L", "Wall paint white 5 L", "Väggfärg vit 5 l", "白色墙漆 5升", "piece"),
    ("NL-75", "Nails 75 mm, 1 kg", "Spik 75 mm, 1 kg", "钉子 75mm 1公斤", "box"),
    ("SW-500", "Stretch film 500 mm", "Sträckfilm 500 mm", "缠绕膜 500mm", "piece"),
    ("HD-7802", "Padlock, brass", "Hänglås, mässing", "铜挂锁", "piece"),
)
_UNITS = {
    "piece": {"en": "pcs", "sv": "st", "zh": "件"},
    "box": {"en": "box", "sv": "krt", "zh": "箱"},
    "length": {"en": "m", "sv": "m", "zh": "米"},
}
_RECEIVERS = {
    "en": ("James Whitfield", "Priya Patel", "Tom Baker", "Sarah O'Neill", "K. Morgan"),
    "sv": ("Anna Lindqvist", "Erik Åström", "Märta Öberg", "Johan Säll", "Lena Björk"),
    "zh": ("王伟", "李娜", "张敏", "刘洋", "陈静"),
}
_REMARKS = {
    "en": (
        "2 cartons damaged",
        "Delivered to gate 3",
        "1 pallet short",
        "Received in good order",
        "Wrapping torn on 1 pallet",
    ),
    "sv": (
        "2 kartonger skadade",
        "Levererat till port 3",
        "1 pall saknas",
        "Mottaget i gott skick",
        "Emballage skadat på 1 pall",
    ),
    "zh": ("两箱破损", "已送至3号门", "少一托盘", "货物完好", "1托盘包装破损"),
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Date shapes per language and date order (weights by repetition). The dotted shape is day-first by
# convention, so an "MDY" deployment never sees it: it would be ambiguous for days 1-12.
_SHAPES = {
    ("en", "DMY"): ("iso", "dmy_slash", "dmy_slash", "dmy_dot", "dmon"),
    ("en", "MDY"): ("iso", "mdy_slash", "mdy_slash", "dmon"),
    ("sv", "DMY"): ("iso", "iso", "dmy_dot", "dmy_slash"),
    ("sv", "MDY"): ("iso", "iso", "mdy_slash"),
    ("zh", "DMY"): ("cjk", "cjk", "cjk", "iso"),
    ("zh", "MDY"): ("cjk", "cjk", "cjk", "iso"),
}


def format_time(moment: datetime, shape: str) -> str:
    """Print a receipt time in one of SHEET_FORMAT.md's shapes.

    Args:
        moment: The time (minute precision).
        shape: "iso" (2025-03-14 10:30), "dmy_slash" (14/03/2025 10:30), "dmy_dot" (14.03.2025 10:30),
            "mdy_slash" (03/14/2025 10:30 AM), "cjk" (2025年3月14日 10:30) or "dmon" (14 Mar 2025 10:30).
    """
    hm = f"{moment:%H:%M}"
    if shape == "iso":
        return f"{moment:%Y-%m-%d} {hm}"
    if shape == "dmy_slash":
        return f"{moment:%d/%m/%Y} {hm}"
    if shape == "dmy_dot":
        return f"{moment:%d.%m.%Y} {hm}"
    if shape == "mdy_slash":
        hour = moment.hour % 12 or 12
        return f"{moment:%m/%d/%Y} {hour:02d}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"
    if shape == "cjk":
        return f"{moment.year}年{moment.month}月{moment.day}日 {hm}"
    if shape == "dmon":
        return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {hm}"
    raise ValueError(f"unknown date shape {shape!r}")


def _pick(rng: random.Random, value: str | None, allowed: Sequence[str], what: str) -> str:
    if value is None:
        return rng.choice(list(allowed))
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def random_sheet(
    rng: random.Random,
    *,
    language: str | None = None,
    layout: str | None = None,
    signed: bool | None = None,
    time_style: str | None = None,
    pages: int = 1,
    date_order: str = "DMY",
    barcode: str | None = None,
) -> SheetTruth:
    """Choose a random, plausible sheet; any argument given is fixed, the rest drawn from `rng`.

    Args:
        rng: Source of every random choice.
        language: "en", "sv" or "zh".
        layout: "left" or "above".
        signed: Whether the signature box has ink.
        time_style: "printed", "stamped" or "empty" (empty: no time, ``time`` is None).
        pages: 1, or 2 for a sheet whose items run over two pages.
        date_order: "DMY" or "MDY": which slash shape the time may take.
        barcode: "code128", "qr" or "both".

    Returns:
        The sheet's truth. Times fall within the 60 days before `REFERENCE_DATE`, in office hours.
    """
    lang = _pick(rng, language, LANGUAGES, "language")
    layout = _pick(rng, layout, LAYOUTS, "layout")
    if time_style is None:
        time_style = rng.choice(("printed", "printed", "stamped", "stamped", "empty"))
    time_style = _pick(rng, time_style, TIME_STYLES, "time style")
    barcode = _pick(rng, barcode, BARCODE_KINDS, "barcode kind")
    date_order = _pick(rng, date_order, DATE_ORDERS, "date order")
    if pages not in (1, 2):
        raise ValueError(f"a sheet has 1 or 2 pages, not {pages}")
    if signed is None:
        signed = rng.random() < 0.75

    moment = datetime.combine(REFERENCE_DATE - timedelta(days=rng.randint(1, 60)), datetime.min.time())
    moment += timedelta(hours=rng.randint(7, 16), minutes=rng.randint(0, 59))
    delivery_number = f"DN-{moment.year}-{rng.randint(1000, 99999):06d}"
    time = time_text = None
    if time_style != "empty":
        time = moment.strftime("%Y-%m-%dT%H:%M")
        time_text = format_time(moment, rng.choice(_SHAPES[(lang, date_order)]))

    if lang == "zh":
        pool = [c for c in CUSTOMERS if c.language == "zh"]
    else:
        home = [c for c in CUSTOMERS if c.language == lang]
        pool = home if rng.random() < 0.8 else [c for c in CUSTOMERS if c.language != "zh"]
    customer = rng.choice(pool)

    n_items = rng.randint(4, 6) if pages == 2 else rng.choice((1, 2, 2, 3, 3, 4, 5, 6))
    column = {"en": 1, "sv": 2, "zh": 3}[lang]
    items = tuple(
        ItemTruth(
            sku=row[0],
            description=row[column],
            qty=rng.choice((rng.randint(1, 12), rng.randint(1, 48), rng.randint(10, 250))),
            unit=_UNITS[row[4]][lang] if rng.random() < 0.5 else None,
        )
        for row in rng.sample(_CATALOGUE, n_items)
    )
    receiver = rng.choice(_RECEIVERS[lang]) if rng.random() < 0.75 else None
    remarks = rng.choice(_REMARKS[lang]) if rng.random() < 0.3 else None
    return SheetTruth(
        delivery_number=delivery_number,
        language=lang,
        layout=layout,
        customer=customer.name,
        customer_id=customer.id,
        address=customer.address[: rng.choice((1, 2, 2))],
        items=items,
        time=time,
        time_text=time_text,
        time_style=time_style,
        receiver=receiver,
        signed=signed,
        barcode=barcode,
        pages=pages,
        remarks=remarks,
    )


def write_customers_csv(path: Path) -> None:
    """Write the known customers as ``id,name`` (UTF-8, with a header row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name"])
        writer.writerows([c.id, c.name] for c in CUSTOMERS)


def write_articles_csv(path: Path) -> None:
    """Write the generator's article numbers as a one-column ``sku`` CSV: a shipper's article list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku"])
        writer.writerows([row[0]] for row in _CATALOGUE)


# The demo set: one entry per file (name stem, extension, the sheets as random_sheet arguments; None is a
# blank back side). Together they cover all languages, layouts, time styles and barcode kinds.
_Spec = dict[str, object]
_DEMO: tuple[tuple[str, str, tuple[_Spec | None, ...]], ...] = (
    (
        "scan",
        "png",
        ({"language": "en", "layout": "left", "signed": True, "time_style": "printed", "barcode": "code128"},),
    ),
    ("scan", "jpg", ({"language": "sv", "layout": "above", "signed": True, "time_style": "stamped", "barcode": "qr"},)),
    (
        "scan",
        "pdf",
        ({"language": "zh", "layout": "left", "signed": False, "time_style": "printed", "barcode": "both"},),
    ),
    ("scan", "png", ({"language": "en", "layout": "above", "signed": True, "time_style": "empty", "barcode": "qr"},)),
    (
        "scan",
        "tif",
        (
            {"language": "sv", "layout": "left", "signed": True, "time_style": "stamped", "barcode": "both"},
            {"language": "en", "layout": "above", "signed": False, "time_style": "printed", "barcode": "code128"},
        ),
    ),
    (
        "batch",
        "pdf",
        (
            {"language": "zh", "layout": "above", "signed": True, "time_style": "stamped", "barcode": "code128"},
            None,
            {"language": "en", "layout": "left", "signed": True, "time_style": "printed", "barcode": "qr"},
            {"language": "sv", "layout": "above", "signed": False, "time_style": "empty", "barcode": "code128"},
        ),
    ),
    (
        "scan",
        "pdf",
        ({"language": "en", "layout": "left", "signed": True, "time_style": "stamped", "barcode": "both", "pages": 2},),
    ),
    ("scan", "jpg", ({"language": "zh", "layout": "above", "signed": True, "time_style": "printed", "barcode": "qr"},)),
    (
        "scan",
        "pdf",
        ({"language": "sv", "layout": "left", "signed": True, "time_style": "printed", "barcode": "code128"},),
    ),
    ("scan", "png", ({"language": "zh", "layout": "left", "signed": True, "time_style": "stamped", "barcode": "qr"},)),
    (
        "scan",
        "jpg",
        ({"language": "en", "layout": "left", "signed": True, "time_style": "stamped", "barcode": "code128"},),
    ),
    (
        "scan",
        "pdf",
        ({"language": "en", "layout": "above", "signed": False, "time_style": "printed", "barcode": "both"},),
    ),
)


def write_demo_set(outdir: Path, *, seed: int = 7, dpi: int = 300, date_order: str = "DMY") -> list[SampleFile]:
    """Write the demo set of scans into `outdir` (created if missing); the same seed writes the same set.

    Twelve files: PNG, JPEG and single-page PDF scans of one sheet each, a bitonal two-sheet TIFF, a
    batch PDF of three sheets with a blank back side after the first, and a two-page sheet in one PDF.
    Every page goes through `degrade(level="mild")`. No truth is written here: see `write_truth`.

    Args:
        outdir: The folder to write into.
        seed: Seed of every random choice.
        dpi: Scan resolution of every page.
        date_order: "DMY" or "MDY", the deployment's date order.

    Returns:
        One `SampleFile` per written file, in counter order.
    """
    rng = random.Random(seed)
    outdir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    files: list[SampleFile] = []
    for counter, (stem, ext, specs) in enumerate(_DEMO, start=1):
        sheets: list[SheetTruth] = []
        pages: list[Image.Image] = []
        kinds: list[str] = []
        for spec in specs:
            if spec is None:
                pages.append(degrade(blank_page(dpi), random.Random(rng.getrandbits(64))))
                kinds.append("blank")
                continue
            sheet = _unique(random_sheet(rng, date_order=date_order, **spec), used, rng)  # type: ignore[arg-type]
            render_rng = random.Random(rng.getrandbits(64))
            degrade_rng = random.Random(rng.getrandbits(64))
            for clean in render_sheet(sheet, dpi=dpi, rng=render_rng):
                pages.append(degrade(clean, degrade_rng))
                kinds.append("sheet")
            sheets.append(sheet)
        path = outdir / f"{stem}-{counter:04d}.{ext}"
        _save(path, pages, dpi)
        files.append(SampleFile(path=path, sheets=tuple(sheets), page_kinds=tuple(kinds)))
    return files


def _unique(sheet: SheetTruth, used: set[str], rng: random.Random) -> SheetTruth:
    """Redraw the serial part of the delivery number until it is new within the corpus."""
    while sheet.delivery_number in used:
        year = sheet.delivery_number.split("-")[1]
        sheet = dataclasses.replace(sheet, delivery_number=f"DN-{year}-{rng.randint(1000, 99999):06d}")
    used.add(sheet.delivery_number)
    return sheet


def _save(path: Path, pages: list[Image.Image], dpi: int) -> None:
    """Write pages the way a scanner would: PNG/JPEG single page, TIFF bitonal G4, PDF of JPEG images."""
    ext = path.suffix.lower()
    if ext == ".png":
        pages[0].save(path, "PNG", dpi=(dpi, dpi))
    elif ext in (".jpg", ".jpeg"):
        pages[0].save(path, "JPEG", quality=88, dpi=(dpi, dpi))
    elif ext in (".tif", ".tiff"):
        bitonal = [p.convert("L").point(lambda v: 255 if v > 175 else 0).convert("1") for p in pages]
        bitonal[0].save(path, "TIFF", save_all=True, append_images=bitonal[1:], compression="group4", dpi=(dpi, dpi))
    elif ext == ".pdf":
        blobs = []
        for page in pages:
            buf = io.BytesIO()
            page.save(buf, "JPEG", quality=88, dpi=(dpi, dpi))
            blobs.append(buf.getvalue())
        layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
        path.write_bytes(img2pdf.convert(blobs, layout_fun=layout, nodate=True))
    else:
        raise ValueError(f"cannot write {path.name}: expected .png, .jpg, .tif or .pdf")
