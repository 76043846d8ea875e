"""Data-parallel training on PyTorch's own engine (``torch.distributed`` + DDP).

Launch with torchrun (``torchrun --nproc_per_node N -m iid_rdepth_ros.cli.train_ddp ...``):
it sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables that ``setup``
reads. Process groups use NCCL on GPUs (one GPU per process, ``cuda:LOCAL_RANK``) and gloo on
CPUs. The training loop keeps its single-process semantics:

- the *global* batch of step ``s`` is drawn exactly as in one process, and rank ``r`` trains on
  the slice ``r*B/N .. (r+1)*B/N`` of it (``shard``), so N ranks x B/N = the same batch;
- the SILog loss is computed over the global batch's pixels (``losses.silog_loss_global``),
  so the averaged DDP gradient equals the one-process gradient of that batch;
- every rank makes the same per-step choices (aux view, RNG seed, learning rate);
- rank 0 alone writes logs, checkpoints and resume states; validation is sharded over ranks
  and gathered, so its numbers equal the one-process numbers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job (defaults: a single process)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None
    owned: bool = False  # whether ``setup`` created the process group (and tears it down)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_ranks() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (0, 1, 0 without it)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ValueError(f"bad torchrun environment (RANK / WORLD_SIZE / LOCAL_RANK): {exc}"
                         ) from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


def setup(device: str, resolve: Callable[[str], torch.device]) -> tuple[DistContext,
                                                                         torch.device]:
    """Join the process group torchrun describes (if any) and pick this rank's device.

    ``device``: the config's ``cpu | cuda | cuda:N | auto``; with several processes ``cuda`` /
    ``auto`` mean ``cuda:LOCAL_RANK`` (an explicit ``cuda:N`` is refused: every rank would take
    the same GPU). ``resolve`` maps a name to a device in the single-process case.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # a caller set the group up already
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
        owned = False
    else:
        rank, world, local = env_ranks()
        owned = True
    if world == 1:
        return DistContext(), resolve(device)
    if device.startswith("cuda:"):
        raise ValueError(f"device {device!r} with {world} processes: use device cuda or auto "
                         "(each rank takes cuda:LOCAL_RANK)")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but CUDA is not available here")
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s)")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    backend = "nccl" if use_cuda else "gloo"
    if owned:
        if not dist.is_available():
            raise RuntimeError("this PyTorch build has no torch.distributed")
        dist.init_process_group(backend=backend)
    else:
        backend = str(dist.get_backend())
    return DistContext(rank, world, local, backend, owned), dev


def teardown(ctx: DistContext) -> None:
    """Destroy the process group if ``setup`` created it."""
    import torch.distributed as dist

    if ctx.owned and ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op in one process)."""
    if ctx.enabled:
        import torch.distributed as dist

        if ctx.backend == "nccl":
            dist.barrier(device_ids=[ctx.local_rank])
        else:
            dist.barrier()


def shard(indices: np.ndarray, ctx: DistContext) -> np.ndarray:
    """This rank's contiguous slice of a global batch (its size must divide by the world)."""
    n = len(indices)
    if n % ctx.world:
        raise ValueError(f"batch_size {n} is not divisible by the {ctx.world} processes: each "
                         "rank trains on batch_size / world_size frames")
    per = n // ctx.world
    return indices[ctx.rank * per:(ctx.rank + 1) * per]


def all_sum(ctx: DistContext, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function that sums a (detached) tensor over all ranks (identity in one process)."""
    if not ctx.enabled:
        return lambda t: t

    def reduce(t: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        # NCCL reduces on the GPU; float64 keeps the sums order-insensitive enough.
        out = t.detach().to(device=device, dtype=torch.float64).clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.to(t.device)

    return reduce


def gather(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not ctx.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


class DecodeStep(nn.Module):
    """``model.decode`` as a module forward: what DDP wraps.

    DDP only hooks parameters with ``requires_grad`` (the trainable decoder parts of the current
    stage); the frozen encoder is never touched by it (its features come from the cache or from
    ``model.encode`` under ``no_grad``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, main: list[torch.Tensor], aux_feats: list[torch.Tensor] | None,
                fb: torch.Tensor | None, steps: int | None, out_size: tuple[int, int]
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(depth, AV-LFE's stereo log depth or None): ``model.decode_with_stereo``."""
        return self.model.decode_with_stereo(main, aux_feats=aux_feats, fb=fb, steps=steps,
                                             out_size=out_size)


def wrap(model: nn.Module, ctx: DistContext, device: torch.device, *,
         find_unused: bool) -> nn.Module:
    """``DecodeStep(model)``, inside DDP when running with several processes.

    ``find_unused``: some trainable parameters may get no gradient in a step (stage 2: AV-LFE
    on mono steps); every rank makes the same choice, so they stay None everywhere.
    """
    step = DecodeStep(model)
    if not ctx.enabled:
        return step
    from torch.nn.parallel import DistributedDataParallel

    trainable = {id(p) for p in model.trainable_parameters()}
    encoder = {id(p) for p in model.encoder.parameters()}
    hooked = [p for p in step.parameters() if p.requires_grad]
    if any(id(p) in encoder or id(p) not in trainable for p in hooked):
        raise RuntimeError("DDP would synchronise parameters outside the trainable decoder")
    # Buffers (BatchNorm statistics of the frozen encoder, spectral-norm vectors) evolve the
    # same way on every rank: no need to broadcast them before each forward.
    import inspect

    no_sync = ({"forward_sync_buffers": False}
               if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
               else {"broadcast_buffers": False})
    return DistributedDataParallel(
        step, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=find_unused, **no_sync)


def replica_digest(model: nn.Module) -> str:
    """Hash of the trainable parameters (equal on every rank of a healthy DDP run)."""
    h = hashlib.sha256()
    for name, p in model.named_trainable_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
