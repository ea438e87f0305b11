"""`m3vos score` as one library call: check what was asked, score each folder, write, gate.

`score_folders` is the orchestration the command needs around the engine
(`m3vos.metrics.engine.score_predictions`): it lives here, above metrics, because it also adds
breakdowns and quality gates (`m3vos.analysis`). Everything the caller passed is checked before
any work and before any earlier results are touched; results are written atomically; a folder
whose scoring fails or is interrupted has its earlier results moved to
`.m3vos/previous-results/` (they no longer describe it). Gate failures are returned, not raised:
the caller renders the results first, then fails.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from m3vos.errors import BadInputError
from m3vos.metrics.results import ScoreResult


@dataclass
class ScoredFolder:
    """One PREDS folder, its result and where its results.json was written."""

    preds: Path
    result: ScoreResult
    results_file: Path


@dataclass
class ScoreRun:
    """What `score_folders` did: the scored folders in the order given, and the gate failures
    (one line each, prefixed with the folder when several were scored; empty: all met)."""

    folders: list[ScoredFolder] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _note(line: str) -> None:
    _stderr(f"note: {line}")


def score_folders(preds: Sequence[str | Path], *, data: str | Path | None = None, split: str = "val",
                  benchmark: str | None = None, protocol: str | None = None,
                  videos: Sequence[str] | None = None, workers: int | None = None,
                  out: str | Path | None = None, jcc: str = "hungarian", void_aware: bool = False,
                  compat_decay: bool = False, missing: str = "error", strict: bool = False,
                  breakdowns: Sequence[str] | None = None, fail_under: Sequence[str] | None = None,
                  fail_over: Sequence[str] | None = None, progress: bool | None = None,
                  say: Callable[[str], None] | None = None) -> ScoreRun:
    """Score every folder of `preds` against the dataset at `data` into its own results.

    `protocol` None: the benchmark's own. `out`: where the results go (default: each PREDS;
    only with one PREDS). `breakdowns`: names to add (`all` for every one). `fail_under` /
    `fail_over`: `METRIC=VALUE` gates. `progress`: a bar per folder (None: when stderr is a
    terminal). `say`: where a notice goes (default: stderr). Bad input is a `BadInputError`
    raised before anything is scored or touched; an unwritable `out` an `EnvError` (exit 3).
    """
    from m3vos.analysis import breakdowns as bd
    from m3vos.analysis.gate import OVER, check_thresholds, parse_thresholds
    from m3vos.data.benchmarks import check_scorable
    from m3vos.data.dataset import open_dataset
    from m3vos.metrics import metric_names, retire_results, write_results
    from m3vos.metrics.engine import score_predictions, select_videos
    from m3vos.metrics.results import check_writable
    from m3vos.utils.progress import make_progress

    say = say or _stderr
    folders = [Path(p) for p in preds]
    dataset = open_dataset(data, split=split, benchmark=benchmark)
    check_scorable(dataset)
    protocol = protocol or dataset.benchmark.protocol
    thresholds = parse_thresholds(fail_under) + parse_thresholds(fail_over, OVER)
    known = metric_names(protocol)
    for th in thresholds:
        if th.metric not in known:
            raise BadInputError(f"--fail-{th.kind} names {th.metric!r}, which the {protocol} protocol does not "
                                "report", hint=f"use one of: {', '.join(known)}")
    breakdown_names = [b.strip() for b in breakdowns or [] if b.strip()]
    if breakdown_names:
        bd.parse_names(breakdown_names)
    if out is not None and len(folders) > 1:
        raise BadInputError(f"--out with {len(folders)} prediction folders would write every results.json into "
                            "one folder", hint="drop --out: each PREDS gets its own results")
    for p in folders:
        if not p.is_dir():
            raise BadInputError("prediction folder does not exist" if not p.exists() else
                                "predictions must be a folder, not a file", path=p,
                                hint="pass the folder that holds one <video>/ folder of PNG masks per video")
    wanted = list(videos) if videos else None
    n_videos = len(select_videos(dataset, wanted))
    targets = [(p, Path(out) if out is not None else p) for p in folders]
    for _, out_dir in targets:
        check_writable(out_dir)            # exit 3 now, not after minutes of scoring

    run = ScoreRun()
    for p, out_dir in targets:
        bar_display = make_progress(enabled=progress, transient=True)
        bar = bar_display.add_task(f"scoring {p.name}" if len(folders) > 1 else "scoring", total=n_videos,
                                   status="")

        def advance(name: str, bar_display: Any = bar_display, bar: Any = bar) -> None:
            bar_display.update(bar, advance=1, status=name)

        try:
            # the bar's refresh thread starts only once the workers exist (see score_predictions)
            result = score_predictions(p, dataset, protocol=protocol, videos=wanted, workers=workers, jcc=jcc,
                                       void_aware=void_aware, compat_decay=compat_decay, missing=missing,
                                       strict=strict, on_start=bar_display.start, on_video_done=advance)
        except (BadInputError, KeyboardInterrupt) as exc:
            # the arguments were valid, but these predictions did not score (broken, or the run was
            # killed): the earlier numbers no longer describe the folder, so they are moved aside
            retired = retire_results(out_dir, split)
            if retired is not None:
                moved = f"the earlier results were moved to {retired}"
                if isinstance(exc, BadInputError):
                    exc.append(moved)
                else:
                    say(moved)
            raise
        finally:
            bar_display.stop()
        if breakdown_names:
            result.breakdowns = bd.add_breakdowns(result.to_dict(), dataset, breakdown_names)
        written = write_results(result, out_dir, split)
        run.folders.append(ScoredFolder(p, result, written[0]))

    for f in run.folders:
        prefix = f"{f.preds}: " if len(run.folders) > 1 else ""
        run.failures += [prefix + line for line in check_thresholds(f.result.global_metrics, thresholds)]
    return run


def results_or_score(preds: str | Path, dataset: Any, *, say: Callable[[str], None] | None = None
                     ) -> dict[str, Any]:
    """The results document of `preds`: its results.json, or a fresh in-memory score (m3vos
    protocol, not written) when it has none, said through `say` (default: a note on stderr)."""
    from m3vos.analysis.results_io import RESULTS_NAME, load_results
    from m3vos.metrics.engine import score_predictions

    preds = Path(preds)
    if preds.is_file() or (preds / RESULTS_NAME).is_file():
        return load_results(preds).doc
    (say or _note)(f"{preds} has no results.json; scoring it now (m3vos protocol, not written)")
    return score_predictions(preds, dataset).to_dict()
