"""Laying out tables and key/value blocks for a terminal of a given width.

Pure text: no terminal library. The rule a person relies on is that a value (a version, a
stage, a timestamp, a digest prefix, one ``key=value`` metric) is never split across lines.
When the columns do not fit, free text moves under its row, then low-value columns are hidden
(the caller says which), and as a last resort every row becomes a small record.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

GAP = 2  # spaces between columns
TEXT_MIN = 12  # the narrowest a free-text column may be
FOLD_BELOW = 30  # free text narrower than this (and than itself) moves under its row
SGR = {"bold": "1", "dim": "2", "green": "32", "yellow": "33", "red": "31", "cyan": "36"}

Kind = Literal["atom", "words", "text"]


# Registry text is someone else's: a terminal escape in a tag or a reason must be shown, not obeyed.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_OURS = re.compile("(\x1b\\[[0-9;]*m)")  # the colours paint() adds


def printable(text: str) -> str:
    """``text`` with control characters (ESC, BEL, CR, C1, bidirectional overrides) shown as escapes."""
    if text.isprintable() or not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_line(text: str, color: bool) -> str:
    """A whole output line: with colour on, only paint()'s own colour codes pass as they are."""
    if not color:
        return printable(text)
    return "".join(part if i % 2 else printable(part) for i, part in enumerate(_OURS.split(text)))


@dataclass(frozen=True)
class Word:
    """A piece of a cell that is never split, with an optional style (``"bold green"``)."""

    text: str
    style: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", printable(self.text))


Cell = Sequence[Word]


@dataclass(frozen=True)
class Col:
    """``atom``: one unbreakable value; ``words``: values that may wrap between them; ``text``:
    free text that wraps at spaces. ``drop`` > 0: may be hidden on a narrow terminal, lowest
    first; ``fold``: may be shown under its row instead."""

    header: str
    kind: Kind = "atom"
    drop: int = 0
    right: bool = False
    fold: bool = False  # may go under its row on a narrow terminal (free text always may)
    shows: str = ""  # how render turns the value into text for people: "time", "size", "digest"


def width_of(text: str) -> int:
    """Terminal cells taken by ``text`` (wide East Asian characters take two, combining marks none)."""
    if text.isascii():
        return len(text)
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return total


def paint(text: str, style: str, color: bool) -> str:
    codes = [SGR[s] for s in style.split() if s in SGR]
    if not color or not codes or not text:
        return text
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


def _cut(word: str, width: int) -> list[str]:
    """Hard-break one word that is wider than ``width`` (only ever free text)."""
    pieces, current = [], ""
    for ch in word:
        if width_of(current + ch) > width and current:
            pieces.append(current)
            current = ""
        current += ch
    return [*pieces, current]


def wrap(cell: Cell, width: int, kind: Kind) -> list[list[Word]]:
    """Lines of words, each at most ``width`` wide. An atom stays one line; ``words`` wrap between
    their words, ``text`` also at the spaces inside them. Only a word wider than a whole line is cut."""
    if kind == "atom" or not cell:
        return [list(cell)]
    words: list[Word] = []
    for w in cell:
        for part in w.text.split() if kind == "text" else [w.text]:
            if width_of(part) > width:
                words.extend(Word(p, w.style) for p in _cut(part, width))
            else:
                words.append(Word(part, w.style))
    lines: list[list[Word]] = [[]]
    used = 0
    for w in words:
        need = width_of(w.text) + (1 if lines[-1] else 0)
        if lines[-1] and used + need > width:
            lines.append([])
            used, need = 0, width_of(w.text)
        lines[-1].append(w)
        used += need
    return lines


def _line(words: Sequence[Word], color: bool) -> tuple[str, int]:
    text = " ".join(paint(w.text, w.style, color) for w in words)
    return text, width_of(" ".join(w.text for w in words))


def _joined(cell: Cell) -> str:
    return " ".join(w.text for w in cell)


def table(
    cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, *, color: bool, row_style: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """The lines of the table and the headers of the columns it had to hide."""
    n = len(cols)
    natural = [max([width_of(c.header)] + [width_of(_joined(r[i])) for r in rows]) for i, c in enumerate(cols)]

    def minimum(i: int) -> int:
        kind, head = cols[i].kind, width_of(cols[i].header)
        if kind == "atom":
            return natural[i]
        longest = max([0] + [width_of(w.text) for r in rows for w in r[i]]) if kind == "words" else TEXT_MIN
        return max(head, min(natural[i], longest))

    def needed(shown: list[int]) -> int:
        return sum(minimum(i) for i in shown) + GAP * (len(shown) - 1)

    shown = list(range(n))
    folded: list[int] = []  # free-text columns shown under their row instead
    hidden: list[int] = []
    for i in sorted((i for i in shown if cols[i].drop > 0), key=lambda i: (cols[i].drop, -i)):
        if needed([j for j in shown if cols[j].kind != "text" or j == 0]) <= width:
            break
        shown.remove(i)
        hidden.append(i)
    foldable = [i for i in shown if i != 0 and cols[i].kind == "text"] + [i for i in shown if i != 0 and cols[i].fold]
    while True:
        while needed(shown) > width and foldable:
            # Free text first, then the columns marked foldable, go under their row: nothing is lost.
            i = foldable.pop(0)
            if i in shown:
                shown.remove(i)
                folded.append(i)
        if needed(shown) > width or not shown:
            return records(cols, rows, width, color=color, row_style=row_style), []
        widths = {i: minimum(i) for i in shown}
        spare = width - needed(shown)
        for i in sorted(shown, key=lambda i: cols[i].kind == "text"):  # free text gets the rest
            grow = min(spare, natural[i] - widths[i])
            widths[i] += grow
            spare -= grow
        # Free text squeezed into a narrow column reads badly: it goes under its row.
        squeezed = [i for i in shown if cols[i].kind == "text" and i != 0 and widths[i] < min(natural[i], FOLD_BELOW)]
        if not squeezed:
            break
        folded += squeezed
        shown = [i for i in shown if i not in squeezed]
    folded.sort()
    lines = [_row([[Word(cols[i].header, "bold")] for i in shown], [cols[i] for i in shown], widths, shown, color)[0]]
    lines.append((" " * GAP).join("─" * widths[i] for i in shown))
    for r, row in enumerate(rows):
        style = row_style[r] if r < len(row_style) else ""
        cells = [[Word(w.text, w.style or style) for w in row[i]] for i in range(n)]
        lines.extend(_row([cells[i] for i in shown], [cols[i] for i in shown], widths, shown, color))
        under: list[Word] = []
        for i in folded:
            if not _joined(cells[i]).strip():
                continue
            if under:
                under.append(Word("·", "dim"))
            under.append(Word(f"{cols[i].header}:", "dim"))
            for w in cells[i]:
                under.extend(Word(p, w.style) for p in (w.text.split() if cols[i].kind == "text" else [w.text]))
        for words in wrap(under, max(width - 4, 10), "words") if under else []:
            lines.append("    " + _line(words, color)[0])
    return lines, [cols[i].header for i in hidden]


def _row(cells: list[Cell], cols: list[Col], widths: dict[int, int], shown: list[int], color: bool) -> list[str]:
    wrapped = [wrap(cell, widths[i], col.kind) for cell, col, i in zip(cells, cols, shown, strict=True)]
    height = max(len(w) for w in wrapped)
    out = []
    for k in range(height):
        parts = []
        for lines, col, i in zip(wrapped, cols, shown, strict=True):
            text, used = _line(lines[k], color) if k < len(lines) else ("", 0)
            pad = " " * max(widths[i] - used, 0)
            parts.append(pad + text if col.right else text + pad)
        out.append((" " * GAP).join(parts).rstrip())
    return out


def records(
    cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int, *, color: bool, row_style: Sequence[str] = ()
) -> list[str]:
    """Each row as a block: its first value as a heading, then one ``header  value`` line per column."""
    key_width = max((width_of(c.header) for c in cols[1:]), default=0)
    lines: list[str] = []
    for r, row in enumerate(rows):
        style = row_style[r] if r < len(row_style) else ""
        if lines:
            lines.append("")
        heading = [Word(cols[0].header, "dim"), *(Word(w.text, w.style or style or "bold") for w in row[0])]
        lines.append(_line(heading, color)[0])
        items = [(c.header, [Word(w.text, w.style or style) for w in row[i]]) for i, c in enumerate(cols) if i]
        lines.extend(pairs(items, width, color=color, key_width=key_width))
    return lines


def pairs(
    items: Sequence[tuple[str, Cell]], width: int, *, color: bool, key_width: int | None = None, indent: int = 2
) -> list[str]:
    """``key  value`` lines; a value too wide for the space beside its key starts on the next line."""
    kw = key_width if key_width is not None else max((width_of(k) for k, _ in items), default=0)
    lines = []
    for key, cell in items:
        if not cell or not _joined(cell).strip():
            continue
        lead = " " * indent + paint(key, "bold", color) + " " * (kw - width_of(key) + 2)
        room = width - indent - kw - 2
        longest = max(width_of(w.text) for w in cell)
        if room >= 10 and longest <= room:
            for k, words in enumerate(wrap(cell, room, "words")):
                lines.append((lead if k == 0 else " " * (indent + kw + 2)) + _line(words, color)[0])
            continue
        lines.append(lead.rstrip())
        for words in wrap(cell, max(width - indent - 2, 10), "words"):
            lines.append(" " * (indent + 2) + _line(words, color)[0])
    return lines
