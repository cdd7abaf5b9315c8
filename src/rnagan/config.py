"""Every setting of every stage, as validated pydantic models; presets; YAML; dotted overrides.

The defaults are the ``paper`` preset: the numbers of Carrillo-Perez et al. 2023 (its text, not its
published code; the code's values are options, see docs/reference.md). Every other preset is a short
YAML file of overrides in ``rnagan/presets`` (``small``: the whole pipeline on a CPU, the demo;
``tiny``: the tests), one line of why beside each value.

Load a preset, then a YAML file, then ``section.field=value`` overrides, in that order::

    cfg = load_config("small", path="my.yaml", overrides=["vae.beta=0.001"])
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnagan.errors import ConfigError

PRESET_DIR: Traversable = resources.files("rnagan") / "presets"


class _Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ExpressionConfig(_Section):
    """``rnagan expr prepare``: reading, gene space, normalisation, scaling, splits."""

    orientation: Literal["auto", "samples-rows", "samples-columns"] = "auto"
    # scale of the file's values: linear (counts, TPM) or log_b(x + 1) (log2 TPM, microarray-like matrices),
    # undone to x before normalisation; x below 0 (log values under 0) becomes 0
    input_scale: Literal["linear", "log2", "ln", "log10"] = "linear"
    # columns of the file that are metadata, not values, besides the known names (expression.io.METADATA_COLUMNS)
    metadata_columns: list[str] = []
    duplicates: Literal["sum", "error"] = "sum"  # duplicated genes after ID mapping
    min_coverage: float = Field(0.5, ge=0.0, le=1.0)  # fraction of the gene space that must be present
    normalization: Literal["none", "cpm", "tpm"] = "none"  # "none": values taken as given (e.g. TPM)
    log_transform: Literal["log1p", "log2p1", "reference", "none"] = "log1p"  # reference: ln(x) if x>0 else 0
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train, val, test
    seed: int = 0

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> ExpressionConfig:
        if abs(sum(self.split_fractions) - 1.0) > 1e-6 or min(self.split_fractions) < 0:
            raise ValueError(f"split_fractions must be >= 0 and sum to 1, got {self.split_fractions}")
        return self


class VAEConfig(_Section):
    """The β-VAE (paper: 19,198 → 6,000 → 4,096 → 2,048) and its training."""

    encoder_dims: list[int] = [6000, 4096]
    latent_dim: int = Field(2048, ge=1)
    decoder_dims: list[int] = [4096, 6000]
    input_dropout: float = Field(0.5, ge=0.0, lt=1.0)
    leaky_slope: float = 0.01
    output_activation: Literal["linear", "tanh"] = "linear"  # tanh: the reference code (cannot reach |z|>1)
    beta: float = Field(0.005, ge=0.0)  # paper text; the reference code used 0.0005
    kl_warmup_epochs: int = Field(0, ge=0)  # linear ramp of β over the first epochs (0: off, as the paper)
    lr: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(1000, ge=0)  # linear lr warm-up, then one cosine decay to the end
    epochs: int = Field(250, ge=1)
    batch_size: int = Field(128, ge=2)
    patience: int = Field(25, ge=1)  # early stopping on validation loss (epochs without improvement)
    mape_min_abs: float = Field(1.0, gt=0)  # MAPE skips targets with |log expression| below this (docs/vae.md)
    umap_figure: bool = True  # vae/umap.png after training (UMAP's first run compiles for ~20 s)
    seed: int = 0


class TilingConfig(_Section):
    """``rnagan tile``: magnification, tissue mask, filters, cap per slide."""

    tile_size: int = Field(256, ge=8)  # pixels at the target resolution
    mpp: float | None = Field(0.5, gt=0)  # target µm per pixel (0.5 ≈ 20×); None: use magnification
    magnification: float | None = Field(None, gt=0)  # alternative to mpp
    assume_mpp: float | None = Field(None, gt=0)  # for slides without MPP metadata
    tissue_method: Literal["default", "reference"] = "default"
    min_tissue_fraction: float = Field(0.4, ge=0.0, le=1.0)  # paper: drop tiles with >60 % background
    low_contrast_filter: bool = True
    low_contrast_fraction: float = Field(0.05, ge=0.0, le=1.0)  # skimage is_low_contrast default
    max_tiles_per_slide: int = Field(4000, ge=1)  # paper: 4,000
    # lz4: lossless, fastest to load (docs/tiling.md); png: lossless, fewer bytes, slow to decode;
    # jpeg: lossy, smallest; raw: uncompressed pixels
    image_format: Literal["lz4", "png", "jpeg", "raw"] = "lz4"
    jpeg_quality: int = Field(90, ge=1, le=100)
    seed: int = 5  # grid shuffle, as the reference code
    workers: int | None = Field(None, ge=1)  # None: all cores
    cluster: str | None = None  # a Dask scheduler address (tcp://host:8786) whose workers tile; None: local processes


class GANConfig(_Section):
    """RNA-GAN (μ-conditioned WGAN-GP) and the noise-only baseline."""

    conditioning: Literal["projection", "reference", "none"] = "projection"
    image_size: Literal[32, 64, 128, 256] = 256
    latent_dim: int = Field(2048, ge=1)  # generator input size; equals the VAE latent for conditioned runs
    noise: Literal["uniform", "normal"] = "uniform"
    noise_scale: float = Field(0.3, ge=0.0)  # paper: μ + U(-0.3, 0.3)
    noise_dim: int = Field(0, ge=0)  # extra noise channels concatenated to μ (0: the paper's additive noise only)
    reference_batch_standardize: bool = False  # reference mode only: the published per-batch standardisation
    base_channels: int = Field(64, ge=4)  # critic width at full resolution; the generator mirrors it
    max_channels: int = Field(1024, ge=8)
    upsample: Literal["transposed", "resize"] = "resize"  # resize-then-conv avoids checkerboards
    lr_generator: float = Field(1e-3, gt=0)  # paper text
    lr_critic: float = Field(4e-3, gt=0)
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = Field(1, ge=1)
    # True: the generator draws one batch per step, with its graph; the last critic update sees it detached and
    # the generator update reuses it (the PyTorch DCGAN example's order), one generator forward fewer per step.
    # False (the paper's, Gulrajani et al. 2017 Algorithm 1): the generator update draws a fresh batch
    share_fakes: bool = False
    # The objective. "wgan-gp" is the paper's: Wasserstein critic, two-sided gradient penalty every step.
    # "hinge" (Miyato et al. 2018) with a lazy R1 penalty on real tiles (Mescheder et al. 2018; every
    # r1_every critic steps, scaled by r1_every as StyleGAN2) costs no double backward on most steps.
    loss: Literal["wgan-gp", "hinge"] = "wgan-gp"
    gp_lambda: float = Field(10.0, ge=0)  # wgan-gp only
    r1_gamma: float = Field(0.0, ge=0)  # hinge only: weight γ of (γ/2)·E‖∇D(real)‖²; 0 turns it off
    r1_every: int = Field(4, ge=1)
    critic_norm: Literal["none", "spectral"] = "none"  # spectral: every critic layer spectrally normalised
    # Minibatch standard deviation (Karras et al. 2018): the critic sees how much tiles of a group of this many
    # differ, so a generator that draws one picture per tissue is told apart from real tissue (0 = off)
    critic_minibatch_std: int = Field(0, ge=0)
    # Mode seeking (Mao et al. 2019): weight of 1 / (tile distance / noise distance) between two draws of the
    # same μ, so the extra noise channels change the tile (0 = off, as the paper)
    mode_seeking: float = Field(0.0, ge=0)
    # DiffAugment (Zhao et al. 2020): the same random, differentiable transforms on real and generated tiles
    # before the critic, so a critic cannot memorise a few hundred tiles ([] = off, as the paper)
    diffaugment: list[Literal["color", "translation", "cutout"]] = []
    # "auto": the whole step under bf16 autocast where the device computes bf16 natively (CUDA GPUs that support
    # it; CPUs with AMX or AVX-512 BF16); "generator": only the generator there, the critic in fp32; "fp32": never
    precision: Literal["auto", "generator", "fp32"] = "auto"
    batch_size: int = Field(8, ge=2)
    steps: int = Field(100_000, ge=1)
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0)
    # batches of training μ + noise over which the EMA generator's BN statistics are re-estimated before
    # each grid and checkpoint (train.gan.recalibrate_batch_norm)
    bn_recalibration_batches: int = Field(20, ge=1)
    tiles_per_sample: int = Field(600, ge=1)  # paper: 600 tiles per slide, drawn once with the seed
    # what an epoch visits once: every tile (the paper's loader), or one tile of every sample, so samples
    # weigh the same whatever their number of tiles (rnagan.batches.EpochBatchSampler)
    balance: Literal["tile", "sample"] = "tile"
    augment_flips: bool = True
    augment_color_jitter: bool = True
    color_jitter: float = Field(0.05, ge=0.0, le=0.5)  # ± relative brightness/contrast/saturation change
    cache_mb: float = Field(1024, ge=0)  # hold the resized tiles in memory when they fit in this many MiB
    log_every: int = Field(50, ge=1)  # TensorBoard scalars, log.jsonl and the progress bar
    grid_profiles_per_tissue: int = Field(2, ge=1)  # fixed profiles per tissue in the sample grids
    grid_noises: int = Field(8, ge=1)  # fixed noise draws per profile (grid columns)
    checkpoint_every: int = Field(1000, ge=1)
    sample_every: int = Field(1000, ge=1)
    num_workers: int = Field(2, ge=0)
    seed: int = 0


class ImageConfig(_Section):
    """``rnagan image``: the image stage, ×scale super-resolution trained on unpaired tiles of any tile store."""

    scale: Literal[2, 4] = 4  # output side / input side: the conditional GAN's 64 px → 256 px
    channels: int = Field(48, ge=4)  # upsampler width at the input's resolution; halved at each doubling
    blocks: int = Field(6, ge=1)  # residual blocks at the input's resolution
    critic_channels: int = Field(32, ge=4)
    crop_size: int = Field(128, ge=16)  # side of the high-resolution training crops (a multiple of 8·scale)
    l1_weight: float = Field(1.0, ge=0)
    # hinge loss of a patch critic (0: pixel loss only, sharp edges but blurry texture); it joins after a
    # pixel-loss warm-up, so the critic first meets tiles that are already close to real
    adversarial_weight: float = Field(0.01, ge=0)
    adversarial_after: int = Field(500, ge=0)
    lr: float = Field(2e-4, gt=0)
    betas: tuple[float, float] = (0.5, 0.99)
    batch_size: int = Field(16, ge=2)
    steps: int = Field(20_000, ge=1)
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0)
    log_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    sample_every: int = Field(1000, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _crops_fit_the_critic(self) -> ImageConfig:
        if self.crop_size % (8 * self.scale):
            raise ValueError(f"image.crop_size must be a multiple of 8 × image.scale = {8 * self.scale}")
        return self


class FlowConfig(_Section):
    """``rnagan flow``: a conditional flow-matching generator (rectified flow) in the GAN's tile space."""

    conditioning: Literal["mu", "none"] = "mu"  # none: the no-condition ablation (noise only, as gan's none)
    image_size: Literal[32, 64, 128, 256] = 64  # the conditional stage's size; the image stage lifts it
    latent_dim: int = Field(2048, ge=1)  # equals the VAE latent
    # diffusers' UNet2DModel: channels per resolution (one halving between two), residual blocks per
    # resolution, and self-attention at the coarsest one only (where it is cheap)
    channels: list[int] = [64, 128, 256]
    layers_per_block: int = Field(2, ge=1)
    attention: bool = True
    # classifier-free guidance (Ho & Salimans 2022): the share of training rows whose condition is swapped
    # for a learned null embedding, so one network gives both the conditional and the unconditional field
    cond_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    # sampling: v = v(∅) + guidance_scale · (v(μ) − v(∅)); 0 ignores μ, 1 is the plain conditional field
    guidance_scale: float = Field(1.5, ge=0.0)
    solver: Literal["euler", "midpoint", "rk4", "dopri5"] = "midpoint"  # torchdiffeq; dopri5 is adaptive
    sampling_steps: int = Field(16, ge=1)  # fixed-grid solvers: steps from noise (t=0) to tile (t=1)
    tolerance: float = Field(1e-3, gt=0)  # dopri5 only: its rtol and atol
    lr: float = Field(2e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = Field(1.0, gt=0)  # gradient-norm clip: early flow-matching steps have large gradients
    precision: Literal["auto", "fp32"] = (
        "auto"  # auto: bf16 autocast on CUDA devices that compute it natively; fp32 on CPUs
    )
    batch_size: int = Field(32, ge=2)
    steps: int = Field(100_000, ge=1)
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0)
    tiles_per_sample: int = Field(600, ge=1)  # as gan.tiles_per_sample, drawn with the seed
    augment_flips: bool = True
    log_every: int = Field(50, ge=1)
    grid_profiles: int = Field(6, ge=1)  # training profiles (rows) of the sample grids
    grid_noises: int = Field(6, ge=1)  # fixed noise draws per profile (columns)
    checkpoint_every: int = Field(1000, ge=1)
    sample_every: int = Field(1000, ge=1)
    seed: int = 0


class GenerateConfig(_Section):
    """``rnagan generate``: tiles from profiles."""

    tiles_per_profile: int = Field(600, ge=1)  # paper: 600
    # an image stage that lifts every drawn tile to its scale (``bundled``: the one shipped in the package, or
    # the path of an ``image/checkpoint``); None: the conditional stage's tiles as they are
    image_stage: str | None = None
    # the side (px) of the tiles written, after any image stage: the real tiles' side, so that both cover the
    # same field pixel for pixel (antialiased resize); None keeps the drawn (or lifted) size
    tile_size: int | None = Field(None, ge=8)
    batch_size: int = Field(64, ge=1)
    # "png": one file per tile, what any image tool opens; "store": one LMDB tile store (lz4, lossless), what a
    # shared file system and a training loader need at a million tiles (every reader takes both)
    tile_format: Literal["png", "store"] = "png"
    shard_profiles: int = Field(64, ge=1)  # profiles drawn and written at a time: memory holds one shard's tiles
    cluster: str | None = None  # a Dask scheduler address (tcp://host:8786): one task a shard; None: this process
    seed: int = 0
    contact_sheet_tiles: int = Field(64, ge=1)
    # how a --perturb edit reaches μ (rnagan.vae.edits): "decoder" fits the μ whose decoded profile carries the
    # edit on its genes and keeps the rest (edit_keep_weight), in edit_steps Adam steps at edit_lr; "encoder"
    # encodes the edited profile, which a few genes among thousands barely move
    edit: Literal["decoder", "encoder"] = "decoder"
    edit_steps: int = Field(200, ge=1)
    edit_lr: float = Field(0.05, gt=0)
    edit_keep_weight: float = Field(1.0, ge=0)


class EvaluateConfig(_Section):
    """``rnagan evaluate``: FID/KID, conditioning fidelity, artifacts, memorisation, UMAPs."""

    fid_batch_size: int = Field(8, ge=1)  # 8 beats 32 on 2 CPU cores
    fid_max_images: int | None = Field(None, ge=2)  # None: all images
    kid_subsets: int = Field(100, ge=1)
    kid_subset_size: int = Field(1000, ge=2)
    classifier_epochs: int = Field(10, ge=1)  # paper: ResNet-18 from scratch, 10 epochs, AdamW 3e-5
    classifier_lr: float = Field(3e-5, gt=0)
    classifier_batch_size: int = Field(32, ge=1)
    classifier_image_size: int = Field(224, ge=16)
    classifier_max_tiles: int | None = Field(None, ge=2)  # real training tiles for the classifier; None: all
    # tiles the classifier scores per set (real held-out; each run's held-out): far cheaper than Inception,
    # so many more than fid_max_images; None: all
    fidelity_max_tiles: int | None = Field(5000, ge=2)
    umap_neighbors: int = Field(15, ge=2)
    map_max_tiles: int | None = Field(1000, ge=2)  # points per set in the feature map (seeded draw); None: all
    embedding: Literal["umap", "pca"] = "umap"  # pca: no numba compile (~20 s), for the tests
    checkerboard_periods: list[int] = [2, 4, 8]  # pixel periods of ×2 upsampling stages (docs/evaluation.md)
    memorisation_quantile: float = Field(0.01, gt=0, lt=1)  # flag tiles nearer a train tile than this share of test
    # every set is decoded this many tiles at a time: memory does not grow with the cohort
    stream_chunk: int = Field(512, ge=1)
    # FID statistics stream over every tile of a set; KID, C2ST, diversity, probes, memorisation and the map
    # use the features of a seeded draw of at most this many (2,048 float64 each: 16 KB a tile); None: all
    feature_max_tiles: int | None = Field(5000, ge=2)
    # side of a tile in µm (its field of view), for the nuclei statistics (µm per pixel = this / tile size);
    # None: not measured (a tile store of unknown scale)
    tile_field_um: float | None = Field(None, gt=0)
    report_pairs: int = Field(8, ge=0)  # closest generated/train pairs shown in the report
    report_tiles: int = Field(32, ge=1)  # tiles per contact sheet in the report
    device: str = "auto"  # Inception and classifier: auto (CUDA if present), cpu, cuda, mps
    seed: int = 0


class DemoConfig(_Section):
    """``rnagan demo``: the bundled cohort end to end."""

    generated_per_profile: int = Field(4, ge=1)  # tiles generated per held-out profile and run
    samples_per_class: int | None = Field(None, ge=4)  # None: all 740 source images; fewer for tests
    samples_per_donor: int = Field(4, ge=1)  # LC25000 has no patient ids: simulated donors (datasets.lc25000)
    include_augmented: bool = True  # the 751 augmented benign copies, in the training split only
    fid_images: int = Field(64, ge=2)  # per FID set: Inception runs at ~4.5 images/s on 2 CPU cores
    sheet_tiles: int = Field(8, ge=1)  # tiles per class and run on the report's contact sheets (one row; lossless PNG)
    # The simulated expression (datasets.simulate): genes up and as many down per class, their log2 fold
    # change, and the donor effect's sd. Tumour vs normal lung differ in thousands of genes; with 1,500
    # the class signal is the leading structure of the profiles (docs/decisions.md).
    module_size: int = Field(1500, ge=1)
    log2_fold_change: float = Field(2.0, ge=0)
    donor_sd: float = Field(0.2, ge=0)
    # steps of the noise-only GAN: it only anchors the comparison; the two compared conditionings each
    # train for gan.steps, so one seed gives the same page on any machine
    baseline_steps: int = Field(200, ge=1)
    # processes for the stages' independent jobs (the GAN runs, their generation), each with cores // this
    # torch threads: on 2 cores two 1-thread runs at once train faster than one 2-thread run after another
    side_by_side: int = Field(2, ge=1)
    # the image stage that lifts the lung demo's generated tiles from the GAN's size to the tiles' scale
    # (generate.image_stage); None shows the GAN's tiles as they are
    image_stage: str | None = "bundled"
    seed: int = 0


SSLArm = Literal["scratch", "synthetic-bn", "synthetic", "real", "real+synthetic"]


class SSLConfig(_Section):
    """``rnagan ssl``: SimCLR pretraining (lightly) and k-fold fine-tuning on real tiles (paper § STAR Methods)."""

    backbone: Literal["resnet50", "resnet18", "tiny"] = "resnet50"  # tiny: a 4-conv CNN, for the tests only
    image_size: int = Field(224, ge=16)  # every tile is resized to this before cropping or classifying
    projection_dim: int = Field(128, ge=1)  # SimCLR head output (the head is dropped after pretraining)
    temperature: float = Field(0.5, gt=0)  # NT-Xent
    min_scale: float = Field(0.08, gt=0, le=1)  # smallest RandomResizedCrop area (SimCLR's 0.08)
    color_jitter: float = Field(1.0, ge=0)  # lightly's cj_strength (SimCLR's 1.0)
    pretrain_epochs: int = Field(100, ge=1)  # paper: 100
    pretrain_batch_size: int = Field(256, ge=2)  # paper: not given; NT-Xent wants many negatives
    pretrain_lr: float = Field(0.06, gt=0)  # paper: SGD 0.06, momentum 0.9, weight decay 5e-4, cosine
    momentum: float = Field(0.9, ge=0, lt=1)
    pretrain_weight_decay: float = Field(5e-4, ge=0)
    pretrain_max_tiles: int | None = Field(10_000, ge=2)  # paper: 10,000 synthetic tiles; drawn with the seed
    finetune_epochs: int = Field(40, ge=1)  # paper: AdamW 3e-5, weight decay 0.01, batch 4, 40 epochs
    finetune_batch_size: int = Field(4, ge=2)
    finetune_lr: float = Field(3e-5, gt=0)
    finetune_weight_decay: float = Field(0.01, ge=0)
    # epochs without a lower validation loss after which a fine-tuning run stops; None: all finetune_epochs
    finetune_patience: int | None = Field(None, ge=1)
    folds: int = Field(5, ge=2)  # paper: stratified 5-fold CV
    val_fraction: float = Field(0.2, gt=0, lt=1)  # of each training fold's groups: the best-validation reload
    label_fractions: list[float] = [0.1, 0.25, 0.5, 1.0]  # shares of each fold's training groups (1.0: paper)
    # synthetic-bn: SimCLR's starting weights with only the batch-norm statistics of the synthetic tiles
    arms: list[SSLArm] = ["scratch", "synthetic-bn", "synthetic", "real", "real+synthetic"]
    seeds: int = Field(3, ge=1)  # ``rnagan ssl experiment`` replicates: seed, seed + 1, ... (folds, draws, weights)
    num_workers: int = Field(4, ge=0)  # SimCLR views are made per tile on the CPU
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _drop_time_budget(cls, data: Any) -> Any:
        """Configs saved when the experiment had a time budget still load: budgets are epochs now."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("minutes", "pretrain_share")}
        return data


class SpatialConfig(_Section):
    """``rnagan spatial``: patches per spot, the gene set, and the paired (image → expression) probe."""

    mpp: float = Field(1.0, gt=0)  # µm per pixel of the stored patches (the GAN resizes to gan.image_size)
    fov_um: float = Field(100.0, gt=0)  # side of a patch in µm: one legacy ST spot (Visium: 55)
    patches_per_spot: int = Field(1, ge=1)  # 1 centred + jittered copies within the spot
    jitter_um: float = Field(15.0, ge=0)  # largest shift of the extra patches, in x and in y
    image_format: Literal["png", "jpeg"] = "jpeg"
    genes: Literal["space", "hvg"] = "hvg"  # the 19,198-gene space, or the training sections' top variable genes
    hvg_genes: int = Field(2000, ge=10)
    # how genes are ranked: scanpy's "seurat" (dispersion of normalised counts) or "seurat_v3" (variance of raw
    # counts after a mean-variance fit, which also ranks highly expressed variable genes), per training section
    hvg_flavor: Literal["seurat", "seurat_v3"] = "seurat"
    # genes kept in the variable-gene space whatever their rank (symbols or Ensembl IDs), e.g. a marker panel;
    # the her2st demo keeps its panel (rnagan.datasets.her2st.MARKER_PANEL) when this is empty
    include_genes: list[str] = []
    # The probe (evaluate.paired): frozen image features → ridge (genes, marker scores) / logistic (clusters).
    probe_features: Literal["inception", "stain"] = "stain"  # stain: colour/texture statistics, ~250x cheaper
    probe_image_size: int = Field(299, ge=75)  # Inception input side (299: the FID network's own)
    probe_genes: int = Field(50, ge=2)  # top variable genes of the training spots scored by the probe
    ridge_alphas: list[float] = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    permutations: int = Field(4999, ge=99)  # spot → profile shuffles for the p-value
    layout_spots: int | None = Field(None, ge=1)  # spots drawn on the layout figure; None: all
    seed: int = 0

    @model_validator(mode="after")
    def _jitter_for_copies(self) -> SpatialConfig:
        if self.patches_per_spot > 1 and self.jitter_um * 2 < self.mpp:
            raise ValueError("spatial.patches_per_spot > 1 needs spatial.jitter_um of at least half a pixel")
        return self


class Config(_Section):
    """All stages' settings. ``preset`` records which preset the values started from."""

    preset: str = "paper"
    expression: ExpressionConfig = ExpressionConfig()
    vae: VAEConfig = VAEConfig()
    tiling: TilingConfig = TilingConfig()
    gan: GANConfig = GANConfig()
    image: ImageConfig = ImageConfig()
    flow: FlowConfig = FlowConfig()
    generate: GenerateConfig = GenerateConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    demo: DemoConfig = DemoConfig()
    ssl: SSLConfig = SSLConfig()

    spatial: SpatialConfig = SpatialConfig()


def preset_names() -> tuple[str, ...]:
    """``paper`` (the defaults) and every YAML file shipped in ``rnagan/presets``."""
    shipped = sorted(p.name.removesuffix(".yaml") for p in PRESET_DIR.iterdir() if p.name.endswith(".yaml"))
    return ("paper", *shipped)


def preset(name: str) -> Config:
    """The named preset as a validated :class:`Config`: the defaults, then ``presets/NAME.yaml``."""
    if name not in preset_names():  # also keeps a name from reaching the file system
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(preset_names())}")
    data: dict[str, Any] = {"preset": name}
    if name != "paper":
        _deep_update(data, _read_yaml(PRESET_DIR.joinpath(f"{name}.yaml"), f"preset file presets/{name}.yaml"))
    return _validate(data, source=f"preset {name!r}")


def _validate(data: dict[str, Any], *, source: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"invalid configuration in {source}: {problems}") from None


def _deep_update(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["vae.beta=0.001", "gan.betas=[0.0, 0.9]"]`` → nested dict; values are parsed as YAML."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.field=value")
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return nested


def load_config(
    preset_name: str = "paper",
    *,
    path: str | Path | None = None,
    overrides: list[str] | None = None,
) -> Config:
    """Preset, then the YAML file at ``path``, then dotted ``overrides``; validated once at the end."""
    return apply_overrides(preset(preset_name), path=path, overrides=overrides, source=f"preset {preset_name!r}")


def apply_overrides(
    base: Config, *, path: str | Path | None = None, overrides: list[str] | None = None, source: str = "config"
) -> Config:
    """``base`` with the YAML file at ``path``, then dotted ``overrides``, applied; validated once at the end."""
    data = base.model_dump(mode="python")
    if path is not None:
        _deep_update(data, _read_yaml(Path(path), f"config file {path}"))
        source = str(path)
    if overrides:
        _deep_update(data, parse_overrides(overrides))
        source += " with overrides " + ", ".join(overrides)
    return _validate(data, source=source)


def _read_yaml(path: Path | Traversable, source: str) -> dict[str, Any]:
    """A YAML mapping of sections from ``path``; anything else is a one-line :class:`ConfigError`."""
    if not path.is_file():
        raise ConfigError(f"{source} does not exist")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{source} is not valid YAML: {err}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source} must hold a mapping of sections, got {type(loaded).__name__}")
    return loaded


def to_yaml(config: BaseModel) -> str:
    """YAML text that :func:`config_from_yaml` (or ``load_config(path=...)``) reads back unchanged."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


# Settings earlier versions wrote into checkpoints and workspaces, which no stage reads any more: dropped when a
# saved config is read, so those files still load (a user's --config naming one is still refused).
RETIRED: dict[str, frozenset[str]] = {"demo": frozenset({"image_size", "minutes", "shares"})}


def config_from_yaml(text: str, *, source: str = "YAML text") -> Config:
    """A saved config (a checkpoint's or a workspace's ``config.yaml``), without its :data:`RETIRED` settings."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{source} is not valid YAML: {err}") from None
    for section, names in RETIRED.items():
        if isinstance(data.get(section), dict):
            data[section] = {k: v for k, v in data[section].items() if k not in names}
    return _validate(data, source=source)
