#!/usr/bin/env bash
# GPU checks of issue 21, for a machine with an NVIDIA GPU and a CUDA build of torch in the
# active environment (the Makefile's .venv has the CPU build): the CUDA-graph tests that skip
# elsewhere, then the GPU benchmark rows for the targets (192x640, T=4, mono and stereo).
#
#   bash scripts/diagnostics/gpu_check.sh [OUT_DIR]      # default benchmarks/
set -euo pipefail
out=${1:-benchmarks}
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name(0))"
python -m pytest -q test/runtime/test_cuda_graphs.py test/model/test_iid_rdepth_capture.py \
  test/runtime/test_torch_runner_device.py
iid-rdepth bench --model default --backends torch --variants mono,stereo --steps 4 \
  --sizes 192x640 --repeats 200 --warmup 20 --threads "$(nproc)" \
  --gpu-modes off:fp32,capture:fp32,capture:fp16,compile:fp32,compile:fp16 \
  --out "$out" --name bench-gpu-default-T4
