"""Pieces shared by the command modules: consoles, output formats, the shared flags (docs/cli.md),
help-text unwrapping and the hidden spellings of renamed flags."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Optional

import typer
from rich.console import Console

#: Human output (tables, summaries) goes to stdout; diagnostics and progress to stderr.
console = Console()
err_console = Console(stderr=True)


class _WideConsole:
    """stdout console: wide tables when piped (CI logs, files), the terminal's width otherwise."""

    def print(self, *args: Any, **kwargs: Any) -> None:
        import sys

        if sys.stdout.isatty():
            console.print(*args, **kwargs)
            return
        Console(width=160, soft_wrap=False).print(*args, **kwargs)


#: For tables people read in logs as well as on terminals.
wide_console = _WideConsole()


def note(text: str) -> None:
    """`note: TEXT` on stderr: information, not a problem; `m3vos -q` silences it."""
    import os

    if os.environ.get("M3VOS_QUIET") != "1":
        err_console.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


class DocFormat(str, Enum):
    """Output of a command whose output is a document, not a table (`--format table|json`)."""

    table = "table"
    json = "json"


# --- help texts ------------------------------------------------------------------------------

_LIST_ITEM = re.compile(r"([-*]|\d+\.) ")


def unwrap(text: Optional[str]) -> Optional[str]:
    """Help text as one line per paragraph, for the terminal to wrap at its width.

    Source strings stay hard-wrapped for the reader of the code; paragraphs are separated by a
    blank line. Lines that start with whitespace (examples, listings) are kept as they are, and
    so are list items (`- `, `* `, `1. `), each on its own line.
    """
    if not text:
        return text
    import inspect

    paragraphs = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines = para.split("\n")
        out: list[str] = []
        for line in lines:
            if out and line.strip() and not line[:1].isspace() and not out[-1][:1].isspace() \
                    and not _LIST_ITEM.match(line):
                out[-1] = out[-1].rstrip() + " " + line.strip()
            else:
                out.append(line.rstrip())
        paragraphs.append("\n".join(out))
    return "\n\n".join(paragraphs)


def unwrap_all(app: typer.Typer) -> None:
    """`unwrap` the help of every command and group registered on `app`, recursively."""
    import inspect

    for cmd in app.registered_commands:
        cmd.help = unwrap(cmd.help or (inspect.getdoc(cmd.callback) if cmd.callback else None))
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if isinstance(group.help, str):
            group.help = unwrap(group.help)
        if isinstance(sub.info.help, str):
            sub.info.help = unwrap(sub.info.help)
        unwrap_all(sub)


# --- renamed flags -----------------------------------------------------------------------------

#: Old spellings kept for one release, per command path: {old: new}. They are rewritten before
#: parsing, so they work as before and do not appear in `--help`. `--json` means `--format json`.
#: Other command modules add their own entries with `ALIASES.setdefault(path, {}).update(...)`.
ALIASES: dict[tuple[str, ...], dict[str, str]] = {
    ("score",): {"--set": "--split"},
    ("entropy-report",): {"--set": "--split"},
    ("run",): {"-w": "--workers", "--json": "--format=json"},
    ("sweep",): {"-w": "--workers"},
    ("leaderboard",): {"-m": "--metric"},
    ("report",): {"--html": "--format=html", "--md": "--format=md"},
    ("trackers", "list"): {"--json": "--format=json"},
    ("trackers", "test"): {"--json": "--format=json"},
    ("dev", "replay"): {"-w": "--weights", "-v": "--variant", "--json": "--format=json"},
    ("dev", "gpu-check"): {"--json": "--format=json"},
}

#: Options of the root callback (before the command); none of them takes a value.
_ROOT_FLAGS = {"-q", "--quiet", "-v", "--verbose", "--version", "-h", "--help"}


def _command_path(argv: list[str]) -> tuple[int, tuple[str, ...]]:
    """Index after the command path (e.g. `dev replay`) and that path, for `ALIASES`."""
    i = 0
    while i < len(argv) and argv[i] in _ROOT_FLAGS:
        i += 1
    path: tuple[str, ...] = ()
    while i < len(argv) and not argv[i].startswith("-") and len(path) < 2:
        path += (argv[i],)
        i += 1
        if path in ALIASES or not any(k[:len(path)] == path and len(k) > len(path) for k in ALIASES):
            break
    return i, path


def rewrite_aliases(argv: list[str]) -> list[str]:
    """`argv` with the old spellings of renamed flags replaced by the new ones (`ALIASES`)."""
    start, path = _command_path(argv)
    table = ALIASES.get(path)
    if not table:
        return argv
    out = argv[:start]
    rest = iter(argv[start:])
    for tok in rest:
        if tok == "--":
            out += [tok, *rest]
            break
        head, eq, value = tok.partition("=")
        if head in table and head.startswith("--"):
            new = table[head]
            out.append(new + eq + value if eq else new)
        elif tok in table:
            out.append(table[tok])
        elif len(tok) > 2 and tok[:2] in table and not tok.startswith("--"):   # -w2 -> --workers=2
            out.append(f"{table[tok[:2]]}={tok[2:]}")
        else:
            out.append(tok)
    return out


# --- shared flags (docs/cli.md, "The shared flags") --------------------------------------------

WORKERS_HELP = ("Worker processes (default: the CPUs this process may use, at most one per video; "
                "-j 1 runs in this process). Results do not depend on it.")


_UNSET: Any = object()

#: flag -> (default, names, help): the shared flags of docs/cli.md, declared once.
SHARED_FLAGS: dict[str, tuple[Any, tuple[str, ...], str]] = {
    "data": (None, ("--data", "-d"), "Dataset root (default: M3VOS_DATA, then the configured dataset)."),
    "split": ("val", ("--split",), "Split file of the dataset (ImageSets/<NAME>.txt)."),
    "videos": (None, ("--videos",), "Comma-separated subset of videos (default: all of the split)."),
    "benchmark": (None, ("--dataset",), "Benchmark of the data: davis2017, vost, ytvos, mose or m3vos "
                                        "(default: from the layout; see docs/data.md)."),
    "workers": (None, ("--workers", "-j"), WORKERS_HELP),
    "format": (OutputFormat.table, ("--format", "-f"), "table, json, csv or md."),
    "metric": ("J-Mean", ("--metric",), "Official metric name (J-Mean, J&F-Mean, ...)."),
    "config": (None, ("--config", "-c"), "Tracker option KEY=VALUE (repeatable; VALUE is typed as YAML)."),
    "device": ("auto", ("--device",), "auto | cpu | cuda | cuda:N (auto: CUDA when present)."),
    "percent": (False, ("--percent",), "Print tables as percent (75.6); JSON and CSV stay fractions."),
    "allow_mixed": (False, ("--allow-mixed",), "Use runs scored differently anyway (marked MIXED)."),
    "names": (None, ("--name",), "PATH=NAME display name of a run, repeatable (e.g. --name runs/a=ReVOS)."),
    "fail_under": (None, ("--fail-under",), "METRIC=VALUE gate for a higher-is-better metric, repeatable "
                                            "(J-Mean=0.6 or J-Mean=60%); exit 1 when below."),
    "fail_over": (None, ("--fail-over",), "METRIC=VALUE gate for a lower-is-better metric (Decay), repeatable "
                                          "(J-Decay=0.2 or J-Decay=20%); exit 1 when above."),
}


def shared(flag: str, help: Optional[str] = None, *, default: Any = _UNSET) -> Any:
    """The Typer option of a shared flag (`SHARED_FLAGS`), with this command's help or default."""
    value, names, text = SHARED_FLAGS[flag]
    extra = {"min": 1} if flag == "workers" else {}
    return typer.Option(value if default is _UNSET else default, *names, help=help or text, **extra)


def split_list(value: Optional[str]) -> Optional[list[str]]:
    """`"a, b,"` -> `["a", "b"]`; None or nothing -> None (every item)."""
    items = [v.strip() for v in value.split(",") if v.strip()] if value else []
    return items or None


def parse_names(specs: Optional[list[str]]) -> dict[str, str]:
    """`--name PATH=NAME` options -> {PATH: NAME}."""
    from m3vos.errors import BadInputError

    named: dict[str, str] = {}
    for spec in specs or []:
        path, sep, name = spec.rpartition("=")
        if not sep or not path or not name.strip():
            raise BadInputError(f"bad --name {spec!r}", hint="write --name PATH=NAME, e.g. --name runs/a=ReVOS")
        named[path] = name.strip()
    return named
