"""`m3vos report`: plots, tables and a contact sheet for one or several results folders.

Writes PNG figures, a self-contained `report.html` (figures embedded, sortable tables) and a
`report.md` summary into `RESULTS/report/` (or `out_dir`). Several results folders are drawn side
by side on the objects each scored, into a folder of their own (`FIRST/report-vs-OTHERS/`), so a
comparison never overwrites a single-run report; ground-truth attributes come from the dataset
the results were scored on (or `data`).

Every report states each run's provenance (protocol, options, J_cc variant, m3vos version,
dataset fingerprint, tracker, config, weights, scoring date), refuses runs that were scored
differently (unless `allow_mixed`, which marks the report MIXED), and gives every breakdown row
its object count and a 95% bootstrap interval over videos; rows of fewer than 3 objects are marked.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from m3vos.analysis import plots
from m3vos.analysis.breakdowns import (BREAKDOWNS, SIZE_CUT_LN, SIZE_EDGES, SMALL_N, VELOCITY_CUT_LN,
                                       VELOCITY_EDGES, breakdown_rows)
from m3vos.analysis.results_io import ResultsFolder, load_many
from m3vos.errors import BadInputError, M3vosError
from m3vos.metrics.contract import RANDOM_WEIGHTS_MARK, check_comparable, provenance

#: Marker file naming the runs a report folder was written for.
RUNS_FILE = "report-runs.json"

REPORT_BREAKDOWNS = ("group", "intra", "transition", "core", "difficulty", "size", "velocity", "entropy")
MAIN_METRIC = "J-Mean"


@dataclass
class Report:
    out_dir: Path
    runs: list[str]
    summary: pd.DataFrame
    breakdowns: dict[str, dict[str, list[dict[str, Any]]]]     # breakdown -> run -> rows
    worst: dict[str, pd.DataFrame]
    figures: dict[str, Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame)
    metric: str = MAIN_METRIC
    percent: bool = False          # tables in the paper convention (75.6); CSVs stay fractions

    def table(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` as printed: metric columns in percent when asked."""
        return _percent_frame(df) if self.percent else df

    def breakdown(self, name: str) -> pd.DataFrame:
        return self.table(breakdown_frame(self.breakdowns[name], self.metric, percent=self.percent))

    @property
    def main_file(self) -> Path:
        """report.html, else report.md, else the folder: what to open first."""
        for name in ("report.html", "report.md"):
            if self.out_dir / name in self.files:
                return self.out_dir / name
        return self.out_dir

    def __fspath__(self) -> str:          # `Path(write_report(...))` is the page to open
        return str(self.main_file)


def open_results_dataset(runs: list[ResultsFolder], data: str | Path | None, labels: str | Path | None) -> Any:
    """`data` if given, else the dataset recorded in the first results (None when it has moved)."""
    from m3vos.data.dataset import open_dataset

    ident = runs[0].doc.get("dataset") or {}
    if data is not None:
        return open_dataset(data, labels_dir=labels)
    root = ident.get("root")
    if root and Path(root).exists():
        # the recorded benchmark (`--dataset` at scoring time) keeps its meaning here
        return open_dataset(root, split=ident.get("split") or "val", labels_dir=labels,
                            benchmark=ident.get("benchmark"))
    return None


def _pred_dir(run: ResultsFolder) -> Path:
    p = run.doc.get("predictions")
    return Path(p) if p and Path(p).is_dir() else run.path


def write_report(result_dirs: Sequence[str | Path], out_dir: str | Path | None = None, *,
                 data: str | Path | None = None, labels: str | Path | None = None, dataset: Any = None,
                 html_page: bool = True,
                 markdown: bool = True, worst: int = 6, contact_frames: int = 3, entropy: bool = True,
                 metric: str = MAIN_METRIC, progress: bool | None = None, allow_mixed: bool = False,
                 names: dict[str, str] | None = None, percent: bool = False) -> Report:
    """Build the report for `result_dirs` and write it into `out_dir` (default: the first folder's
    `report/` for one run, `report-vs-<other runs>/` for several).

    The dataset is `dataset` (an open `Dataset`), else `data` (a root), else the one recorded in the
    first results. The returned `Report` is path-like: `Path(report)` is the page to open.
    """
    from m3vos.analysis.table import object_table
    from m3vos.utils.atomic import atomic_write_text

    runs = load_many(list(result_dirs), names=names)
    for r in runs:
        if metric not in r.metrics():
            raise BadInputError(f"metric {metric!r} is not in these results", path=r.file,
                                hint=f"pick one of {', '.join(r.metrics())} with --metric")
    notes: list[str] = check_comparable(runs, allow_mixed=allow_mixed)
    if out_dir is not None:
        out = Path(out_dir)
    elif len(runs) == 1:
        out = runs[0].path / "report"
    else:
        out = runs[0].path / ("report-vs-" + "-".join(_safe(r.name) for r in runs[1:]))[:120]
    run_paths = [str(r.file.resolve()) if r.file else str(r.path.resolve()) for r in runs]
    _claim_folder(out, run_paths)
    prov = pd.DataFrame([provenance(r) for r in runs])
    for _, p in prov.iterrows():
        if p["random_weights"]:
            notes.append(f"{p['run']}: {RANDOM_WEIGHTS_MARK}")
    prov = prov.drop(columns=["random_weights"])
    if dataset is None:
        dataset = open_results_dataset(runs, data, labels)
    gt: dict[str, dict[str, Any]] | None = None
    if dataset is None:
        notes.append("dataset not found (pass --data): label, size, velocity and entropy breakdowns are empty")
    else:
        from m3vos.analysis.attributes import gt_attributes
        from m3vos.analysis.keys import VideoIndex, resolve_entry

        index = VideoIndex.build(dataset.video_names)
        vids = sorted({f[0] for r in runs for k, e in r.per_object.items()
                       if (f := resolve_entry(k, e, index)) is not None})
        gt = gt_attributes(dataset, ("geometry", "entropy") if entropy else ("geometry",), videos=vids,
                           progress=progress)
    tables = {r.name: object_table(r.doc, dataset, gt_attributes=gt) for r in runs}

    summary = _summary(runs, tables)
    bds = {name: {run: breakdown_rows(t, name, ci=metric) for run, t in tables.items()}
           for name in REPORT_BREAKDOWNS if entropy or name != "entropy"}
    figs: dict[str, Path] = {}
    figs["group"] = plots.bars_by_value(bds["group"], metric, out / "j_per_group.png",
                                        title=f"{metric} per transition group (IS/IL/IG/CP)")
    figs["transition"] = plots.bars_by_value(bds["transition"], metric, out / "j_per_transition.png",
                                             title=f"{metric} per phase transition")
    if gt is not None:
        figs["size"] = plots.scatter_ln(
            {run: (t["size"].to_numpy(float), t[metric].to_numpy(float)) for run, t in tables.items()},
            out / "j_vs_size.png", xlabel="ln(size) = ln(GT area / frame area)", metric=metric,
            title=f"{metric} vs object size", edges=SIZE_EDGES, cut=SIZE_CUT_LN, cut_label="official small cut e^-4")
        figs["velocity"] = plots.scatter_ln(
            {run: (t["velocity"].to_numpy(float), t[metric].to_numpy(float)) for run, t in tables.items()},
            out / "j_vs_velocity.png", xlabel="ln(velocity) = ln(centroid speed, image diagonals per frame)",
            metric=metric, title=f"{metric} vs object velocity", edges=VELOCITY_EDGES, cut=VELOCITY_CUT_LN,
            cut_label="official fast cut (v^2 = e^-15, assumed scale)")
    worst_tables = {run: t.nsmallest(worst, metric)[["key", metric, "transition", "group"]
                                                    + [c for c in ("size", "velocity") if c in t.columns]]
                    for run, t in tables.items()}
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for r in runs:
        for key in worst_tables[r.name]["key"]:
            pf = r.per_frame.get(key)
            if pf and pf.get("J"):
                y = np.asarray(pf["J"], float)
                t = np.linspace(0, 1, len(y)) if len(y) > 1 else np.zeros(1)
                curves.setdefault(r.name, {})[key] = (t, y)
    figs["worst_time"] = plots.curves_over_time(curves if len(runs) > 1 else {"": curves.get(runs[0].name, {})},
                                                out / "j_over_time_worst.png", ylabel="J per frame",
                                                title=f"J over time, {worst} worst objects by {metric}")
    if not curves:
        notes.append("results hold no per-frame values: the J-over-time plot is empty")
    if gt is not None and entropy:
        ent = {"GT (m3vos lbp)": {k: [tuple(p) for p in a.get("entropy_curve", [])] for k, a in gt.items()}}
        figs["entropy"] = plots.entropy_curves_plot(ent, out / "entropy_over_time.png",
                                                    title="GT shape entropy (m3vos lbp, non-official) over time",
                                                    unit="objects")
    if dataset is not None:
        sheet = _contact_sheet(runs, dataset, worst_tables[runs[0].name]["key"].tolist(), out / "worst_objects.png",
                               frames=contact_frames)
        if sheet is not None:
            figs["contact"] = sheet
        else:
            notes.append("contact sheet skipped: no frames or predictions found for the worst objects")
    rep = Report(out, [r.name for r in runs], summary, bds, worst_tables, figs, notes=notes, provenance=prov,
                 metric=metric, percent=percent)
    for name, t in tables.items():
        atomic_write_text(out / (f"objects-{_safe(name)}.csv" if len(tables) > 1 else "objects.csv"),
                          t.drop(columns=[c for c in ("entropy_curve",) if c in t.columns]).to_csv(index=False))
    if markdown:
        atomic_write_text(out / "report.md", render_markdown(rep))
        rep.files.append(out / "report.md")
    if html_page:
        atomic_write_text(out / "report.html", render_html(rep))
        rep.files.append(out / "report.html")
    rep.files.extend(figs.values())
    return rep


def _claim_folder(out: Path, run_paths: list[str]) -> None:
    """Create `out` for these runs; refuse a folder that holds the report of other runs."""
    import json

    from m3vos.errors import EnvError
    from m3vos.utils.atomic import atomic_write_text

    marker = out / RUNS_FILE
    if marker.is_file():
        try:
            before = json.loads(marker.read_text(encoding="utf-8")).get("runs")
        except (OSError, ValueError, AttributeError):
            before = None
        if before is not None and sorted(before) != sorted(run_paths):
            raise BadInputError(f"holds the report of other runs ({len(before)} run(s)); it is not overwritten",
                                path=out, hint="pass another --out, or delete that folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, json.dumps({"runs": run_paths}, indent=1) + "\n")
    except OSError as exc:
        raise EnvError(f"cannot write the report here ({exc.strerror or exc})", path=out,
                       hint="pass --out a writable folder") from None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _summary(runs: list[ResultsFolder], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for r in runs:
        t = tables[r.name]
        row: dict[str, Any] = {"run": r.name, "objects": len(t), "videos": t["video"].nunique()}
        for m in ("J-Mean", "J_last-Mean", "J_cc-Mean", "J&F-Mean"):
            if m in t.columns:
                row[m] = float(t[m].mean())
        row["unlabelled"] = int((~t["labelled"].astype(bool)).sum())
        row["warnings"] = len(r.doc.get("warnings") or [])
        rows.append(row)
    return pd.DataFrame(rows)


# --- contact sheet ---------------------------------------------------------------------------

def _overlay(rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    out = rgb.astype(np.float32).copy()
    out[mask] = 0.5 * out[mask] + 0.5 * np.array(color, np.float32)
    edge = mask & ~binary_erosion(mask)
    out[edge] = color
    return out.astype(np.uint8)


def _thumb(img: np.ndarray, width: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    if w <= width:
        return img
    return np.asarray(Image.fromarray(img).resize((width, max(1, round(h * width / w))), Image.BILINEAR))


def _contact_sheet(runs: list[ResultsFolder], dataset: Any, keys: list[str], path: Path, *,
                   frames: int = 3, width: int = 160) -> Path | None:
    """Rows = worst objects x sampled frames; columns = image, GT, each run's prediction (overlaid).

    Composed with PIL at thumbnail size (not matplotlib), so a sheet stays a few hundred KB.
    """
    from PIL import Image, ImageDraw

    from m3vos.analysis.keys import VideoIndex, resolve_entry
    from m3vos.data.masks import read_mask
    from m3vos.utils.atomic import atomic_path

    index = VideoIndex.build(dataset.video_names)
    rows: list[tuple[str, list[np.ndarray]]] = []
    first = runs[0]
    for key in keys:
        found = resolve_entry(key, first.per_object[key], index)
        if found is None:
            continue
        video = dataset.video(found[0])
        obj = found[1]
        stems = (first.per_frame.get(key) or {}).get("frames") or video.stems
        if not stems:
            continue
        picks = [stems[i] for i in sorted({int(round(x)) for x in np.linspace(0, len(stems) - 1, frames)})]
        frame_by_stem = {p.stem: p for p in video.frame_paths}
        mask_by_stem = {p.stem: p for p in video.mask_paths}
        for stem in picks:
            if stem not in mask_by_stem:
                continue
            gt = read_mask(mask_by_stem[stem]) == obj
            if stem in frame_by_stem:
                with Image.open(frame_by_stem[stem]) as im:
                    rgb = np.asarray(im.convert("RGB"))
            else:
                rgb = np.full((*gt.shape, 3), 128, np.uint8)
            if rgb.shape[:2] != gt.shape:
                rgb = np.asarray(Image.fromarray(rgb).resize(gt.shape[::-1]))
            row = [rgb, _overlay(rgb, gt, (0, 200, 0))]
            for r in runs:
                p = _pred_dir(r) / found[0] / f"{stem}.png"
                pm = None
                if p.is_file():
                    try:
                        pm = read_mask(p)
                    except M3vosError:      # a broken prediction shows as a dark tile, not a crash
                        pm = None
                row.append(_overlay(rgb, pm == obj, (230, 40, 40)) if pm is not None and pm.shape == gt.shape
                           else np.full_like(rgb, 40))
            rows.append((f"{key} @ {stem}", [_thumb(x, width) for x in row]))
    if not rows:
        return None
    label_h, head_h, pad = 14, 16, 2
    cols = 2 + len(runs)
    tile_h = max(r[1][0].shape[0] for r in rows)
    tile_w = max(r[1][0].shape[1] for r in rows)
    sheet = Image.new("RGB", (cols * (tile_w + pad) + pad, head_h + len(rows) * (tile_h + label_h + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    titles = ["image", "ground truth (green)", *[f"pred: {r.name} (red)" for r in runs]]
    for j, t in enumerate(titles):
        draw.text((pad + j * (tile_w + pad), 2), t[:28], fill=(0, 0, 0))
    y = head_h
    for label, tiles in rows:
        draw.text((pad, y), label[:80], fill=(60, 60, 60))
        for j, tile in enumerate(tiles):
            sheet.paste(Image.fromarray(tile), (pad + j * (tile_w + pad), y + label_h))
        y += tile_h + label_h + pad
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG", optimize=True)
    return Path(path)


# --- rendering -------------------------------------------------------------------------------

def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def breakdown_frame(rows_by_run: dict[str, list[dict[str, Any]]], metric: str = MAIN_METRIC, *,
                    percent: bool = False) -> pd.DataFrame:
    """One table per breakdown: value, then `<run> objects`, `<run> metric` and (when the rows carry
    intervals) `<run> 95% CI` columns side by side; rows with fewer than 3 objects get a mark."""
    values: list[str] = []
    for rows in rows_by_run.values():
        values += [r["value"] for r in rows if r["value"] not in values]
    out = pd.DataFrame({"value": values})
    for run, rows in rows_by_run.items():
        by = {r["value"]: r for r in rows}
        prefix = f"{run} " if len(rows_by_run) > 1 else ""
        out[f"{prefix}objects"] = [by[v]["n_objects"] if v in by else 0 for v in values]
        out[f"{prefix}{metric}"] = [by[v].get(metric) if v in by else None for v in values]
        if any("ci_low" in r for r in rows):
            out[f"{prefix}95% CI"] = [_interval(by.get(v), percent) for v in values]
    if any("small" in r for rows in rows_by_run.values() for r in rows):
        small = {v for rows in rows_by_run.values() for r in rows if r.get("small") for v in [r["value"]]}
        out["n<3"] = ["yes" if v in small else "" for v in values]
    return out


def _interval(row: dict[str, Any] | None, percent: bool = False) -> str:
    if not row or row.get("ci_low") is None or row.get("ci_high") is None:
        return "—"
    if percent:
        return f"[{row['ci_low'] * 100:.1f}, {row['ci_high'] * 100:.1f}]"
    return f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]"


def _percent_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Metric columns (`J-Mean`, `static J-Mean`, ...) as percent strings with one decimal."""
    from m3vos.metrics.contract import metric_spec

    out = df.copy()
    for c in out.columns:
        if metric_spec(str(c).split(" ")[-1]) is not None and pd.api.types.is_numeric_dtype(out[c]):
            out[c] = ["—" if v is None or not math.isfinite(float(v)) else f"{float(v) * 100:.1f}" for v in out[c]]
    return out


def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in cols]
    lines = ["| " + " | ".join(map(str, cols)) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def results_breakdowns(results: str | Path, names: str | Sequence[str], *, data: str | Path | None = None,
                       labels: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """`m3vos breakdowns RESULTS`: the named breakdowns of a results folder, on the dataset it
    was scored on (or `data`), with the official labels of `labels` when given."""
    from m3vos.analysis.breakdowns import add_breakdowns, parse_names
    from m3vos.analysis.results_io import load_results

    wanted = parse_names(names)
    run = load_results(results)
    dataset = open_results_dataset([run], data, labels)
    if dataset is None:
        raise BadInputError("the dataset these results were scored on is not at its recorded root",
                            path=run.file, hint="pass --data DATASET_ROOT")
    return add_breakdowns(run.doc, dataset, wanted)


def breakdowns_document(section: dict[str, list[dict[str, Any]]], fmt: str) -> str:
    """Breakdown rows as `json`, or as one `csv` / `md` table with a leading breakdown column."""
    import json

    if fmt == "json":
        return json.dumps(section, indent=1) + "\n"
    frames = [pd.DataFrame(rows).assign(breakdown=name) for name, rows in section.items()]
    df = pd.concat(frames, ignore_index=True)
    df = df[["breakdown", *[c for c in df.columns if c != "breakdown"]]]
    return df.to_csv(index=False) if fmt == "csv" else md_table(df) + "\n"


_CI_NOTE = (f"Each row: n objects, the plain mean, and a 95% bootstrap interval resampling the row's videos "
            f"(1000 resamples, seed 0); rows marked n<3 hold fewer than {SMALL_N} objects: read them as anecdotes.")


def render_markdown(rep: Report) -> str:
    mixed = [n for n in rep.notes if n.startswith("MIXED")]
    parts = [f"# m3vos report: {', '.join(rep.runs)}", ""]
    parts += [f"> **{n}**" for n in mixed] + ([""] if mixed else [])
    parts += ["## Summary", "", md_table(rep.table(rep.summary)), ""]
    if len(rep.provenance):
        parts += ["## Provenance", "", md_table(rep.provenance), ""]
    parts += [f"_{_CI_NOTE}_", ""]
    for name, rows in rep.breakdowns.items():
        parts += [f"## {name}", "", f"_{BREAKDOWNS[name].description}_", "",
                  md_table(rep.breakdown(name)), ""]
    for run, t in rep.worst.items():
        parts += [f"## Worst objects: {run}", "", md_table(rep.table(t)), ""]
    parts += ["## Figures", ""] + [f"![{k}]({p.name})" for k, p in rep.figures.items()] + [""]
    if rep.notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in rep.notes] + [""]
    return "\n".join(parts)


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th onclick=\"sortTable(this)\">{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f0f0f0;cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}.note{color:#8a5a00}"""
_JS = """function sortTable(th){const t=th.closest('table'),b=t.tBodies[0],i=[...th.parentNode.children].indexOf(th);
const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';const rows=[...b.rows];
const key=r=>{const s=r.cells[i].textContent;const n=parseFloat(s);return isNaN(n)?s:n};
rows.sort((a,c)=>{const x=key(a),y=key(c);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>b.appendChild(r));}"""


def render_html(rep: Report) -> str:
    def img(p: Path) -> str:
        data = base64.b64encode(p.read_bytes()).decode()
        return f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}">'

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>m3vos report</title>"
             f"<style>{_CSS}</style><script>{_JS}</script></head><body>",
             f"<h1>m3vos report: {html.escape(', '.join(rep.runs))}</h1>",
             "<p>Click a column header to sort. Means are plain means over objects (the official rule); "
             "size, velocity and entropy use m3vos definitions (see docs/analysis.md).</p>",
             *[f"<p class='note'><b>{html.escape(n)}</b></p>" for n in rep.notes if n.startswith("MIXED")],
             "<h2>Summary</h2>", _html_table(rep.table(rep.summary))]
    if len(rep.provenance):
        parts += ["<h2>Provenance</h2>", _html_table(rep.provenance)]
    parts.append(f"<p>{html.escape(_CI_NOTE)}</p>")
    for n in rep.notes:
        parts.append(f"<p class='note'>{html.escape(n)}</p>")
    fig_after = {"group": ["group"], "transition": ["transition"], "size": ["size"], "velocity": ["velocity"],
                 "entropy": ["entropy"]}
    for name, rows in rep.breakdowns.items():
        parts += [f"<h2>{html.escape(name)}</h2>", f"<p>{html.escape(BREAKDOWNS[name].description)}</p>",
                  _html_table(rep.breakdown(name))]
        for f in fig_after.get(name, []):
            if f in rep.figures:
                parts.append(img(rep.figures[f]))
    parts.append("<h2>Worst objects</h2>")
    for run, t in rep.worst.items():
        parts += [f"<h3>{html.escape(run)}</h3>", _html_table(rep.table(t))]
    for f in ("worst_time", "contact"):
        if f in rep.figures:
            parts.append(img(rep.figures[f]))
    parts.append("</body></html>")
    return "\n".join(parts)
