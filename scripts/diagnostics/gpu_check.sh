#!/usr/bin/env bash
# GPU checks of issue 21, for a machine with an NVIDIA GPU and a CUDA build of torch in the
# active environment (the Makefile's .venv has the CPU build): the CUDA-graph tests that skip
# elsewhere, then the GPU benchmark rows for the targets (192x640, T=4, mono and stereo).
# Each step has its own time limit and writes its log as it goes, so a step cut by its limit
# still leaves what it printed (an H200 run on 2026-12-04 lost a whole pytest log that way).
#
#   bash scripts/diagnostics/gpu_check.sh [OUT_DIR]      # default benchmarks/
set -uo pipefail
out=${1:-benchmarks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}  # the device machines have python3 and the package on PYTHONPATH only
"$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name(0))" || exit 1
# capture tests first (fast), the torch.compile ones last (tens of seconds per compile)
timeout 120 "$py" -m pytest -q -o addopts= -k "not compile" test/runtime/test_cuda_graphs.py \
  test/model/test_iid_rdepth_capture.py test/runtime/test_torch_runner_device.py \
  2>&1 | tee "$out/gpu-pytest-capture.log"
timeout 240 "$py" -m pytest -q -x -o addopts= -k compile test/runtime/test_cuda_graphs.py \
  2>&1 | tee "$out/gpu-pytest-compile.log"
# compile:fp32 is torch.compile(mode="reduce-overhead"): about 40 s of compiling per row,
# the fastest path measured on the H200 (2.6 ms mono in the issue); capture:fp16 was slower
# than fp32 there (4.26 vs 3.41 ms), so it gave its place to compile
timeout 360 "$py" -m iid_rdepth_ros.cli.main bench --model default --backends torch --variants mono,stereo --steps 4 \
  --sizes 192x640 --repeats 60 --warmup 15 --threads "$(nproc)" \
  --gpu-modes off:fp32,capture:fp32,compile:fp32 --out "$out" --name bench-gpu-default-T4 \
  2>&1 | tee "$out/gpu-bench.log"
