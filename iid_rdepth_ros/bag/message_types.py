"""rclpy message classes for the type names a bag records, resolved without trusting them.

A bag's topic types are text written by whoever made the bag. Importing ``pkg.msg`` for any
``pkg`` would run that package's code (one in the working directory, or a stdlib module such
as ``unittest/__main__/X``). So a type is resolved only when:

1. it has the form ``package/msg/Name`` in full (:data:`MSG_TYPE`: ROS naming rules);
2. an ament index on this machine registers ``package`` as a ROS interface package that has
   ``msg/Name`` (``share/ament_index/resource_index/rosidl_interfaces/<package>`` under a
   prefix of ``AMENT_PREFIX_PATH``, or under ``sys.prefix`` where pip installs ROS wheels);
3. the Python package found for ``package`` lives under that same install prefix (a package
   of the same name in the working directory or elsewhere on ``sys.path`` is refused before
   anything of it is imported);
4. the class imported from ``package.msg`` is a rosidl-generated message class.

Anything else raises :class:`UnsupportedMessageType` (a ``ValueError``) saying which check
failed; nothing of the named package is imported unless checks 1-3 passed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import site
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

#: ``package/msg/Name``: ROS package names (lower case, digits, underscores, starting with a
#: letter) and message names (CamelCase, starting with a capital letter)
MSG_TYPE = re.compile(r"([a-z][a-z0-9_]*)/msg/([A-Z][A-Za-z0-9]*)")
INTERFACE_INDEX = Path("share", "ament_index", "resource_index", "rosidl_interfaces")


class UnsupportedMessageType(ValueError):
    """A recorded message type that is not resolved (the message says why)."""


def install_prefixes() -> list[Path]:
    """Install prefixes whose ament index is consulted: ``AMENT_PREFIX_PATH`` in order, then
    this interpreter's prefix and user base (pip-installed ROS wheels)."""
    raw = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    raw += [sys.prefix, site.getuserbase()]
    out: list[Path] = []
    for entry in raw:
        path = Path(entry).resolve()
        if path not in out and path.is_dir():
            out.append(path)
    return out


def _registered_prefix(package: str, name: str) -> Path | None:
    """The first prefix whose ament index lists ``package`` with ``msg/name``."""
    for prefix in install_prefixes():
        marker = prefix / INTERFACE_INDEX / package
        if not marker.is_file():
            continue
        entries = {line.strip() for line in marker.read_text(errors="replace").splitlines()}
        if {f"msg/{name}.idl", f"msg/{name}.msg"} & entries:
            return prefix
    return None


@lru_cache(maxsize=256)
def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``package/msg/Name`` after the checks of the module
    docstring; :class:`UnsupportedMessageType` otherwise."""
    match = MSG_TYPE.fullmatch(msgtype)
    if match is None:
        raise UnsupportedMessageType(f"{msgtype!r} is not a ROS message type name "
                                     "(package/msg/Name)")
    package, name = match.groups()
    prefix = _registered_prefix(package, name)
    if prefix is None:
        raise UnsupportedMessageType(f"{msgtype} is not a message of an installed ROS interface "
                                     "package (no ament index entry)")
    spec = importlib.util.find_spec(package)  # a top-level name: runs finders, not the package
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
    if origin is None or not origin.is_relative_to(prefix):
        where = origin.parent if origin is not None else "nowhere"
        raise UnsupportedMessageType(f"{msgtype}: the Python package {package} found here "
                                     f"({where}) is not the one installed under {prefix}")
    try:
        cls = getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise UnsupportedMessageType(f"{msgtype} has no Python message class here ({exc})"
                                     ) from None
    if not (isinstance(cls, type) and hasattr(type(cls), "__import_type_support__")
            and cls.__module__.startswith(f"{package}.msg.")):
        raise UnsupportedMessageType(f"{msgtype} is not a rosidl-generated message class")
    return cls
