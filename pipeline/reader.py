"""Reading: one page image in, everything found on it out; pages grouped into documents."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from rapidfuzz.distance import Levenshtein

from pipeline.barcode import PageMarker, decode_page, split_page_marker, turned, upright_turn
from pipeline.checks import (
    PageReading,
    check_customer,
    check_items,
    check_signature,
    check_text_field,
    check_time,
)
from pipeline.classify import ArticleList, CustomerList, Known, page_kind
from pipeline.dates import clock_time, find_datetime, is_plausible
from pipeline.document import Barcode, FieldResult, FieldStatus, Page, ScanDoc, Word
from pipeline.fields import ItemRow, ValueRegion, extract_fields, lone_one, parse_qty, tidy_sku
from pipeline.ingest import MIN_READ_DPI, RawPage
from pipeline.labels import FIELD_LABELS
from pipeline.layout import Box, Layout, find_labels
from pipeline.ocr import OcrEngine, words_to_text
from pipeline.ocr.tesseract import is_cjk
from pipeline.preprocess import deskew, is_blank, clean_for_ocr
from pipeline.timing import stage

__all__ = ["PageResult", "build_documents", "read_page"]

log = logging.getLogger(__name__)

# Linear barcodes that carry product numbers, not delivery numbers.
_PRODUCT_CODES = {"EAN13", "EAN8", "UPCA", "UPCE", "ISBN10", "ISBN13", "EAN2", "EAN5"}
_PAGE_TEXT = [
    re.compile(r"\bpage\s*(\d{1,3})\s*(?:of|/)\s*(\d{1,3})\b", re.I),
    re.compile(r"\bsida\s*(\d{1,3})\s*(?:av|/)\s*(\d{1,3})\b", re.I),
    re.compile(r"第\s*(\d{1,3})\s*页\s*[,，/]?\s*共\s*(\d{1,3})\s*页"),
]
_DN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_/.]{3,}")


@dataclass(slots=True)
class PageResult:
    """What one page contributed: its record, its checks and what ties it to a delivery."""

    page: Page
    kind: str = "other"
    delivery_number: str | None = None
    dn_source: str | None = None
    dn_note: str | None = None  # the printed number disagrees with the barcode's
    marker: PageMarker | None = None
    fields: dict[str, FieldResult] = field(default_factory=dict)
    items: FieldResult | None = None
    label_fields: set[str] = field(default_factory=set)


def _norm_dn(s: str) -> str:
    return re.sub(r"[\s]", "", s).upper()


def _text_delivery_number(reading: PageReading) -> str | None:
    value = reading.found.values.get("delivery_number")
    if value is None:
        return None
    for m in _DN_TOKEN.finditer(value.first_line):
        if any(ch.isdigit() for ch in m.group()):
            return m.group().strip("./")
    return None


def _disagreement(dn: str | None, source: str | None, text_dn: str | None) -> str | None:
    """Codes that pass their checksum are trusted over OCR, but never silently."""
    if source == "barcode" and text_dn and _norm_dn(text_dn) != _norm_dn(dn or ""):
        return f"barcode says {dn}, printed text reads {text_dn}"
    return None


def _page_marker_from_text(text: str) -> tuple[int, int] | None:
    for pattern in _PAGE_TEXT:
        m = pattern.search(text)
        if m and 1 <= int(m[1]) <= int(m[2]):
            return int(m[1]), int(m[2])
    return None


def _delivery_number(barcodes: Iterable[Barcode], text_dn: str | None, page_text: str) -> tuple[str | None, str | None, PageMarker | None]:
    """Choose the delivery number: a barcode that agrees with the text, else a barcode, else the text."""
    marks = [split_page_marker(b.data) for b in barcodes if b.symbology not in _PRODUCT_CODES]
    flat = _norm_dn(page_text)
    if text_dn:
        for m in marks:
            if _norm_dn(m.delivery_number) == _norm_dn(text_dn):
                return m.delivery_number, "barcode", m
    for m in marks:
        if _norm_dn(m.delivery_number) in flat:
            return m.delivery_number, "barcode", m
    if marks:
        return marks[0].delivery_number, "barcode", marks[0]
    if text_dn:
        return text_dn, "text", None
    return None, None, None


_SWEDISH = re.compile(
    r"\b(följesedel|foljesedel|leveransnr|mottagare|mottaget|mottagen|benämning|benamning|antal|"
    r"underskrift|leveranskvittens|anmärkning|anmarkning|artiklar|kund|datum|övrigt|ovrigt)\b",
    re.I,
)


UNSURE_SHARE = 0.35  # of a first reading's words unsure, with labels for fewer than two fields,
MOSTLY_UNSURE = 0.5  # or this share whatever labels: a script the first language does not cover
ROTATE_MIN_CONF = 3.0  # below this OSD's orientation is a guess (upright pages score 2-3.5)


def _page_language(words: tuple[Word, ...], languages: tuple[str, ...], labelled: Callable[[], set[str]]) -> str | None:
    """The configured language a page is mostly written in, judged from a first reading
    (``labelled``: the fields whose labels that reading shows)."""
    text = " ".join(w.text for w in words if w.conf >= 40)
    cjk = sum(1 for ch in text if is_cjk(ch) and ch.isalnum())
    if "chi_sim" in languages and cjk >= 12:
        return "chi_sim"
    if "swe" in languages and len(_SWEDISH.findall(text)) >= 2:
        return "swe"
    if "chi_sim" in languages and _unknown_script(words, labelled):
        return "chi_sim"
    return None


def _unknown_script(words: tuple[Word, ...], labelled: Callable[[], set[str]]) -> bool:
    """A reading in a Latin-script model of a page in another script: Chinese comes out as words
    the model is unsure of (60-80 percent of them on generated Chinese sheets, under 45 on English
    and Swedish ones however damaged), among which a label or two by chance ("Sign:" from two
    characters), never the several an English or Swedish sheet shows. The shares asked for sit
    below the Chinese range: a wrong guess costs one reading, a missed one the whole page."""
    if not words:
        return False
    unsure = sum(w.conf < 50 for w in words) / len(words)
    if unsure >= MOSTLY_UNSURE:
        return True
    return unsure >= UNSURE_SHARE and len(labelled()) < 2


def _fields_labelled(words: tuple[Word, ...], size: tuple[int, int]) -> set[str]:
    return {h.field for h in find_labels(Layout(words, *size), FIELD_LABELS)}


def _read_words(clean: Image.Image, engine: OcrEngine) -> tuple[tuple[Word, ...], str | None]:
    """The page's words, and the page's own language when they were read in it.

    The first configured language alone reads first: an English page needs nothing more, and it
    is two to three times cheaper than every language at once (0.6 s against 1.7 s for
    eng+swe+chi_sim on a 300 dpi page). A page that reading shows to be in another configured
    language is read again in that language alone: tesseract trusts its first language most, so
    a Swedish page read in English loses its å, ä and ö, a Chinese one everything but its digits
    (the chi_sim and swe models both cover the Latin letters and digits of SKUs and dates).
    """
    languages = tuple(engine.languages)
    with stage("ocr"):
        words = engine(clean, languages[:1])
    # Finding labels costs 40 ms a reading: the first reading's are found once, if at all.
    labelled = functools.cache(lambda: _fields_labelled(words, clean.size))
    own = _page_language(words, languages, labelled)
    if own is None or own == languages[0]:
        return words, own
    with stage("ocr_language"):
        again = engine(clean, [own])
    if own == "chi_sim" and not _cjk_seen(words):
        # Chosen for the script the first reading could not read: keep the reading that found
        # more labels (an English invoice read as Chinese finds none, and fewer sure characters).
        first, second = len(labelled()), len(_fields_labelled(again, clean.size))
        if second < first or (second == first and _confident_chars(again) < _confident_chars(words)):
            return words, None
    return again, own


def _cjk_seen(words: Iterable[Word]) -> bool:
    return any(is_cjk(ch) for w in words for ch in w.text)


def _cell_crop(clean: Image.Image, b: Box, unit: float) -> Image.Image | None:
    """One small region cut out for a Latin-script second reading (enlarged if text is small);
    None when it is too small to hold a character."""
    box = (max(0, int(b.left)), max(0, int(b.top)), min(clean.width, int(b.right)), min(clean.height, int(b.bottom)))
    if box[2] - box[0] < 4 or box[3] - box[1] < 4:
        return None
    crop = clean.crop(box)
    if unit < 28:  # tesseract reads best at 30-40 px text; enlarging larger text hurts
        scale = 2
        crop = crop.resize((crop.width * scale, crop.height * scale), Image.LANCZOS)
    return crop


def _read_stacked(crops: list[Image.Image], engine: OcrEngine, languages: list[str]) -> list[tuple[Word, ...]]:
    """Each crop's words, from ONE engine run over the crops stacked on a white canvas.

    A tesseract run costs 60-100 ms to start and load its model, and a second look reads a few
    characters: a page's five or so crops read one by one cost far more than reading them once.
    The white gap between crops is at least the tallest crop, so tesseract never joins two crops'
    text into one line, and a word belongs to the crop whose band (the crop and half the gaps
    around it) holds its box's centre."""
    if not crops:
        return []
    gap = max(c.height for c in crops)
    margin = max(16, gap // 2)
    mode = "RGB" if any(c.mode == "RGB" for c in crops) else "L"
    height = 2 * margin + sum(c.height for c in crops) + gap * (len(crops) - 1)
    canvas = Image.new(mode, (2 * margin + max(c.width for c in crops), height), "white")
    tops, y = [], margin
    for c in crops:
        canvas.paste(c.convert(mode), (margin, y))
        tops.append(y)
        y += c.height + gap
    found: list[list[Word]] = [[] for _ in crops]
    for w in engine(canvas, languages):
        centre = w.top + w.height / 2
        for i, (top, c) in enumerate(zip(tops, crops)):
            if top - gap / 2 <= centre < top + c.height + gap / 2:
                found[i].append(w)
                break
    return [tuple(sorted(ws, key=lambda w: (w.line, w.left))) for ws in found]


def _reread_many(clean: Image.Image, boxes: list[Box], engine: OcrEngine, unit: float) -> list[str]:
    """Small regions read again alone, in Latin script only, in one engine run: each region's
    text as one reading of it on its own would give ("" for one too small to read)."""
    crops = [_cell_crop(clean, b, unit) for b in boxes]
    kept = [c for c in crops if c is not None]
    read = iter(_read_stacked(kept, engine, ["eng"]))
    return ["" if c is None else " ".join(w.text for w in next(read)) for c in crops]


def _confident_chars(words: Iterable[Word]) -> int:
    """Letters and digits tesseract was sure of: many on an upright page, few on a turned one."""
    return sum(sum(ch.isalnum() for ch in w.text) for w in words if w.conf >= 70)


def _looks_turned(words: tuple[Word, ...], img: Image.Image) -> bool:
    """A reading with no field label and little confident text: the page may be on its side."""
    if _confident_chars(words) >= 200:
        return False
    return not find_labels(Layout(words, img.width, img.height), FIELD_LABELS)


def _fold(text: str) -> str:
    """Letters only, without accents and case: "Älvdalens Trä" and "Alvdalens Tra" fold alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum()).casefold()


def _accent_crop(value: ValueRegion, clean: Image.Image, unit: float) -> Image.Image | None:
    """The first line of a name worth reading again in Swedish (None when there is none): a
    sure reading with letters in it, with a margin so its edges are not cut."""
    if not value.lines or value.conf < 60:
        return None
    first = value.lines[0]
    if not any(ch.isalpha() for w in first for ch in w.text):
        return None
    b = Box.around(first)
    box = (max(0, int(b.left - 0.4 * unit)), max(0, int(b.top - 0.4 * unit)),
           min(clean.width, int(b.right + 0.6 * unit)), min(clean.height, int(b.bottom + 0.4 * unit)))
    return clean.crop(box)


def _take_accents(value: ValueRegion, again: tuple[Word, ...]) -> ValueRegion:
    """The Swedish reading of the name's first line, taken only when it is the same letters
    with accents added."""
    first = value.lines[0]
    b = Box.around(first)
    text = " ".join(w.text for w in again)
    old = " ".join(w.text for w in first)
    if text == old or _fold(text) != _fold(old) or text.isascii():
        return value
    word = Word(text, int(b.left), int(b.top), int(b.right - b.left), int(b.bottom - b.top),
                min(w.conf for w in again), first[0].line)
    return dataclasses.replace(value, words=(word, *value.words[len(first):]), lines=((word,), *value.lines[1:]))


def _with_accents_all(values: dict[str, ValueRegion], names: Iterable[str], clean: Image.Image,
                      engine: OcrEngine, unit: float) -> None:
    """Names on a page read in English first, read again in Swedish alone, all in one engine run:
    tesseract drops å, ä and ö from a Swedish name on an English sheet ("Älvdalens Trä AB" came
    out "Alvdalens Tra AB"). Each name is replaced in `values` (see _take_accents)."""
    asked = {n: c for n in names if n in values and (c := _accent_crop(values[n], clean, unit)) is not None}
    for name, again in zip(asked, _read_stacked(list(asked.values()), engine, ["swe"])):
        values[name] = _take_accents(values[name], again)


_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-/.]{1,30}$")


def _row_requests(row: ItemRow, cjk: bool) -> list[tuple[str, Box]]:
    """The cells of a row to read again: the quantity when the page read missed it or was unsure
    of it, the SKU when it was unsure of it, or on a page read in Chinese (see _reread_rows)."""
    if not (row.sku or row.description):
        return []
    asked = []
    if (row.qty is None or not row.qty_sure) and row.qty_box is not None:
        asked.append(("qty", row.qty_box))
    if row.sku_box is not None and (cjk or not row.sku_sure):
        asked.append(("sku", row.sku_box))
    return asked


def _keeps_what_was_read(first: str, again: str) -> bool:
    """Whether a second look at a code keeps its digits and its dash where the page read them."""
    return not any(any(map(kind, first)) and not any(map(kind, again)) for kind in (str.isdigit, "-/".__contains__))


def _unit_read_into(row: ItemRow, again: int, again_unit: str | None) -> bool:
    """Whether the page's quantity is `again` with a unit's letters read as digits after it (228
    for "22 st"): the page read no unit, the second look reads one, and its number is the start
    of the page's. A second look that only lost a digit ("28" read again "2", "30 ne" as "3x")
    is not taken."""
    a, b = str(row.qty), str(again)
    return row.unit is None and bool(again_unit) and len(b) < len(a) and a.startswith(b)


def _apply_rereads(row: ItemRow, read: dict[str, str]) -> ItemRow:
    """A row with what its cells read again, where that reading makes sense."""
    if "qty" in read:
        qty, qty_unit = parse_qty(read["qty"], cell=True)
        if qty is None and row.qty is None:
            qty, qty_unit = lone_one(read["qty"])
        # A number the page read unsure is replaced only by its own start: the unit read into it
        # ("22 st" as "228") is what a second look mends; a wholly other number is not trusted.
        if qty is not None and (row.qty is None or _unit_read_into(row, qty, qty_unit)):
            row = dataclasses.replace(row, qty=qty, unit=qty_unit or row.unit)
    if "sku" in read:
        text = tidy_sku(read["sku"])
        # A code read with digits or a dash is not traded for one without ("A-1001" for "A-HOor",
        # "LK-1175" for "LK1175"): a second look that loses what the first read is no better.
        if _SKU.match(text) and _keeps_what_was_read(row.sku or "", text):
            row = dataclasses.replace(row, sku=text)
    return row


def _reread_rows(rows: list[ItemRow], clean: Image.Image, engine: OcrEngine, unit: float, cjk: bool = False) -> list[ItemRow]:
    """Cells the page read missed or was unsure of (a lone digit beside a rule, a smudged SKU, a
    unit read into the number: "22 st" as "228") are read again alone, enlarged: the page-wide
    reading mixes in Chinese shapes and table rules. A second reading that makes no sense
    leaves the first as it was. On a page read in Chinese every SKU is read again in Latin
    script: chi_sim drops their dashes ("GL88" for GL-88) even when it is sure of them. Every
    row's cells are read in one engine run (see _read_stacked)."""
    asked = [_row_requests(row, cjk) for row in rows]
    texts = iter(_reread_many(clean, [b for req in asked for _, b in req], engine, unit))
    return [_apply_rereads(row, {kind: next(texts) for kind, _ in req}) for row, req in zip(rows, asked)]


def read_page(raw: RawPage, engine: OcrEngine, date_order: str, now: datetime | None = None) -> PageResult:
    """Run every page stage: blank check, deskew, barcodes, OCR, layout, field checks."""
    img = raw.image
    if is_blank(img, raw.dpi):
        log.debug("page %d: blank", raw.number)
        return PageResult(Page(raw.number, dpi=raw.dpi, blank=True))
    if raw.dpi < MIN_READ_DPI:
        # Tesseract wants text 20-40 px tall; a 100-150 dpi scan (a fax, a cheap scanner) is
        # read far better enlarged (on real 100 dpi forms: 57% of words as they were, 75% at 2x).
        factor = min(3.0, MIN_READ_DPI / raw.dpi)
        img = img.resize((int(img.width * factor), int(img.height * factor)), Image.LANCZOS)
        raw = dataclasses.replace(raw, image=img, dpi=int(round(raw.dpi * factor)))
    # Upright first: by the barcodes' orientation when there are any (sure), else by tesseract's
    # OSD when it is confident; then level. `turn` is counter-clockwise, as PIL turns.
    with stage("barcodes"):
        barcodes = decode_page(img, raw.number)
    told = upright_turn(barcodes)  # None: no code says which way up the page is
    turn = told or 0
    with stage("orientation"):
        if turn:
            barcodes = turned(barcodes, turn, img.size)
            img = img.rotate(turn, expand=True)
        img, angle = deskew(img, raw.dpi)
    if angle and not barcodes:
        with stage("barcodes"):
            barcodes = decode_page(img, raw.number)  # a code too skewed to read before
    with stage("preprocess"):
        clean = clean_for_ocr(img, raw.dpi)
    guess = 0
    if told is None:
        with stage("orientation"):
            _, rotate, rot_conf = engine.osd(clean, raw.dpi)
        if rotate in (90, 180, 270) and rot_conf >= ROTATE_MIN_CONF:
            turn = -rotate % 360  # tesseract's "Rotate" is clockwise
            barcodes = turned(barcodes, turn, img.size)
            img, angle = deskew(img.rotate(turn, expand=True), raw.dpi)
            clean = clean_for_ocr(img, raw.dpi)
        elif rotate in (90, 180, 270):
            guess = -rotate % 360
    words, own = _read_words(clean, engine)
    if (told or not turn) and _looks_turned(words, img):
        # The reading is gibberish with no label in it, and nothing sure turned the page: no
        # barcode said which way up and OSD was unsure (a 150 dpi bitonal page), or the only
        # barcode said so, and it may be printed on its side (a Code 128 along the margin). Read
        # the page turned, the way it was scanned first when a barcode turned it, then OSD's
        # guess, and keep the turn that reads as a sheet.
        for t in dict.fromkeys(((-turn) % 360, guess, 180, 90, 270)):
            if t == 0:
                continue
            img_t, angle_t = deskew(img.rotate(t, expand=True), raw.dpi)
            clean_t = clean_for_ocr(img_t, raw.dpi)
            words_t, own_t = _read_words(clean_t, engine)
            if _confident_chars(words_t) >= max(60, 3 * _confident_chars(words)) and not _looks_turned(words_t, img_t):
                barcodes = turned(barcodes, t, img.size)
                turn, img, angle, clean, words, own = (turn + t) % 360, img_t, angle_t, clean_t, words_t, own_t
                log.debug("page %d: read turned %d degrees", raw.number, turn)
                break
    with stage("fields"):
        layout = Layout(words, img.width, img.height)
        found = extract_fields(layout)
    with stage("ocr_cells"):
        found.items = _reread_rows(found.items, clean, engine, layout.unit, own == "chi_sim")
        if "swe" in engine.languages and own is None:
            _with_accents_all(found.values, ("customer", "receiver"), clean, engine, layout.unit)
    text = words_to_text(words)
    page = Page(raw.number, None, raw.dpi, barcodes, text, rotated=turn, skew=angle)
    reading = PageReading(page, layout, found, np.asarray(img))
    text_dn = _text_delivery_number(reading)
    dn, source, marker = _delivery_number(barcodes, text_dn, text)
    dn_note = _disagreement(dn, source, text_dn)
    if marker is None or marker.page is None:
        pm = _page_marker_from_text(text)
        if pm:
            marker = PageMarker(dn or "", pm[0], pm[1])
    label_fields = {h.field for h in found.labels}
    kind = page_kind(label_fields, found.table_header is not None, dn is not None)
    result = PageResult(page, kind, dn, source, marker=marker, label_fields=label_fields, dn_note=dn_note)
    if kind == "signoff":
        with stage("fields"):
            v = found.values
            result.fields = {
                "customer": check_customer(reading, v.get("customer")),
                "time": _check_time(reading, v.get("time"), date_order, now, clean, engine, own == "chi_sim"),
                "receiver": check_text_field(reading, v.get("receiver")),
                "signature": check_signature([reading]),
            }
            if "remarks" in v:
                result.fields["remarks"] = check_text_field(reading, v["remarks"])
            result.items = check_items([reading])
    log.debug("page %d: kind=%s dn=%s skew=%.2f", raw.number, kind, dn, angle)
    return result


def _check_time(
    reading: PageReading, value: ValueRegion | None, date_order: str, now: datetime | None,
    clean: Image.Image, engine: OcrEngine, cjk: bool,
) -> FieldResult:
    """The time of receipt; a printed date the page reading garbled is read again (see _time_again),
    and so is a date read without the clock time printed after it ("05/11/2026 14:5")."""
    first = check_time(reading, value, date_order, now)
    if value is None or not value.lines:
        return first
    if first.status is FieldStatus.UNREADABLE:
        with stage("ocr_cells"):
            return _time_again(reading, value, date_order, now, clean, engine, cjk) or first
    if first.status is FieldStatus.OK and _clock_lost(value.first_line, date_order):
        with stage("ocr_cells"):
            again = _time_again(reading, value, date_order, now, clean, engine, cjk)
        if again is not None and "T" in again.value and again.value.startswith(first.value):
            return again
    return first


def _clock_lost(line: str, date_order: str) -> bool:
    """A date read without a clock time, with digits after it that were one ("14:5", "1 4:05")."""
    parsed = find_datetime(line, date_order)
    if parsed is None or parsed.has_time or parsed.text not in line:
        return False
    return sum(c.isdigit() for c in line[line.index(parsed.text) + len(parsed.text):]) >= 2


# How far a second look may differ from the first reading's digits: a digit or two misread, or the
# one a garbled 日 or / added, not another date.
_TIME_AGAIN_SLIPS = 2


def _time_again(
    reading: PageReading, value: ValueRegion, date_order: str, now: datetime | None,
    clean: Image.Image, engine: OcrEngine, cjk: bool,
) -> FieldResult | None:
    """A time value that did not parse, or parsed implausible, read again: its first line cut out
    and read at 1x, 2x and 3x, in Latin script and, on a Chinese page, in Chinese (at 150 dpi
    "2026年9月9日" came out "2026 人年 9 月 91]", "29/10/2026" as "29/1012026"). A reading is
    taken only when it parses to a plausible time, its digits are the first reading's but for a
    slip or two, and it keeps the clock time the first reading read whole (a date garbled beside
    a clean "11:40" must not come back as 01:40); when readings disagree, the time most of them
    read wins. None when no reading is taken: the first stands (unreadable)."""
    old = re.sub(r"\D", "", value.first_line)
    if len(old) < 6:
        return None  # no printed date was read there: handwriting, or a smudge
    clock = clock_time(value.first_line)
    unit = reading.layout.unit
    b = Box.around(value.lines[0])
    box = (max(0, int(b.left - 0.5 * unit)), max(0, int(b.top - 0.5 * unit)),
           min(clean.width, int(b.right + 0.8 * unit)), min(clean.height, int(b.bottom + 0.5 * unit)))
    crop = clean.crop(box)
    sizes = [crop, *(crop.resize((crop.width * k, crop.height * k), Image.LANCZOS) for k in (2, 3))]
    runs = (["eng"], ["chi_sim"]) if cjk else (["eng"],)
    texts = [" ".join(w.text for w in words) for langs in runs for words in _read_stacked(sizes, engine, langs)]
    votes: Counter[str] = Counter()
    said: dict[str, str] = {}
    for text in texts:
        parsed = find_datetime(text, date_order)
        if parsed is None or not is_plausible(parsed.value, now):
            continue
        if Levenshtein.distance(old, re.sub(r"\D", "", text)) > _TIME_AGAIN_SLIPS:
            continue
        if clock is not None and (not parsed.has_time or (parsed.value.hour, parsed.value.minute) != clock):
            continue
        votes[parsed.iso()] += 1
        said.setdefault(parsed.iso(), text)
    if not votes:
        return None
    iso = votes.most_common(1)[0][0]
    note = f"read {value.first_line!r} again enlarged as {said[iso]!r}"
    return FieldResult(FieldStatus.OK, iso, confidence=round(min(value.conf, 60.0), 1), note=note)


_RANK = {FieldStatus.OK: 0, FieldStatus.UNREADABLE: 1, FieldStatus.MISSING: 2}


def _merge(results: list[FieldResult]) -> FieldResult:
    """The best reading across a document's pages: ok beats unreadable beats missing."""
    if not results:
        return FieldResult(FieldStatus.MISSING, note="label not found")
    return min(results, key=lambda r: _RANK[r.status])


def _merge_items(results: list[FieldResult]) -> FieldResult:
    oks = [r for r in results if r.status is FieldStatus.OK]
    if oks:
        rows = [row for r in oks for row in r.value]
        return FieldResult(FieldStatus.OK, rows, confidence=oks[0].confidence)
    return _merge(results)


def _starts_new(current: list[PageResult], page: PageResult) -> bool:
    head = current[0]
    if page.delivery_number and head.delivery_number:
        return _norm_dn(page.delivery_number) != _norm_dn(head.delivery_number)
    if page.marker and page.marker.page and page.marker.page > 1:
        last = current[-1]
        return not (last.marker and last.marker.page and last.marker.page == page.marker.page - 1)
    return True


def build_documents(
    source: Path, sha256: str, pages: Iterable[PageResult], known: Known = Known()
) -> list[ScanDoc]:
    """Group a file's pages into documents (one per delivery) and merge their field checks.

    Blank pages (duplex back sides) are dropped. A page with the same delivery number as the one
    before it, or marked "page 2 of 2" after page 1, continues that document.
    """
    groups: list[list[PageResult]] = []
    for page in pages:
        if page.page.blank:
            continue
        if groups and not _starts_new(groups[-1], page):
            groups[-1].append(page)
        else:
            groups.append([page])
    docs = []
    for group in groups:
        kind = "signoff" if any(p.kind == "signoff" for p in group) else "other"
        dn = next((p.delivery_number for p in group if p.dn_source == "barcode"), None) or next(
            (p.delivery_number for p in group if p.delivery_number), None
        )
        dn_source = next((p.dn_source for p in group if p.delivery_number == dn), None)
        notes = tuple(p.dn_note for p in group if p.dn_note)
        fields: dict[str, FieldResult] = {}
        customer_id = None
        if kind == "signoff":
            for name in ("customer", "time", "receiver", "signature", "remarks"):
                found = [p.fields[name] for p in group if name in p.fields]
                if found or name != "remarks":
                    fields[name] = _merge(found)
            fields["items"] = _merge_items([p.items for p in group if p.items is not None])
            if known.articles is not None and known.articles.codes:
                fields["items"] = _known_articles(fields["items"], known.articles)
            if known.customers is not None and known.customers.customers:
                texts = [p.page.text or "" for p in group]
                fields["customer"], customer_id = _canonical_customer(fields["customer"], known.customers, texts)
        docs.append(
            ScanDoc(
                source=source,
                sha256=sha256,
                pages=tuple(p.page for p in group),
                kind=kind,
                delivery_number=dn,
                delivery_number_source=dn_source,
                notes=notes,
                fields=fields,
                customer_id=customer_id,
            )
        )
    return docs


def _known_articles(items: FieldResult, articles: ArticleList) -> FieldResult:
    """Item lines with each read code that is clearly one known article number given as that
    number; what was read stays beside it ("sku_read"). A code that names no known article, or
    could be either of two, is left as read."""
    if items.status is not FieldStatus.OK or not items.value:
        return items
    rows = []
    for row in items.value:
        read = row.get("sku")
        known = articles.known(read) if read else None
        rows.append(row | {"sku": known, "sku_read": read} if known is not None and known != read else row)
    return dataclasses.replace(items, value=rows)


def _wrapped_names(first: str, texts: list[str]) -> list[str]:
    """Longer readings of a name whose first line alone names no known customer: the page text's
    line that holds it, and that line with the next one. The field's reading may have broken a
    long name over two lines ("Åkerlunds" over "Bygg & Järn AB") where the page text did not, or
    the name really wraps."""
    first = first.strip()
    out: list[str] = []
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            if first and first in line:
                out += [line, *([f"{line} {lines[i + 1]}"] if i + 1 < len(lines) else [])]
    return [name for name in dict.fromkeys(out) if name != first]


def _canonical_customer(
    result: FieldResult, customers: CustomerList, texts: list[str]
) -> tuple[FieldResult, str | None]:
    """The known customer a read name is, by the configured list.

    The list is the authority: a name read unsure (specks, a 150 dpi scan) that is clearly one
    known customer is that customer. When the customer label itself was not read, a line of the
    page holding a known customer's name alone stands in for it. An empty field stays missing.
    """
    lost_label = result.status is FieldStatus.MISSING and result.note == "label not found"
    # Specks read where the name is ('"+'): the value was not read at all, as good as a lost label.
    specks = result.status is FieldStatus.UNREADABLE and sum(c.isalpha() for c in str(result.value or "")) < 2
    if lost_label or specks:
        found, score = customers.find_in(line for text in texts for line in text.splitlines())
        if found is None:
            return result, None
        note = "the customer's name was not read beside its label; the page names this known customer"
        return FieldResult(FieldStatus.OK, found.name, round(score, 1), note=note), found.id
    if result.status is FieldStatus.MISSING:
        return result, None
    if not result.value:
        return result, None
    match, score = customers.match(str(result.value))
    for longer in _wrapped_names(str(result.value), texts) if match is None else ():
        match, score = customers.match(longer)
        if match is not None:
            break
    if match is None:
        if result.status is not FieldStatus.OK:
            return result, None
        return (
            FieldResult(FieldStatus.UNREADABLE, result.value, round(score, 1), note="not a known customer"),
            None,
        )
    note = None if result.status is FieldStatus.OK else f"read unsure as {result.value!r}; a known customer"
    return FieldResult(FieldStatus.OK, match.name, round(score, 1), note=note), match.id
