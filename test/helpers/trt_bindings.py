"""The real TensorRT Python API of a bindings build, without TensorRT's libraries or a GPU.

``make venv`` installs the ``tensorrt-cu12-bindings`` / ``tensorrt-cu13-bindings`` wheels of
several versions into ``.venv/trt-bindings/<version>/`` (Makefile). Their ``tensorrt.so``
links ``libnvinfer.so.N``, ``libnvonnxparser.so.N`` and ``libnvinfer_plugin.so.N`` (from
the ``-libs`` wheels, which download from a host this machine cannot reach), but resolves only
a few C entry points of them at load time. :func:`list_api` writes stand-in ELF shared
libraries (pure Python, no compiler) that define exactly those symbols as ``return 0``, puts
them beside a temporary copy of the package (its RPATH is ``$ORIGIN``) and imports it in a
subprocess: pybind11 registers every class, method, property and enum member at import time,
so ``dir()`` gives the real API. Nothing TensorRT does is ever called there.

:func:`fake_tensorrt` turns such a listing into a stand-in ``tensorrt`` module whose
attributes exist only where the real version has them, so code paths can run "under"
TensorRT 10.3 / 10.16 / 11.4 and fail with AttributeError on a name the version lacks.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "tensorrt_bindings"
#: where ``make venv`` puts the bindings (one ``pip install --target`` directory per version)
BINDINGS_ROOT = Path(os.environ.get("IID_RDEPTH_TRT_BINDINGS", Path(sys.prefix) / "trt-bindings"))

# ----------------------------------------------------------------- ELF reading (ELF64 LE)


def _sections(data: bytes) -> dict[str, tuple[int, int]]:
    """{name: (offset, size)} of the sections of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not an ELF64 little-endian file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = raw[shstrndx][4]
    return {_cstr(data, names + r[0]): (r[4], r[5]) for r in raw}


def _cstr(data: bytes, offset: int) -> str:
    return data[offset:data.index(b"\0", offset)].decode()


def needed_and_undefined(so: bytes) -> tuple[list[str], list[str]]:
    """(DT_NEEDED libraries, undefined non-weak unversioned dynamic symbols) of a .so."""
    secs = _sections(so)
    dynsym, dynsym_size = secs[".dynsym"]
    dynstr = secs[".dynstr"][0]
    versym = secs.get(".gnu.version")
    undefined = []
    for i in range(1, dynsym_size // 24):
        name, info, _, shndx, _, _ = struct.unpack_from("<IBBHQQ", so, dynsym + i * 24)
        if shndx != 0 or info >> 4 == 2:  # defined here, or weak
            continue
        if versym is not None and struct.unpack_from("<H", so, versym[0] + 2 * i)[0] & 0x7FFF > 1:
            continue  # bound to GLIBC_* / GLIBCXX_* / ...: the system provides it
        undefined.append(_cstr(so, dynstr + name))
    needed = []
    dynamic, dynamic_size = secs[".dynamic"]
    for i in range(dynamic_size // 16):
        tag, value = struct.unpack_from("<qQ", so, dynamic + i * 16)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            needed.append(_cstr(so, dynstr + value))
    return needed, undefined


# ------------------------------------------------- ELF writing: symbols that return 0

_RETURN_ZERO = {"x86_64": (62, b"\x31\xc0\xc3"),  # xor eax, eax; ret
                "aarch64": (183, struct.pack("<II", 0xD2800000, 0xD65F03C0))}  # mov x0, 0; ret


def _elf_hash(name: bytes) -> int:
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def stub_library(soname: str, symbols: list[str]) -> bytes:
    """An ELF64 shared library named ``soname`` exporting ``symbols`` (each ``return 0``)."""
    machine, code = _RETURN_ZERO[platform.machine()]
    names = [s.encode() for s in symbols]
    strtab, offsets = bytearray(b"\0"), []
    for n in [soname.encode(), *names]:
        offsets.append(len(strtab))
        strtab += n + b"\0"
    nsyms, nbucket = len(names) + 1, max(1, len(names))
    buckets, chains = [0] * nbucket, [0] * nsyms
    for i, n in enumerate(names, start=1):
        b = _elf_hash(n) % nbucket
        chains[i], buckets[b] = buckets[b], i
    hashtab = struct.pack(f"<II{nbucket}I{nsyms}I", nbucket, nsyms, *buckets, *chains)
    hash_off = 64 + 4 * 56
    sym_off = (hash_off + len(hashtab) + 7) & ~7
    str_off = sym_off + nsyms * 24
    code_off = (str_off + len(strtab) + 15) & ~15
    text_end, dyn_off = code_off + len(code), 0x1000
    symtab = bytearray(24)
    for i in range(1, nsyms):  # global function, section 1
        symtab += struct.pack("<IBBHQQ", offsets[i], 0x12, 0, 1, code_off, len(code))
    dynamic = struct.pack("<14q", 4, hash_off, 5, str_off, 6, sym_off, 10, len(strtab),
                          11, 24, 14, offsets[0], 0, 0)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 3, machine, 1, 0, 64, 0, 0, 64, 56, 4, 64, 0, 0)
    phdrs = b"".join([
        struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, text_end, text_end, 0x1000),  # R+X load
        struct.pack("<IIQQQQQQ", 1, 6, dyn_off, dyn_off, dyn_off, len(dynamic), len(dynamic),
                    0x1000),  # R+W load
        struct.pack("<IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, len(dynamic), len(dynamic),
                    8),  # PT_DYNAMIC
        struct.pack("<IIQQQQQQ", 0x6474E551, 6, 0, 0, 0, 0, 0, 16),  # PT_GNU_STACK
    ])
    out = bytearray(dyn_off + len(dynamic))
    for offset, blob in ((0, header + phdrs), (hash_off, hashtab), (sym_off, symtab),
                         (str_off, strtab), (code_off, code), (dyn_off, dynamic)):
        out[offset:offset + len(blob)] = blob
    return bytes(out)


# ------------------------------------------------------------------------ listing the API

_LISTER = r"""
import inspect, json, sys
sys.path.insert(0, sys.argv[1])
import tensorrt_bindings as trt
names, values = {}, {}
def visit(prefix, obj, depth):
    for attr in dir(obj):
        if attr.startswith("__") and attr not in ("__init__", "__version__"):
            continue
        try:
            value = inspect.getattr_static(obj, attr)
        except AttributeError:
            continue
        names[prefix + attr] = type(value).__name__
        if type(value) is obj and isinstance(getattr(value, "value", None), int):
            values[prefix + attr] = value.value
        member = getattr(obj, attr, None)
        if depth and inspect.isclass(member) and \
                getattr(member, "__module__", "").startswith("tensorrt"):
            visit(prefix + attr + ".", member, depth - 1)
visit("tensorrt.", trt, 2)
print(json.dumps({"version": trt.__version__, "names": names, "values": values}))
"""


@dataclass
class TrtApi:
    """Every name of one bindings build: ``has("tensorrt.BuilderFlag.FP16")``."""

    version: str
    names: dict[str, str]
    values: dict[str, int] = field(default_factory=dict)  # enum members' integer values

    def has(self, dotted: str) -> bool:
        return dotted in self.names

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)


@cache
def list_api(package_dir: Path) -> TrtApi:
    """The API of the bindings installed under ``package_dir`` (holding tensorrt_bindings/)."""
    with tempfile.TemporaryDirectory(prefix="trt-api-") as tmp:
        package = Path(tmp) / PACKAGE
        shutil.copytree(package_dir / PACKAGE, package)
        so = next(package.glob("tensorrt*.so"))
        needed, undefined = needed_and_undefined(so.read_bytes())
        here = ctypes.CDLL(None)  # what this interpreter process already provides
        missing = [s for s in undefined if not s.startswith(("Py", "_Py")) and
                   not hasattr(here, s)]
        for lib in needed:
            if lib.startswith("libnv"):
                (package / lib).write_bytes(stub_library(lib, missing))
        done = subprocess.run([sys.executable, "-c", _LISTER, tmp], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONNOUSERSITE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"importing the bindings in {package_dir} with stand-in libraries "
                           f"failed: {done.stderr.strip()[-2000:]}")
    data = json.loads(done.stdout.splitlines()[-1])
    return TrtApi(data["version"], data["names"], data["values"])


def installed_bindings(root: Path = BINDINGS_ROOT) -> dict[str, Path]:
    """``{version: package dir}`` of the bindings ``make venv`` installed (may be empty)."""
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir()) if (d / PACKAGE).is_dir()}


# ------------------------------------------------------------------------- fake module


class FakeCall:
    """What a call on the fake returned: ``instance of <class>`` or a plain value."""


class _Fake:
    """An object of the fake module: a class, an instance of one, or a namespace."""

    def __init__(self, api: TrtApi, path: str, instance_of: str | None,
                 returns: dict[str, Any], used: set[str]) -> None:
        object.__setattr__(self, "_api", api)
        object.__setattr__(self, "_path", path)  # e.g. tensorrt.Builder
        object.__setattr__(self, "_instance_of", instance_of)
        object.__setattr__(self, "_returns", returns)
        object.__setattr__(self, "_used", used)

    def __getattr__(self, attr: str) -> Any:
        owner = self._instance_of or self._path
        dotted = f"{owner}.{attr}"
        if not self._api.has(dotted):
            raise AttributeError(f"{dotted} does not exist in TensorRT {self._api.version}")
        self._used.add(dotted)
        if dotted in self._api.values:
            return _Enum(dotted, self._api.values[dotted])
        key = dotted.split(".", 1)[1]
        if self._instance_of is not None and key in self._returns and \
                self._api.names[dotted] == "property":
            return _value(self._returns[key], ())
        return _Fake(self._api, dotted, None, self._returns, self._used)

    def __setattr__(self, attr: str, value: Any) -> None:
        self.__getattr__(attr)  # properties that are set must exist too

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = self._path.split(".", 1)[1]
        if key not in self._returns:
            raise KeyError(f"the fake does not know what {key}() returns: add it to RETURNS")
        result = self._returns[key]
        if isinstance(result, str):  # a class name: an instance of it
            return _Fake(self._api, self._path, "tensorrt." + result, self._returns, self._used)
        return _value(result, args)


def _value(result: Any, args: tuple) -> Any:
    return result(*args) if callable(result) else result


class _Enum(int):
    def __new__(cls, path: str, value: int) -> _Enum:
        member = int.__new__(cls, value)
        member.path = path  # type: ignore[attr-defined]
        return member


def fake_tensorrt(api: TrtApi, returns: dict[str, str | Callable[..., Any] | Any]
                  ) -> tuple[Any, set[str]]:
    """(stand-in ``tensorrt`` module, set of every dotted name it was asked for).

    ``returns`` maps ``Class`` / ``Class.method`` to what calling it gives: a class name (an
    instance of that class, whose attributes are checked against the class) or a value (a
    callable is called with the call's arguments)."""
    used: set[str] = set()
    module = _Fake(api, "tensorrt", None, returns, used)
    object.__setattr__(module, "__version__", api.version)
    return module, used
