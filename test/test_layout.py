"""test/ mirrors the package: test/<subpackage>/test_<module>[_<aspect>].py, findable by name."""

from __future__ import annotations

from pathlib import Path

TEST_DIR = Path(__file__).resolve().parent
PACKAGE = TEST_DIR.parent / "iid_rdepth_ros"
#: tests of the package as a whole, at test/'s top level
WHOLE_PACKAGE = {"test_import_contract.py", "test_layout.py", "test_colcon_build.py"}


def test_every_test_file_names_its_module() -> None:
    bad = []
    for path in sorted(TEST_DIR.rglob("test_*.py")):
        rel = path.relative_to(TEST_DIR)
        if len(rel.parts) == 1:
            if rel.name not in WHOLE_PACKAGE:
                bad.append(f"{rel}: put it in test/<subpackage>/")
            continue
        sub = PACKAGE / rel.parts[0]
        modules = {p.stem for p in sub.glob("*.py") if p.stem != "__init__"}
        stem = path.stem.removeprefix("test_")
        if len(rel.parts) != 2 or not sub.is_dir():
            bad.append(f"{rel}: test/{rel.parts[0]} mirrors no subpackage of iid_rdepth_ros")
        elif not any(stem == m or stem.startswith(m + "_") for m in modules):
            bad.append(f"{rel}: no module iid_rdepth_ros/{rel.parts[0]}/<name>.py for it")
    assert not bad, "\n".join(bad)
