"""Diagnostic (issue 21): which parts of the network break under INT8, measured with ONNX Runtime.

    iid-rdepth export --model default --out ONNX_DIR --height 192 --width 640
    iid-rdepth synth --out CALIB_DIR --frames 48 --seed 7 --sequence-length 8
    python scripts/diagnostics/int8_sensitivity.py ONNX_DIR CALIB_DIR OUT_DIR [mono,stereo]

Quantizes each graph four ways (everything; the bin-centre predictor kept in float; depthwise
convolutions kept in float; both: the shipped recipe) with 32 calibration frames, converts it
to FP16 too, and prints each graph's depth error against FP32 on 16 synth-street frames
rendered with seed 11 at 375x1242 (``export.precision.measure_accuracy``); OUT_DIR/results.json.
"""

import json
import sys
import time
from pathlib import Path

from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
from iid_rdepth_ros.export.precision import (
    PrecisionOptions,
    convert_fp16,
    measure_accuracy,
    network_feeds,
    open_frames,
    pick,
    quantize_int8,
    rendered_frames,
)

src, calib_dir, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
variants = sys.argv[4].split(",") if len(sys.argv) > 4 else ["mono", "stereo"]
recipes = {"int8_everything": PrecisionOptions("int8", exclude=(), exclude_depthwise=False),
           "int8_bcp_float": PrecisionOptions("int8", exclude_depthwise=False),
           "int8_depthwise_float": PrecisionOptions("int8", exclude=()),
           "int8_recipe": PrecisionOptions("int8")}
eval_frames = rendered_frames(16)
calib = pick(open_frames(calib_dir), 32)
results = {}
for variant in variants:
    graph = src / f"{variant}.onnx"
    meta = get_metadata(graph)
    convert_fp16(graph, out / "fp16" / f"{variant}.onnx")
    for name, options in recipes.items():
        quantize_int8(graph, out / name / f"{variant}.onnx",
                      (network_feeds(f, meta) for f in calib), options)
    for name in ["fp16", *recipes]:
        start = time.perf_counter()
        report = measure_accuracy(graph, out / name / f"{variant}.onnx", eval_frames, threads=2)
        results[f"{name}/{variant}"] = report.to_dict()
        print(f"{name}/{variant}: {json.dumps(report.to_dict())} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
(out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
