"""The one plain-text table printer: every column as wide as its widest cell (or a least width)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

LEFT, RIGHT = "<", ">"


def table_lines(headers: Sequence[str] | None, rows: Iterable[Sequence[object]], *,
                align: str = "", min_widths: Sequence[int] = (), sep: str | Sequence[str] = "  ",
                rule: bool = False, indent: str = "") -> list[str]:
    """The lines of a text table: the header (if any, with a rule of dashes under it when `rule`)
    then one line per row, each starting with `indent` and without trailing spaces.

    `align` holds one character per column, "<" (left, the default for columns it leaves out) or
    ">" (right); `min_widths` the least width of the first columns; `sep` the text between two
    columns, either one for all or one per gap. A cell of None prints empty.
    """
    body = [["" if cell is None else str(cell) for cell in row] for row in rows]
    cells = ([[str(h) for h in headers]] if headers is not None else []) + body
    count = max((len(row) for row in cells), default=0)
    if any(len(row) != count for row in cells):
        raise ValueError(f"every row needs {count} cells (as many as the widest row); got rows "
                         f"of {sorted({len(row) for row in cells})} cells")
    if len(align) > count or any(a not in (LEFT, RIGHT) for a in align):
        raise ValueError(f"align {align!r}: expected at most {count} characters, each "
                         f"{LEFT!r} or {RIGHT!r}")
    gaps = [sep] * max(count - 1, 0) if isinstance(sep, str) else list(sep)
    if len(gaps) != max(count - 1, 0):
        raise ValueError(f"sep: expected one text or {count - 1} (one per gap); got {len(gaps)}")
    least = list(min_widths) + [0] * (count - len(min_widths))
    widths = [max([least[i], *(len(row[i]) for row in cells)]) for i in range(count)]
    sides = align.ljust(count, LEFT)

    def line(row: Sequence[str]) -> str:
        padded = [cell.rjust(width) if side == RIGHT else cell.ljust(width)
                  for cell, width, side in zip(row, widths, sides, strict=True)]
        text = padded[0] if padded else ""
        for gap, cell in zip(gaps, padded[1:], strict=True):
            text += gap + cell
        return (indent + text).rstrip()

    lines = [line(row) for row in cells]
    if headers is not None and rule:
        lines.insert(1, line(["-" * width for width in widths]))
    return lines


def format_table(headers: Sequence[str] | None, rows: Iterable[Sequence[object]], *,
                 align: str = "", min_widths: Sequence[int] = (), sep: str | Sequence[str] = "  ",
                 rule: bool = False, indent: str = "") -> str:
    """The table of `table_lines` as one text."""
    return "\n".join(table_lines(headers, rows, align=align, min_widths=min_widths, sep=sep,
                                 rule=rule, indent=indent))
