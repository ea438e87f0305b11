"""Pieces shared by the command modules: consoles and output-format choices."""

from __future__ import annotations

from enum import Enum

from rich.console import Console

#: Human output (tables, summaries) goes to stdout; diagnostics and progress to stderr.
console = Console()
err_console = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"
