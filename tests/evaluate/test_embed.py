"""The feature map draws each set down to its cap before embedding: its cost stops growing with the cohort."""

from __future__ import annotations

import numpy as np

from rnagan.evaluate.embed import drawn_sets, feature_map_figure


def test_each_set_is_drawn_down_to_the_cap_in_order_and_seeded() -> None:
    rng = np.random.default_rng(0)
    sets = {"real": (rng.normal(size=(500, 8)), ["a", "b"] * 250), "rnagan": (rng.normal(size=(40, 8)), ["a"] * 40)}
    drawn = drawn_sets(sets, 100, seed=3)
    rows, tissues = drawn["real"]
    assert rows.shape == (100, 8) and len(tissues) == 100
    where = [int(np.flatnonzero((sets["real"][0] == row).all(axis=1))[0]) for row in rows]
    assert where == sorted(where) and len(set(where)) == 100  # distinct rows, in the set's order
    assert tissues == [sets["real"][1][i] for i in where]
    np.testing.assert_array_equal(drawn["rnagan"][0], sets["rnagan"][0])  # under the cap: kept whole
    np.testing.assert_array_equal(drawn_sets(sets, 100, seed=3)["real"][0], rows)
    assert not np.array_equal(drawn_sets(sets, 100, seed=4)["real"][0], rows)
    assert len(drawn_sets(sets, None, seed=3)["real"][0]) == 500


def test_the_capped_map_is_a_png() -> None:
    rng = np.random.default_rng(1)
    sets = {"real": (rng.normal(size=(300, 8)), ["a"] * 300), "rnagan": (rng.normal(size=(300, 8)), ["a"] * 300)}
    png = feature_map_figure(sets, method="pca", max_per_set=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
