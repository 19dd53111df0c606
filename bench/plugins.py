"""Plugins: your own selectors, backbones and benchmarks, registered without forking framebench.

A plugin is a Python module whose classes register with the decorators the built-in ones use
(`@selectors.register("name")`, `@backbones.register(...)`, `@benchmarks.register(...)`). It
is imported, once per process, from any of:
- `bench --plugin FILE.py` (repeatable);
- the environment variable FRAMEBENCH_PLUGINS, files separated by ':' (os.pathsep);
- the entry-point group `framebench.plugins` of an installed package, e.g. in its
  pyproject.toml `[project.entry-points."framebench.plugins"] mine = "mypackage.selectors"`.
The built-in classes are registered first, so a plugin that takes a built-in name fails at
its own import, naming both, rather than a built-in failing later. A file that cannot be
imported, for any reason, is a PluginError naming the file and the error.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Iterable

from bench.registry import backbones, benchmarks, selectors

GROUP = "framebench.plugins"
ENV = "FRAMEBENCH_PLUGINS"
REGISTRIES = {r.kind: r for r in (selectors, backbones, benchmarks)}
_loaded: dict[str, str] = {}  # file path or entry point -> module name, for what this process imported


class PluginError(Exception):
    """A plugin that could not be imported; the message names the file (or entry point) and the error."""


def configured(paths: Iterable[Path | str] = ()) -> list[str]:
    """The plugin files to load: `paths`, then those in FRAMEBENCH_PLUGINS."""
    from_env = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]
    return [str(p) for p in paths] + from_env


@cache
def installed() -> tuple[EntryPoint, ...]:
    """The `framebench.plugins` entry points of the installed packages, looked up once per process (~0.07 s)."""
    return tuple(entry_points(group=GROUP))


def load_all(paths: Iterable[Path | str] = ()) -> list[str]:
    """Import the installed plugins (entry points), then the files in `paths` and FRAMEBENCH_PLUGINS; each once per process.

    Returns the module names imported by this call.
    """
    files = configured(paths)
    fresh = [ep for ep in installed() if f"entry point {ep.name}" not in _loaded]
    fresh_files = [f for f in files if str(Path(f).absolute()) not in _loaded]
    if not fresh and not fresh_files:
        return []
    for registry in REGISTRIES.values():
        registry.names()  # the built-ins first, so a name a plugin takes twice fails in the plugin
    imported = []
    for ep in fresh:
        where = f"entry point {ep.name} = {ep.value}" + (f" (from {ep.dist.name})" if ep.dist else "")
        try:
            module = ep.load()
        except Exception as exc:  # anything a plugin raises means it is not usable
            raise PluginError(f"plugin {where}: {_explain(exc)}") from exc
        except SystemExit as exc:
            raise PluginError(f"plugin {where}: it called sys.exit({exc.code!r}) while being imported") from None
        _loaded[f"entry point {ep.name}"] = getattr(module, "__name__", ep.value)
        imported.append(_loaded[f"entry point {ep.name}"])
    for file in fresh_files:
        imported.append(load_file(Path(file)))
    return imported


def loaded_files() -> list[str]:
    """The plugin files this process imported, for another process (a Ray worker) to import the same."""
    return [key for key in _loaded if not key.startswith("entry point ")]


def load_file(path: Path) -> str:
    """Import one plugin file as a module of its own; its name, `framebench_plugin_<stem>`."""
    key = str(path.absolute())
    if key in _loaded:
        return _loaded[key]
    if path.is_dir():
        raise PluginError(f"plugin {path}: a folder, not a Python file (.py)")
    if not path.is_file():
        raise PluginError(f"plugin {path}: file not found")
    if path.suffix != ".py":
        raise PluginError(f"plugin {path}: not a Python file (.py)")
    name = f"framebench_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    while name in sys.modules:  # another file with the same stem
        name += "_"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # anything a plugin raises means it is not usable
        del sys.modules[name]
        raise PluginError(f"plugin {path}: {_explain(exc)}") from exc
    except SystemExit as exc:  # exit 0 would pass for a run that did its work
        del sys.modules[name]
        raise PluginError(f"plugin {path}: it called sys.exit({exc.code!r}) while being imported; a plugin only defines and registers") from None
    except BaseException:  # Ctrl-C
        del sys.modules[name]
        raise
    _loaded[key] = name
    return name


def _explain(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"