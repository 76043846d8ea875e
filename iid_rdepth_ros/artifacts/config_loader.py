"""The one loader from YAML / plain dicts to typed config dataclasses (model and training).

Rules, the same for every config:
- YAML is read safely with YAML 1.2 booleans (only true/false), so ``mode: off`` stays "off";
- every unknown key is named in one ``ValueError`` (dotted paths, with the known keys);
- types follow the annotations: ``bool`` only true/false, ``int`` no floats or bools,
  ``float`` any number or a numeric string (YAML 1.1 reads ``1e-3`` as a string), ``str`` a
  string or a number (``split: 2011``), fixed and variadic tuples, ``dict``, ``X | None``,
  nested dataclasses; ``None`` only where the annotation allows it;
- errors name the dotted key: ``config stage2.steps: expected an integer, got 'abc'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@functools.cache
def _yaml_loader() -> type:
    import yaml

    class Yaml12BoolLoader(yaml.SafeLoader):
        """SafeLoader whose booleans are only true/false (YAML 1.2)."""

    Yaml12BoolLoader.yaml_implicit_resolvers = {
        first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Yaml12BoolLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"))
    return Yaml12BoolLoader


def load_yaml(text: str) -> Any:
    """Parse YAML text (safe: no Python objects; YAML 1.2 booleans)."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass


def yaml_error_text(exc: Exception) -> str:
    """One line for a YAML (or decoding) error: the problem and where, e.g. ``line 2, column 5:
    expected ',' or ']'`` (PyYAML's own text spans several lines)."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if problem is None:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    if "constructor for the tag" in problem:  # e.g. !!python/object: never built
        problem += " (only plain YAML is read: no tags that build objects)"
    return where + " ".join(problem.split())


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file holding a mapping (empty file: {}); FileNotFoundError / ValueError naming
    the file and the problem in one line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path} is not valid YAML: {yaml_error_text(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must hold a mapping at the top level")
    return data


def to_plain(obj: Any) -> Any:
    """Dataclasses to nested dicts, tuples to lists (round-trips through YAML/JSON)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def from_plain(cls: type[T], data: Any, prefix: str = "") -> T:
    """Build ``cls`` from a nested dict by the rules above (``prefix``: the dotted path of
    ``data`` in a larger config, for messages)."""
    unknown: list[str] = []
    built = _build(cls, data, prefix, unknown)
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(sorted(unknown))}")
    return built


def _where(key: str) -> str:
    return key.rstrip(".") or "config"


def _build(cls: type, tree: Any, prefix: str, unknown: list[str]) -> Any:
    if isinstance(tree, cls):
        return tree
    if not isinstance(tree, dict):
        raise ValueError(f"config {_where(prefix)}: expected a mapping, got "
                         f"{type(tree).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown.extend(f"{prefix}{k} (known in {_where(prefix)}: {', '.join(names)})"
                   for k in tree if k not in names)
    kwargs = {name: _coerce(hints[name], tree[name], prefix + name, unknown)
              for name in names if name in tree}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str, unknown: list[str]) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if value is None:
        raise ValueError(f"config {key}: must not be null")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".", unknown)
    origin = typing.get_origin(hint) or hint
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config {key}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config {key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key, unknown) for v in value)
        if len(args) != len(value):
            raise ValueError(f"config {key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, key, unknown) for a, v in zip(args, value, strict=True))
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config {key}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config {key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"config {key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ValueError(f"config {key}: expected a string, got {value!r}")
        return value
    if hint is Any:
        return value
    raise TypeError(f"config {key}: unsupported field type {hint!r}")
