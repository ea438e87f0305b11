"""Entry point of the `m3vos` command.

Each command group lives in its own module with a `register(app)` function; modules import the
library inside their command functions so that `m3vos --help` stays fast and never loads torch.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback

import typer

from m3vos import __version__
from m3vos.errors import EnvError, M3vosError
from m3vos_cli.common import rewrite_aliases, unwrap_all

app = typer.Typer(
    name="m3vos",
    help=(
        "Benchmark toolkit for M3-VOS (multi-phase video object segmentation).\n\n"
        "Typical session: `m3vos data download` (or `m3vos data synth DIR`), "
        "`m3vos run --model revos --out preds/`, `m3vos score preds/`, "
        "`m3vos leaderboard preds/ other/`. Start with `m3vos demo` to see it all on synthetic data."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"m3vos {__version__}")
        raise typer.Exit()


#: `-v`: errors show their traceback after the one-line message.
_VERBOSE = False


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bars and no note: lines (warnings and errors still go to stderr)."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="On an error, also print its traceback (for bug reports)."),
) -> None:
    """Benchmark toolkit for M3-VOS."""
    global _VERBOSE
    _VERBOSE = verbose
    if quiet:
        os.environ["M3VOS_QUIET"] = "1"   # read by make_progress; worker processes inherit it


# Order here is the order in `m3vos --help`.
_COMMAND_MODULES = ["data", "run", "score", "sweep", "analysis", "weights", "dev", "env"]


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"m3vos_cli.{name}")
        module.register(app)


_register_all()
unwrap_all(app)


#: OS errors that are the environment's, not a bug of m3vos nor the user's input: one line and
#: exit 3 (never 1, which means "gate failed" / "some videos failed"), wherever they happen.
_ENV_ERRNOS = {
    errno.EROFS: "the folder is on a read-only filesystem: pass a writable location",
    errno.EACCES: "check the permissions, or pass a location you can write to",
    errno.EPERM: "check the permissions, or pass a location you can write to",
    errno.ENOSPC: "free some space, or pass a location on another disk",
    errno.EDQUOT: "free some space (disk quota exceeded), or pass a location on another disk",
    errno.EIO: "the disk or network filesystem failed: check it and rerun",
}


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and a non-zero exit code."""
    try:
        rv = app(args=rewrite_aliases(sys.argv[1:] if argv is None else list(argv)), standalone_mode=False)
    except M3vosError as exc:
        if _VERBOSE:
            traceback.print_exc()
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.errno not in _ENV_ERRNOS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error: {where}{exc.strerror or exc} (fix: {_ENV_ERRNOS[exc.errno]})", err=True)
        sys.exit(EnvError.exit_code)
    except Exception as exc:
        # Usage errors from Typer's (possibly vendored) click: they know how to show themselves.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
