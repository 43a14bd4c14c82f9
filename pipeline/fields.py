"""Find each field's value on a page by its label and the page's layout (right of or below it)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from pipeline.dates import find_datetime
from pipeline.document import Word
from pipeline.labels import COLUMN_LABELS, FIELD_LABELS
from pipeline.layout import Box, LabelHit, Layout, Line, find_labels, tokenize
from pipeline.ocr.tesseract import is_cjk

__all__ = ["ItemRow", "PageFields", "ValueRegion", "extract_fields", "lone_one", "parse_qty", "tidy_sku"]

# Table rules and specks read as words; "&" and "+" are kept: they belong to company names.
_NOISE = re.compile(r"^[|\\/_\-—–~:;.,'\"`()\[\]{}<>=*°!?“”‘’«»。，：]+$")


@dataclass(frozen=True, slots=True)
class ValueRegion:
    """What sits in a label's value place: the words read there and the area to look for ink in."""

    label: LabelHit
    words: tuple[Word, ...]
    lines: tuple[tuple[Word, ...], ...]  # the value's words line by line
    region: Box  # where the value would be written
    direction: str  # "right", "below", or "empty" (nothing read: see `places`)
    places: tuple[Box, ...] = ()  # for "empty": right of the label, and below it

    @property
    def text(self) -> str:
        return "\n".join(_join(ws) for ws in self.lines)

    @property
    def first_line(self) -> str:
        return _join(self.lines[0]) if self.lines else ""

    @property
    def conf(self) -> float:
        return sum(w.conf for w in self.words) / len(self.words) if self.words else 0.0


@dataclass(frozen=True, slots=True)
class ItemRow:
    sku: str | None
    description: str | None
    qty: int | None
    unit: str | None
    conf: float
    qty_box: Box | None = None  # where the quantity should be, for a second look
    sku_box: Box | None = None  # where the SKU's words are
    sku_sure: bool = True  # tesseract was sure of them (the reader reads unsure ones again)
    qty_sure: bool = True  # likewise the quantity's words: "22 st" read unsure as "228" is read again


@dataclass(slots=True)
class PageFields:
    """The raw findings on one page; checks.py turns them into field statuses."""

    labels: list[LabelHit] = field(default_factory=list)
    values: dict[str, ValueRegion] = field(default_factory=dict)
    table_header: Box | None = None
    items: list[ItemRow] = field(default_factory=list)
    table_rows_seen: int = 0


def _join(words: tuple[Word, ...] | list[Word]) -> str:
    return Line(list(words)).text() if words else ""


def _clean(words: list[Word]) -> list[Word]:
    """Drop table rules and stray punctuation that tesseract reads as words."""
    return [w for w in words if not _NOISE.match(w.text)]


# Letters whose capital differs from the small one only in size: OCR often gets their case wrong.
_SIZE_ONLY = str.maketrans("cosuvwxz", "COSUVWXZ")


def tidy_sku(text: str) -> str:
    """An item code as printed: no spaces around its dashes, no stray marks before or after it, a
    colon between letters and digits read as the dash it is ("PK:2040"), and the letter prefix in
    one case ("Sw-500" is SW-500: w and W differ only in size). Case inside the code is kept
    ("TB-2x4-240")."""
    text = re.sub(r"\s*([-/])\s*", r"\1", text.strip())
    text = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", text)
    text = re.sub(r"(?<=[A-Za-z]):(?=\d)", "-", text)
    text = re.sub(r"(?<=[-/])[~_'`\"”“.,]+|[~_'`\"”“.,]+(?=[-/])", "", text)  # specks beside a dash
    m = re.match(r"[A-Za-z]+", text)
    if m and any(ch.isupper() for ch in m[0]):
        # One capital read twice, small and big ("PkK-2040", "SWw-500"), is one capital.
        prefix = ""
        for ch in m[0]:
            if prefix and ch != prefix[-1] and ch.upper() == prefix[-1].upper():
                prefix = prefix[:-1] + ch.upper()
            else:
                prefix += ch
        text = prefix.translate(_SIZE_ONLY) + text[m.end():]
    # A part of the code that is digits but for one letter shaped like a digit ("SW-S00"): the digit.
    return "".join(
        part.translate(_AS_DIGIT) if len(re.findall(r"\d", part)) >= 2 and re.fullmatch(r"\d*[SOIlBZG]\d*", part) else part
        for part in re.split(r"([-/])", text)
    )


_AS_DIGIT = str.maketrans("SOIlBZG", "5011826")


def _junk(w: Word, unit: float) -> bool:
    """A mark read as a word: a lone unsure letter, or a flat unsure one (a stamp frame's edge as "ss")."""
    return w.conf < 60 and (len(w.text) <= 1 or w.height < 0.6 * unit)


def _next_label_start(hits_on_line: list[LabelHit], after: LabelHit) -> float | None:
    starts = [h.box.left for h in hits_on_line if h.box.left > after.box.right]
    return min(starts) if starts else None


def _value_for(layout: Layout, hit: LabelHit, hits: list[LabelHit], max_lines: int, prefer_below: bool = False) -> ValueRegion:
    unit = layout.unit
    line = layout.lines[hit.line]
    same_line_hits = [h for h in hits if h.line == hit.line and h is not hit]
    stop = _next_label_start(same_line_hits, hit)
    right_edge = stop if stop is not None else layout.page_width
    # Right of the label: the first gap may be wide (a value column); later gaps are word spaces.
    right: list[Word] = []
    for w in line.words[hit.last_word + 1 :]:
        if w.left >= right_edge - 0.2 * unit:
            break
        if not right and (_NOISE.match(w.text) or _junk(w, unit) or (len(w.text) <= 2 and w.conf < 30)):
            continue  # the label's own colon, or a stamp frame's edge, read as a word of its own
        prev_right = right[-1].right if right else hit.box.right
        limit = max(0.35 * layout.page_width, 10 * unit) if not right else 3.0 * unit
        if w.left - prev_right > limit:
            break
        right.append(w)
    right = _clean(right)
    right_region = Box(
        hit.box.right + 0.2 * unit,
        hit.box.top - 0.6 * unit,
        min(right_edge - 0.2 * unit, hit.box.right + 0.5 * layout.page_width),
        hit.box.bottom + 0.6 * unit,
    )
    label_starts = {(h.line, h.first_word) for h in hits}
    if right:
        lines = [tuple(right)]
        # Continuation lines aligned under the value (an address under a customer name).
        x0 = right[0].left
        bottom = line.bottom
        for li in range(hit.line + 1, len(layout.lines)):
            if len(lines) >= max_lines:
                break
            nxt = layout.lines[li]
            if nxt.top - bottom > 1.8 * unit:
                break
            ws = [w for w in nxt.words if abs(w.left - x0) < 1.5 * unit or (lines and w.left > x0 and w.right < right_edge)]
            ws = _clean([w for w in ws if w.left >= x0 - 1.5 * unit and w.left < right_edge])
            if not ws or any(ln == li for ln, _ in label_starts):
                break  # the next line holds a label of its own
            lines.append(tuple(ws))
            bottom = nxt.bottom
        words = tuple(w for ln in lines for w in ln)
        right_value = ValueRegion(hit, words, tuple(lines), right_region, "right")
        # A speck or two read unsure beside a label whose value is printed under it ("Ship to: my"
        # over the name): the line below is the value. Otherwise the right is.
        weak = sum(c.isalnum() for w in right for c in w.text) <= 3 and sum(w.conf for w in right) / len(right) < 50
        if (not weak or len(lines) > 1) and not prefer_below:
            return right_value
    else:
        right_value = None
    # Below the label, starting near its left edge: the left edge of the words it is printed
    # with, when the label is only the end of them ("Mottaget (datum/tid):" matched as "datum tid").
    anchor = hit.box.left
    for w in reversed(line.words[: hit.first_word]):
        if anchor - w.right > 1.5 * unit:
            break
        anchor = w.left
    below_region = Box(
        anchor - 1.0 * unit,
        hit.box.bottom + 0.2 * unit,
        min(layout.page_width, anchor + 0.45 * layout.page_width),
        hit.box.bottom + 4.0 * unit,
    )
    lines_out: list[tuple[Word, ...]] = []
    bottom = line.bottom
    for li in range(hit.line + 1, len(layout.lines)):
        if len(lines_out) >= max_lines:
            break
        nxt = layout.lines[li]
        if nxt.top - bottom > (3.4 if not lines_out else 1.8) * unit:  # a stamp sits in its frame
            break
        # A word that starts left of the label but reaches well under it is in its column: OCR
        # merged a speck before the value into it ("”2026" boxed from far left).
        idx = [
            i for i, w in enumerate(nxt.words)
            if w.left >= anchor - 1.5 * unit or (w.right >= anchor + 2 * unit and w.left >= anchor - 8 * unit)
        ]
        if not idx:
            if lines_out:
                break
            continue
        first = idx[0]
        # A value below may sit a little to the right of its label (a stamp seldom lands square).
        if nxt.words[first].left > anchor + max(4 * unit, 0.2 * layout.page_width):
            if lines_out:
                break
            continue
        if (li, first) in label_starts:
            break  # the next label: this one's value is empty
        ws: list[Word] = []
        for i in idx:
            w = nxt.words[i]
            if (li, i) in label_starts:
                break
            if not ws and _NOISE.match(w.text):
                continue  # a speck before the value, read as punctuation: not where it starts
            if ws and w.left - ws[-1].right > 3.0 * unit:
                break
            ws.append(w)
        ws = _clean(ws)
        if not ws:
            if lines_out:
                break
            continue  # specks read as punctuation between the label and its value
        if not lines_out and all(_junk(w, unit) for w in ws):
            continue  # a speck or a stamp frame's edge read as a letter ("一"), not the value
        lines_out.append(tuple(ws))
        bottom = nxt.bottom
    words = tuple(w for ln in lines_out for w in ln)
    if words:
        return ValueRegion(hit, words, tuple(lines_out), below_region, "below")
    if right_value is not None:
        return right_value
    # Nothing read: the caller looks for ink (handwriting) right of and below the label.
    return ValueRegion(hit, (), (), Box.around([right_region, below_region]), "empty", (right_region, below_region))


_MAX_LINES = {"signature": 1, "customer": 4, "time": 2, "receiver": 1, "delivery_number": 1, "remarks": 3, "customer_id": 1}


def _best_hit(hits: list[LabelHit], name: str) -> LabelHit | None:
    """Prefer a label with a colon, then the one highest on the page."""
    cands = [h for h in hits if h.field == name]
    if not cands:
        return None
    return sorted(cands, key=lambda h: (not h.colon, h.line))[0]


def extract_fields(layout: Layout) -> PageFields:
    """Locate labels, their values and the item table on one page."""
    out = PageFields()
    header_line, columns = _find_table_header(layout)
    hits = find_labels(layout, FIELD_LABELS)
    if header_line is not None:
        hits = [h for h in hits if h.line != header_line]
    out.labels = hits
    for name, max_lines in _MAX_LINES.items():
        hit = _best_hit(hits, name)
        if hit is not None:
            out.values[name] = _value_for(layout, hit, hits, max_lines)
    time = _time_value(layout, hits, out.values.get("time"))
    if time is not None:
        if time.label not in hits:
            out.labels.append(time.label)
        out.values["time"] = time
    if header_line is not None:
        out.table_header = layout.lines[header_line].box
        if not any(name == "qty" for name, *_ in columns):
            columns = _with_unheaded_qty(layout, header_line, columns, hits)
        out.items, out.table_rows_seen = _read_table(layout, header_line, columns, hits)
    else:
        label = _best_hit(hits, "items")
        if label is not None:
            out.items = _read_headerless(layout, label.line + 1, hits)
            out.table_rows_seen = len(out.items)
            if out.items:
                out.table_header = layout.lines[label.line].box
        elif (first := _first_shaped_rows(layout, hits)) is not None:
            # No label and no heads: the rows alone. No table header is claimed, so an invoice's
            # article lines never make a page look more like a sign-off sheet.
            out.items = _read_headerless(layout, first, hits)
            out.table_rows_seen = len(out.items)
    return out


def _time_value(layout: Layout, hits: list[LabelHit], first: ValueRegion | None) -> ValueRegion | None:
    """The time of receipt's value. The one value a label check can confirm is a date, so where
    the best time label's value (`first`) holds none, the page is asked again:
    - of two time labels, one a slip in a name ("Supplies Lid :" read as "Tid:"), the one with a
      date beside or under it;
    - with no time label read, a garbled Chinese one known by its date (_time_by_its_value);
    - a speck read right of the label ("签收时间: 机") with the date printed under it: the date.
    Without a date anywhere, `first` stands."""
    if first is not None and _has_date(first.text):
        return first
    for hit in sorted((h for h in hits if h.field == "time"), key=lambda h: (not h.colon, h.line)):
        value = _value_for(layout, hit, hits, _MAX_LINES["time"])
        if _has_date(value.text):
            return value
    if first is None:
        return _time_by_its_value(layout, hits)
    if first.direction == "right":
        below = _value_for(layout, first.label, hits, _MAX_LINES["time"], prefer_below=True)
        if below.direction == "below" and _has_date(below.text):
            return below
    return first


def _has_date(text: str) -> bool:
    """Whether a date can be read in `text`, in either order of day and month."""
    return any(find_datetime(text, order) is not None for order in ("DMY", "MDY"))


_CJK_TIME_CHARS = frozenset(ch for phrase in FIELD_LABELS["time"] for ch in phrase if is_cjk(ch))


def _time_by_its_value(layout: Layout, hits: list[LabelHit]) -> ValueRegion | None:
    """A Chinese time label with a character misread ("日其:", "日斯:" or "B期:" for 日期, "等收时间，"
    for 签收时间) that no other rule can name: two to four characters and a colon (or a comma in
    its place) at the start of a line, one of them a time label's and at most one of them a
    Latin letter, with a date right of or under it. The date is what makes it the time label;
    a garbled label without one stays unknown."""
    label_lines = {h.line for h in hits}
    for li, line in enumerate(layout.lines):
        if li in label_lines:
            continue
        tokens = tokenize([dataclasses.replace(w, text=":") if w.text in ("，", ",") else w for w in line.words])
        end = next((k for k, t in enumerate(tokens[:4]) if t.colon), None)
        if end is None or not 2 <= end + 1 <= 4:
            continue
        head = tokens[: end + 1]
        if not all(len(t.text) == 1 for t in head):
            continue
        latin = [t for t in head if not is_cjk(t.text)]
        if (
            len(latin) > 1
            or not all(t.text.isalpha() for t in latin)
            or not any(t.text in _CJK_TIME_CHARS for t in head)
        ):
            continue
        words = line.words[head[0].word : head[-1].word + 1]
        hit = LabelHit("time", "".join(t.text for t in head), li, head[0].word, head[-1].word, Box.around(words), True)
        value = _value_for(layout, hit, hits, _MAX_LINES["time"])
        if value.words and _has_date(value.text):
            return value
    return None


def _find_table_header(layout: Layout) -> tuple[int | None, list[tuple[str, float, float]]]:
    """The line that names at least two item columns (SKU, description, quantity...).

    A header that names two columns but whose third heading was misread (a 150 dpi "Antal" read
    "Amal", "Item No." read "tem No.") still heads the table: the words standing apart from the
    named headings are taken as the third one, so its cells are still read.
    """
    col_hits = find_labels(layout, COLUMN_LABELS, strict=False)
    by_line: dict[int, dict[str, LabelHit]] = {}
    for h in col_hits:
        by_line.setdefault(h.line, {}).setdefault(h.field, h)
    best: tuple[int, int] | None = None
    for li, cols in by_line.items():
        kinds = set(cols)
        if not kinds & {"sku", "description"}:
            continue  # "Unit 9, Dockside Road ... Tel": an address line naming a unit and a count
        if len(kinds) >= 2 and ("qty" in kinds or len(kinds) >= 3 or {"sku", "description"} <= kinds):
            score = len(kinds - {"unit"}) + ("qty" in kinds)
            if best is None or score > best[0]:
                best = (score, li)
    if best is None:
        return None, []
    li = best[1]
    cols = sorted(by_line[li].values(), key=lambda h: h.box.left)
    out = [(h.field, h.box.left, h.box.right) for h in cols]
    missing = {"sku", "description", "qty"} - set(by_line[li])
    if len(missing) == 1:
        # One heading misread ("Item No." as "tem No.", "Antal" as "Amal"): a group of words standing
        # apart from the named headings, left or right of all of them, is the missing column's head.
        unit = layout.unit
        named = [(h.box.left, h.box.right) for h in cols]
        loose = [
            w for w in _clean(layout.lines[li].words)
            if _weight(w.text) >= 2
            and all(w.right < a - 1.5 * unit or w.left > b + 1.5 * unit for a, b in named)
        ]
        # Words between the same two named headings are one group; the group with most letters wins.
        groups: dict[int, list[Word]] = {}
        for w in loose:
            groups.setdefault(sum(b < w.left for _, b in named), []).append(w)
        if groups:
            group = max(groups.values(), key=lambda ws: sum(_weight(w.text) for w in ws))
            if sum(_weight(w.text) for w in group) >= 3:
                out.append((missing.pop(), float(min(w.left for w in group)), float(max(w.right for w in group))))
                out.sort(key=lambda c: c[1])
    return li, out


def _weight(text: str) -> int:
    """How much of a word a heading is: letters and digits count one, a Chinese character (a
    syllable, "品名" is a whole heading) two."""
    return sum(2 if is_cjk(c) else 1 for c in text if c.isalnum())


# A SKU: letters and digits with a dash or slash, or a letter prefix and digits ("HD-7731", "A-1001",
# "TB-2x4-240", "PK2040"); never a plain number, which is a quantity.
_SKU_SHAPE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9][A-Za-z0-9\-/.]{1,30}$")
# A size in a description ("300mm", "45x95", "M6x40", "5L"): letters and digits, but no item code.
_MEASURE = re.compile(r"^M?\d+(?:[.,]\d+)?(?:[xX×]\d+(?:[.,]\d+)?)*(?:mm|cm|dm|m|km|g|kg|t|l|L|ml|cl|dl)?$")


def _is_code(text: str) -> bool:
    """Whether a word, tidied of the marks around it, has an item code's shape and is no size."""
    return bool(_SKU_SHAPE.match(text)) and not _MEASURE.match(text)


def _read_headerless(layout: Layout, first: int, hits: list[LabelHit]) -> list[ItemRow]:
    """Item lines from line `first` on, read by their shape where the column heads were not read.

    Each line holding a SKU-shaped word and a quantity at one end (first or last, with or without
    a unit) is a row; the words between are its description. Reading stops at a field label or a
    wide gap.
    """
    unit = layout.unit
    label_lines = {h.line for h in hits if h.colon}
    rows: list[ItemRow] = []
    prev_bottom = layout.lines[first - 1].bottom if first else layout.lines[first].top
    for li in range(first, len(layout.lines)):
        line = layout.lines[li]
        # Before the first row, the column heads' line may be there unread: a wider gap.
        if line.top - prev_bottom > (3.2 if rows else 5.5) * unit or li in label_lines:
            break
        words = _clean(line.words)
        if words:
            prev_bottom = line.bottom  # an unread column head or a stray line is still inside the table
        row = _shaped_row(words, line, unit)
        if row is not None:
            rows.append(row)
    return rows


def _shaped_row(words: list[Word], line: Line, unit: float) -> ItemRow | None:
    """A line read as an item row by its shape: a SKU-shaped word and a quantity at one end."""
    sku_at = next((i for i, w in enumerate(words) if _is_code(tidy_sku(w.text))), None)
    if sku_at is None and words and re.fullmatch(r"[A-Z][A-Z0-9\-/.]{2,30}", words[0].text):
        sku_at = 0  # a code at the start of the line with a digit misread as a letter ("PTSL")
    if sku_at is None or len(words) < 2:
        return None
    rest = words[:sku_at] + words[sku_at + 1 :]
    qty_words: list[Word] = []
    qty = qunit = None
    for cand in (rest[-2:], rest[-1:], rest[:2], rest[:1]):
        # Two words are a number and its unit ("12 st"), never two numbers ("x 40 27").
        if not cand or (len(cand) == 2 and any(c.isdigit() for c in cand[1].text)):
            continue
        q, u = _qty_of(cand)
        if q is not None:
            qty, qunit, qty_words = q, u, cand
            break
    if qty is None:
        return None
    desc_words = [w for w in rest if w not in qty_words]
    sku = tidy_sku(words[sku_at].text)
    used = [words[sku_at], *qty_words, *desc_words]
    conf = sum(w.conf for w in used) / len(used)
    qb = Box.around(qty_words)
    qty_box = Box(qb.left - 0.5 * unit, line.top - 0.4 * unit, qb.right + 1.0 * unit, line.bottom + 0.4 * unit)
    b = Box.around([words[sku_at]])
    sku_box = Box(b.left - 0.4 * unit, b.top - 0.4 * unit, b.right + 0.6 * unit, b.bottom + 0.4 * unit)
    sure = words[sku_at].conf >= 75 and bool(_SKU_SHAPE.match(words[sku_at].text))
    return ItemRow(sku, _join(desc_words) or None, qty, qunit, conf, qty_box, sku_box, sure, _sure(qty_words))


def _qty_of(words: list[Word]) -> tuple[int | None, str | None]:
    """A quantity read from words outside a known quantity column, a speck before it dropped."""
    return parse_qty(re.sub(r"^[^\w]+(?=\d)", "", " ".join(w.text for w in words)))


def _first_shaped_rows(layout: Layout, hits: list[LabelHit]) -> int | None:
    """Where item rows start on a page whose table has neither its label nor its column heads read
    (a 150 dpi Chinese sheet's "货品明细" and "品名" both garbled): the first of two lines, neither a
    field label's, that read as item rows by their shape, with at most two lines between them that
    do not (a row whose quantity was misread, a rule's remains). One such line alone (an address
    with a postcode and a house number) is not a table."""
    label_lines = {h.line for h in hits}
    unit = layout.unit
    shaped = [
        li not in label_lines and _shaped_row(_clean(line.words), line, unit) is not None
        for li, line in enumerate(layout.lines)
    ]
    for li in range(len(layout.lines) - 1):
        if not shaped[li]:
            continue
        between = 0
        for nxt in range(li + 1, len(layout.lines)):
            if layout.lines[nxt].top - layout.lines[nxt - 1].bottom > 3.2 * unit or nxt in label_lines:
                break
            if shaped[nxt]:
                return li
            between += bool(_clean(layout.lines[nxt].words))
            if between > 2:
                break
    # A table of one row: only a line that could be nothing else stands alone.
    return next((li for li in range(len(layout.lines)) if shaped[li] and _unmistakable_row(layout.lines[li])), None)


def _unmistakable_row(line: Line) -> bool:
    """An item row that no address or note line looks like: a code with a dash first ("HD-7731"),
    words of description, and a quantity with its unit last ("226 件", "12 pcs")."""
    words = _clean(line.words)
    if len(words) < 4 or not re.fullmatch(r"[A-Za-z]+[-/][A-Za-z0-9\-/]*\d[A-Za-z0-9\-/]*", tidy_sku(words[0].text)):
        return False
    qty, unit = _qty_of(words[-2:])
    return qty is not None and unit is not None and unit.isalpha() and sum(_weight(w.text) for w in words[1:-2]) >= 2


def _code_before_description(cells: dict[str, list[Word]]) -> None:
    """A table whose code column has no heading read ("Article No." wrapped over two lines, its
    "No." alone too little to name a column): a code at the start of the description is the SKU."""
    words = cells.get("description", [])
    if len(words) > 1 and _is_code(tidy_sku(words[0].text)):
        cells["sku"], cells["description"] = words[:1], words[1:]


def _specks_before_code(cells: dict[str, list[Word]]) -> None:
    """Marks read as words before the code in the SKU column ("i A-1001", "oo. GL-88": a rule's
    remains, a speck): the code alone is the SKU."""
    words = cells.get("sku", [])
    if len(words) < 2 or _is_code(tidy_sku(_join(words))):
        return
    # The code may have a digit read as a letter ("PT-SL"): capitals with a dash count too.
    at = next(
        (i for i, w in enumerate(words) if _is_code(t := tidy_sku(w.text)) or re.fullmatch(r"[A-Z]+[-/][A-Z0-9\-/]+", t)),
        None,
    )
    if at and all(_weight(w.text) <= 2 and not any(c.isdigit() for c in w.text) for w in words[:at]):
        cells["sku"] = words[at:]


def _split_sku_cell(cells: dict[str, list[Word]]) -> None:
    """A code followed by words in the SKU column ("SW-500 Stretch", "NL-75 钉子 75mm"): the
    description's start drifted into it, or its heading was lost. The code alone is the SKU."""
    words = cells.get("sku", [])
    if len(words) > 1 and _is_code(tidy_sku(words[0].text)) and any(
        any(c.isalpha() for c in w.text) and not _is_code(tidy_sku(w.text)) for w in words[1:]
    ):
        cells["description"] = words[1:] + cells.get("description", [])
        cells["sku"] = words[:1]


def _sure(words: list[Word]) -> bool:
    """Tesseract was sure of every word of a quantity cell (a unit read into the number, "22 st" as
    "228", comes out unsure)."""
    return all(w.conf >= QTY_SURE for w in words)


QTY_SURE = 60
_QTY = re.compile(r"^(\d{1,6})\s*([^\d\s]{1,6})?$")


def _digit_letters(word: str) -> str:
    """A word's O and l read for the 0 and 1 they are beside digits ("1O" is 10, "l2" is 12)."""
    word = re.sub(r"(?<=\d)[Oo]|^[Oo](?=\d)", "0", word)
    return re.sub(r"(?<=\d)[lI|]|^[lI|](?=\d)", "1", word)


def parse_qty(text: str, cell: bool = False) -> tuple[int | None, str | None]:
    """A quantity and its unit ("12 pcs", "3 st", "5 件"). With `cell`, the text is known to be
    the quantity column's cell, so ones read as letters are taken for ones."""
    # O and l are taken for digits within one word only: "8 oe" is 8 and a smudged unit, not 80.
    # Digits go on across a space only as a thousands group ("1 200"): "149 7" is a number and a
    # speck, not 1497.
    t = " ".join(_digit_letters(part) for part in text.split())
    t = re.sub(r"(?<=\d) (?=\d{3}(?!\d))|(?<=\D) (?=\D)|(?<=\d) (?=\D)", "", t)
    if cell:
        t = re.sub(r"^[\W_]+(?=\d)", "", t)  # a speck before the number ("'8st", ".18", "_ 6st")
        t = re.sub(r"[\W_]+$", "", t)  # or after it ("ll.")
        t = re.sub(r"^[ti](?=\d)", "1", t)  # "t0" for 10
    if cell and not any(c.isdigit() for c in t):
        # "11 m" read "lim" or "iim": thin ones at 150 dpi come out as l, i or I. Two or more of
        # them before a unit (or alone) are the number; a single one could be a stray mark (see
        # lone_one).
        t = re.sub(r"^[lIi|!]{2,}(?=[^\W\d_]{0,4}$)", lambda m: "1" * len(m[0]), t)
    m = _QTY.match(t)
    if not m:
        return None, None
    unit = m[2].strip(".") if m[2] else None
    return int(m[1]), unit or None


def _with_unheaded_qty(
    layout: Layout, header_line: int, columns: list[tuple[str, float, float]], hits: list[LabelHit]
) -> list[tuple[str, float, float]]:
    """A table whose quantity heading was lost ("Qty" read "ty"): the numbers that end its rows,
    right of every heading that was read and standing in one column (left or right edges in line),
    are its quantity column. Without them the table stays as read, its quantities unread."""
    unit = layout.unit
    label_lines = {h.line for h in hits if h.colon}
    after = max(right for _, _, right in columns) + 2 * unit
    ends: list[tuple[float, float]] = []  # where each row's closing number (and unit) stands
    prev_bottom = layout.lines[header_line].bottom
    for li in range(header_line + 1, len(layout.lines)):
        line = layout.lines[li]
        if line.top - prev_bottom > 3.2 * unit or li in label_lines:
            break
        words = _clean(line.words)
        if not words:
            continue
        prev_bottom = line.bottom
        for tail in (words[-1:], words[-2:]):
            if len(tail) == len(words) or tail[0].left < after or not tail[0].text[:1].isdigit():
                continue
            if parse_qty(" ".join(w.text for w in tail), cell=True)[0] is not None:
                ends.append((float(tail[0].left), float(tail[-1].right)))
                break
    if not ends:
        return columns
    # In the column: its left edge in line with most rows' (left-aligned), or its right edge
    # (right-aligned; "181 box" and "48" end together).
    mid = [sorted(e[k] for e in ends)[len(ends) // 2] for k in (0, 1)]
    column = [e for e in ends if abs(e[0] - mid[0]) <= 2 * unit or abs(e[1] - mid[1]) <= 2 * unit]
    if len(column) < 2 and len(ends) > 1:
        return columns
    return sorted([*columns, ("qty", min(e[0] for e in column), max(e[1] for e in column))], key=lambda c: c[1])


def lone_one(text: str) -> tuple[int | None, str | None]:
    """A quantity cell read twice without a digit, as a thin letter and a unit ("Im", "lpcs" for
    1 m, 1 pcs): the letter is the one. Only a last resort: "läkt" is as often "14 krt" with the 4
    lost, which a second look reads right."""
    m = re.fullmatch(r"[\W_]*[lI|]([^\W\d_]{1,4})[\W_]*", text.strip())
    return (1, m[1]) if m else (None, None)


def _read_table(
    layout: Layout, header_line: int, columns: list[tuple[str, float, float]], hits: list[LabelHit]
) -> tuple[list[ItemRow], int]:
    unit = layout.unit
    label_lines = {h.line for h in hits if h.colon}
    # Column i owns words that start at or after its left edge (minus a tolerance) and before the next.
    bounds = []
    for i, (name, left, right) in enumerate(columns):
        lo = left - 1.2 * unit if i else -1e9
        hi = columns[i + 1][1] - 1.2 * unit if i + 1 < len(columns) else 1e9
        bounds.append((name, lo, hi, left, right))
    coded = any(name == "sku" for name, *_ in columns)
    rows: list[ItemRow] = []
    seen = 0
    prev_bottom = layout.lines[header_line].bottom
    for li in range(header_line + 1, len(layout.lines)):
        line = layout.lines[li]
        if line.top - prev_bottom > 3.2 * unit or li in label_lines:
            break
        cells: dict[str, list[Word]] = {}
        for w in _clean(line.words):
            if w.right < columns[0][1] - 4 * unit:
                if not coded and not cells and _is_code(tidy_sku(w.text)):
                    cells["sku"] = [w]  # the code of a table whose code column has no head read
                continue  # far left of the table
            qty_col = next((b for b in bounds if b[0] == "qty"), None)
            if qty_col is not None and parse_qty(w.text, cell=True)[0] is not None:
                # A right-aligned number may start left of its header: judge it by overlap.
                _, _, _, left, right = qty_col
                if w.right >= left - 0.5 * unit and w.left <= right + 2 * unit:
                    cells.setdefault("qty", []).append(w)
                    continue
            for name, lo, hi, left, right in bounds:
                if lo <= w.left < hi:
                    cells.setdefault(name, []).append(w)
                    break
        if not cells:
            continue  # a line of stray marks (a rule's remains): not a row, not the end either
        seen += 1
        prev_bottom = line.bottom
        _specks_before_code(cells)
        _split_sku_cell(cells)
        if "sku" not in cells and not coded:
            _code_before_description(cells)
        sku = _join(cells.get("sku", [])) or None
        if sku:
            sku = tidy_sku(sku)
        desc = _join(cells.get("description", [])) or None
        qty_text = " ".join(w.text for w in cells.get("qty", []))
        qty, qunit = parse_qty(qty_text, cell=True) if qty_text else (None, None)
        if qty is None and qty_text:
            # "7 箱 1": a speck beside the cell read as an unsure "1"; the cell without it.
            sure = " ".join(w.text for w in cells["qty"] if not _junk(w, unit))
            qty, qunit = parse_qty(sure, cell=True) if sure else (None, None)
        if qunit is None and cells.get("unit"):
            qunit = _join(cells["unit"])
        words = [w for ws in cells.values() for w in ws]
        conf = sum(w.conf for w in words) / len(words)
        if sku is None and qty is None and rows and desc:
            # A description that wraps onto a second line.
            last = rows[-1]
            rows[-1] = dataclasses.replace(last, description=f"{last.description or ''} {desc}".strip())
            continue
        if not (sku and _SKU_SHAPE.match(sku)) and _weight(desc or "") < 3:
            continue  # specks and a stray digit along a rule: no code and no words is no item line
        qty_box = None
        qty_col = next((b for b in bounds if b[0] == "qty"), None)
        if qty_col is not None:
            qty_box = Box(qty_col[3] - 2 * unit, line.top - 0.4 * unit, qty_col[4] + 3 * unit, line.bottom + 0.4 * unit)
        sku_words = cells.get("sku", [])
        sku_box = None
        if sku_words:
            b = Box.around(sku_words)
            sku_box = Box(b.left - 0.4 * unit, b.top - 0.4 * unit, b.right + 0.6 * unit, b.bottom + 0.4 * unit)
        sure = bool(sku_words) and min(w.conf for w in sku_words) >= 75
        rows.append(ItemRow(sku, desc, qty, qunit, conf, qty_box, sku_box, sure, _sure(cells.get("qty", []))))
    return rows, seen
