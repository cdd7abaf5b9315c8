"""The workspace remembers how it was made: ``WORKSPACE/config.yaml``.

The first command run in a workspace writes its resolved config there; every later command starts
from it (unless given ``--preset``), so ``rnagan gan train --preset small`` followed by a plain
``rnagan evaluate`` evaluates with the ``small`` settings. A stage that writes an output records the
settings that output depends on (:data:`DEPENDS_ON`); a later command whose settings contradict one
of them, for a stage it reads, is refused in one line naming both values::

    cfg = resolve_workspace_config(ws, overrides=["gan.steps=500"], reads=("tiles", "expression", "vae"))
    ...  # the command's work
    remember(ws, cfg, writes="vae")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from rnagan.config import Config, apply_overrides, config_from_yaml, preset, to_yaml
from rnagan.errors import ConfigError
from rnagan.fileio import write_text_atomic
from rnagan.workspace import Workspace

Stage = Literal["tiles", "expression", "vae"]

# The settings each stage's output depends on: a later stage must read that output with the same values.
DEPENDS_ON: dict[Stage, tuple[str, ...]] = {
    "tiles": ("tiling.tile_size", "tiling.mpp", "tiling.magnification", "spatial.mpp", "spatial.fov_um"),
    "expression": (
        "expression.input_scale",
        "expression.normalization",
        "expression.log_transform",
        "expression.split_fractions",
        "expression.seed",
        "spatial.genes",
        "spatial.hvg_genes",
    ),
    "vae": ("vae.encoder_dims", "vae.latent_dim", "vae.decoder_dims", "vae.output_activation"),
}


def stage_output(workspace: Workspace, stage: Stage) -> Path:
    """The file whose presence says the stage has run in ``workspace``."""
    return {"tiles": workspace.tile_index, "expression": workspace.expression_matrix, "vae": workspace.vae_checkpoint}[
        stage
    ]


def read_workspace_config(workspace: Workspace) -> Config | None:
    """The workspace's remembered config, or None in a workspace no command has run in yet."""
    path = workspace.config_file
    if not path.is_file():
        return None
    return config_from_yaml(path.read_text(), source=str(path))


def resolve_workspace_config(
    workspace: Workspace | None,
    *,
    preset_name: str | None = None,
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    reads: tuple[Stage, ...] = (),
) -> Config:
    """The config a command in ``workspace`` runs with, checked against the outputs it ``reads``.

    Starts from ``preset_name`` if given, else the workspace's config.yaml, else ``paper``; then
    the YAML file at ``path`` and the dotted ``overrides``.
    """
    stored = read_workspace_config(workspace) if workspace is not None else None
    if preset_name is not None:
        base, source = preset(preset_name), f"preset {preset_name!r}"
    elif stored is not None:
        base, source = stored, str(workspace.config_file)
    else:
        base, source = preset("paper"), "preset 'paper'"
    config = apply_overrides(base, path=path, overrides=overrides, source=source)
    if stored is not None:
        for stage in reads:
            if stage_output(workspace, stage).exists():
                _refuse_contradiction(workspace, stored, config, stage)
    return config


def remember(workspace: Workspace, config: Config, *, writes: Stage | None = None) -> None:
    """Record ``config`` as the workspace's, if it has none; else the settings the output ``writes`` depends on."""
    stored = read_workspace_config(workspace)
    if stored is None:
        recorded = config
    elif writes is None:
        return
    else:
        data = stored.model_dump(mode="python")
        for field in DEPENDS_ON[writes]:
            _set(data, field, _get(config, field))
        recorded = Config.model_validate(data)
    write_workspace_config(workspace, recorded)


def write_workspace_config(workspace: Workspace, config: Config) -> None:
    """Make ``config`` the workspace's (a demo, which rewrites its whole workspace, starts so)."""
    workspace.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(workspace.config_file, to_yaml(config))


def _refuse_contradiction(workspace: Workspace, stored: Config, config: Config, stage: Stage) -> None:
    for field in DEPENDS_ON[stage]:
        made_with, asked = _get(stored, field), _get(config, field)
        if made_with != asked:
            raise ConfigError(
                f"{field} is {asked!r} here, but the workspace's {stage} ({stage_output(workspace, stage)}) "
                f"was made with {made_with!r} ({workspace.config_file}): drop the setting, or rerun that stage"
            )


def _get(config: Config, field: str) -> Any:
    section, name = field.split(".")
    return getattr(getattr(config, section), name)


def _set(data: dict[str, Any], field: str, value: Any) -> None:
    section, name = field.split(".")
    data[section][name] = value
