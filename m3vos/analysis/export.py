"""Tables for papers and CI: one DataFrame in; markdown, CSV, JSON and LaTeX out.

The public API is two functions and one options object::

    from m3vos.analysis.export import TableStyle, render_table, write_tables

    style = TableStyle(
        directions={"J-Mean": "higher", "J-Decay": "lower"},  # best per column in bold
        ci={"J-Mean": ("J-Mean ci_low", "J-Mean ci_high")},   # optional: shown as "0.71 [0.65, 0.77]"
        percent=True,                                         # 75.6 instead of 0.756 (md and LaTeX only)
        caption="J-Mean on M3-VOS val", label="tab:main", notes=["..."])
    text = render_table(df, "tex", style)                     # "md" | "csv" | "json" | "tex"
    paths = write_tables(df, "out/", "leaderboard", style)    # out/leaderboard.{md,csv,json,tex}

- `df` holds one row per item (run, sweep point, ...), columns in display order. Numbers are
  fractions, as in results.json. Missing values are NaN/None and print as a dash.
- `directions` names the metric columns and whether higher or lower is better; the best value
  of each such column is bold (all tied values). Other columns are printed as they are.
- `ci` maps a column to its (low, high) columns: in md and LaTeX they are merged into the
  value's cell and hidden; CSV and JSON keep every column, untouched.
- `percent` scales the metric columns, their intervals and `fractions` (e.g. a difference
  column) by 100 in md and LaTeX; CSV and JSON always hold fractions.
- The LaTeX is a booktabs `tabular` (needs `\\usepackage{booktabs}`) inside a `table`
  float, one row per DataFrame row, names escaped, arrows in the header for the direction.

Writing is atomic per file; a folder that cannot be written is an `EnvError` (exit 3).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from m3vos.errors import EnvError
from m3vos.utils.jsonvalues import nan_to_none

FORMATS = ("md", "csv", "json", "tex")
_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


@dataclass
class TableStyle:
    """How to print a table: metric directions, intervals, percent, caption and notes."""

    directions: Mapping[str, str] = field(default_factory=dict)     # column -> "higher" | "lower"
    ci: Mapping[str, tuple[str, str]] | None = None                 # column -> (low column, high column)
    percent: bool = False
    fractions: Sequence[str] = ()       # more columns holding fractions (scaled with `percent`)
    digits: int = 4                     # decimals of fractions
    percent_digits: int = 1             # decimals in percent (the paper convention: 75.6)
    caption: str | None = None
    label: str | None = None
    notes: Sequence[str] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)           # extra keys of the JSON document

    def hidden(self) -> set[str]:
        return {c for pair in (self.ci or {}).values() for c in pair}

    def scaled(self) -> set[str]:
        return set(self.directions) | self.hidden() | set(self.fractions)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (not isinstance(v, str) and pd.isna(v))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) or hasattr(v, "dtype") and v.dtype.kind in "if"


def _best(df: pd.DataFrame, style: TableStyle) -> dict[str, set[int]]:
    """Row positions holding the best value of each direction column (ties: all of them)."""
    out: dict[str, set[int]] = {}
    for col, direction in style.directions.items():
        if col not in df.columns:
            continue
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        ok = [i for i, v in enumerate(vals) if math.isfinite(v)]
        if len(ok) < 2:
            continue
        best = max(vals[i] for i in ok) if direction == "higher" else min(vals[i] for i in ok)
        out[col] = {i for i in ok if vals[i] == best}
    return out


class _Formatter:
    def __init__(self, style: TableStyle) -> None:
        self.style = style
        self.scaled = style.scaled()

    def number(self, col: str, v: Any) -> str:
        if _missing(v):
            return ""
        if not _is_number(v):
            return str(v)
        if isinstance(v, (int,)) or (hasattr(v, "dtype") and v.dtype.kind == "i"):
            return str(int(v))
        v = float(v)
        if col in self.scaled and self.style.percent:
            return f"{v * 100:.{self.style.percent_digits}f}"
        if col in self.scaled:
            return f"{v:.{self.style.digits}f}"
        return f"{v:g}"

    def cell(self, df: pd.DataFrame, i: int, col: str) -> tuple[str, str | None]:
        """(value text, interval text or None)."""
        row = df.iloc[i]
        text = self.number(col, row[col])
        ci = (self.style.ci or {}).get(col)
        interval = None
        if ci is not None and text and not _missing(row[ci[0]]) and not _missing(row[ci[1]]):
            interval = f"[{self.number(col, row[ci[0]])}, {self.number(col, row[ci[1]])}]"
        return text, interval


def _shown(df: pd.DataFrame, style: TableStyle) -> list[str]:
    hidden = style.hidden()
    return [c for c in df.columns if c not in hidden]


def to_markdown(df: pd.DataFrame, style: TableStyle) -> str:
    cols = _shown(df, style)
    fmt, best = _Formatter(style), _best(df, style)

    def head(c: str) -> str:
        d = style.directions.get(c)
        return f"{c} {'↑' if d == 'higher' else '↓'}" if d else str(c)

    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in cols]
    lines = []
    if style.caption:
        lines += [style.caption, ""]
    lines += ["| " + " | ".join(head(c) for c in cols) + " |",
              "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for i in range(len(df)):
        cells = []
        for c in cols:
            text, interval = fmt.cell(df, i, c)
            text = text or "—"
            if i in best.get(c, ()):
                text = f"**{text}**"
            if interval:
                text += f" {interval}"
            cells.append(text.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    if style.notes:
        lines += [""] + [f"- {n}" for n in style.notes]
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(s))


def to_latex(df: pd.DataFrame, style: TableStyle) -> str:
    cols = _shown(df, style)
    fmt, best = _Formatter(style), _best(df, style)
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
                    else "l" for c in cols)

    def head(c: str) -> str:
        d = style.directions.get(c)
        arrow = {"higher": r" $\uparrow$", "lower": r" $\downarrow$"}.get(d or "", "")
        return _tex(c) + arrow

    lines = [r"% m3vos table; needs \usepackage{booktabs}"]
    lines += [f"% {_tex(n)}" for n in style.notes]
    lines += [r"\begin{table}[t]", r"\centering"]
    if style.caption:
        lines.append(rf"\caption{{{_tex(style.caption)}}}")
    if style.label:
        lines.append(rf"\label{{{style.label}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(head(c) for c in cols) + r" \\",
              r"\midrule"]
    for i in range(len(df)):
        cells = []
        for c in cols:
            text, interval = fmt.cell(df, i, c)
            text = _tex(text) if text else "--"
            if i in best.get(c, ()):
                text = rf"\textbf{{{text}}}"
            if interval:
                text += rf" {{\scriptsize {_tex(interval)}}}"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _plain(v: Any) -> Any:
    if _missing(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return nan_to_none(v)


def to_csv(df: pd.DataFrame, style: TableStyle | None = None) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def to_json(df: pd.DataFrame, style: TableStyle) -> str:
    doc = {**dict(style.meta), "columns": [str(c) for c in df.columns], "directions": dict(style.directions),
           "units": "fractions", "caption": style.caption, "notes": list(style.notes),
           "rows": [{str(c): _plain(v) for c, v in zip(df.columns, row)} for row in df.itertuples(index=False)]}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def render_table(df: pd.DataFrame, fmt: str, style: TableStyle | None = None) -> str:
    """The table as text in one of `FORMATS`."""
    style = style or TableStyle()
    renderers = {"md": to_markdown, "csv": to_csv, "json": to_json, "tex": to_latex}
    if fmt not in renderers:
        raise ValueError(f"unknown table format {fmt!r} (use one of {', '.join(FORMATS)})")
    return renderers[fmt](df, style)


def ensure_dir(out: str | os.PathLike[str]) -> Path:
    """Create `out` if needed; EnvError (exit 3, one line) when it is a file or cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EnvError("is a file, not a folder", path=out, hint="pass --out a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".m3vos-write-probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise EnvError(f"cannot write into this folder ({exc.strerror or exc})", path=out,
                       hint="pass --out a writable folder") from None
    return out


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomic write of one file; a failing disk is an EnvError naming the file."""
    from m3vos.utils.atomic import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise EnvError(f"could not write ({exc.strerror or exc})", path=path,
                       hint="free disk space or pass --out a writable folder") from None
    return Path(path)


def write_tables(df: pd.DataFrame, out_dir: str | os.PathLike[str], stem: str, style: TableStyle | None = None,
                 formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write `out_dir/stem.{md,csv,json,tex}` (those in `formats`); returns the paths written."""
    out = ensure_dir(out_dir)
    texts = {f: render_table(df, f, style) for f in formats}      # everything rendered before any write
    return [write_text(out / f"{stem}.{f}", text) for f, text in texts.items()]
