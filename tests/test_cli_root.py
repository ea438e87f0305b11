"""The root command: help, version, and staying light (no torch on import)."""

import subprocess
import sys

from m3vos import __version__


def test_version_and_help(cli):
    out = cli("--version", check=0).stdout
    assert out.strip() == f"m3vos {__version__}"
    help_text = cli("--help", check=0).stdout
    assert "M3-VOS" in help_text


def test_import_does_not_load_torch_or_pandas():
    code = ("import sys, m3vos, m3vos_cli.main; "
            "bad = [m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the CLI loaded: {out.stdout.strip()}"


def test_unknown_command_is_a_usage_error(cli):
    proc = cli("no-such-command")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
