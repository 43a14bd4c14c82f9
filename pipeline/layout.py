"""Page layout from OCR words: visual lines, normalised tokens and label occurrences.

Everything here is relative to the text height on the page (the `unit`), never to fixed pixel
positions, so the same code reads labels left of their values and labels above them, at any dpi.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from pipeline.document import Word
from pipeline.labels import WEAK_LABELS
from pipeline.ocr.tesseract import is_cjk

__all__ = ["Box", "LabelHit", "Layout", "Line", "Token", "find_labels", "tokenize"]

_LATIN = re.compile(r"[^\W_]+", re.UNICODE)
_LABEL_END = (":", "：", ";")


@dataclass(frozen=True, slots=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @staticmethod
    def around(items: Iterable[Word | Box]) -> Box:
        items = list(items)
        return Box(
            min(i.left for i in items),
            min(i.top for i in items),
            max(i.right for i in items),
            max(i.bottom for i in items),
        )


@dataclass(frozen=True, slots=True)
class Token:
    """A normalised piece of a word: a run of letters/digits, or one CJK character."""

    text: str
    word: int  # index into Line.words
    left: float
    right: float
    colon: bool  # a colon (or full-width colon) follows it


@dataclass(slots=True)
class Line:
    """Words that share a baseline, left to right (may span several columns of the page)."""

    words: list[Word] = field(default_factory=list)

    @property
    def box(self) -> Box:
        return Box.around(self.words)

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def cy(self) -> float:
        return statistics.median(w.cy for w in self.words)

    @property
    def height(self) -> float:
        return statistics.median(w.height for w in self.words)

    def text(self, words: Sequence[Word] | None = None) -> str:
        out = ""
        for w in words if words is not None else self.words:
            if out and is_cjk(out[-1]) and is_cjk(w.text[0]):
                out += w.text
            else:
                out = f"{out} {w.text}" if out else w.text
        return out


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def tokenize(words: Sequence[Word]) -> list[Token]:
    """Split words into tokens; CJK characters become one token each, punctuation is dropped."""
    tokens: list[Token] = []
    for wi, w in enumerate(words):
        text = normalise(w.text)
        n = max(len(text), 1)
        per = w.width / n
        pos = 0
        while pos < len(text):
            ch = text[pos]
            if is_cjk(ch) and ch.isalnum():
                colon = pos + 1 < len(text) and text[pos + 1] in _LABEL_END
                tokens.append(Token(ch, wi, w.left + pos * per, w.left + (pos + 1) * per, colon))
                pos += 1
                continue
            m = _LATIN.match(text, pos)
            if m and not any(is_cjk(c) for c in m.group()):
                end = m.end()
                colon = end < len(text) and text[end] in _LABEL_END
                if colon is False and end < len(text) and text[end] in ".)]}" and end + 1 < len(text):
                    colon = text[end + 1] in _LABEL_END
                tokens.append(Token(m.group(), wi, w.left + pos * per, w.left + end * per, colon))
                pos = end
            elif m:  # a run mixing latin and CJK: split at the first CJK character
                j = pos
                while j < len(text) and not is_cjk(text[j]) and (text[j].isalnum()):
                    j += 1
                if j > pos:
                    tokens.append(Token(text[pos:j], wi, w.left + pos * per, w.left + j * per, False))
                    pos = j
                else:
                    pos += 1
            else:
                pos += 1
        # A label written "Customer :" puts the colon in a word of its own.
        if tokens and w.text.strip() in _LABEL_END and tokens[-1].word == wi - 1:
            t = tokens[-1]
            tokens[-1] = Token(t.text, t.word, t.left, t.right, True)
    return tokens


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in normalise(phrase).split():
        if any(is_cjk(c) for c in part):
            out.extend(c for c in part if c.isalnum())
        else:
            out.extend(_LATIN.findall(part))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LabelHit:
    """A label found on a page: which field it names and where it is."""

    field: str
    phrase: str
    line: int  # index into Layout.lines
    first_word: int  # indices into the line's words
    last_word: int
    box: Box
    colon: bool


class Layout:
    """The words of one page grouped into visual lines, with the page's text unit."""

    def __init__(self, words: Sequence[Word], page_width: int, page_height: int) -> None:
        self.page_width = page_width
        self.page_height = page_height
        usable = [w for w in words if w.text.strip() and w.height > 0]
        heights = [w.height for w in usable if w.conf >= 60] or [w.height for w in usable] or [30]
        self.unit = float(statistics.median(heights))
        self.lines = self._group(usable)

    def _group(self, words: Sequence[Word]) -> list[Line]:
        # Flat marks (a rule's remains read "|" or ".", 5 px tall) do not anchor lines either: one
        # that came first would set a line's middle and height, split a table row in two and keep
        # the row's description apart from its code. They join a line whose middle they are near.
        flat = [w for w in words if w.height < 0.4 * self.unit]
        lines = self._join(w for w in words if w.height >= 0.4 * self.unit)
        strays: list[Word] = []
        for w in flat:
            near = [ln for ln in lines if abs(ln.cy - w.cy) <= 0.55 * min(ln.height, 2.5 * self.unit)]
            if near:
                min(near, key=lambda ln: abs(ln.cy - w.cy)).words.append(w)
            else:
                strays.append(w)
        lines += self._join(strays)
        for line in lines:
            line.words.sort(key=lambda w: w.left)
        lines.sort(key=lambda ln: (ln.cy, ln.box.left))
        return lines

    def _join(self, words: Iterable[Word]) -> list[Line]:
        lines: list[Line] = []
        for w in sorted(words, key=lambda w: (w.cy, w.left)):
            # Tall blobs (a signature read as text, a stamp frame) do not anchor lines.
            best = None
            for line in lines[-6:]:
                tol = 0.55 * max(min(line.height, 2.5 * self.unit), min(w.height, 2.5 * self.unit))
                if abs(line.cy - w.cy) <= tol:
                    best = line
            if best is None:
                best = Line()
                lines.append(best)
            best.words.append(w)
        return lines

    def gap_ok(self, a: Word, b: Word, factor: float = 3.0) -> bool:
        return b.left - a.right <= factor * self.unit


def _token_equal(a: str, b: str, vocabulary: frozenset[str], loose: bool = False) -> bool:
    if a == b:
        return True
    # One OCR slip in a long word still names the label, unless the read word is itself
    # another label word ("mottagen" is not a slip of "mottaget"). `loose` (the phrase ends in a
    # colon, so it surely is a label): one slip in a word of 3 letters or more ("tld" for "tid"),
    # two in one of 7 or more ("mowaget" for "mottaget").
    if a in vocabulary or not (a.isalpha() and b.isalpha()):
        return False
    if loose:
        allowed = 2 if len(b) >= 7 else 1 if len(b) >= 3 else 0
    else:
        allowed = 1 if len(b) >= 5 and len(a) >= 5 else 0
    return allowed > 0 and Levenshtein.distance(a, b) <= allowed


def _spellings(tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A phrase's tokens, and the same with two neighbouring Latin words run together.

    OCR drops the slash or space between label words ("date/time" read "datetime", "Item No."
    read "ItemNo."), and the words must still name the field.
    """
    out = [tokens]
    for k in range(len(tokens) - 1):
        a, b = tokens[k], tokens[k + 1]
        if a.isascii() and b.isascii() and a.isalpha() and b.isalpha():
            out.append((*tokens[:k], a + b, *tokens[k + 2 :]))
    return out


# Brackets around a label's qualifier, and what OCR reads them as on a poor scan.
_OPENING = ("(", "（", "{", "[")
_CLOSING = (")", "）", "}", "]")


def _qualifier_end(line: Line, tokens: list[Token], k: int) -> int | None:
    """The last token of a bracketed qualifier that starts at token `k` and ends in a colon
    ("(name):", "(date/time):"), at most three words long; None when there is none."""
    if k >= len(tokens) or not line.words[tokens[k].word].text.startswith(_OPENING):
        return None
    first_word = tokens[k].word
    for j in range(k, len(tokens)):
        if tokens[j].word > first_word + 2:
            return None
        text = line.words[tokens[j].word].text
        if tokens[j].colon and any(c in text for c in _CLOSING):
            return j
    return None


def _garbled_word_of_phrase(read: list[Token], ptoks: tuple[str, ...]) -> bool:
    """A Latin label of two words or more, closed by a colon, with every word read exactly but one,
    and that one a third or less wrong: "Items Giivered:" for "Items delivered:". The exact words and
    the colon say it is this label, so the garbled word may even read as another label's word."""
    if len(ptoks) < 2 or not all(p.isalpha() and p.isascii() for p in ptoks):
        return False
    wrong = [(t.text, p) for t, p in zip(read, ptoks, strict=True) if t.text != p]
    if len(wrong) != 1:
        return False
    got, want = wrong[0]
    return len(want) >= 3 and got.isalpha() and Levenshtein.distance(got, want) <= max(1, len(want) // 3)


def _slashed_half(line: Line, tokens: list[Token], k: int, words: frozenset[str]) -> int | None:
    """Token `k` when it ends its word, after a slash, closed by a colon, and reads as a slip of one
    of the field's own label words: "Datum/id:" or "Datum/Ud:" for "Datum/tid:". None otherwise."""
    tok = tokens[k]
    if not tok.colon or (k + 1 < len(tokens) and tokens[k + 1].word == tok.word):
        return None
    if "/" not in line.words[tok.word].text or not tok.text.isalpha() or len(tok.text) > 4:
        return None
    near = any(Levenshtein.distance(tok.text, w) <= min(2, len(w) - 1) for w in words if w.isalpha() and 2 < len(w) <= 5)
    return k if near else None


def _cjk_with_insertion(tokens: list[Token], used: list[bool], i: int, ptoks: tuple[str, ...]) -> bool:
    """A CJK label of three or more characters read with one stray character inside it, and at most
    one other misread ("签收时间:" read "符收时了间:"), closed by a colon."""
    n = len(ptoks)
    if n < 3 or i + n + 1 > len(tokens) or any(used[i : i + n + 1]) or not tokens[i + n].colon:
        return False
    if not all(is_cjk(t[0]) for t in ptoks):
        return False
    span = tokens[i : i + n + 1]
    for j in range(1, n):
        if not is_cjk(span[j].text[0]):
            continue
        rest = span[:j] + span[j + 1 :]
        if sum(t.text != p for t, p in zip(rest, ptoks, strict=True)) <= 1:
            return True
    return False


def find_labels(layout: Layout, lexicon: dict[str, tuple[str, ...]], strict: bool = True) -> list[LabelHit]:
    """Find every label of the lexicon on the page, longest phrase first, without overlaps.

    With `strict`, a label must look like one: followed by a colon, or followed by a wide gap, or
    ending its line; and a weak label (date, name...) must also start its line or block.
    """
    phrases = sorted(
        ((f, p, toks) for f, ps in lexicon.items() for p in ps for toks in _spellings(phrase_tokens(p))),
        key=lambda t: -len(t[2]),
    )
    vocabulary = frozenset(t for _, _, toks in phrases for t in toks)
    field_words = {f: frozenset(t for g, _, toks in phrases if g == f for t in toks) for f in lexicon}
    hits: list[LabelHit] = []
    for li, line in enumerate(layout.lines):
        tokens = tokenize(line.words)
        used = [False] * len(tokens)
        for i in range(len(tokens)):
            if used[i]:
                continue
            for fld, phrase, ptoks in phrases:
                n = len(ptoks)
                if i + n > len(tokens) or any(used[i : i + n]):
                    continue
                last = tokens[i + n - 1]
                misses = sum(
                    not _token_equal(tokens[i + k].text, ptoks[k], vocabulary, loose=last.colon) for k in range(n)
                )
                # A CJK label of three or more characters with one misread (人 read as 入) still
                # names its field when a colon closes it.
                cjk_slip = misses == 1 and n >= 3 and last.colon and all(is_cjk(t[0]) for t in ptoks)
                if misses == 1 and last.colon and _garbled_word_of_phrase(tokens[i : i + n], ptoks):
                    misses = 0
                if misses and not cjk_slip:
                    if not _cjk_with_insertion(tokens, used, i, ptoks):
                        continue
                    n += 1  # the label spans one stray character more
                    last = tokens[i + n - 1]
                # A label never ends inside a word ("Kund" is not the start of "Kundnummer"),
                # unless the rest of the word is its own slashed second half, misread ("Datum/id:").
                if i + n < len(tokens) and tokens[i + n].word == last.word and not last.colon:
                    if not is_cjk(last.text[0]):
                        tail = _slashed_half(line, tokens, i + n, field_words[fld])
                        if tail is None:
                            continue
                        n, last = tail - i + 1, tokens[tail]
                qualifier = _qualifier_end(line, tokens, i + n)
                if qualifier is not None:
                    # "Received by (name):", "Mottaget (datum/tid):": the bracketed words and
                    # the colon after them are part of the label.
                    n, last = qualifier - i + 1, tokens[qualifier]
                if strict and not _looks_like_label(layout, line, tokens, i, n, phrase):
                    continue
                first_w, last_w = tokens[i].word, last.word
                box = Box(
                    tokens[i].left,
                    min(w.top for w in line.words[first_w : last_w + 1]),
                    last.right,
                    max(w.bottom for w in line.words[first_w : last_w + 1]),
                )
                hits.append(LabelHit(fld, phrase, li, first_w, last_w, box, last.colon))
                for k in range(i, i + n):
                    used[k] = True
                break
    return hits


def _looks_like_label(
    layout: Layout, line: Line, tokens: list[Token], i: int, n: int, phrase: str
) -> bool:
    last = tokens[i + n - 1]
    if last.colon:
        return True
    unit = layout.unit
    after = tokens[i + n] if i + n < len(tokens) else None
    ends_block = after is None or after.left - last.right > 1.5 * unit
    before = tokens[i - 1] if i > 0 else None
    starts_block = before is None or tokens[i].left - before.right > 1.5 * unit
    if normalise(phrase) in WEAK_LABELS or len(phrase_tokens(phrase)) == 1 and len(phrase) <= 3:
        return starts_block and ends_block
    return ends_block and starts_block
