"""Learning-rate schedule as a pure function of the step (so resuming needs only the step)."""

from __future__ import annotations

import math


def lr_factor(step: int, total: int, *, warmup: int = 0, kind: str = "cosine",
              min_ratio: float = 0.0) -> float:
    """Multiplier of the base LR for optimisation step ``step`` (0-based) of ``total``.

    Linear warm-up from ``1/warmup`` to 1 over the first ``warmup`` steps, then either constant
    1 or a half-cosine from 1 down to ``min_ratio`` at the last step.
    """
    if kind not in ("constant", "cosine"):
        raise ValueError(f"unknown LR schedule {kind!r} (constant | cosine)")
    if step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    span = max(total - warmup - 1, 1)
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
