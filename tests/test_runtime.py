import itertools
import math
import random

import numpy as np
import pytest
import torch

from rnagan.runtime import rng_state, seed_everything, set_rng_state, warmup_cosine_schedule


def _closed_form(step: int, *, base_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The schedule as written before torch's schedulers computed it: warm-up, then one cosine."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * progress))


def _lrs(base_lr: float, warmup_steps: int, total_steps: int, start_step: int = 0) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=123.0)
    schedule = warmup_cosine_schedule(
        optimizer, base_lr=base_lr, warmup_steps=warmup_steps, total_steps=total_steps, start_step=start_step
    )
    lrs = []
    for _ in range(start_step, total_steps + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def test_lr_warms_up_linearly_then_decays_once_without_restarting() -> None:
    lrs = _lrs(1.0, warmup_steps=10, total_steps=110)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[9] == pytest.approx(1.0)
    decay = lrs[10:111]
    assert all(a >= b for a, b in itertools.pairwise(decay))  # monotone: no cosine restart
    assert lrs[110] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("warmup", "total"), [(10, 110), (0, 50), (1, 30), (200, 3000)])
def test_torch_schedulers_give_the_closed_form_numbers(warmup: int, total: int) -> None:
    expected = [_closed_form(s, base_lr=1e-3, warmup_steps=warmup, total_steps=total) for s in range(total + 1)]
    assert _lrs(1e-3, warmup, total) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_a_resumed_schedule_replays_the_same_numbers() -> None:
    assert _lrs(1e-3, 20, 300, start_step=137) == _lrs(1e-3, 20, 300)[137:]


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
