"""A wide, realistic benchmark corpus: many sheets at real-world rates of flaws, file types and scan quality."""

from __future__ import annotations

import dataclasses
import io
import random
from dataclasses import dataclass
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from pipeline.samples.corpus import CUSTOMERS, DATE_ORDERS, REFERENCE_DATE, _unique, random_sheet
from pipeline.samples.degrade import degrade
from pipeline.samples.render import _CJK, _LATIN, _font, blank_page, page_size, render_sheet
from pipeline.samples.truth import LANGUAGES, LAYOUTS, SampleFile, SheetTruth

__all__ = [
    "OTHER_KINDS",
    "PROFILES",
    "RATES",
    "OtherPage",
    "PlannedFile",
    "plan_corpus",
    "render_other_page",
    "write_corpus",
    "write_planned_file",
]

PROFILES = ("scanner", "heavy")
OTHER_KINDS = ("invoice", "letter")

# Share of documents (sheets + other pages) or of sheets with each flaw. Counted out exactly (rounded),
# not drawn per sheet, so a small corpus still has its share; a corpus of 10 or more documents gets at
# least one of each rare flaw so every variation is exercised.
RATES = {
    "other": 0.05,  # of documents: an invoice or cover letter scanned along with the sheets
    "unsigned": 0.15,  # of sheets
    "time_empty": 0.10,
    "customer_empty": 0.03,
    "items_empty": 0.03,
    "rotated": 0.05,  # turned 90, 180 or 270 degrees on the glass
    "two_page": 0.04,  # items run over two pages
}
_BLANK_AFTER = 0.08  # chance of a blank back side after a page in a multi-page file (~5% of all pages)
# File shapes and their weights: single-sheet PDF, batch PDF of 2-4 sheets, multi-page TIFF, PNG, JPEG.
_SHAPES = (("pdf", 30), ("batch", 25), ("tif", 15), ("png", 15), ("jpg", 15))
_BITONAL_THRESHOLD = 170


@dataclass(frozen=True, slots=True)
class OtherPage:
    """A page that is not a sign-off sheet: an invoice or a cover letter, plain text with no sheet labels."""

    kind: str  # "invoice" | "letter"
    language: str  # "en" | "sv" | "zh"
    seed: int  # the page's text choices (number, amounts, customer)


# One page of a planned file: a sheet (all its pages), another document, or None for a blank back side.
Entry = SheetTruth | OtherPage | None


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One file of the corpus, chosen but not yet drawn."""

    name: str  # e.g. "batch-0004.pdf"
    dpi: int
    entries: tuple[Entry, ...]

    @property
    def sheets(self) -> tuple[SheetTruth, ...]:
        """The sheets in file order."""
        return tuple(e for e in self.entries if isinstance(e, SheetTruth))

    @property
    def page_kinds(self) -> tuple[str, ...]:
        """Per page of the file: "sheet", "blank" or "other"."""
        kinds: list[str] = []
        for e in self.entries:
            if isinstance(e, SheetTruth):
                kinds.extend(["sheet"] * e.pages)
            else:
                kinds.append("other" if isinstance(e, OtherPage) else "blank")
        return tuple(kinds)


def _quota(n: int, rate: float) -> int:
    k = round(n * rate)
    return max(1, k) if n >= 10 and rate > 0 else k


def plan_corpus(
    *, count: int = 200, seed: int = 1, profile: str = "scanner", date_order: str = "DMY"
) -> list[PlannedFile]:
    """Choose every document and file of a corpus without drawing anything (fast; same seed, same plan).

    Args:
        count: Documents to plan (sign-off sheets plus other pages; blank back sides are extra pages).
        seed: Seed of every choice. The sheets do not depend on `profile`: two profiles of one seed hold
            the same sheets, scanned differently.
        profile: "scanner" (200-300 dpi) or "heavy" (150 dpi).
        date_order: "DMY" or "MDY", the deployment's date order.

    Returns:
        The files in name order.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    if date_order not in DATE_ORDERS:
        raise ValueError(f"unknown date order {date_order!r}: expected one of {', '.join(DATE_ORDERS)}")
    if count < 1:
        raise ValueError("count must be at least 1")
    rng = random.Random(seed)
    n_other = _quota(count, RATES["other"]) if count >= 2 else 0
    n = count - n_other

    def marked(rate: float) -> set[int]:
        return set(rng.sample(range(n), _quota(n, rate)))

    unsigned, no_time = marked(RATES["unsigned"]), marked(RATES["time_empty"])
    no_customer, no_items = marked(RATES["customer_empty"]), marked(RATES["items_empty"])
    rotated, two_page = marked(RATES["rotated"]), marked(RATES["two_page"])
    langs = [LANGUAGES[i % len(LANGUAGES)] for i in range(count)]  # evenly, then shuffled
    layouts = [LAYOUTS[i % len(LAYOUTS)] for i in range(count)]
    rng.shuffle(langs)
    rng.shuffle(layouts)

    used: set[str] = set()
    docs: list[SheetTruth | OtherPage] = []
    for i in range(n):
        pages = 2 if i in two_page and i not in no_items else 1
        time_style = "empty" if i in no_time else rng.choice(("printed", "stamped"))
        sheet = random_sheet(
            rng,
            language=langs[i],
            layout=layouts[i],
            signed=i not in unsigned,
            time_style=time_style,
            pages=pages,
            date_order=date_order,
        )
        sheet = _unique(sheet, used, rng)
        if i in no_customer:
            sheet = dataclasses.replace(sheet, customer="", customer_id="", address=())
        if i in no_items:
            sheet = dataclasses.replace(sheet, items=())
        if i in rotated:
            sheet = dataclasses.replace(sheet, rotation=rng.choice((90, 180, 270)))
        docs.append(sheet)
    for j in range(n_other):
        docs.append(OtherPage(kind=rng.choice(OTHER_KINDS), language=langs[n + j], seed=rng.getrandbits(32)))
    rng.shuffle(docs)

    # The file layout comes from its own generator so that the sheets above do not depend on the profile.
    frng = random.Random(f"{seed}:files:{profile}")
    files: list[PlannedFile] = []
    shapes, weights = zip(*_SHAPES, strict=True)
    at = 0
    while at < len(docs):
        shape = frng.choices(shapes, weights)[0]
        size = {"batch": frng.randint(2, 4), "tif": frng.randint(2, 3)}.get(shape, 1)
        chunk = docs[at : at + size]
        at += len(chunk)
        if shape in ("png", "jpg") and isinstance(chunk[0], SheetTruth) and chunk[0].pages > 1:
            shape = "pdf"  # an image file holds one page
        if profile == "heavy" and shape == "jpg":
            shape = "png"  # bitonal scans are never JPEG
        entries: list[Entry] = []
        for doc in chunk:
            entries.append(doc)
            if shape in ("batch", "tif") and frng.random() < _BLANK_AFTER:
                entries.append(None)
        dpi = 150 if profile == "heavy" else frng.choice((200, 240, 300))
        stem, ext = ("batch", "pdf") if shape == "batch" else ("scan", shape)
        files.append(PlannedFile(name=f"{stem}-{len(files) + 1:04d}.{ext}", dpi=dpi, entries=tuple(entries)))
    if count >= 10 and not any(None in f.entries for f in files):
        # Like the rare flaws: a corpus of 10 or more documents has at least one blank back side.
        at = next((i for i, f in enumerate(files) if f.name.startswith("batch") or f.name.endswith(".tif")), None)
        if at is not None:
            f = files[at]
            files[at] = dataclasses.replace(f, entries=(f.entries[0], None, *f.entries[1:]))
    return files


def write_corpus(
    outdir: Path, *, count: int = 200, seed: int = 1, profile: str = "scanner", date_order: str = "DMY"
) -> list[SampleFile]:
    """Write a benchmark corpus of `count` documents into `outdir` (created if missing); deterministic for a seed.

    Rates (see `RATES`): ~15% unsigned, ~10% without a time, ~3% each with a blank customer or an empty
    item table, ~5% rotated 90/180/270 degrees, ~5% other documents (an invoice or a cover letter), and
    blank back sides with faint bleed-through (~5% of pages) inside batch PDFs and TIFFs. Languages
    en/sv/zh and both layouts come evenly. File types: single-sheet PDF, batch PDF of 2-4 documents,
    multi-page TIFF, PNG and JPEG.

    Profiles: "scanner" is 200-300 dpi grey with `degrade(level="mild")` and JPEG compression in PDFs and
    JPEGs; "heavy" is 150 dpi bitonal (PDF and TIFF in CCITT group 4, PNG 1-bit) after `degrade(level="heavy")`.
    No truth is written here: see `write_truth`.

    Args:
        outdir: The folder to write into.
        count: Documents to write (sheets plus other pages).
        seed: Seed of every choice.
        profile: "scanner" or "heavy".
        date_order: "DMY" or "MDY".

    Returns:
        One `SampleFile` per written file (with its profile and dpi), in name order.
    """
    plans = plan_corpus(count=count, seed=seed, profile=profile, date_order=date_order)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        write_planned_file(outdir / plan.name, plan, profile, random.Random(f"{seed}:{profile}:{plan.name}"))
        for plan in plans
    ]


def write_planned_file(path: Path, plan: PlannedFile, profile: str, rng: random.Random) -> SampleFile:
    """Draw, degrade and save one planned file (what `write_corpus` does for each; the truth is returned).

    Args:
        path: Where to write it (its suffix picks the format).
        plan: The file's pages, from `plan_corpus`.
        profile: "scanner" or "heavy".
        rng: Source of the drawing choices (`write_corpus` seeds one per file from the seed and file name).
    """
    level = "heavy" if profile == "heavy" else "mild"
    pages: list[Image.Image] = []
    front: Image.Image | None = None  # the last clean page: what a blank back side shows through
    for entry in plan.entries:
        if entry is None:
            clean = _bleed_through(front, plan.dpi, rng) if front is not None else blank_page(plan.dpi)
            pages.append(_finish(degrade(clean, random.Random(rng.getrandbits(64)), level=level), profile))
            continue
        if isinstance(entry, OtherPage):
            cleans = [render_other_page(entry, dpi=plan.dpi)]
        else:
            cleans = render_sheet(entry, dpi=plan.dpi, rng=random.Random(rng.getrandbits(64)))
            cleans = [_rotate(p, entry.rotation) for p in cleans]
        degrade_rng = random.Random(rng.getrandbits(64))
        for clean in cleans:
            pages.append(_finish(degrade(clean, degrade_rng, level=level), profile))
        front = cleans[-1]
    _save(path, pages, plan.dpi, quality=rng.randint(70, 88))
    return SampleFile(path=path, sheets=plan.sheets, page_kinds=plan.page_kinds, profile=profile, dpi=plan.dpi)


def _rotate(page: Image.Image, clockwise: int) -> Image.Image:
    """Turn a page clockwise by 0, 90, 180 or 270 degrees, as if laid on the glass that way."""
    method = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    if clockwise == 0:
        return page
    out = page.transpose(method[clockwise])
    out.info["dpi"] = page.info.get("dpi", (300, 300))
    return out


def _bleed_through(front: Image.Image, dpi: int, rng: random.Random) -> Image.Image:
    """The back of `front`: its print seen through the paper, mirrored, blurred and very light (grey 215-235)."""
    grey = ImageOps.mirror(front.convert("L"))
    if grey.size != page_size(dpi):  # a rotated front: the back side is still a portrait page
        grey = grey.rotate(90, expand=True).resize(page_size(dpi))
    darkest = rng.randint(215, 235)
    keep = (255 - darkest) / 255
    grey = grey.point([round(255 - (255 - v) * keep) for v in range(256)])
    grey = grey.filter(ImageFilter.GaussianBlur(1.5 * dpi / 300))
    out = grey.convert("RGB")
    out.info["dpi"] = (dpi, dpi)
    return out


def _finish(page: Image.Image, profile: str) -> Image.Image:
    """The scanner's output mode: grey for "scanner", thresholded bitonal ("1") for "heavy"."""
    dpi = page.info.get("dpi")
    if profile == "heavy":
        out = page.convert("L").point(lambda v: 255 if v > _BITONAL_THRESHOLD else 0).convert("1")
    else:
        out = page.convert("L")
    if dpi:
        out.info["dpi"] = dpi
    return out


def _save(path: Path, pages: list[Image.Image], dpi: int, *, quality: int) -> None:
    """Write the pages as the scanner would: grey pages as JPEG-in-PDF, JPEG, PNG or LZW TIFF; bitonal ones as G4."""
    ext = path.suffix.lower()
    bitonal = pages[0].mode == "1"
    if ext == ".png":
        pages[0].save(path, "PNG", dpi=(dpi, dpi))
    elif ext == ".jpg":
        pages[0].save(path, "JPEG", quality=quality, dpi=(dpi, dpi))
    elif ext == ".tif":
        compression = "group4" if bitonal else "tiff_lzw"
        pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:], compression=compression, dpi=(dpi, dpi))
    elif ext == ".pdf":
        blobs = []
        for page in pages:
            buf = io.BytesIO()
            if bitonal:
                page.save(buf, "TIFF", compression="group4", dpi=(dpi, dpi))
            else:
                page.save(buf, "JPEG", quality=quality, dpi=(dpi, dpi))
            blobs.append(buf.getvalue())
        layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
        path.write_bytes(img2pdf.convert(blobs, layout_fun=layout, nodate=True))
    else:
        raise ValueError(f"cannot write {path.name}: expected .png, .jpg, .tif or .pdf")


# Text of the other documents. None of it may carry a sheet label (SHEET_FORMAT.md's vocabulary): no
# "Date", "Customer", "Qty", "Description", "Delivery", 日期, 客户, 数量, Datum, Kund, Antal ...
_SHIPPERS = {"en": "Atlas Haulage Ltd", "sv": "Bergströms Åkeri AB", "zh": "华东快运集团"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _kr(amount: int) -> str:
    return f"{amount:,} kr".replace(",", "\u00a0")  # Swedish thousands: a (non-breaking) space


def _other_lines(page: OtherPage) -> tuple[str, list[str]]:
    """Title and body lines of an invoice or cover letter."""
    rng = random.Random(page.seed)
    lang, shipper = page.language, _SHIPPERS[page.language]
    pool = [c for c in CUSTOMERS if c.language == lang]
    buyer = rng.choice(pool)
    freight = rng.randint(40, 900) * 25
    fuel = round(freight * 0.07)
    vat = round((freight + fuel) * (0.09 if lang == "zh" else 0.25))
    total = freight + fuel + vat
    month = REFERENCE_DATE.month - 1 or 12
    number = rng.randint(10000, 99999)
    if page.kind == "invoice":
        if lang == "en":
            return "INVOICE", [
                shipper, "", f"Invoice number: INV-{REFERENCE_DATE.year}-{number}",
                f"Issued: {rng.randint(1, 28)} {_MONTHS[month - 1]} {REFERENCE_DATE.year}",
                f"Bill to: {buyer.name}", *buyer.address, "",
                f"Freight services, {_MONTHS[month - 1]} {REFERENCE_DATE.year}    {freight:,}.00 GBP",
                f"Fuel surcharge    {fuel:,}.00 GBP", f"VAT 25%    {vat:,}.00 GBP",
                f"Total amount due    {total:,}.00 GBP", "",
                "Payment terms: 30 days net. Please quote the invoice number with your payment.",
                "Bank: Northern Bank, sort code 55-12-40, account 1234 5678.",
            ]
        if lang == "sv":
            return "FAKTURA", [
                shipper, "", f"Fakturanummer: F-{REFERENCE_DATE.year}-{number}",
                f"Fakturadag: {REFERENCE_DATE.year}-{month:02d}-{rng.randint(1, 28):02d}",
                f"Fakturaadress: {buyer.name}", *buyer.address, "",
                f"Frakttjänster {_MONTHS[month - 1].lower()} {REFERENCE_DATE.year}    {_kr(freight)}",
                f"Bränsletillägg    {_kr(fuel)}",
                f"Moms 25 %    {_kr(vat)}",
                f"Att betala    {_kr(total)}",
                "",
                "Betalningsvillkor: 30 dagar netto. Ange fakturanumret vid betalning.",
                "Bankgiro 5555-1234. Dröjsmålsränta enligt räntelagen.",
            ]
        return "增值税普通发票", [
            shipper, "", f"发票号码：{number}{rng.randint(100, 999)}",
            f"开票：{REFERENCE_DATE.year}年{month}月{rng.randint(1, 28)}日",
            f"购买方：{buyer.name}", *buyer.address, "",
            f"运输服务费（{month}月）    ¥{freight:,}.00",
            f"燃油附加费    ¥{fuel:,}.00",
            f"税额 9%    ¥{vat:,}.00",
            f"价税合计    ¥{total:,}.00",
            "",
            "付款条件：开票后30天内付款。",
            "开户行：中国工商银行苏州分行",
        ]
    if lang == "en":
        return "Price list 2027", [
            shipper, "", buyer.name, *buyer.address, "", "Dear Sir or Madam,", "",
            "Please find enclosed our price list for 2027, valid from 1 January 2027.",
            "Rates for pallet freight rise by 3.5 per cent; parcel rates are unchanged.",
            "Should you have any questions, our sales office will be glad to help.", "",
            "Kind regards,", "", "Helen Crowther", "Sales Manager",
        ]
    if lang == "sv":
        return "Prislista 2027", [
            shipper, "", buyer.name, *buyer.address, "", "Hej!", "",
            "Bifogat finns vår prislista för 2027, som gäller från och med den 1 januari 2027.",
            "Priserna för pallfrakt höjs med 3,5 procent; paketpriserna är oförändrade.",
            "Hör gärna av er till vårt försäljningskontor om ni har frågor.", "",
            "Med vänliga hälsningar", "", "Karin Holm", "Försäljningschef",
        ]
    return "2027年价格调整通知", [
        shipper, "", buyer.name, *buyer.address, "", "您好：", "",
        "随函附上我公司2027年新版价格表，自2027年1月1日起执行。",
        "托盘运输价格上调百分之三点五，包裹运输价格不变。",
        "如有疑问，请随时与我公司销售部联系。",
        "",
        "此致",
        "敬礼",
        "",
        "华东快运集团销售部",
    ]


def render_other_page(page: OtherPage, *, dpi: int = 300) -> Image.Image:
    """Draw an invoice or cover letter as a clean A4 page (RGB, ``info["dpi"]`` set), like `render_sheet`."""
    title, lines = _other_lines(page)
    family = _CJK[0] if page.language == "zh" else _LATIN[random.Random(page.seed).randrange(len(_LATIN))]
    body = _font(family.regular, max(6, round(11 * dpi / 72)), family.index)
    head = _font(family.bold, max(8, round(18 * dpi / 72)), family.index)
    img = blank_page(dpi)
    draw = ImageDraw.Draw(img)
    mm = dpi / 25.4
    x, y = round(22 * mm), round(30 * mm)
    draw.text((x, y), title, font=head, fill=(0, 0, 0), anchor="ls")
    y += round(14 * mm)
    step = round(11 * dpi / 72 * 1.5)
    for line in lines:
        if line:
            draw.text((x, y), line, font=body, fill=(20, 20, 20), anchor="ls")
        y += step
    return img
