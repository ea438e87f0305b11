"""CLI commands: `m3vos dev ...`, tools for m3vos developers (parity replays)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from m3vos_cli.common import DocFormat, console, err_console, shared

dev_app = typer.Typer(
    name="dev",
    help="Developer tools: replay official parity references with our models.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dev_app.command("replay")
def replay_cmd(
    reference: Path = typer.Argument(
        ..., help="Parity reference .npz (its .json, schema m3vos-parity-reference/1, beside it)."),
    weights: Path = typer.Option(..., "--weights", help="Checkpoint (state_dict) for the reference's model."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write our outputs (.npz)."),
    variant: Optional[List[str]] = typer.Option(
        None, "--variant", help="Replay only this variant (repeatable). Default: all."),
    device: str = typer.Option("cpu", "--device",
                               help="torch device: cpu (the default: the parity criterion is an fp32 one, and "
                                    "CUDA convolutions default to TF32), cuda, cuda:1 ..."),
    check: bool = typer.Option(False, "--check",
                               help="Exit 1 unless every variant passes the parity criterion."),
    fmt: DocFormat = shared("format", default=DocFormat.table, help="table (people) or json (the comparison)."),
) -> None:
    """Run our model exactly as a parity reference describes and compare with it.

    Every step of every variant runs with the reference's settings, inputs and step order.

    OUT gets the reference's npz layout (<variant>/step_prob_u16, step_mask, final_mask, ...).

    With official outputs in the reference, the table shows the worst differences.

    Pass: |p - p_ref| <= 1e-3, and the same argmax wherever the reference's top-2 margin > 1e-3.

    Example:

        m3vos dev replay cutie_small.npz --weights w.pth --out ours.npz --check
    """
    from m3vos.errors import GateFailedError
    from m3vos.trackers.parity.replay import replay
    from m3vos.utils.progress import make_progress

    with make_progress() as progress:
        task = progress.add_task("replay", total=None, status="")

        def on_variant(name: str) -> None:
            progress.update(task, status=name)

        result = replay(reference, weights, out, variants=variant or None, device=device,
                        on_variant=on_variant)
    if fmt == DocFormat.json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _render(result)
    if check and (not result.comparisons or not result.passed):
        failed = [c.name for c in result.comparisons if not c.passed]
        why = (f"variants {', '.join(failed)} fail" if failed
               else "the reference holds no outputs to compare")
        raise GateFailedError(f"parity check failed: {why}", path=reference,
                              hint="see the table above; compare the npz arrays step by step")


@dev_app.command("gpu-check")
def gpu_check_cmd(
    references: Optional[Path] = typer.Option(
        None, "--references", help="Folder of parity references (default: $M3VOS_SHARED/fixtures/parity)."),
    device: str = typer.Option("cuda", "--device", help="CUDA device to check, e.g. cuda:1."),
    fmt: DocFormat = shared("format", default=DocFormat.table, help="table (people) or json (the report)."),
) -> None:
    """Check a GPU machine in one command: parity on CUDA and Cutie/ReVOS speed.

    Replays the parity references on the GPU in fp32 (must pass, as on CPU) and in the default
    precision tf32 (drift reported), then times Cutie-small/base and ReVOS (frames/s, peak
    memory) on a synthetic 480p video. Without CUDA it says so and exits 0.

    Example: m3vos dev gpu-check --format json
    """
    from m3vos.runner.gpu_check import gpu_check

    report = gpu_check(references, device=device, say=lambda s: err_console.print(s))
    if fmt == DocFormat.json:
        typer.echo(json.dumps(report, indent=2))
    else:
        console.print(report["message"])
        for r in report.get("parity") or []:
            verdict = ("pass" if r["passed"] else "FAIL") if r["judged"] else "drift (not judged)"
            console.print(f"parity {r['model']:<12} {r['precision']:<5} max |dp| {r['max_abs_prob_diff']:.2e}  {verdict}")
        for r in report.get("speed") or []:
            console.print(f"speed  {r['model']:<12} {r['frames_per_s']:>7.2f} frames/s  peak {r['peak_mb']:.0f} MB "
                          f"({r['precision']}, 480x854)")
    if report["cuda"] and not report.get("passed", True):
        raise typer.Exit(1)


def _render(result) -> None:
    from rich.table import Table

    if not result.comparisons:
        console.print(f"wrote {result.out} ({len(result.variants)} variants; the reference holds "
                      "no outputs to compare)")
        return
    table = Table(title=f"parity of {result.model}")
    for col in ("variant", "steps", "same steps", "max |dp|", "worst step",
                "argmax diff (margin>1e-3)", "argmax diff (all)", "pass"):
        table.add_column(col)
    for c in result.comparisons:
        steps = f"{c.steps} ({c.unstored_steps} unstored)" if c.unstored_steps else str(c.steps)
        table.add_row(c.name, steps, "yes" if c.same_steps and c.same_channels else "NO",
                      f"{c.max_abs_prob_diff:.2e}", str(c.worst_step),
                      str(c.argmax_mismatch_pixels), str(c.argmax_mismatch_any),
                      "yes" if c.passed else "NO")
    console.print(table)
    err_console.print(f"wrote {result.out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(dev_app, name="dev")
