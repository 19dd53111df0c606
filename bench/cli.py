"""The `bench` command: one click group; each command is a module in `bench/commands/` (`_`-named modules there are shared helpers).

Progress bars and logs go to stderr, tables to stdout (so they can be piped). A run that
wrote error rows exits 1; bad usage exits 2.

The group imports plugins (`--plugin FILE.py`, FRAMEBENCH_PLUGINS, and installed packages'
`framebench.plugins` entry points; see bench.plugins) before any command reads its options,
so a plugin's selectors, backbones and benchmarks are known to every command.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import click

from bench import commands
from bench.commands._options import BadInput


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="framebench")
@click.option("--plugin", "plugins", multiple=True, type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.py",
              help="Import FILE.py first: its classes register selectors, backbones or benchmarks with the built-in decorators. "
                   "Repeatable; also env FRAMEBENCH_PLUGINS (':'-separated) and installed packages' `framebench.plugins` entry points.")
def main(plugins: tuple[Path, ...]) -> None:
    """framebench: how much a query-aware frame selector helps video multimodal LLMs.

    Decode N candidate frames per video, let a selector keep k, let a frozen backbone answer,
    and write one CSV row per question under results/. Selectors, backbones and datasets take
    parameters as NAME:key=value:key=value (see `bench list`).

    \b
    Examples:
      bench demo
      bench run --dataset needle --selector uniform,oracle --backbone probe --frames 4,8
      bench table --compare uniform --format md
      bench --plugin examples/my_selector.py run --dataset needle --selector uniform,motion --backbone probe
    """
    from bench.plugins import PluginError, load_all

    try:
        load_all(plugins)
    except PluginError as exc:
        raise BadInput(str(exc)) from None


for _module in pkgutil.iter_modules(commands.__path__):
    if _module.name.startswith("_"):
        continue  # shared helpers, not commands
    main.add_command(importlib.import_module(f"{commands.__name__}.{_module.name}").command)
