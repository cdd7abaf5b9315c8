"""FID and KID between two folders of images: the two-folder comparison of pytorch-fid and clean-fid,
with rnagan's offline Inception weights and TF1 resize, so its numbers match ``rnagan evaluate``'s."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rnagan.evaluate.features import InceptionFeatures, iter_images, list_images
from rnagan.evaluate.fid import fid_from_features, kernel_inception_distance


def compare_folders(
    folder1: str | os.PathLike[str],
    folder2: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    max_images: int | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """FID, KID (mean, std), the image counts and the network's description (weights hash, resize).

    Images are found recursively and sorted; ``max_images`` keeps a seeded random subset of each folder.
    """
    extractor = InceptionFeatures.load(weights, device=device, batch_size=batch_size)
    rng = np.random.default_rng(seed)
    feats = []
    for folder in (folder1, folder2):
        paths = list_images(folder)
        if max_images is not None and len(paths) > max_images:
            paths = [paths[i] for i in np.sort(rng.choice(len(paths), max_images, replace=False))]
        feats.append(extractor.extract(iter_images(paths)))
    kid_mean, kid_std = kernel_inception_distance(
        feats[0], feats[1], subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
    )
    return {
        "fid": fid_from_features(feats[0], feats[1]),
        "kid": {
            "mean": kid_mean,
            "std": kid_std,
            "subsets": kid_subsets,
            "subset_size": min(kid_subset_size, len(feats[0]), len(feats[1])),
        },
        "n": [len(feats[0]), len(feats[1])],
        **extractor.describe(),
    }
