"""rnagan: gene expression to histology.

A β-VAE compresses an RNA-seq profile into a latent vector μ; a WGAN-GP generator, conditioned on
μ through its input and a projection critic, draws H&E tiles that follow the expression.

The stage functions a notebook needs are here, each the plain function behind one ``rnagan``
command::

    import rnagan
    cfg = rnagan.load_config("small")
    ws = rnagan.Workspace("runs/lung").create()
    rnagan.prepare_expression("tpm.gct.gz", workspace=ws, config=cfg.expression, metadata="samples.tsv")
    rnagan.train_vae(ws, cfg)            # also writes μ of every sample: vae/latents.parquet
    rnagan.train_gan(ws, cfg, run="rnagan")
    rnagan.generate_tiles(ws, cfg, run="rnagan", split="test")
    rnagan.evaluate(ws, cfg, runs=["rnagan"])

Names are imported on first use, so ``import rnagan`` is fast and loads no torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

#: Public name → the module that defines it (imported when the name is first used).
_EXPORTS: dict[str, str] = {
    # settings and the workspace
    "Config": "rnagan.config",
    "load_config": "rnagan.config",
    "preset": "rnagan.config",
    "Workspace": "rnagan.workspace",
    "read_samples": "rnagan.workspace",
    # 1. tiles and expression
    "tile_slides": "rnagan.slides.tiler",
    "import_tiles": "rnagan.slides.folder",
    "export_tiles": "rnagan.slides.folder",
    "prepare_expression": "rnagan.expression.prepare",
    "load_prepared": "rnagan.expression.prepare",
    "apply_to_cohort": "rnagan.expression.prepare",
    # 2. the β-VAE and its latent space
    "train_vae": "rnagan.vae.train",
    "load_vae": "rnagan.vae.latent",
    "encode_cohort": "rnagan.vae.latent",
    "tissue_centroids": "rnagan.vae.latent",
    "sample_profiles": "rnagan.vae.latent",
    "shift": "rnagan.vae.latent",
    "interpolate": "rnagan.vae.latent",
    # the image stage
    "train_image_stage": "rnagan.image.train",
    "load_upsampler": "rnagan.image.sample",
    # 3. the GAN
    "train_gan": "rnagan.gan.train",
    "load_generator": "rnagan.gan.sample",
    # 4. generation and evaluation
    "generate_tiles": "rnagan.generate",
    "evaluate": "rnagan.evaluate.run",
    "compare_folders": "rnagan.evaluate.folders",
    "read_manifest": "rnagan.samples",
    # spatial transcriptomics
    "read_table_section": "rnagan.spatial.readers",
    "read_anndata_section": "rnagan.spatial.readers",
    "read_visium_section": "rnagan.spatial.readers",
    "read_bundled": "rnagan.spatial.readers",
    "PatchGeometry": "rnagan.spatial.patches",
    "import_sections": "rnagan.spatial.importer",
    "prepare_spatial": "rnagan.spatial.prepare",
    "evaluate_paired": "rnagan.evaluate.paired_run",
    # the demos
    "run_demo": "rnagan.demo.pipeline",
    "run_her2st_demo": "rnagan.demo.her2st",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rnagan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The ``rnagan`` module: ``rnagan.evaluate`` is the stage function, never the subpackage of that name.

    Importing ``rnagan.evaluate.<anything>`` makes the import system bind the subpackage to
    ``rnagan.evaluate``; this property keeps the function there. Imports go through ``sys.modules``
    and are unaffected.
    """

    @property
    def evaluate(self) -> Any:
        return self.__dict__.get("_evaluate_override") or importlib.import_module("rnagan.evaluate.run").evaluate

    @evaluate.setter
    def evaluate(self, value: Any) -> None:
        if not isinstance(value, types.ModuleType):  # a test's monkeypatch, not the import system
            self.__dict__["_evaluate_override"] = value

    @evaluate.deleter
    def evaluate(self) -> None:
        self.__dict__.pop("_evaluate_override", None)


sys.modules[__name__].__class__ = _Package
