"""`m3vos demo`: the whole toolkit on synthetic data, with no download and no GPU.

Synthesise -> run the weight-free baselines (and any model tracker whose weights are present)
-> score -> leaderboard -> report. It uses only the public library functions a user would call,
so it doubles as a smoke test of the toolkit.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError, EnvError, M3vosError

BASELINES = ("static", "flow")


#: Model trackers the demo adds when their weights are cached, best first; only one runs (on a
#: CPU each costs tens of seconds), at the synthetic frames' native size (`size=-1`).
MODEL_PREFERENCE = ("revos", "cutie-small", "cutie-base")
MODEL_CONFIG = {"size": -1}


def _model_tracker_with_weights() -> list[str]:
    """The first of MODEL_PREFERENCE whose checkpoint is already in the cache (never downloads)."""
    from m3vos.trackers.registry import describe, find_spec

    for name in MODEL_PREFERENCE:
        row = describe(find_spec(name))
        if row["available"] and row["weights_present"]:
            return [name]
    return []


#: Written into a demo's folder: only such a folder is ever cleared by a later demo.
DEMO_MARKER = ".m3vos-demo"


def _claim_folder(out: Path) -> None:
    """Use `out` if it is new, empty or an earlier demo's folder; refuse anything else (the demo
    replaces `out/data`, which could be someone's dataset)."""
    if out.exists():
        if not out.is_dir():
            raise BadInputError("--out is a file, not a folder", path=out, hint="pass a new folder")
        if not (out / DEMO_MARKER).is_file() and any(out.iterdir()):
            raise BadInputError("output folder exists, is not empty and is not an earlier demo's folder",
                                path=out, hint="pass a new or empty folder to --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / DEMO_MARKER).write_text("made by `m3vos demo`; a later demo may replace this folder's content\n")
    except OSError as exc:
        raise EnvError(f"cannot write the demo folder ({exc.strerror or exc})", path=out,
                       hint="pass a writable --out folder") from None


def run_demo(out: str | Path = "m3vos-demo", *, videos: int = 6, frames: int = 24, seed: int = 0,
             console: Any = None, progress: bool | None = None,
             models: list[str] | None = None) -> dict[str, Any]:
    """Returns what was done (paths, leaderboard rows, timings); prints as it goes."""
    from rich.console import Console

    from m3vos.data.dataset import open_dataset
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.runner.api import run

    con = console or Console()
    import cv2

    # Tiny frames gain nothing from OpenCV's thread pool, and a live pool makes the forked
    # workers of the scoring and report stages liable to deadlock.
    cv2.setNumThreads(1)
    out = Path(out).resolve()
    t0 = time.perf_counter()
    data = out / "data"
    _claim_folder(out)
    if data.exists():  # a folder of an earlier demo: regenerate so the options always apply
        shutil.rmtree(data)
    con.print(f"[bold]1/4[/bold] synthesising {videos} videos x {frames} frames into {data}")
    make_synthetic_dataset(data, videos=videos, seed=seed, frames=frames)
    dataset = open_dataset(data)

    trackers = list(models) if models is not None else [*BASELINES, *_model_tracker_with_weights()]
    con.print(f"[bold]2/4[/bold] running trackers: {', '.join(trackers)}")
    preds: dict[str, Path] = {}
    timings: dict[str, float] = {}
    for name in trackers:
        folder = out / "preds" / name.replace(":", "-")
        t = time.perf_counter()
        config = MODEL_CONFIG if name in MODEL_PREFERENCE else {}
        try:
            summary = run(name, folder, data=data, config=config, force=True, progress=progress)
        except M3vosError as exc:  # e.g. a model that cannot load: the baselines still make a demo
            con.print(f"  [red]{name}: {exc.one_line()}[/red]")
            continue
        timings[name] = round(time.perf_counter() - t, 2)
        if summary.failed:
            con.print(f"  [red]{name}: {len(summary.failed)} video(s) failed[/red]: {summary.failed[0].get('error')}")
            continue
        preds[name] = folder
        con.print(f"  {name}: {summary.frames} frames in {timings[name]:.1f} s")

    result: dict[str, Any] = {"out": str(out), "data": str(data), "predictions": {k: str(v) for k, v in preds.items()},
                              "run_seconds": timings}
    con.print("[bold]3/4[/bold] scoring (M3-VOS protocol)")
    from m3vos.analysis.leaderboard import build_leaderboard
    from m3vos.analysis.report import write_report
    from m3vos.metrics import score_predictions, write_results

    for name, folder in preds.items():
        # One process: the demo set is tiny, and forking a pool after OpenCV has started its
        # threads (the flow tracker) can deadlock the forked workers.
        res = score_predictions(folder, dataset, workers=1)
        write_results(res, folder, dataset.split)
        jm = res.to_dict().get("global", {}).get("J-Mean")
        con.print(f"  {name}: J-Mean {jm:.4f}" if isinstance(jm, (int, float)) else f"  {name}: scored")

    con.print("[bold]4/4[/bold] leaderboard and report")
    report = None
    if preds:
        board = build_leaderboard(list(preds.values()))
        con.print(board.to_rich())
        (out / "leaderboard.md").write_text(board.to_markdown())
        result["leaderboard"] = board.to_dict()
        report = Path(write_report(list(preds.values()), out / "report", dataset=dataset))
    else:
        con.print("  [red]no tracker produced predictions: nothing to rank[/red]")
    result["report"] = str(report) if report else None
    result["seconds"] = round(time.perf_counter() - t0, 2)
    con.print(f"\nDone in {result['seconds']:.1f} s. Everything is in {out}"
              + (f" (report: {report})" if report else ""))
    con.print(
        "\n[bold]Next, on the real M3-VOS data:[/bold]\n"
        "  m3vos data download                      # the benchmark (or point M3VOS_DATA at a copy)\n"
        "  m3vos run --model flow --out preds/flow  # any tracker from `m3vos trackers list`\n"
        "  m3vos trackers list                      # model trackers and how to get their weights\n"
        "  m3vos run --model revos --gpus 0 --out preds/revos\n"
        "  m3vos score preds/flow && m3vos leaderboard preds/flow preds/revos && m3vos report preds/flow preds/revos")
    return result
