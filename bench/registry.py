"""One registry mechanism for selectors, backbones and benchmarks.

A strategy, model or dataset is a class registered under a name with a decorator:

    @selectors.register("uniform")
    class Uniform:
        spec = "uniform"  # Registry.build gives each instance its canonical spec
        ...

Registration checks the class against its kind's protocol (a selector without `score` fails
at import, naming the class, not later in a run).
and is built from a spec string `NAME:key=value:key=value`. Values are converted to the
types of the class's constructor arguments. The canonical spec (what the CSV records) keeps
only the parameters that differ from the constructor's defaults, in sorted order, so
`clip` and `clip:model=openai/clip-vit-large-patch14` name the same thing.

Modules are discovered on first lookup by importing every module of the registry's package;
they import torch and transformers inside `load()`, so `bench list` stays instant.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")
_PARAMETER = re.compile(r":(?=[A-Za-z_][A-Za-z0-9_]*=)")


class RegistryError(ValueError):
    """An unknown name, a duplicate registration or a bad parameter in a spec."""


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed `NAME:key=value:...` string; values stay strings until a class is known."""

    name: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Spec":
        # a ':' starts a parameter only where `key=` follows, so values may hold URLs (http://host:8000/v1)
        name, *parts = _PARAMETER.split(text.strip())
        if ":" in name:
            name, _, part = name.partition(":")
            raise RegistryError(f"{text!r}: parameter {part.split(':')[0]!r} is not key=value")
        params = {}
        for part in parts:
            key, _, value = part.partition("=")
            if key in params:
                raise RegistryError(f"{text!r}: parameter {key!r} given twice")
            params[key] = value
        if not name:
            raise RegistryError(f"{text!r}: no name before the parameters")
        return cls(name, tuple(sorted(params.items())))

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.params).get(key, default)

    def without(self, *keys: str) -> "Spec":
        return Spec(self.name, tuple((k, v) for k, v in self.params if k not in keys))

    def __str__(self) -> str:
        return ":".join([self.name, *(f"{k}={v}" for k, v in self.params)])


def _convert(value: str, annotation: Any, where: str) -> Any:
    """Turn a spec string into the constructor argument's annotated type."""
    target = annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        target = next(a for a in typing.get_args(annotation) if a is not type(None))
    try:
        if target is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if target in (int, float, Path):
            return target(value)
    except ValueError as exc:
        raise RegistryError(f"{where}: {value!r} is not a valid {target.__name__} ({exc})") from None
    return value


def _where(cls: type) -> str:
    """'module.Class in /path/file.py': where a class was defined, for messages about it."""
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:  # defined where no file is (an interactive session)
        source = None
    return f"{cls.__module__}.{cls.__qualname__}" + (f" in {source}" if source else "")


class Registry:
    """Names -> classes for one kind of component (selector, backbone or benchmark)."""

    def __init__(self, kind: str, package: str, members: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.package = package
        self.members = members  # what every registered class must have (its protocol), checked at registration
        self._classes: dict[str, type] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Register a class under `name`; it declares `spec = name` and every member of the protocol."""
        def decorate(cls: type[T]) -> type[T]:
            where = f"{self.kind} {name!r} ({cls.__module__}.{cls.__qualname__})"
            if name in self._classes and self._classes[name] is not cls:
                raise RegistryError(f"{self.kind} {name!r} is registered twice (it is already registered by {_where(self._classes[name])}); pick another name")
            if getattr(cls, "spec", None) != name:
                raise RegistryError(f"{where} must declare spec = {name!r}, its spec with every parameter at its default")
            missing = [m for m in self.members if not hasattr(cls, m)]
            if missing:
                raise RegistryError(f"{where} lacks {', '.join(missing)}: a {self.kind} has {', '.join(self.members)}")
            self._classes[name] = cls
            return cls

        return decorate

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._classes)

    def get(self, name: str) -> type:
        self._discover()
        if name not in self._classes:
            close = difflib.get_close_matches(name, self._classes, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}"
            )
        return self._classes[name]

    def describe(self) -> list[tuple[str, str]]:
        """(name, first line of the class docstring) for every registered name."""
        return [(n, (inspect.getdoc(self._classes[n]) or "").splitlines()[0]) for n in self.names()]

    def _arguments(self, spec: Spec, defaults: dict[str, Any]) -> tuple[type, dict[str, Any]]:
        cls = self.get(spec.name)
        signature = inspect.signature(cls)
        hints = typing.get_type_hints(cls.__init__)
        accepted = {n: p for n, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
        kwargs = {k: v for k, v in defaults.items() if k in accepted}
        for key, value in spec.params:
            if key not in accepted:
                raise RegistryError(
                    f"{self.kind} {spec.name!r} has no parameter {key!r}; it takes: "
                    f"{', '.join(accepted) or 'no parameters'}"
                )
            kwargs[key] = _convert(value, hints.get(key, str), f"{spec}: {key}")
        return cls, kwargs

    def canonical(self, text: str | Spec, **defaults: Any) -> str:
        """The spec with only non-default parameters, sorted: what the CSV records.

        Parameters a class lists in its `settings` attribute change no result (where a server
        is, timeouts, retries) and never enter it, so they never split a cell.
        """
        spec = text if isinstance(text, Spec) else Spec.parse(text)
        cls, kwargs = self._arguments(spec, defaults)
        parameters = inspect.signature(cls).parameters
        settings = getattr(cls, "settings", ())
        kept = tuple(
            (k, str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in sorted(kwargs.items())
            if v != parameters[k].default and k not in settings
        )
        return str(Spec(spec.name, kept))

    def build(self, text: str | Spec, context: dict[str, Any] | None = None, **defaults: Any) -> Any:
        """An instance for `text`; `defaults` fill parameters the spec leaves out, if the class takes them.

        `context` is passed the same way but never enters the canonical spec: where a run keeps
        its files (`cache_dir`) changes no result, while `weights=random` does.
        """
        spec = text if isinstance(text, Spec) else Spec.parse(text)
        cls, kwargs = self._arguments(spec, defaults)
        accepted = inspect.signature(cls).parameters
        kwargs.update({k: v for k, v in (context or {}).items() if k in accepted and k not in dict(spec.params)})
        try:
            instance = cls(**kwargs)
        except ValueError as exc:  # a constructor that rejects its values: the spec is at fault, not the run
            raise RegistryError(f"{spec}: {exc}") from None
        instance.spec = self.canonical(spec, **defaults)
        return instance


# the protocols (bench.selectors.Selector, bench.backbones.Backbone, bench.benchmarks.Benchmark), by name
selectors = Registry("selector", "bench.selectors", ("pick", "load", "score", "release"))
backbones = Registry("backbone", "bench.backbones", ("load", "answer", "release"))
benchmarks = Registry("benchmark", "bench.benchmarks", ("max_new_tokens", "load", "prompt", "parse", "score"))
