"""CLI command: `m3vos env`, what this installation can do and where it keeps things."""

from __future__ import annotations

import json
import typer

from m3vos_cli.common import DocFormat, console, shared


def env_command(
    fmt: DocFormat = shared("format", default=DocFormat.table, help="table or json."),
) -> None:
    """Show the version, the optional engines, where things live, and the environment variables.

    The engines: torch and whether CUDA is usable, Ray, transformers. The locations: the data,
    weights and caches. The environment variables: every one m3vos reads, with its value.

    Paste its output into bug reports.

    Example: m3vos env --format json
    """
    from m3vos.environment import describe_environment

    doc = describe_environment()
    if fmt == DocFormat.json:
        typer.echo(json.dumps(doc, indent=2))
        return
    _render(doc)


def _render(doc: dict) -> None:
    from rich.table import Table

    console.print(f"m3vos {doc['m3vos']} on Python {doc['python']} ({doc['platform']})")
    engines = Table(title="engines", title_justify="left")
    for col in ("engine", "version", "detail", "needed by"):
        engines.add_column(col)
    for name, e in doc["engines"].items():
        detail = ""
        if name == "torch" and e["installed"]:
            detail = (f"CUDA {e['cuda_version']}: {', '.join(e['gpus'])}" if e["cuda_available"]
                      else "CUDA not available (CPU only)")
        engines.add_row(name, e["version"] or "not installed", detail, e["needed_by"])
    console.print(engines)
    where = Table(title="locations", title_justify="left")
    where.add_column("what")
    where.add_column("path")
    for key, value in doc["locations"].items():
        where.add_row(key.replace("_", " "), value or "(not set: `m3vos data download` or --data)")
    console.print(where)
    env = Table(title="environment variables", title_justify="left")
    for col in ("variable", "value", "read by", "what"):
        env.add_column(col)
    for v in doc["environment"]:
        env.add_row(v["name"], v["value"] if v["value"] is not None else "(unset)", v["read_by"],
                    v["what"])
    console.print(env)


def register(app: typer.Typer) -> None:
    """Add `m3vos env` to the root app."""
    app.command("env")(env_command)
