"""Checkpoint folders: everything needed to rebuild and use a model, nothing that runs code on load.

Layout (written atomically as a whole folder)::

    model.safetensors   named tensors (weights, buffers, scaler statistics...)
    config.yaml         the full rnagan Config the model was built with
    meta.json           versions, seed, step/epoch, data fingerprint, anything small and JSON-able
    state.pt            optional training state (optimiser, RNG), read with ``weights_only=True``
    <extra files>       e.g. genes.txt

Loading never unpickles arbitrary objects: safetensors for tensors, YAML/JSON for the rest, and
``torch.load(weights_only=True)`` for optimiser state.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import rnagan
from rnagan.config import Config, config_from_yaml, to_yaml
from rnagan.errors import CheckpointError, ConfigError
from rnagan.fileio import atomic_dir, resolve_dir

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
META = "meta.json"
STATE = "state.pt"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    tensors: dict[str, torch.Tensor]
    config: Config
    meta: dict[str, Any]
    path: Path
    state: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict)

    def subset(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose names start with ``prefix.``, with the prefix removed (e.g. a state dict)."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def environment_meta() -> dict[str, Any]:
    return {
        "rnagan_version": rnagan.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created_unix": time.time(),
        "format_version": FORMAT_VERSION,
    }


def fingerprint(*arrays: Any) -> str:
    """A short sha256 over arrays/bytes/strings: records which data a model saw."""
    digest = hashlib.sha256()
    for item in arrays:
        if isinstance(item, torch.Tensor):
            item = item.detach().cpu().contiguous().numpy()
        if hasattr(item, "tobytes"):
            digest.update(item.tobytes())
        else:
            digest.update(str(item).encode())
    return digest.hexdigest()[:16]


def weights_fingerprint(path: str | Path) -> str:
    """A short sha256 of a checkpoint's weights file: which trained model another one was built on."""
    weights = resolve_dir(Path(path)) / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{path} is not an rnagan checkpoint: {WEIGHTS} is missing")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def save_checkpoint(
    path: str | Path,
    *,
    tensors: dict[str, torch.Tensor],
    config: Config,
    meta: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
) -> Path:
    """Write a checkpoint folder atomically (a crash leaves the previous checkpoint loadable)."""
    path = Path(path)
    full_meta = {**environment_meta(), **(meta or {})}
    with atomic_dir(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(to_yaml(config))
        (tmp / META).write_text(json.dumps(full_meta, indent=2, default=str) + "\n")
        if state is not None:
            torch.save(state, tmp / STATE)
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
    return path


def load_checkpoint(path: str | Path, *, with_state: bool = False, map_location: str = "cpu") -> Checkpoint:
    """Read a checkpoint folder; any missing or damaged part raises :class:`CheckpointError`."""
    requested = Path(path)
    path = resolve_dir(requested)
    if not path.is_dir():
        raise CheckpointError(f"{requested} is not a checkpoint: no such folder")
    for name in (WEIGHTS, CONFIG, META):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not an rnagan checkpoint: {name} is missing")
    try:
        tensors = load_file(str(path / WEIGHTS), device=map_location)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path / WEIGHTS} is truncated or not a safetensors file ({err})") from None
    try:
        config = config_from_yaml((path / CONFIG).read_text(), source=str(path / CONFIG))
        meta = json.loads((path / META).read_text())
    except (ConfigError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has an unreadable config or meta file: {err}") from None
    state = None
    if with_state:
        if not (path / STATE).is_file():
            raise CheckpointError(f"{path} holds no training state ({STATE}); it cannot be resumed")
        try:
            state = torch.load(path / STATE, map_location=map_location, weights_only=True)
        except Exception as err:  # torch raises several types for damaged files
            raise CheckpointError(f"{path / STATE} is damaged: {err}") from None
    files = {
        p.name: p.read_bytes() for p in path.iterdir() if p.is_file() and p.name not in (WEIGHTS, CONFIG, META, STATE)
    }
    return Checkpoint(tensors=tensors, config=config, meta=meta, path=path, state=state, files=files)
