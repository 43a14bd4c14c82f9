"""Dates and times of receipt in the shapes SHEET_FORMAT.md lists; day/month order is a setting."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["ParsedTime", "find_datetime", "is_plausible"]

MONTHS = {
    # English
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
    # Swedish
    "januari": 1, "februari": 2, "mars": 3, "maj": 5, "juni": 6, "juli": 7, "augusti": 8,
    "okt": 10, "oktober": 10,
}
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))

_ISO = re.compile(r"(?<!\d)(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})\s*([/.-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?!\d)")
_CJK = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_DAY_MONTH = re.compile(rf"(?<!\d)(\d{{1,2}})\.?\s*({_MONTH_RE})\.?,?\s*(\d{{4}})(?!\d)", re.I)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)", re.I)
_TIME = re.compile(
    r"(?<!\d)([01]?\d|2[0-3])\s*[:.时]\s*([0-5]\d)(?:\s*[:.]\s*[0-5]\d)?\s*(?:分)?\s*(am|pm|a\.m\.|p\.m\.)?(?![\d])",
    re.I,
)


_BARE_TIME = re.compile(r"\s*([01]\d|2[0-3])([0-5]\d)(?!\d)")


@dataclass(frozen=True, slots=True)
class ParsedTime:
    value: datetime
    has_time: bool
    text: str  # the part of the input that was read as the date and time
    repaired: bool = False  # digits were mended (see `_repair`), or a time's lost colon restored

    def iso(self) -> str:
        if self.has_time:
            return self.value.strftime("%Y-%m-%dT%H:%M")
        return self.value.strftime("%Y-%m-%d")


# A date and the time after it run together when the space between was lost ("2026-10-2610:06").
_RUN_ON = re.compile(
    rf"(?<!\d)(\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{4}}|\d{{1,2}}\.?\s*(?:{_MONTH_RE})\.?,?\s*\d{{4}})"
    r"(?=\d{1,2}[:.]\d{2}(?!\d)|(?:[01]\d|2[0-3])[0-5]\d(?!\d))",
    re.I,
)


def _fix_ocr_digits(text: str) -> str:
    """O for 0 and l/I for 1 next to digits are common OCR slips in dates; a lost space between
    a date and its time is put back. A clock time's colon read as a semicolon ("13;15") is the
    colon, and a rule right after a whole clock time ("08:36|") is no third digit of its minutes."""
    text = re.sub(r"(?<!\d)([01]?\d|2[0-3]);(?=[0-5]\d(?!\d))", r"\1:", text)
    text = re.sub(r"(?<=:\d\d)[lI|](?![\d:.])", " ", text)
    text = re.sub(r"(?<=\d)[Oo]|[Oo](?=\d)", "0", text)
    text = re.sub(r"(?<=\d)[lI|]|[lI|](?=\d)", "1", text)
    return _RUN_ON.sub(r"\1 ", text)


def _make_date(y: int, m: int, d: int) -> date | None:
    if y < 100:
        y += 2000
    try:
        return date(y, m, d)
    except ValueError:
        return None


# Digits OCR reads in place of another: a dotted or slashed zero comes out 6, 8 or 9, a 1 as 7,
# or as 4 when a speck touches its flag.
_CONFUSED = {"6": "0", "8": "0", "9": "0", "7": "1", "4": "1"}
_RANGES = {"day": (1, 31), "month": (1, 12), "hour": (0, 23), "minute": (0, 59)}
_NUMERIC_LOOSE = re.compile(r"(?<!\d)(\d{1,2})(\s*[/.-]\s*)(\d{1,2})(\s*[/.-]\s*)(\d{4}|\d{2})(?!\d)")
_ISO_LOOSE = re.compile(r"(?<!\d)(\d{4})(\s*[-/.]\s*)(\d{1,2})(\s*[-/.]\s*)(\d{1,2})(?!\d)")
_SLASHED_ONES = re.compile(r"(?<!\d)(\d{2})1(\d{2})1(\d{4})(?!\d)")
_TIME_LOOSE = re.compile(r"(?<![\d.])(\d{1,2})(\s*[:时]\s*)(\d{2})(?!\d)")


def _mend(group: str, role: str) -> str:
    """`group` itself when in range for its role, else its one in-range reading with the fewest
    confusable digits swapped (two at most); unchanged when there is none or more than one."""
    lo, hi = _RANGES[role]
    if lo <= int(group) <= hi:
        return group
    spots = [i for i, ch in enumerate(group) if ch in _CONFUSED]
    for n in (1, 2):
        found = set()
        for idx in ([i] for i in spots) if n == 1 else ([a, b] for a in spots for b in spots if a < b):
            cand = "".join(_CONFUSED[ch] if i in idx else ch for i, ch in enumerate(group))
            if lo <= int(cand) <= hi:
                found.add(cand)
        if found:
            return found.pop() if len(found) == 1 else group
    return group


def _repair(text: str, date_order: str) -> str:
    """Mend day, month, hour and minute groups that no calendar or clock has ("64.16.2026 13:89"
    is 04.10.2026 13:09 in a font with dotted zeros). Years are not mended here: only the date's
    plausibility can say which year was meant (see mend_year)."""
    first, second = ("day", "month") if date_order == "DMY" else ("month", "day")

    def numeric(m: re.Match[str]) -> str:
        a, b = int(m[1]), int(m[3])
        if 1 <= a <= 12 and 1 <= b <= 31 if date_order == "DMY" else 1 <= a <= 31 and 1 <= b <= 12:
            return m[0]  # a valid date in the other order: not read, never guessed into this one
        return _mend(m[1], first) + m[2] + _mend(m[3], second) + m[4] + m[5]

    def slashes(m: re.Match[str]) -> str:
        a, b = int(m[1]), int(m[2])
        day, month = (a, b) if date_order == "DMY" else (b, a)
        return f"{m[1]}/{m[2]}/{m[3]}" if _make_date(int(m[3]), month, day) else m[0]

    # "16/09/2026" read "1610912026": thin slashes come out as ones.
    text = _SLASHED_ONES.sub(slashes, text)
    text = _NUMERIC_LOOSE.sub(numeric, text)
    text = _ISO_LOOSE.sub(lambda m: m[1] + m[2] + _mend(m[3], "month") + m[4] + _mend(m[5], "day"), text)
    return _TIME_LOOSE.sub(lambda m: _mend(m[1], "hour") + m[2] + _mend(m[3], "minute"), text)


def find_datetime(text: str, date_order: str = "DMY") -> ParsedTime | None:
    """Find the first date (and a time after or before it) in `text`.

    `date_order` says how an all-numeric `03/04/2025` is read; a numeric date that is invalid in
    that order is not read at all (it is not guessed the other way round). A day, month, hour or
    minute that is out of range is mended when one swap of OCR-confusable digits makes it valid
    and only one does (the result says so in `repaired`).
    """
    text = _fix_ocr_digits(text)
    found = _find(text, date_order)
    if found is None or not found.has_time:
        mended = _repair(text, date_order)
        if mended != text:
            again = _find(mended, date_order)
            if again is not None and (found is None or again.has_time):
                return dataclasses.replace(again, repaired=True)
    return found


def _find(text: str, date_order: str) -> ParsedTime | None:
    found: list[tuple[int, int, date]] = []
    for m in _ISO.finditer(text):
        d = _make_date(int(m[1]), int(m[2]), int(m[3]))
        if d:
            found.append((m.start(), m.end(), d))
    for m in _CJK.finditer(text):
        d = _make_date(int(m[1]), int(m[2]), int(m[3]))
        if d:
            found.append((m.start(), m.end(), d))
    for m in _NUMERIC.finditer(text):
        a, b, y = int(m[1]), int(m[3]), int(m[4])
        day, month = (a, b) if date_order == "DMY" else (b, a)
        d = _make_date(y, month, day)
        if d and not any(s <= m.start() < e for s, e, _ in found):
            found.append((m.start(), m.end(), d))
    for m in _DAY_MONTH.finditer(text):
        d = _make_date(int(m[3]), MONTHS[m[2].lower()], int(m[1]))
        if d:
            found.append((m.start(), m.end(), d))
    for m in _MONTH_DAY.finditer(text):
        d = _make_date(int(m[3]), MONTHS[m[1].lower()], int(m[2]))
        if d:
            found.append((m.start(), m.end(), d))
    if not found:
        return None
    start, end, d = min(found, key=lambda t: t[0])
    # The time usually follows the date; a stamp may put it first.
    rest = text[end:]
    tm = _TIME.search(rest)
    span_end = end + tm.end() if tm else end
    if tm is None:
        tm = _TIME.search(text[:start])
    if tm is None:
        bare = _BARE_TIME.match(rest)
        if bare is not None:
            # "2026年9月5日 1053": the colon was lost in the scan. Right after a date, four digits
            # that make a valid time are that time (marked mended, as a repair is).
            value = datetime(d.year, d.month, d.day, int(bare[1]), int(bare[2]))
            return ParsedTime(value, True, text[start : end + bare.end()].strip(), repaired=True)
        return ParsedTime(datetime(d.year, d.month, d.day), False, text[start:end].strip())
    hour, minute = int(tm[1]), int(tm[2])
    suffix = (tm[3] or "").lower().replace(".", "")
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    return ParsedTime(
        datetime(d.year, d.month, d.day, hour, minute), True, text[start:span_end].strip()
    )


_CLOCK = re.compile(r"(?<!\d)([01]?\d|2[0-3])\s*[:时]\s*([0-5]\d)(?!\d)")


def clock_time(text: str) -> tuple[int, int] | None:
    """The first clock time written with a colon in `text` (hour, minute), with or without a date
    beside it; "09.14" is more likely a date's month and day than a time."""
    tm = _CLOCK.search(_fix_ocr_digits(text))
    return (int(tm[1]), int(tm[2])) if tm else None


def is_plausible(value: datetime, now: datetime | None = None, max_age_days: int = 730) -> bool:
    """A receipt time cannot be in the future, nor years before the scan."""
    now = now or datetime.now()
    return now - timedelta(days=max_age_days) <= value <= now + timedelta(days=1)


def mend_year(value: datetime, now: datetime | None = None) -> datetime | None:
    """An implausible time whose year is one OCR-confusable digit off a plausible one ("2626" for
    2026: a dotted zero read as 6), when only one such year is plausible; else None. A year
    written wrong stays implausible: 2028 or 2019 is no single slip away from a plausible year."""
    year = str(value.year)
    found = set()
    for i, ch in enumerate(year):
        if ch in _CONFUSED:
            try:
                cand = value.replace(year=int(year[:i] + _CONFUSED[ch] + year[i + 1 :]))
            except ValueError:  # 29 February in another year
                continue
            if is_plausible(cand, now):
                found.add(cand)
    return found.pop() if len(found) == 1 else None
