"""Data-parallel training entry point for torchrun.

    torchrun --nproc_per_node 4 -m iid_rdepth_ros.cli.train_ddp \\
        --dataset kitti --data-root /data/kitti --batch-size 32 --device cuda --amp bf16 ...

takes exactly the options of ``iid-rdepth train`` (``--batch-size`` is the global batch,
split evenly over the processes). Each process joins the process group torchrun describes
(NCCL on GPUs, one per process; gloo on CPUs) and trains its shard of every batch; rank 0
writes logs, checkpoints and the resume state (``training/distributed.py``). Resume with the
same command plus ``--resume`` (any number of processes that divides the batch).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``iid-rdepth train`` with ``argv`` (default: the command line)."""
    from iid_rdepth_ros.cli.main import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    import os

    # torchrun starts `python -m` workers: the working directory leaves sys.path before
    # anything else is imported (as in cli/main.py; docs/security.md)
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    sys.exit(main())
