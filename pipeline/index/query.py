"""The `signoff search` query language: parsing it into a whoosh query, and marking its matches in snippets."""

from __future__ import annotations

import calendar
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.highlight import ContextFragmenter, Formatter, Fragment, highlight
from whoosh.matching import ListMatcher, Matcher
from whoosh.qparser import AndGroup, MultifieldParser, syntax
from whoosh.qparser.plugins import FuzzyTermPlugin, TaggingPlugin

from pipeline.index.schema import FREE_FIELDS, SCHEMA, STATUS_FIELDS, TEXT_FIELDS, fold

__all__ = [
    "PREFIXES",
    "QUERY_HELP",
    "Compiled",
    "compile_query",
    "date_bounds",
    "highlight_words",
    "parse_query",
    "snippet",
    "suggest",
]

QUERY_HELP = """\
Free words search the OCR text, customer, item descriptions and SKUs, receiver and remarks;
all words must match (AND, OR, NOT, parentheses, "a phrase" and word* work as usual).
word~ finds words one typo away (word~2: two; word~2/0 lets the first letter differ). Case and accents are ignored (goteborg finds
Göteborg); 2+ Chinese characters match inside longer text (恒达 finds 上海恒达物流有限公司).
A rescanned sheet shows only its newest version unless version:all is given.

  customer:nordic  customer:"nordic timber"  customer:C-0042  customer:nord*
  delivery:DN-2025-004817  delivery:DN-2025-00*     exact (any case), or a prefix
  date:2025-03-14  date:2025-03  date:2025          a day, a month, a year
  date:[2025-03-01 to 2025-03-31]  date:[2025-03 to]  inclusive; either end may be left out
  sku:A-1001  sku:A-10*
  complete:yes|no  status:complete|incomplete  signed:yes|no
  missing:signature|time|customer|items|receiver|delivery  unreadable:signature|time|...
  kind:signoff|other
  version:all  version:2  version:latest            rescans too, one version, the newest (default)
  item:board  receiver:asa  remarks:damaged  text:pallet  one field only
"""

_SNIPPET_CHARS = 120  # length of the fallback snippet
_VERSION = re.compile(r"(?i)(?<![\w-])version:(?P<value>\S*)")
_ITEM = re.compile(r"(?i)(?<![\w-])item:")
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


class _DateRange(wq.DateRange):  # type: ignore[misc]
    """whoosh's DateRange, its documents read term by term into one sorted list.

    whoosh gives a date range one constant score, and to list its documents walks each of them
    through a binary tree of union matchers, one leaf per term of the tiered range: three
    quarters of a ``customer:x date:[a to b]`` search at 100,000 sheets. Reading each term's
    postings on its own and sorting the numbers makes the same list, with the same score.
    """

    def _terms(self, reader: Any) -> tuple[float, list[tuple[str, bytes]]] | None:
        """(score, the range's terms in this reader), or None where whoosh's own way applies.

        Kept for the reader: one search asks for them several times (whoosh orders the parts
        of an And by their estimated size, per segment), and each time walks the term list.
        """
        cache: dict[int, tuple[Any, Any]] = self.__dict__.setdefault("_expanded", {})
        if id(reader) in cache:
            return cache[id(reader)][1]  # type: ignore[no-any-return]
        q = self._compile_query(reader)
        found = None
        if isinstance(q, wq.ConstantScoreQuery) and isinstance(q.child, wq.Or):
            terms = [t for sub in q.child.subqueries for t in sub.expanded_terms(reader) if t in reader]
            found = (q.score, terms)
        cache[id(reader)] = (reader, found)  # the reader is held, so its id is not reused meanwhile
        return found

    def estimate_size(self, ixreader: Any) -> int:
        found = self._terms(ixreader)
        if found is None:
            return int(super().estimate_size(ixreader))
        return sum(ixreader.doc_frequency(fieldname, text) for fieldname, text in found[1])

    def matcher(self, searcher: Any, context: Any = None) -> Matcher:
        reader = searcher.reader()
        found = self._terms(reader)
        if found is None or (context is not None and context.needs_current):
            return super().matcher(searcher, context)  # whoosh's own way (it scores the terms then)
        score, terms = found
        docs: set[int] = set()
        for fieldname, text in terms:
            docs.update(reader.postings(fieldname, text).all_ids())  # deleted documents left out
        return ListMatcher(array("I", sorted(docs)), all_weights=score)


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
    return _DateRange("date", start, end)


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


def _signed_query(value: str, schema: Schema) -> wq.Query:
    word = value.lower()
    if word not in _YES | _NO:
        raise ValueError(f"signed:{value} should be signed:yes or signed:no")
    return wq.Term("signed", "yes" if word in _YES else "no")


def _flag_query(status: str) -> Callable[[str, Schema], wq.Query]:
    names = (*STATUS_FIELDS, "delivery") if status == "missing" else STATUS_FIELDS

    def build(value: str, schema: Schema) -> wq.Query:
        name = value.lower()
        name = {"date": "time", "signed": "signature", "item": "items"}.get(name, name)
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
    "signed": _signed_query,
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


class _FuzzyPlugin(FuzzyTermPlugin):  # type: ignore[misc]
    """``word~`` (one edit), ``word~2``; the first letter must match unless ``~N/0`` says not.

    An edit is a letter added, dropped or changed; two letters swapped count as two edits.

    A fixed first letter lets whoosh skip most of the term list: at a million sheets the
    vocabulary is millions of words, and typos rarely hit the first letter.
    """

    # whoosh's own pattern, but a prefix of 0 is allowed (``~2/0``: the first letter may differ too).
    expr = re.compile(r"(?<=\S)~(?P<maxdist>[0-9])?(/(?P<prefix>[0-9]+))?")

    def create(self, parser: MultifieldParser, match: re.Match[str]) -> Any:
        node = super().create(parser, match)
        if match.group("prefix") is None:
            node.prefixlength = 1
        return node


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
    parser.add_plugin(_FuzzyPlugin())
    q = parser.parse(_ITEM.sub("items:", text))
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


_WINDOW_BEFORE, _WINDOW_AFTER = 150, 450


def _window(text: str, words: frozenset[str]) -> str | None:
    """The stretch of text around the first place a word occurs, or None to look at all of it.

    Highlighting analyses every token of what it is given; the words are usually found in a
    few hundred characters of a 2 KB text. None when folding changes the text's length (the
    offsets would not line up) or no word is in it as written (let the analyser decide).
    """
    folded = fold(text)
    if len(folded) != len(text):
        return None
    spots = [i for i in (folded.find(w) for w in words) if i >= 0]
    if not spots:
        return None
    first = min(spots)
    return text[max(0, first - _WINDOW_BEFORE) : first + _WINDOW_AFTER]


def snippet(text: str, words: frozenset[str]) -> str:
    """Up to two fragments of the OCR text with ``words`` marked ``[[word]]``, on one line.

    Falls back to the first _SNIPPET_CHARS characters when none of the words is in the text
    (the match was in another field).
    """
    if words and text:
        fragmenter = ContextFragmenter(maxchars=100, surround=30)
        for part in (_window(text, words), text):
            if not part:
                continue
            found = highlight(part, words, SCHEMA["text"].analyzer, fragmenter, _BracketFormatter(), top=2)
            if found:
                return " ".join(found.split())
            if part is text:
                break
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


@dataclass(frozen=True, slots=True)
class Compiled:
    """A search ready to run: the query, and the documents it must never return."""

    query: wq.Query
    mask: wq.Query | None  # older versions of rescanned sheets, unless version: says otherwise
    text: str  # the query as given, without its version: clause


def _version_clause(text: str) -> tuple[str, str]:
    """Take ``version:`` out of the query text: return (the rest, "latest"|"all"|a number)."""
    found = [m["value"].lower() for m in _VERSION.finditer(text)]
    rest = _VERSION.sub(" ", text).strip()
    if not found:
        return rest, "latest"
    if len(set(found)) > 1:
        raise ValueError(f"version: given twice ({', '.join(found)}); give it once")
    value = found[0]
    if value not in ("all", "latest") and not (value.isdigit() and int(value) > 0):
        raise ValueError(f"version:{value} should be version:all, version:latest or a number like version:2")
    return rest, value


def compile_query(
    text: str, *, date_from: date | None = None, date_to: date | None = None, schema: Schema = SCHEMA
) -> Compiled:
    """Parse a query and add what the command line gives beside it.

    Args:
        text: the query as typed (QUERY_HELP); may be empty when a date bound is given.
        date_from: the first day to include (``--from``).
        date_to: the last day to include (``--to``).
        schema: the schema whose analysers process the words.

    Raises:
        ValueError: the query is empty or malformed, or the dates are the wrong way round.
    """
    rest, versions = _version_clause(text or "")
    parts: list[wq.Query] = []
    if rest:
        parts.append(parse_query(rest, schema))
    if date_from or date_to:
        if date_from and date_to and date_from > date_to:
            raise ValueError(f"--from {date_from} is after --to {date_to}")
        start = datetime.combine(date_from, time.min) if date_from else None
        end = datetime.combine(date_to, time.max) if date_to else None
        parts.append(_DateRange("date", start, end))
    if versions.isdigit():
        parts.append(wq.Term("version", str(int(versions))))
    if not parts:
        if versions != "latest":
            parts.append(wq.Every())
        else:
            raise ValueError("empty query")
    q = parts[0] if len(parts) == 1 else wq.And(parts)
    mask = wq.Term("latest", "no") if versions == "latest" else None
    return Compiled(q, mask, rest)


# A free word as typed: not a field, an operator, quoted, or a wildcard (those are left alone).
_FREE_WORD = re.compile(r'(?<![\w:~*?"-])(?P<word>[^\W\d_][\w.]*?)(?P<fuzzy>~\d?(?:/\d+)?)?(?=$|[\s()])')
_OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"})
_SPELL_FIELDS = ("text", "customer", "items")


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r'"[^"]*"?|\[[^\]]*\]?', text)]


def suggest(text: str, reader: Any) -> str | None:
    """A corrected query ("did you mean"): each free word the index does not know, replaced by
    the closest word it does know (fewest edits, then most documents), or None.

    Words in fields, quotes and ranges are left alone; Chinese is not corrected (a bigram
    index has no words to offer).
    """
    quoted = _quoted_spans(text)
    out, last, changed = [], 0, False
    for m in _FREE_WORD.finditer(text):
        word = m["word"]
        if word in _OPERATORS or any(a <= m.start() < b for a, b in quoted):
            continue
        if _CJK_CHAR.search(word):
            continue
        folded = fold(word)
        if len(folded) < 3:
            continue
        known = any(reader.doc_frequency(f, folded) for f in _SPELL_FIELDS)
        if known and not m["fuzzy"]:
            continue
        best = _closest(folded, reader)
        if best is None or (best == folded and not m["fuzzy"]):
            continue
        out.append(text[last : m.start()])
        out.append(best)
        last = m.end()
        changed = True
    if not changed:
        return None
    out.append(text[last:])
    return "".join(out)


_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _closest(word: str, reader: Any) -> str | None:
    """The indexed word nearest to ``word`` in _SPELL_FIELDS, or None within two edits."""
    for maxdist in (1, 2):
        found: dict[str, int] = {}
        for field in _SPELL_FIELDS:
            for term in reader.terms_within(field, word, maxdist, prefix=1):
                if term != word and not term.isdigit():
                    found[term] = found.get(term, 0) + reader.doc_frequency(field, term)
        if found:
            return max(sorted(found), key=lambda t: found[t])
    return None
