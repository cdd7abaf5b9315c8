"""Every exception rnagan raises on purpose, in one place.

Each is an ``RnaganError`` (the CLI prints it as one line and exits 2) and, where it helps callers,
also the matching built-in, so ``except FileNotFoundError`` keeps working.
"""

from __future__ import annotations


class RnaganError(Exception):
    """Base class: a problem with the user's input or files, explained in one line."""


class ConfigError(RnaganError, ValueError):
    """A configuration file, preset or override is invalid."""


class InputFileError(RnaganError, ValueError):
    """An input file is missing, empty, malformed or holds values we refuse (NaN, Inf, negatives)."""


class GeneCoverageError(InputFileError):
    """Too few of the model's genes are present in an expression table."""


class CheckpointError(RnaganError, ValueError):
    """A checkpoint folder is missing, truncated, not an rnagan checkpoint, or disagrees with the caller."""


class SlideError(RnaganError, OSError):
    """A slide cannot be opened or lacks the metadata needed to tile it."""


class TileStoreError(RnaganError, OSError):
    """The tile store is missing, corrupt, or does not match its index."""


class TrainingDivergedError(RnaganError, FloatingPointError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class MissingWeightsError(RnaganError, FileNotFoundError):
    """Pretrained weights (e.g. the FID Inception network) are not installed."""


class DownloadError(RnaganError, OSError):
    """A download failed or its size/checksum does not match."""


class ClusterError(RnaganError, OSError):
    """A Dask cluster cannot be reached, has no workers, cannot see the workspace, or dask is not installed."""
