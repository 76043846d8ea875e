"""A failed or interrupted export leaves the output folder as it was (issue: a partial
``mono.onnx`` stayed behind); a successful one replaces the earlier export as a whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.export import onnx_export


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("failure", [RuntimeError("TensorRT op table unreadable"),
                                     KeyboardInterrupt()])
def test_failed_export_leaves_nothing_half_written(untrained_checkpoint: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   failure: BaseException) -> None:
    out = tmp_path / "onnx"
    out.mkdir()
    earlier = {"mono.onnx": b"an earlier export", "export.json": b"{}", "notes.txt": b"mine"}
    for name, data in earlier.items():
        (out / name).write_bytes(data)
    staged = []

    def fail(path):
        staged.append((Path(path).name, Path(path).stat().st_size))  # written, then the crash
        raise failure

    monkeypatch.setattr(onnx_export, "check_onnx", fail)
    with pytest.raises(type(failure)):
        onnx_export.export_checkpoint(str(untrained_checkpoint), out, 64, 192, steps=1,
                                      verify=False)
    assert staged and staged[0][0] == "mono.onnx" and staged[0][1] > 1000
    assert _listing(out) == earlier  # no partial graph, no temporary folder


def test_successful_export_replaces_the_earlier_one(untrained_checkpoint: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "mono.onnx.data").write_bytes(b"external data of an earlier, larger export")
    result = onnx_export.export_checkpoint(str(untrained_checkpoint), out, 64, 192, steps=1,
                                           verify=False)
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "mono.onnx", "stereo.onnx"]
    sidecar = json.loads((out / "export.json").read_text())
    for variant, path in result.graphs.items():
        assert path == out / f"{variant}.onnx"
        assert sidecar["graphs"][variant]["sha256"] == sha256_file(path)
