"""The GAN's batch order: what an epoch visits, resumability, and the split between ranks."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import pytest

from rnagan.batches import EpochBatchSampler
from rnagan.errors import InputFileError

# Sample 0 has 12 tiles, samples 1-3 one each, sample 4 three: tile-balanced epochs favour sample 0.
GROUPS = np.array([0] * 12 + [1, 2, 3] + [4] * 3)


def _batches(sampler: EpochBatchSampler, n: int) -> list[list[int]]:
    return list(islice(iter(sampler), n))


def test_tile_epochs_visit_every_tile_once() -> None:
    sampler = EpochBatchSampler(len(GROUPS), 3, seed=0)
    epoch = [i for batch in _batches(sampler, sampler.per_epoch) for i in batch]
    assert sorted(epoch) == list(range(len(GROUPS)))


def test_sample_epochs_visit_every_sample_once_and_weigh_samples_equally() -> None:
    sampler = EpochBatchSampler(len(GROUPS), 5, seed=0, groups=GROUPS)
    assert sampler.per_epoch == 1  # five samples, one tile each
    epochs = _batches(sampler, 400)
    assert all(sorted(GROUPS[batch]) == [0, 1, 2, 3, 4] for batch in epochs)
    drawn = Counter(i for batch in epochs for i in batch)
    assert set(drawn) == set(range(len(GROUPS)))  # every tile of sample 0 comes up in time
    per_sample = Counter(int(GROUPS[i]) for i in drawn.elements())
    assert len(set(per_sample.values())) == 1  # ... but sample 0 as a whole no more often than sample 1


def test_order_is_a_function_of_seed_and_position() -> None:
    full = _batches(EpochBatchSampler(len(GROUPS), 2, seed=3, groups=GROUPS), 7)
    resumed = _batches(EpochBatchSampler(len(GROUPS), 2, seed=3, groups=GROUPS, start=4), 3)
    assert resumed == full[4:]
    assert _batches(EpochBatchSampler(len(GROUPS), 2, seed=4, groups=GROUPS), 7) != full


def test_ranks_share_each_epoch_without_overlap() -> None:
    ranks = [EpochBatchSampler(len(GROUPS), 2, seed=0, rank=r, world_size=2) for r in range(2)]
    seen = [set(i for batch in _batches(s, s.per_epoch) for i in batch) for s in ranks]
    assert not seen[0] & seen[1]
    assert len(seen[0]) == len(seen[1]) == 2 * ranks[0].per_epoch


def test_too_few_samples_for_a_batch_is_a_clear_error() -> None:
    with pytest.raises(InputFileError, match="5 samples"):
        EpochBatchSampler(len(GROUPS), 8, seed=0, groups=GROUPS)
