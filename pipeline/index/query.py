"""The `signoff search` query language: parsing it into a whoosh query, and marking its matches in snippets."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any

from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.highlight import ContextFragmenter, Formatter, Fragment, highlight
from whoosh.qparser import AndGroup, MultifieldParser, syntax
from whoosh.qparser.plugins import TaggingPlugin

from pipeline.index.schema import FREE_FIELDS, SCHEMA, STATUS_FIELDS, TEXT_FIELDS

__all__ = ["PREFIXES", "QUERY_HELP", "date_bounds", "highlight_words", "parse_query", "snippet"]

QUERY_HELP = """\
Free words search the OCR text, customer, item descriptions and SKUs, receiver and remarks;
all words must match (AND, OR, NOT, parentheses, "a phrase" and word* work as usual).
Case and accents are ignored (goteborg finds Göteborg); 2+ Chinese characters match inside
longer text (恒达 finds 上海恒达物流有限公司).

  customer:nordic  customer:"nordic timber"  customer:C-0042  customer:nord*
  delivery:DN-2025-004817  delivery:DN-2025-00*     exact (any case), or a prefix
  date:2025-03-14  date:2025-03  date:2025          a day, a month, a year
  date:[2025-03-01 to 2025-03-31]  date:[2025-03 to]  inclusive; either end may be left out
  sku:A-1001  sku:A-10*
  complete:yes|no  status:complete|incomplete
  missing:signature|time|customer|items|receiver|delivery  unreadable:signature|time|...
  kind:signoff|other
  text:  items:  receiver:  remarks:                one field only
"""

_SNIPPET_CHARS = 120  # length of the fallback snippet
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0"})
_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_RANGE = re.compile(r"\[\s*(?P<lo>\S*?)\s*\bto\b\s*(?P<hi>\S*?)\s*\]", re.IGNORECASE)


def date_bounds(text: str) -> tuple[date, date]:
    """Return the first and last day (inclusive) of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.

    Raises:
        ValueError: the text is not one of those forms, or not a real date.
    """
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"date:{text} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    try:
        if day is not None and month is not None:
            first = last = date(year, month, day)
        elif month is not None:
            first = date(year, month, 1)
            last = date(year, month, calendar.monthrange(year, month)[1])
        else:
            first, last = date(year, 1, 1), date(year, 12, 31)
    except (ValueError, calendar.IllegalMonthError) as exc:
        raise ValueError(f"date:{text} is not a real date ({exc})") from exc
    return first, last


def _date_query(value: str) -> wq.Query:
    """A DateRange for a day, month, year or ``[A to B]`` (either end may be left out)."""
    if value.startswith("["):
        match = _RANGE.fullmatch(value)
        if match is None or not (match["lo"] or match["hi"]):
            raise ValueError(f"date:{value} is not a range like [2025-03-01 to 2025-03-31]")
        lo = date_bounds(match["lo"])[0] if match["lo"] else None
        hi = date_bounds(match["hi"])[1] if match["hi"] else None
        if lo and hi and lo > hi:
            raise ValueError(f"date:{value} starts after it ends")
    else:
        lo, hi = date_bounds(value)
    start = datetime.combine(lo, time.min) if lo else None
    end = datetime.combine(hi, time.max) if hi else None
    return wq.DateRange("date", start, end)


def _exact_or_prefix(field: str) -> Callable[[str, Schema], wq.Query]:
    """Build a Term on a lowercased ID-like field, or a Prefix when the value ends in ``*``."""

    def build(value: str, schema: Schema) -> wq.Query:
        if value.endswith("*"):
            stem = value.rstrip("*").lower()
            if not stem:
                raise ValueError(f"{field}:{value} needs some characters before the *")
            return wq.Prefix(field, stem)
        return wq.Term(field, value.lower())

    return build


def _customer_query(value: str, schema: Schema) -> wq.Query:
    """Words of the customer name (a phrase if several), or the exact customer id."""
    field = schema["customer"]
    by_id = wq.Term("customer_id", value.lower())
    if value.endswith("*") and " " not in value:
        stem = value.rstrip("*")
        folded = list(field.process_text(stem, mode="query", tokenize=False))
        if not stem or not folded:
            raise ValueError(f"customer:{value} needs some characters before the *")
        return wq.Or([wq.Prefix("customer", folded[0]), wq.Prefix("customer_id", stem.lower())])
    words = list(field.process_text(value, mode="query"))
    if not words:
        return by_id
    by_name = wq.Term("customer", words[0]) if len(words) == 1 else wq.Phrase("customer", words)
    return wq.Or([by_name, by_id])


def _complete_query(value: str, schema: Schema) -> wq.Query:
    word = value.lower()
    if word not in _YES | _NO:
        raise ValueError(f"complete:{value} should be complete:yes or complete:no")
    return wq.Term("complete", "yes" if word in _YES else "no")


def _status_query(value: str, schema: Schema) -> wq.Query:
    word = value.lower()
    if word not in ("complete", "incomplete"):
        raise ValueError(f"status:{value} should be status:complete or status:incomplete")
    return wq.Term("complete", "yes" if word == "complete" else "no")


def _flag_query(status: str) -> Callable[[str, Schema], wq.Query]:
    names = (*STATUS_FIELDS, "delivery") if status == "missing" else STATUS_FIELDS

    def build(value: str, schema: Schema) -> wq.Query:
        name = value.lower()
        if name not in names:
            raise ValueError(f"{status}:{value} is not a checked field; use one of: {', '.join(names)}")
        return wq.Term("flags", f"{status}:{name}")

    return build


_BUILDERS: dict[str, Callable[[str, Schema], wq.Query]] = {
    "customer": _customer_query,
    "delivery": _exact_or_prefix("delivery"),
    "date": lambda value, schema: _date_query(value),
    "sku": _exact_or_prefix("sku"),
    "complete": _complete_query,
    "status": _status_query,
    "missing": _flag_query("missing"),
    "unreadable": _flag_query("unreadable"),
    "kind": lambda value, schema: wq.Term("kind", value.lower()),
}

PREFIXES = tuple(_BUILDERS)


class _BuiltNode(syntax.SyntaxNode):  # type: ignore[misc]
    """A syntax node holding a query already built from a ``prefix:value`` clause."""

    def __init__(self, built: wq.Query) -> None:
        self.built = built

    def r(self) -> str:
        return f"Built {self.built!r}"

    def query(self, parser: MultifieldParser) -> wq.Query:
        return self.built


class _PrefixPlugin(TaggingPlugin):  # type: ignore[misc]
    """Tags ``prefix:value`` for PREFIXES ahead of whoosh's own FieldsPlugin (priority 0)."""

    priority = -10
    expr = (
        r"(?i)(?<![\w-])(?P<field>" + "|".join(PREFIXES) + r"):"
        r"(?P<value>\[[^\]]*\]?|\"[^\"]*\"?|[^\s()\"]*)"
    )

    def __init__(self, schema: Schema) -> None:
        super().__init__()
        self.schema = schema

    def create(self, parser: MultifieldParser, match: re.Match[str]) -> _BuiltNode:
        field, value = match["field"].lower(), match["value"]
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise ValueError(f"{field}:{value} has no closing quote")
            value = value[1:-1]
        value = value.strip()
        if not value:
            raise ValueError(f"{field}: needs a value")
        return _BuiltNode(_BUILDERS[field](value, self.schema))


def _first_error(q: wq.Query) -> str | None:
    """whoosh turns some parse problems into a query with an ``error`` attribute: find one."""
    error = getattr(q, "error", None)
    if error:
        return str(error)
    for child in q.children():
        found = _first_error(child)
        if found:
            return found
    return None


def parse_query(text: str, schema: Schema = SCHEMA) -> wq.Query:
    """Parse a user query into a whoosh query (the syntax is QUERY_HELP).

    Free words go to a whoosh MultifieldParser over FREE_FIELDS (weighted, AND between
    words). The PREFIXES are tagged by a plugin before whoosh's own field syntax sees them,
    so their values (hyphens, brackets) need no escaping and are validated here.

    Args:
        text: the query as typed.
        schema: the schema whose analysers process the words.

    Raises:
        ValueError: the query is empty, or a prefix has a malformed value.
    """
    if not text or not text.strip():
        raise ValueError("empty query")
    parser = MultifieldParser(list(FREE_FIELDS), schema, fieldboosts=dict(FREE_FIELDS), group=AndGroup)
    parser.add_plugin(_PrefixPlugin(schema))
    q = parser.parse(text)
    error = _first_error(q)
    if error:
        raise ValueError(f"cannot parse {text!r}: {error}")
    return q


def _joins(gap: str) -> bool:
    """True when two matches are one written token: overlapping, or split by a hyphen or the like."""
    return len(gap) <= 2 and not any(c.isalnum() or c.isspace() for c in gap)


class _BracketFormatter(Formatter):  # type: ignore[misc]
    """Wraps each match as ``[[word]]``.

    Matches that overlap (CJK bigrams) or touch across punctuation (``A``-``1001``) become one
    mark: ``[[恒达物流]]``, ``[[A-1001]]``.
    """

    between = " … "

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"[[{text[token.startchar : token.endchar]}]]"

    def format_fragment(self, fragment: Fragment, replace: bool = False) -> str:
        text = fragment.text
        spans: list[list[int]] = []
        for t in sorted(fragment.matches, key=lambda t: (t.startchar, t.endchar)):
            if spans and (t.startchar <= spans[-1][1] or _joins(text[spans[-1][1] : t.startchar])):
                spans[-1][1] = max(spans[-1][1], t.endchar)
            else:
                spans.append([t.startchar, t.endchar])
        index, out = fragment.startchar, []
        for start, end in spans:
            out.append(text[index:start])
            out.append(f"[[{text[start:end]}]]")
            index = end
        out.append(text[index : fragment.endchar])
        return "".join(out)


def snippet(text: str, words: frozenset[str]) -> str:
    """Up to two fragments of the OCR text with ``words`` marked ``[[word]]``, on one line.

    Falls back to the first _SNIPPET_CHARS characters when none of the words is in the text
    (the match was in another field).
    """
    if words and text:
        fragmenter = ContextFragmenter(maxchars=100, surround=30)
        found = highlight(text, words, SCHEMA["text"].analyzer, fragmenter, _BracketFormatter(), top=2)
        if found:
            return " ".join(found.split())
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[:_SNIPPET_CHARS].rstrip() + "…"


def _positive_leaves(q: wq.Query) -> Iterator[wq.Query]:
    """The leaf queries of q, leaving out negated branches (their words are not in the hits)."""
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        yield from _positive_leaves(q.a)
    elif q.is_leaf():
        yield q
    else:
        for child in q.children():
            yield from _positive_leaves(child)


def highlight_words(q: wq.Query, reader: Any) -> frozenset[str]:
    """The words a query looks for in text-analysed fields (which all share one analyser).

    Walks the leaves itself: whoosh's ``Query.existing_terms(fieldname=None)`` reuses its
    ``fieldname`` variable inside its loop and silently skips every field after the first.
    """
    words: set[str] = set()
    for leaf in _positive_leaves(q):
        name = leaf.field()
        if name not in TEXT_FIELDS:
            continue
        for _, term in leaf.expanded_terms(reader, phrases=True):
            words.add(SCHEMA[name].from_bytes(term) if isinstance(term, bytes) else term)
    return frozenset(words)
