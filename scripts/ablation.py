"""Ablation on the held-out synth-street test split; optionally publish the shipped checkpoints.

    python scripts/ablation.py --baseline out/train/baseline/stage1 \
        --default out/train/default/stage2 --test data/synth/test [--publish]

Evaluates ``baseline`` (mono), ``default --aux off``, ``default --aux on`` and OpenCV StereoSGBM
(over its own valid pixels, with the default model's stereo depth on the same pixels), writes
``benchmarks/ablation.{json,md}`` and, with ``--publish``, copies both checkpoints into
``iid_rdepth_ros/checkpoints/`` with the command that reproduces them and the table in the card.
These are synth-street numbers, never KITTI numbers.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "iid_rdepth_ros" / "checkpoints"
REPRODUCE = ("make checkpoints  # = bash scripts/train_checkpoints.sh (N1=3300 N2=1800, "
             "6400 training frames)")
KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "d1", "d2", "d3")


def _row(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in (*KEYS, "frames")}


def _sequence_interval(result: dict[str, Any], base: dict[str, Any], sequence: list[Any]
                       ) -> list[float]:
    """95 % interval of ``result``'s RMSE / ``base``'s over the same frames, resampling whole
    sequences (``sequence[i]`` of frame ``i``; ``evaluation.metrics.ratio_interval``)."""
    from iid_rdepth_ros.evaluation.metrics import ratio_interval

    frames, base_frames = result["per_frame"], base["per_frame"]
    if [f["index"] for f in frames] != [f["index"] for f in base_frames]:
        raise RuntimeError("the two evaluations scored different frames")
    return list(ratio_interval([f["rmse"] for f in frames], [f["rmse"] for f in base_frames],
                               [sequence[f["index"]] for f in frames]))


def run(baseline: str, default: str, test_dir: str, threads: int,
        controls: list[tuple[str, str]] = (),
        mono_controls: list[tuple[str, str]] = ()) -> dict[str, Any]:
    from iid_rdepth_ros.bench.evaluate import evaluate
    from iid_rdepth_ros.bench.evaluate_sgbm import evaluate_sgbm
    from iid_rdepth_ros.synth.dataset import SynthStreetDataset

    kw = {"steps": None, "batch_size": 4, "num_threads": threads, "per_frame": False}
    main = kw | {"per_frame": True}  # the ratio intervals need the per-frame values
    rows = {
        "baseline (mono)": evaluate(baseline, test_dir, aux=False, **main),
        "default --aux off": evaluate(default, test_dir, aux=False, **main),
        "default --aux on": evaluate(default, test_dir, aux=True, **main),
    }
    for label, path in controls:  # other training recipes, for where a gain comes from
        rows[f"{label} --aux off"] = evaluate(path, test_dir, aux=False, **kw)
        rows[f"{label} --aux on"] = evaluate(path, test_dir, aux=True, **kw)
    for label, path in mono_controls:
        rows[f"{label} (mono)"] = evaluate(path, test_dir, aux=False, **kw)
    sgbm = evaluate_sgbm(test_dir, default, aux=True, batch_size=4, num_threads=threads)
    base_rmse = rows["baseline (mono)"]["rmse"]
    table = {name: {**_row(r), "rmse_vs_baseline": r["rmse"] / base_rmse}
             for name, r in rows.items()}
    sequence = [r["sequence"] for r in SynthStreetDataset(test_dir).records]
    for name in ("default --aux off", "default --aux on"):
        table[name]["rmse_vs_baseline_ci95"] = _sequence_interval(
            rows[name], rows["baseline (mono)"], sequence)
    table["SGBM (its valid pixels)"] = {**_row(sgbm), "coverage": sgbm["coverage"]}
    table["default --aux on (SGBM's pixels)"] = _row(sgbm["network_same_pixels"])
    return {
        "data": rows["default --aux on"]["data"],
        "protocol": rows["default --aux on"]["protocol"],
        "steps": rows["default --aux on"]["steps"],
        "sequences": len(set(sequence)),
        "table": table,
        "targets": {
            "default --aux off <= 0.96 x baseline RMSE":
                table["default --aux off"]["rmse_vs_baseline"] <= 0.96,
            "default --aux on <= 0.62 x baseline RMSE":
                table["default --aux on"]["rmse_vs_baseline"] <= 0.62,
        },
    }


def markdown(result: dict[str, Any], command: str) -> str:
    cols = ("rmse", "rmse_vs_baseline", "abs_rel", "sq_rel", "rmse_log", "silog", "d1", "d2",
            "d3", "coverage", "frames")
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in result["table"].items():
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append("" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    data = result["data"]
    targets = "\n".join(f"- {k}: {'met' if ok else 'MISSED'}"
                        for k, ok in result["targets"].items())
    intervals = "; ".join(
        f"{name}: {row['rmse_vs_baseline_ci95'][0]:.3f}-{row['rmse_vs_baseline_ci95'][1]:.3f}"
        for name, row in result["table"].items() if "rmse_vs_baseline_ci95" in row)
    return (f"# Ablation on synth-street (test split, seed {data.get('seed')}, "
            f"{data.get('frames_evaluated')} frames) — not KITTI numbers\n\n"
            f"Dense ground truth, cap 80 m, no median scaling, no crop; T = {result['steps']}.\n\n"
            + "\n".join(lines)
            + f"\n\n95 % interval of RMSE / baseline RMSE (percentile bootstrap over the "
              f"split's {result['sequences']} sequences, frames of one sequence kept "
              f"together): {intervals}\n\nTargets:\n{targets}\n\nCommand: `{command}`\n")


METRICS_NOTE = ("metrics: validation during training, which decodes cached features and so runs "
                "without the stereo refinement (avlfe.refine); the ablation below has the model "
                "as shipped")


def with_metrics_note(card: dict[str, Any]) -> dict[str, Any]:
    """``card`` with ``metrics_note`` after ``metrics`` when its model has the stereo
    refinement, which the training-time validation in ``metrics`` never ran."""
    avlfe = card["config"].get("avlfe", {})
    if card["variant"] != "full" or not (avlfe.get("enabled", True) and avlfe.get("refine")):
        return card
    out: dict[str, Any] = {}
    for key, value in card.items():
        if key != "metrics_note":
            out[key] = value
        if key == "metrics":
            out["metrics_note"] = METRICS_NOTE
    return out


def publish(baseline: str, default: str, result: dict[str, Any]) -> None:
    for name, src in (("baseline", baseline), ("default", default)):
        stem = Path(src)
        card = yaml.safe_load(stem.with_suffix(".yaml").read_text(encoding="utf-8"))
        card["weights"] = f"{name}.safetensors"
        card["reproduce"] = REPRODUCE
        card["ablation"] = {"split": "synth-street test (seed 3)", "table": result["table"],
                            "targets": result["targets"]}
        card = with_metrics_note(card)
        shutil.copyfile(stem.with_suffix(".safetensors"), SHIPPED / f"{name}.safetensors")
        (SHIPPED / f"{name}.yaml").write_text(yaml.safe_dump(card, sort_keys=False),
                                             encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True)
    p.add_argument("--default", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--control", action="append", default=[], metavar="LABEL=CHECKPOINT",
                   help="also evaluate another full model (aux off and on), e.g. one trained "
                        "without a loss term, to show where a gain comes from; repeatable")
    p.add_argument("--control-mono", action="append", default=[], metavar="LABEL=CHECKPOINT",
                   help="also evaluate another mono model (e.g. a baseline trained another "
                        "way); repeatable")
    p.add_argument("--publish", action="store_true")
    args = p.parse_args()

    def pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
        out = []
        for item in items:
            label, sep, path = item.partition("=")
            if not sep or not label or not path:
                p.error(f"{flag} needs LABEL=CHECKPOINT, got {item!r}")
            out.append((label, path))
        return out

    command = "python " + shlex.join(sys.argv)
    result = run(args.baseline, args.default, args.test, args.threads,
                 pairs(args.control, "--control"), pairs(args.control_mono, "--control-mono"))
    result["command"] = command
    out = REPO / "benchmarks"
    (out / "ablation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "ablation.md").write_text(markdown(result, command), encoding="utf-8")
    print(markdown(result, command))
    if args.publish:
        publish(args.baseline, args.default, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
