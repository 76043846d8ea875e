"""The import contract of the layers (DESIGN.md section 8, docs/interfaces.md).

Every import, at module level or inside a function, points down the layer table; no module
cycle and no cycle between subpackages; importing a ROS module loads no torch/onnx, and the
layers below ROS never load rclpy (each module imported in a fresh forked process).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "iid_rdepth_ros"

#: subpackage -> layer; a module may import its own subpackage and lower layers only
LAYERS = {
    "artifacts": 0,
    "geometry": 1, "model": 1,
    "evaluation": 2, "synth": 2,
    "datasets": 3,
    "runtime": 4,
    "export": 5,
    "ros": 6,
    "bag": 7,
    "bench": 8,
    "demo": 9,
    "training": 10,
    "cli": 11,
}
#: what ROS modules must not load when imported (heavy or GPU libraries)
NOT_IN_ROS = ("torch", "onnx", "onnxruntime", "tensorrt", "pycuda")
#: layers that know nothing of ROS
ROS_FREE = ("artifacts", "geometry", "model", "evaluation", "synth", "datasets", "runtime",
            "export")
#: layers whose import is light: no torch, onnx, onnxruntime or TensorRT until used
LIGHT = ("artifacts", "geometry", "evaluation", "runtime", "ros", "bag", "cli")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Package modules ``name`` imports anywhere in its file (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                if path.name != "__init__.py":
                    parts = parts[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        for target in targets:
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_subpackage_has_a_layer() -> None:
    layers = {_layer(m) for m in MODULES if _layer(m) and (PACKAGE / _layer(m)).is_dir()}
    assert layers == set(LAYERS), f"add to LAYERS (and docs/interfaces.md): {layers ^ set(LAYERS)}"


def test_imports_point_down() -> None:
    bad = []
    for name, targets in GRAPH.items():
        for target in targets:
            a, b = _layer(name), _layer(target)
            if a and b and a != b and LAYERS[b] >= LAYERS[a]:
                bad.append(f"{name} -> {target} (layer {a} {LAYERS[a]} -> {b} {LAYERS[b]})")
    assert not bad, "imports that do not point down:\n" + "\n".join(sorted(bad))


def test_no_cycles_between_modules_or_subpackages() -> None:
    assert _cycles(GRAPH) == []
    packages: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        packages.setdefault(_layer(name), set()).update(
            _layer(t) for t in targets if _layer(t) != _layer(name))
    assert _cycles(packages) == []


def test_the_checker_sees_function_level_imports_and_cycles() -> None:
    """The checks above can fail: a function-level import is an edge, and a loop is found."""
    src = PACKAGE / "runtime" / "onnxruntime_runner.py"
    assert "iid_rdepth_ros.artifacts.onnx_meta" in _imports("x.runtime.onnxruntime_runner", src)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


PROBE = r"""
import json, os, sys
heavy = sys.argv[1].split(",")
result = {}
for module in sys.argv[2:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fresh process state: import one module, report what it loaded
        os.close(read)
        try:
            __import__(module)
            loaded = [h for h in heavy if h in sys.modules]
        except Exception as exc:  # noqa: BLE001
            loaded = [f"import failed: {type(exc).__name__}: {exc}"]
        os.write(write, json.dumps(loaded).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    result[module] = json.loads(b"".join(chunks) or b'["no answer"]')
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[str]]:
    heavy = sorted({*NOT_IN_ROS, "rclpy"})
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(heavy), *sorted(MODULES)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_every_module_imports(loaded: dict[str, list[str]]) -> None:
    failed = {m: v for m, v in loaded.items() if any(s.startswith("import failed") for s in v)}
    assert not failed, failed


def test_ros_loads_no_torch_and_lower_layers_no_rclpy(loaded: dict[str, list[str]]) -> None:
    bad = []
    for module, heavy in loaded.items():
        layer = _layer(module)
        if layer == "ros":
            bad += [f"{module} loads {h}" for h in heavy if h in NOT_IN_ROS]
        if layer in ROS_FREE:
            bad += [f"{module} loads rclpy" for h in heavy if h == "rclpy"]
        if layer in LIGHT:
            bad += [f"{module} loads {h} at import" for h in heavy if h in NOT_IN_ROS]
    assert not bad, "\n".join(bad)


#: how the node's third-party imports appear in package.xml (rosdep keys)
ROSDEP_KEYS = {"numpy": "python3-numpy", "yaml": "python3-yaml", "cv2": "python3-opencv",
               "onnxruntime": "python3-onnxruntime", "torch": "python3-torch",
               "onnx": "python3-onnx", "safetensors": "python3-safetensors"}
#: imported by the node where installed, never required (package.xml says so in a comment)
OPTIONAL = {"cv_bridge", "sensor_msgs_py", "matplotlib", "tensorrt", "pycuda",
            "efficientnet_lite_pytorch"}  # the last: pip only, no rosdep key


def _closure_third_party(start: str) -> set[str]:
    seen, stack, third = set(), [start], set()
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        stack.extend(GRAPH[module])
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            third |= {n.split(".")[0] for n in names} - set(sys.stdlib_module_names)
    return third - {"iid_rdepth_ros"}


def test_package_xml_lists_what_the_node_imports_and_no_training_packages() -> None:
    import xml.etree.ElementTree as ET

    deps = {e.text for e in ET.parse(REPO / "package.xml").getroot().iter("exec_depend")}
    needed = _closure_third_party("iid_rdepth_ros.ros.node") - OPTIONAL
    missing = sorted(m for m in needed if ROSDEP_KEYS.get(m, m) not in deps)
    assert not missing, f"the node imports these, package.xml lacks them: {missing}"
    training_only = {"python3-scipy", "python3-skimage", "python3-matplotlib", "python3-h5py",
                     "python3-tqdm", "python3-rich"}
    assert not deps & training_only, deps & training_only
    pip = (REPO / "requirements" / "node.txt").read_text()
    for module in needed & set(ROSDEP_KEYS):
        dist = {"cv2": "opencv-python-headless", "yaml": "pyyaml"}.get(module, module)
        assert f"\n{dist}" in f"\n{pip}", f"requirements/node.txt lacks {dist}"
