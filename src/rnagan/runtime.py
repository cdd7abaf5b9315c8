"""What every training loop shares: seeding, devices, mixed precision, DDP, the lr schedule, RNG state.

DDP is detected from the environment ``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK): NCCL on GPUs,
gloo on CPUs, so multi-process training is testable on a laptop::

    torchrun --nproc_per_node=2 -m rnagan vae train ...
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` → CUDA if present, else MPS, else CPU; otherwise the named device."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def runs_bf16(device: torch.device, *, on_cpu: bool = False) -> bool:
    """Whether :func:`autocast` computes in bf16 on ``device``: CUDA devices that support it, and with ``on_cpu``
    CPUs that compute bf16 natively (:func:`cpu_has_native_bf16`)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return on_cpu and device.type == "cpu" and cpu_has_native_bf16()


def autocast(
    device: torch.device, enabled: bool = True, *, on_cpu: bool = False
) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast where :func:`runs_bf16` says so; a no-op elsewhere."""
    if enabled and runs_bf16(device, on_cpu=on_cpu):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.cache  # asked on every training step; the CPU does not change
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has AMX or AVX-512 BF16, where oneDNN runs bf16 convolutions faster than fp32.

    Elsewhere bf16 is emulated and slower than fp32. torch exposes the test only privately, so a torch
    without it counts as "no".
    """
    tests = (getattr(torch.cpu, "_is_amx_tile_supported", None), getattr(torch.cpu, "_is_avx512_bf16_supported", None))
    return any(test is not None and test() for test in tests)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_preference: str = "auto") -> tuple[Distributed, torch.device]:
    """Join the process group when launched by torchrun; return this rank's context and device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed(), pick_device(device_preference)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    world = int(os.environ["WORLD_SIZE"])
    use_cuda = torch.cuda.is_available() and device_preference in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    return Distributed(rank=rank, local_rank=local_rank, world_size=world), device


def shutdown_distributed() -> None:
    """Leave the process group, freeing what still holds on to it first.

    DDP's reducer sits in reference cycles, so without a collection here it outlives the group and is
    torn down at interpreter exit, where gloo's pending work objects can abort the process (SIGABRT).
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, *, base_lr: float, warmup_steps: int, total_steps: int, start_step: int = 0
) -> LRScheduler:
    """torch's ``LinearLR`` warm-up to ``base_lr`` then one ``CosineAnnealingLR`` decay to 0 at ``total_steps``.

    Call ``step()`` after every optimiser step: step s (from 0) runs at ``base_lr · (s + 1) / warmup_steps``
    during the warm-up, then at ``base_lr · ½(1 + cos(π (s − warmup_steps) / (total_steps − warmup_steps)))``.
    Unlike the reference code's restarted cosine (which cycles every 1,000 steps), it decays once.
    ``start_step`` replays that many steps (a resumed run), so it reaches the same numbers as an
    uninterrupted one; the optimiser's groups are reset to ``base_lr`` first.
    """
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = base_lr
    decay = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    schedule: LRScheduler = decay
    if warmup_steps > 0:
        warmup = LinearLR(optimizer, start_factor=1 / warmup_steps, total_iters=max(1, warmup_steps - 1))
        schedule = SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])
    with warnings.catch_warnings():  # replaying a resumed run's steps before its first optimiser step
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        for _ in range(start_step):
            schedule.step()
    return schedule


def rng_state() -> dict[str, torch.Tensor]:
    """Every RNG state as tensors, so a resumed run draws the same numbers (saved with weights_only)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(_numpy_state_bytes(), dtype=np.uint8).copy()),
        "python": torch.tensor(list(random.getstate()[1]), dtype=torch.int64),
    }
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda{i}"] = s
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    _set_numpy_state_bytes(state["numpy"].numpy().tobytes())
    mt = tuple(int(v) for v in state["python"].tolist())
    random.setstate((3, mt, None))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"cuda{i}" in state:
                torch.cuda.set_rng_state(state[f"cuda{i}"], i)


def _numpy_state_bytes() -> bytes:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    header = np.array([pos, has_gauss], dtype=np.int64).tobytes() + np.array([cached], dtype=np.float64).tobytes()
    return header + np.asarray(keys, dtype=np.uint32).tobytes()


def _set_numpy_state_bytes(data: bytes) -> None:
    pos, has_gauss = np.frombuffer(data[:16], dtype=np.int64)
    cached = float(np.frombuffer(data[16:24], dtype=np.float64)[0])
    keys = np.frombuffer(data[24:], dtype=np.uint32)
    np.random.set_state(("MT19937", keys, int(pos), int(has_gauss), cached))


@contextlib.contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no gradients inside the block; the previous mode restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)
