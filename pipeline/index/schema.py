"""The whoosh schema of the search index, its analysers, and how a sidecar becomes an index document."""

from __future__ import annotations

import logging
import re
import unicodedata
import zlib
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from whoosh.analysis import (
    Analyzer,
    Filter,
    IDTokenizer,
    LowercaseFilter,
    Token,
    Tokenizer,
)
from whoosh.columns import NumericColumn
from whoosh.fields import COLUMN, DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.support.charset import accent_map

__all__ = [
    "FREE_FIELDS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STATUS_FIELDS",
    "TEXT_FIELDS",
    "CjkBigramTokenizer",
    "NfkcFilter",
    "build_schema",
    "field_statuses",
    "fold",
    "pack_text",
    "series_of",
    "unpack_text",
    "id_analyzer",
    "redo_document",
    "text_analyzer",
    "to_document",
]

log = logging.getLogger(__name__)

# Bump whenever a field, an analyser or the meaning of a stored value changes: an index
# carrying another number is refused (IndexSchemaMismatch) until `signoff reindex` rebuilds it.
SCHEMA_VERSION = 2
# 2: `series`, `version` and `latest` (a rescan hides the older versions of its sheet), `signed`,
#    a `day` column to sort by date, the OCR text stored zlib-compressed in `body`, `src` (what re-adding a
#    document needs), and one tokenizer that folds width, case and accents itself.

# The required and optional checked fields of a sheet, in the order reports show them.
STATUS_FIELDS = ("customer", "items", "time", "signature", "receiver")

# Fields analysed with text_analyzer(): their query terms are highlighted in the OCR text.
TEXT_FIELDS = ("text", "customer", "items", "receiver", "remarks")

# Fields a free word (no `field:` prefix) searches, with their query-time weights:
# a hit on the delivery number or the customer outranks a hit in the body text.
FREE_FIELDS: Mapping[str, float] = {
    "delivery": 4.0,
    "customer": 3.0,
    "customer_id": 3.0,
    "sku": 2.0,
    "items": 1.5,
    "receiver": 1.5,
    "remarks": 1.2,
    "text": 1.0,
}

# Han ideographs (with extensions and compatibility forms), kana and Hangul: scripts written
# without spaces between words (Korean glues particles on), so indexed as overlapping bigrams.
_CJK = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003134f"
)
_VERSION_SUFFIX = re.compile(r"\.v\d+(?=\.pdf$)", re.IGNORECASE)


def fold(text: str) -> str:
    """NFKC, lowercase, accents off: ``ＤＮ`` = ``dn``, ``Göteborg`` = ``goteborg``."""
    return unicodedata.normalize("NFKC", text).lower().translate(accent_map)
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W{_CJK}]+(?:\.[^\W{_CJK}]+)*)")


class CjkBigramTokenizer(Tokenizer):  # type: ignore[misc]
    """Split text into words, and runs of CJK characters into overlapping bigrams.

    ``上海恒达物流`` becomes ``上海 海恒 恒达 达物 物流`` at consecutive positions, so a query
    of two or more CJK characters, analysed the same way, is a phrase of bigrams that
    matches anywhere inside a run. A run of one character is kept as that character.
    Other text splits on anything that is not a letter or digit (``A-1001`` is ``A 1001``);
    a dot between letters or digits stays inside the word (``12.5``).

    With ``folding`` the tokens come out already folded (fold()): the whole value at once when
    no character offsets are asked for (indexing, queries: the hot path), token by token when
    they are (highlighting), so offsets still point into the original text.
    """

    def __init__(self, folding: bool = False) -> None:
        self.folding = folding

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        """Yield whoosh tokens for ``value`` (the same Token object, updated each time)."""
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        folding = getattr(self, "folding", False)
        if not tokenize:
            # Wildcard, prefix and fuzzy terms arrive untokenised: pass them through whole.
            t.original = t.text = fold(value) if folding else value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar = start_char
                t.endchar = start_char + len(value)
            yield t
            return
        pos = start_pos
        fold_each = folding and chars
        if folding and not chars:
            value = fold(value)
        for match in _TOKEN.finditer(value):
            run, offset = match.group(0), match.start()
            if match.lastgroup == "cjk" and len(run) > 1:
                pieces = [(run[i : i + 2], offset + i) for i in range(len(run) - 1)]
            else:
                pieces = [(run, offset)]
            for text, start in pieces:
                t.text = fold(text) if fold_each else text
                t.boost = 1.0
                if keeporiginal:
                    t.original = text
                t.stopped = False
                if positions:
                    t.pos = pos
                    pos += 1
                if chars:
                    t.startchar = start_char + start
                    t.endchar = start_char + start + len(text)
                yield t


class NfkcFilter(Filter):  # type: ignore[misc]
    """Normalise each token to NFKC, so full-width ``ＤＮ２０２５`` (common in CJK OCR) is ``DN2025``."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        """Yield the tokens with their text normalised (character offsets are kept)."""
        for t in tokens:
            t.text = unicodedata.normalize("NFKC", t.text)
            yield t


def text_analyzer() -> Analyzer:
    """Words and CJK bigrams, NFKC-normalised, lowercased and accent-folded (``Göteborg`` = ``goteborg``).

    The same as ``CjkBigramTokenizer() | NfkcFilter() | LowercaseFilter() | CharsetFilter(accent_map)``
    but about twice as fast, the folding done once per value instead of once per token per filter.
    """
    return CjkBigramTokenizer(folding=True)


def id_analyzer() -> Analyzer:
    """The whole value as one lowercased token, hyphens kept: ``DN-2025-004817`` = ``dn-2025-004817``."""
    return IDTokenizer() | LowercaseFilter()


def build_schema() -> Schema:
    """Return a new whoosh Schema for SCHEMA_VERSION.

    ``path`` (the archive-relative PDF path) is the unique key. ``series`` is the path without
    a ``.vN`` rescan suffix: the versions of one sheet share it, and ``latest`` says which one a
    default search shows. ``meta`` stores what a Hit shows and ``body`` the OCR text (compressed)
    for snippets, so a search never opens a sidecar; ``src`` holds the other indexed values, so
    a document can be re-added with another ``latest`` without its sidecar.
    """
    words = text_analyzer()
    return Schema(
        path=ID(stored=True, unique=True),
        series=ID(),
        version=ID(),
        latest=ID(),
        delivery=ID(analyzer=id_analyzer()),
        customer=TEXT(analyzer=words, multitoken_query="phrase"),
        customer_id=ID(analyzer=id_analyzer()),
        date=DATETIME(),
        # YYYYMMDD as a column only, for --sort date: undated sheets are 0, so they sort last.
        day=COLUMN(NumericColumn("I", default=0)),
        text=TEXT(analyzer=words, multitoken_query="phrase"),
        items=TEXT(analyzer=words, multitoken_query="phrase"),
        sku=KEYWORD(lowercase=True, commas=True),
        receiver=TEXT(analyzer=words, multitoken_query="phrase"),
        remarks=TEXT(analyzer=words, multitoken_query="phrase"),
        complete=ID(),
        signed=ID(),
        kind=ID(analyzer=id_analyzer()),
        flags=KEYWORD(lowercase=True),
        meta=STORED(),
        body=STORED(),
        src=STORED(),
    )


SCHEMA = build_schema()


def pack_text(text: str) -> bytes:
    """The OCR text as stored in ``body``: OCR text compresses about 3:1, and most of the index is text."""
    return zlib.compress(text.encode("utf-8"), 6)


def unpack_text(body: Any) -> str:
    """The OCR text back from ``body`` (empty for anything that is not what pack_text wrote)."""
    if not isinstance(body, bytes):
        return ""
    try:
        return zlib.decompress(body).decode("utf-8")
    except (zlib.error, UnicodeDecodeError):
        return ""


def series_of(path: str) -> str:
    """The path every version of a sheet shares: ``a/DN-1.v2.pdf`` -> ``a/DN-1.pdf``."""
    return _VERSION_SUFFIX.sub("", path)


def _version(value: Any) -> int:
    """The sidecar's ``version`` (1 when absent or not a positive whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """A non-empty stripped string, or None for anything else."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _day(value: Any) -> date | None:
    """Parse the sidecar's ``date`` ("YYYY-MM-DD", or a longer ISO time whose date part is used)."""
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        log.warning("sidecar date %r is not YYYY-MM-DD; the sheet is indexed without a date", text)
        return None


def field_statuses(sidecar: Mapping[str, Any]) -> dict[str, str]:
    """Return ``{field: "ok"|"unreadable"|"missing"}`` for STATUS_FIELDS.

    A field absent from the sidecar's ``fields`` counts as missing; a sidecar without
    ``fields`` at all (a page that is not a sign-off sheet) has no statuses.
    """
    fields = sidecar.get("fields")
    if not isinstance(fields, Mapping):
        return {}
    statuses = {}
    for name in STATUS_FIELDS:
        status = _text(_mapping(fields.get(name)).get("status"))
        statuses[name] = status.lower() if status else "missing"
    return statuses


def _items(fields: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Return (SKUs, descriptions) of the item lines, skipping malformed lines."""
    skus: list[str] = []
    descriptions: list[str] = []
    lines = _mapping(fields.get("items")).get("value")
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, str):
            descriptions.append(line)
        elif isinstance(line, Mapping):
            sku, description = _text(line.get("sku")), _text(line.get("description"))
            if sku:
                skus.append(sku.replace(",", " "))
            if description:
                descriptions.append(description)
    return skus, descriptions


def to_document(sidecar: Mapping[str, Any], path: str, *, latest: bool = True) -> dict[str, Any]:
    """Map a sidecar (read defensively: any key may be absent or null) to whoosh field values.

    Args:
        sidecar: the parsed JSON written beside a filed PDF.
        path: the PDF's archive-relative POSIX path, the document's key.
        latest: whether this is the newest version of its sheet (the store decides).

    Returns:
        Keyword arguments for ``writer.update_document``.
    """
    fields = _mapping(sidecar.get("fields"))
    statuses = field_statuses(sidecar)
    delivery = _text(sidecar.get("delivery_number"))
    customer = _text(sidecar.get("customer")) or _text(_mapping(fields.get("customer")).get("value"))
    customer_id = _text(sidecar.get("customer_id"))
    day = _day(sidecar.get("date"))
    complete = sidecar.get("complete") is True
    kind = _text(sidecar.get("kind")) or "signoff"
    skus, descriptions = _items(fields)
    # A page that is not a sign-off sheet has no fields to chase: missing:time finds sheets only.
    flags = [f"{status}:{name}" for name, status in statuses.items() if status != "ok" and kind == "signoff"]
    if delivery is None:
        flags.append("missing:delivery")
    version = _version(sidecar.get("version"))
    # Only a sign-off sheet is signed or not; a letter has no signature box to ask about.
    signed = None if kind != "signoff" or not statuses else statuses["signature"] != "missing"
    text = _text(sidecar.get("text")) or ""

    src: dict[str, Any] = {
        "series": series_of(path),
        "version": str(version),
        "complete": "yes" if complete else "no",
        "kind": kind,
        "flags": " ".join(flags),
        "items": "\n".join(descriptions),
        "sku": ",".join(skus),
    }
    if signed is not None:
        src["signed"] = "yes" if signed else "no"
    optional = {
        "delivery": delivery,
        "customer": customer,
        "customer_id": customer_id,
        "receiver": _text(_mapping(fields.get("receiver")).get("value")),
        "remarks": _text(_mapping(fields.get("remarks")).get("value")),
    }
    src.update({name: value for name, value in optional.items() if value is not None})
    if day is not None:
        src["date"] = datetime(day.year, day.month, day.day)
        src["day"] = day.year * 10000 + day.month * 100 + day.day
    meta = {
        "delivery_number": delivery,
        "customer": customer,
        "date": day.isoformat() if day else None,
        "complete": complete,
        "kind": kind,
        "statuses": statuses,
        "version": version,
        "customer_id": customer_id,
        "signed": signed,
    }
    return {
        **src,
        "path": path,
        "text": text,
        "latest": "yes" if latest else "no",
        "meta": meta,
        "body": pack_text(text),
        "src": src,
    }


def redo_document(stored: Mapping[str, Any], *, latest: bool) -> dict[str, Any]:
    """A stored document's field values again (from ``src``), with ``latest`` set anew."""
    src = dict(stored.get("src") or {})
    return {
        **src,
        "path": stored["path"],
        "text": unpack_text(stored.get("body")),
        "latest": "yes" if latest else "no",
        "meta": stored.get("meta") or {},
        "body": stored.get("body") or pack_text(""),
        "src": src,
    }
