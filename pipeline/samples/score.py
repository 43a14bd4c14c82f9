"""Scoring the reader's records against the truth of a generated corpus: per-field accuracy, by language and profile."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.samples.truth import SampleFile, SheetTruth

__all__ = ["Match", "format_score", "match_records", "score"]

Record = Mapping[str, Any]  # one line of `signoff inspect --json`


@dataclass(frozen=True, slots=True)
class Match:
    """What the reader reported for one file, lined up with the file's truth."""

    file: SampleFile
    sheets: tuple[tuple[SheetTruth, Record | None], ...]  # every truth sheet, with its record if found
    blank_reported: int  # records whose pages are all blank back sides
    other_outcomes: tuple[str, ...]  # per "other" page: "other" (right), "signoff" (wrong) or "none" (not reported)
    extra: int  # records that match no truth sheet (a sheet split in two, a duplicate, a page out of range)


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


def _page_map(f: SampleFile) -> dict[int, tuple[str, int]]:
    """Page number (1-based) -> ("sheet", sheet index) | ("blank", k) | ("other", k-th other page)."""
    out: dict[int, tuple[str, int]] = {}
    sheets = iter(enumerate(f.sheets))
    current: tuple[int, SheetTruth] | None = None
    used = 0
    others = 0
    for page, kind in enumerate(f.page_kinds, start=1):
        if kind == "sheet":
            if current is None or used == current[1].pages:
                current, used = next(sheets), 0
            out[page] = ("sheet", current[0])
            used += 1
        elif kind == "other":
            out[page] = ("other", others)
            others += 1
        else:
            out[page] = ("blank", 0)
    return out


def match_records(files: Sequence[SampleFile], records: Iterable[Record]) -> list[Match]:
    """Line up each file's records with its truth sheets.

    A record is matched to a sheet of the same source file by delivery number when the number is one of
    the file's; else by the first page it covers; a sign-off record left over then takes the next
    unmatched sheet in file order. Records on blank pages and on "other" pages are counted apart.

    Args:
        files: The corpus truth.
        records: The reader's records (``source`` names the file; ``pages`` are 1-based).

    Returns:
        One `Match` per truth file, in order. Records of files not in the truth are ignored.
    """
    by_file: dict[str, list[Record]] = {}
    for rec in records:
        by_file.setdefault(_key(rec["source"]), []).append(rec)
    out: list[Match] = []
    for f in files:
        recs = by_file.get(_key(f.path), [])
        pages = _page_map(f)
        got: list[Record | None] = [None] * len(f.sheets)
        numbers = {s.delivery_number: i for i, s in enumerate(f.sheets)}
        n_other = f.page_kinds.count("other")
        other = ["none"] * n_other
        blank = extra = 0
        leftovers: list[Record] = []
        for rec in recs:
            i = numbers.get(rec.get("delivery_number") or "")
            if i is not None and got[i] is None:
                got[i] = rec
                continue
            first = min(rec.get("pages") or [0])
            where = pages.get(first)
            rec_pages = [pages.get(p) for p in rec.get("pages") or []]
            if rec_pages and all(w is not None and w[0] == "blank" for w in rec_pages):
                blank += 1
            elif where is not None and where[0] == "other":
                kind = "other" if rec.get("kind") == "other" else "signoff"
                if other[where[1]] != "signoff":  # one wrong report is enough to call the page wrong
                    other[where[1]] = kind
            elif where is not None and where[0] == "sheet" and got[where[1]] is None:
                got[where[1]] = rec
            else:
                leftovers.append(rec)
        for rec in leftovers:
            free = next((i for i, g in enumerate(got) if g is None), None)
            if free is not None and rec.get("kind") != "other":
                got[free] = rec
            else:
                extra += 1
        out.append(
            Match(
                file=f,
                sheets=tuple(zip(f.sheets, got, strict=True)),
                blank_reported=blank,
                other_outcomes=tuple(other),
                extra=extra,
            )
        )
    return out


@dataclass(slots=True)
class _Tally:
    sheets: int = 0
    found: int = 0
    as_other: int = 0  # sheets the reader reported as kind "other"
    dn: int = 0
    customer: int = 0
    items_tp: int = 0
    items_fp: int = 0
    items_fn: int = 0
    items_empty: int = 0  # sheets with an empty item table
    items_empty_ok: int = 0  # ... reported "missing"
    timed: int = 0
    time_ok: int = 0
    untimed: int = 0
    untimed_ok: int = 0  # empty time reported "missing"
    signature: int = 0
    confusion: Counter[str] = field(default_factory=Counter)  # tp/fp/fn/tn of INCOMPLETE
    not_found_incomplete: int = 0
    files: int = 0
    pages: int = 0
    reported: int = 0
    blank_pages: int = 0
    blank_reported: int = 0
    other_pages: int = 0
    other_outcomes: Counter[str] = field(default_factory=Counter)
    extra: int = 0

    def add_sheet(self, sheet: SheetTruth, rec: Record | None) -> None:
        self.sheets += 1
        self.timed += sheet.time is not None
        self.untimed += sheet.time is None
        self.items_empty += not sheet.items
        truth_items = Counter((i.sku, i.qty) for i in sheet.items)
        if rec is None:
            self.items_fn += sum(truth_items.values())
            self.not_found_incomplete += not sheet.complete
            return
        self.found += 1
        self.reported += 1
        self.as_other += rec.get("kind") == "other"
        fields = rec.get("fields") or {}

        def status(name: str) -> str:
            return str((fields.get(name) or {}).get("status") or "missing")

        def value(name: str) -> Any:
            return (fields.get(name) or {}).get("value")

        self.dn += rec.get("delivery_number") == sheet.delivery_number
        if sheet.customer:
            self.customer += (value("customer") or "").strip() == sheet.customer
        else:
            self.customer += status("customer") == "missing"
        got_items = Counter((str(i.get("sku")), _int(i.get("qty"))) for i in value("items") or [])
        tp = sum((truth_items & got_items).values())
        self.items_tp += tp
        self.items_fp += sum(got_items.values()) - tp
        self.items_fn += sum(truth_items.values()) - tp
        if not sheet.items:
            self.items_empty_ok += status("items") == "missing"
        if sheet.time is not None:
            self.time_ok += value("time") == sheet.time
        else:
            self.untimed_ok += status("time") == "missing"
        self.signature += (status("signature") != "missing") == sheet.signed
        truth_inc, said_inc = not sheet.complete, not bool(rec.get("complete"))
        self.confusion[{(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}[(truth_inc, said_inc)]] += 1

    def summary(self) -> dict[str, Any]:
        c = self.confusion
        p = _ratio(self.items_tp, self.items_tp + self.items_fp)
        r = _ratio(self.items_tp, self.items_tp + self.items_fn)
        f1 = None if p is None or r is None else (0.0 if p + r == 0 else 2 * p * r / (p + r))
        return {
            "sheets": self.sheets,
            "found": self.found,
            "delivery_number": {"correct": self.dn, "total": self.sheets, "accuracy": _ratio(self.dn, self.sheets)},
            "customer": {
                "correct": self.customer,
                "total": self.sheets,
                "accuracy": _ratio(self.customer, self.sheets),
            },
            "items": {
                "tp": self.items_tp,
                "fp": self.items_fp,
                "fn": self.items_fn,
                "precision": p,
                "recall": r,
                "f1": f1,
                "empty_tables": self.items_empty,
                "empty_reported_missing": self.items_empty_ok,
            },
            "time": {"correct": self.time_ok, "total": self.timed, "accuracy": _ratio(self.time_ok, self.timed)},
            "time_missing": {
                "correct": self.untimed_ok,
                "total": self.untimed,
                "accuracy": _ratio(self.untimed_ok, self.untimed),
            },
            "signature": {
                "correct": self.signature,
                "total": self.sheets,
                "accuracy": _ratio(self.signature, self.sheets),
            },
            "incomplete": {
                "tp": c["tp"],
                "fp": c["fp"],
                "fn": c["fn"],
                "tn": c["tn"],
                "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
                "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
                "not_found": self.not_found_incomplete,
            },
            "documents": {
                "files": self.files,
                "pages": self.pages,
                "expected": self.sheets + self.other_pages,
                "reported": self.reported,
                "sheets_found": self.found,
                "sheets_missed": self.sheets - self.found,
                "sheets_as_other": self.as_other,
                "extra": self.extra,
                "blank_pages": self.blank_pages,
                "blank_reported": self.blank_reported,
                "other_pages": self.other_pages,
                "other_as_other": self.other_outcomes["other"],
                "other_as_signoff": self.other_outcomes["signoff"],
                "other_not_reported": self.other_outcomes["none"],
            },
        }


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def score(files: Sequence[SampleFile], records: Iterable[Record]) -> dict[str, Any]:
    """Score the reader's records against the truth.

    Per field: delivery number exact; customer exact (a blank customer must come back "missing"); items
    as F1 over (sku, qty) pairs; time exact among sheets with a time, and "missing" for the empty ones;
    signature presence. The complete/incomplete decision as a confusion matrix with INCOMPLETE as the
    positive class (a sheet not found at all is counted apart, under ``not_found``). Documents found
    versus expected: blank back sides reported as documents (should be 0), "other" pages reported as
    kind "other" (should be all of them). A sheet not found counts as wrong on every field.

    Args:
        files: The corpus truth (files from one or more profiles).
        records: The reader's records, as `signoff inspect --json` prints them.

    Returns:
        ``{"groups": {"all": {...}, "lang=en": {...}, ..., "profile=scanner": {...}, ...}}``; each group as
        `_Tally.summary` builds it. Pages without a sheet (blank, other) count in "all" and their profile only.
    """
    tallies: dict[str, _Tally] = {"all": _Tally()}

    def groups(*names: str) -> list[_Tally]:
        return [tallies.setdefault(n, _Tally()) for n in ("all", *names)]

    langs = sorted({s.language for f in files for s in f.sheets})
    for lang in langs:
        tallies[f"lang={lang}"] = _Tally()
    for m in match_records(files, records):
        prof = f"profile={m.file.profile or 'demo'}"
        for t in groups(prof):
            t.files += 1
            t.pages += len(m.file.page_kinds)
            t.blank_pages += m.file.page_kinds.count("blank")
            t.blank_reported += m.blank_reported
            t.other_pages += len(m.other_outcomes)
            t.other_outcomes.update(m.other_outcomes)
            t.reported += m.blank_reported + m.extra + sum(o != "none" for o in m.other_outcomes)
            t.extra += m.extra
        for sheet, rec in m.sheets:
            for t in groups(prof, f"lang={sheet.language}", *(["rotated"] if sheet.rotation else [])):
                t.add_sheet(sheet, rec)
    return {"groups": {name: t.summary() for name, t in tallies.items()}}


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:4.0f}"


def format_score(result: Mapping[str, Any]) -> str:
    """Render `score` output as readable text tables (percentages; "-" where nothing was counted)."""
    g: Mapping[str, Mapping[str, Any]] = result["groups"]
    lines = [
        "Field accuracy (%)",
        f"{'group':<16}{'sheets':>7}{'found':>6}{'DN':>6}{'cust':>6}{'itemF1':>7}{'time':>6}"
        f"{'t-miss':>7}{'sig':>6}{'INC rec':>8}{'INC prec':>9}",
    ]
    for name, s in g.items():
        lines.append(
            f"{name:<16}{s['sheets']:>7}{s['found']:>6}{_pct(s['delivery_number']['accuracy']):>6}"
            f"{_pct(s['customer']['accuracy']):>6}{_pct(s['items']['f1']):>7}{_pct(s['time']['accuracy']):>6}"
            f"{_pct(s['time_missing']['accuracy']):>7}{_pct(s['signature']['accuracy']):>6}"
            f"{_pct(s['incomplete']['recall']):>8}{_pct(s['incomplete']['precision']):>9}"
        )
    lines += [
        "",
        "Documents found vs expected",
        f"{'group':<16}{'files':>6}{'pages':>6}{'expect':>7}{'report':>7}{'missed':>7}{'extra':>6}"
        f"{'blank':>6}{'blank!':>7}{'other':>6}{'o=oth':>6}{'o=sig':>6}{'o=none':>7}{'sh=oth':>7}",
    ]
    for name, s in g.items():
        d = dict(s["documents"])
        if name != "all" and not name.startswith("profile="):  # file-level counts belong to no language
            for k in ("files", "pages", "extra", "blank_pages", "blank_reported", "other_pages", "other_as_other",
                      "other_as_signoff", "other_not_reported"):
                d[k] = "-"
        lines.append(
            f"{name:<16}{d['files']:>6}{d['pages']:>6}{d['expected']:>7}{d['reported']:>7}{d['sheets_missed']:>7}"
            f"{d['extra']:>6}{d['blank_pages']:>6}{d['blank_reported']:>7}{d['other_pages']:>6}"
            f"{d['other_as_other']:>6}{d['other_as_signoff']:>6}{d['other_not_reported']:>7}{d['sheets_as_other']:>7}"
        )
    inc = g["all"]["incomplete"]
    lines += [
        "",
        "Complete/incomplete decision (all; positive = INCOMPLETE)",
        f"{'':<22}{'said INCOMPLETE':>16}{'said complete':>15}",
        f"{'truly incomplete':<22}{inc['tp']:>16}{inc['fn']:>15}",
        f"{'truly complete':<22}{inc['fp']:>16}{inc['tn']:>15}",
        f"recall {_pct(inc['recall']).strip()}%  precision {_pct(inc['precision']).strip()}%  "
        f"(incomplete sheets not found at all: {inc['not_found']})",
        "",
        "Legend: DN delivery number exact; cust customer exact (blank: reported missing); itemF1 over (sku, qty);",
        "time exact ISO among timed sheets; t-miss empty time reported missing; sig signature presence;",
        "blank! blank back sides reported as documents (want 0); o=oth/o=sig/o=none other pages reported as",
        "other/signoff/not at all; sh=oth sheets reported as kind other; extra records matching no sheet.",
        "Language and rotated rows count sheets only (blank and other pages have no language).",
    ]
    return "\n".join(lines)
