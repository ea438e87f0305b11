"""Every command's `--help` reads well at 80 and 120 columns (issue 15).

Help texts used to be hard-wrapped in the source, so the terminal wrapped them a second time and
they came out ragged: a long line, a two-word line, a long line. Here each command's help is
rendered by the real entry point in a subprocess at a given width, and its description (between
`Usage:` and the first option panel) is checked:

- ragged: inside a paragraph, a line shorter than half the width followed by more of the same
  paragraph (a wrapped paragraph fills every line but its last);
- broken example: in a paragraph of examples every line starts with `m3vos `; any other line
  is a command wrapped in the middle, which a reader would copy broken.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

WIDTHS = (80, 120)


def _command_paths() -> list[tuple[str, ...]]:
    import typer.main

    from m3vos_cli.main import app

    paths: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:   # type: ignore[no-untyped-def]
        paths.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            if not getattr(sub, "hidden", False):
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


def render_help(path: tuple[str, ...], width: int) -> str:
    env = dict(os.environ, COLUMNS=str(width), TERM="dumb", NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([sys.executable, "-m", "m3vos_cli", *path, "--help"], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def description(text: str) -> list[str]:
    """The lines between the `Usage:` line and the first panel, without the margin."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    out = []
    for line in lines[start:]:
        if line.lstrip().startswith("╭"):
            break
        out.append(line.rstrip()[1:] if line.startswith(" ") else line.rstrip())
    return out


def badly_wrapped(text: str, width: int) -> list[str]:
    """Each ragged or broken line of the description of a rendered `--help`, with its reason."""
    problems: list[str] = []
    paragraphs: list[list[str]] = [[]]
    for line in description(text):
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    for para in paragraphs:
        if not para:
            continue
        if para[0].strip().startswith("m3vos "):      # examples: one command per line
            problems += [f"example wrapped: {line.strip()!r} / {after.strip()!r}"
                         for line, after in zip(para, para[1:]) if not after.strip().startswith("m3vos ")]
            continue
        for line, after in zip(para, para[1:]):
            if len(line.strip()) < width // 2:
                problems.append(f"ragged: {line.strip()!r} then {after.strip()!r}")
    return problems


#: What `COLUMNS=80 m3vos leaderboard --help` printed before the help texts were unwrapped.
OLD_LEADERBOARD_80 = """
 Usage: m3vos leaderboard [OPTIONS] {results}...

 Rank results folders on the objects they all scored, and gate CI on it.

 Every entry is scored on the intersection of the objects every run scored with
 a defined value
 (the table says how many each entry lost). Each metric is ranked in its own
 direction (Decay:
 lower is better).

 Examples:

   m3vos leaderboard new/ --baseline main/results.json --max-drop 0.01 --format
 md >> $GITHUB_STEP_SUMMARY

╭─ Arguments ──────────────────────────────────────────────────────────────────╮
"""


def test_the_check_catches_the_old_ragged_text() -> None:
    problems = badly_wrapped(OLD_LEADERBOARD_80, 80)
    assert any(p.startswith("ragged: 'a defined value'") for p in problems), problems
    assert any(p.startswith("ragged: 'direction (Decay:'") for p in problems), problems
    assert any(p.startswith("example wrapped") for p in problems), problems
    good = OLD_LEADERBOARD_80.replace("with\n a defined value\n (the", "with a defined value (the")
    assert not any("a defined value" in p for p in badly_wrapped(good, 80))


def test_unwrap_joins_paragraph_lines_and_keeps_examples_and_lists() -> None:
    from m3vos_cli.common import unwrap

    text = """Title line.

    A paragraph written
    over three lines
    in the source.

    Checks:
    - one item
      that goes on
    - another

    Examples:

      m3vos score preds/ --data ~/M3-VOS
      m3vos score a/ b/
    """
    assert unwrap(text) == ("Title line.\n\nA paragraph written over three lines in the source.\n\n"
                            "Checks:\n- one item\n  that goes on\n- another\n\nExamples:\n\n"
                            "  m3vos score preds/ --data ~/M3-VOS\n  m3vos score a/ b/")


@pytest.mark.parametrize("path", _command_paths(),
                         ids=lambda p: " ".join(p) or "m3vos")
def test_help_is_not_ragged(path: tuple[str, ...]) -> None:
    for width in WIDTHS:
        text = render_help(path, width)
        assert "Usage:" in text
        problems = badly_wrapped(text, width)
        assert not problems, f"`COLUMNS={width} m3vos {' '.join(path)} --help`:\n" + "\n".join(problems) + \
            "\n\n" + text


def test_help_keeps_square_brackets() -> None:
    """Rich markup must not eat `[ray]` (the extra to install)."""
    assert "m3vos[ray]" in " ".join(render_help(("run",), 120).split())


def test_renamed_flags_are_hidden_from_help() -> None:
    assert "--set" not in render_help(("score",), 120)
    run = render_help(("run",), 120)
    assert "--workers" in run and " -w " not in run and "--json" not in run
    board = [line for line in render_help(("leaderboard",), 120).splitlines() if "--metric" in line]
    assert board and not [line for line in board if " -m " in line]
    replay = [line for line in render_help(("dev", "replay"), 120).splitlines() if "--variant" in line]
    assert replay and not [line for line in replay if " -v " in line]
