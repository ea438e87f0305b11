"""The `m3vos` command line: a thin Typer layer over the `m3vos` library."""
