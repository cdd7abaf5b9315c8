"""Resumable training batches shared by the generators' trainers (the GAN, the flow-matching model)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Sampler

from rnagan.errors import InputFileError


class EpochBatchSampler(Sampler[list[int]]):
    """Batches from a fresh permutation each epoch, a pure function of (seed, epoch): resumable.

    Without ``groups`` an epoch is every tile once. With ``groups`` (the sample of each tile) an epoch
    is **one tile per sample**, drawn anew each epoch, so every sample weighs the same however many
    tiles its slide gave (``gan.balance: sample``): a tissue with extra tiles (LC25000's augmented
    benign copies, a few large slides) does not crowd the others out of the generator's training.

    With ``world_size`` ranks, every rank takes its own interleaved share of the same permutation,
    so the ranks together see each item once per epoch. ``start`` skips the first batches (resume).
    Incomplete last batches are dropped (batch norm in the generator dislikes tiny batches). ``setting``
    names the batch size a refusal asks to lower.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        groups: np.ndarray | None = None,
        setting: str = "gan.batch_size",
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.start = rank, world_size, start
        self.members: list[torch.Tensor] | None = None
        if groups is not None:
            if len(groups) != n:
                raise ValueError(f"groups has {len(groups)} entries for {n} items")
            codes, _ = pd.factorize(pd.Series(groups), sort=True)
            self.members = [torch.from_numpy(np.flatnonzero(codes == g)) for g in range(codes.max() + 1)]
        per_epoch_items = n if self.members is None else len(self.members)
        self.per_epoch = per_epoch_items // (batch_size * world_size)
        if self.per_epoch == 0:
            what = "paired tiles" if self.members is None else "samples (one tile each per epoch)"
            raise InputFileError(
                f"{per_epoch_items} {what} cannot fill one batch of {batch_size} on each of {world_size} "
                f"rank(s): lower {setting} or add data"
            )

    def _epoch(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        if self.members is None:
            return torch.randperm(self.n, generator=generator)
        pick = torch.rand(len(self.members), generator=generator)
        chosen = torch.stack([m[int(u * len(m))] for m, u in zip(self.members, pick.tolist(), strict=True)])
        return chosen[torch.randperm(len(chosen), generator=generator)]

    def __iter__(self) -> Iterator[list[int]]:
        position = self.start
        while True:
            epoch, offset = divmod(position, self.per_epoch)
            mine = self._epoch(epoch)[self.rank :: self.world_size]
            for b in range(offset, self.per_epoch):
                yield mine[b * self.batch_size : (b + 1) * self.batch_size].tolist()
                position += 1

    def __len__(self) -> int:  # infinite; DataLoader only needs this for its progress hints
        return 2**62
