"""`bench list`."""

from __future__ import annotations

import click

from bench.commands._output import out


@click.command("list")
def command() -> None:
    """List every registered benchmark, selector and backbone with a one-line description."""
    from rich.table import Table

    from bench.registry import backbones, benchmarks, selectors

    for registry in (benchmarks, selectors, backbones):
        table = Table(title=f"{registry.kind}s", title_justify="left", show_header=False, box=None)
        for name, line in registry.describe():
            table.add_row(f"[bold]{name}[/bold]", line)
        out.print(table)
