import itertools
import random

import numpy as np
import pytest
import torch

from rnagan.runtime import rng_state, seed_everything, set_rng_state, warmup_cosine_lr


def test_lr_warms_up_linearly_then_decays_once_without_restarting() -> None:
    lrs = [warmup_cosine_lr(s, base_lr=1.0, warmup_steps=10, total_steps=110) for s in range(200)]
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[9] == pytest.approx(1.0)
    decay = lrs[10:111]
    assert all(a >= b for a, b in itertools.pairwise(decay))  # monotone: no cosine restart
    assert lrs[110] == pytest.approx(0.0, abs=1e-12)
    assert max(lrs[110:]) == pytest.approx(0.0, abs=1e-12)


def test_rng_state_round_trip_replays_every_generator() -> None:
    seed_everything(3)
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    set_rng_state(state)
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]


def test_rng_state_survives_a_weights_only_load(tmp_path) -> None:
    seed_everything(1)
    torch.save(rng_state(), tmp_path / "s.pt")
    expected = torch.rand(2)
    seed_everything(99)
    set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True))
    assert torch.equal(torch.rand(2), expected)
