from pathlib import Path

import pytest

from rnagan.config import PRESET_DIR, config_from_yaml, load_config, parse_overrides, preset, preset_names, to_yaml
from rnagan.errors import ConfigError


@pytest.mark.parametrize("name", preset_names())
def test_preset_yaml_round_trip(name: str) -> None:
    cfg = preset(name)
    assert config_from_yaml(to_yaml(cfg)) == cfg


def test_paper_preset_follows_the_paper_text() -> None:
    cfg = preset("paper")
    assert cfg.vae.encoder_dims == [6000, 4096]
    assert cfg.vae.latent_dim == 2048
    assert cfg.vae.beta == 0.005
    assert cfg.vae.output_activation == "linear"
    assert cfg.gan.gp_lambda == 10.0
    assert cfg.gan.tiles_per_sample == 600
    assert cfg.tiling.max_tiles_per_slide == 4000


def test_small_and_tiny_shrink_the_models() -> None:
    paper, small, tiny = preset("paper"), preset("small"), preset("tiny")
    assert tiny.vae.latent_dim < small.vae.latent_dim < paper.vae.latent_dim
    assert tiny.gan.image_size == 32
    assert small.gan.image_size == 64


def test_file_then_overrides_win_in_order(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("vae:\n  beta: 0.01\n  epochs: 7\ngan:\n  n_critic: 5\n")
    cfg = load_config("tiny", path=path, overrides=["vae.beta=0.0005", "gan.betas=[0.0, 0.99]"])
    assert cfg.vae.beta == 0.0005  # override beats file
    assert cfg.vae.epochs == 7  # file beats preset
    assert cfg.gan.n_critic == 5
    assert cfg.gan.betas == (0.0, 0.99)
    assert cfg.vae.latent_dim == preset("tiny").vae.latent_dim  # untouched preset value


def test_parse_overrides_nests_and_parses_yaml_values() -> None:
    assert parse_overrides(["a.b.c=3", "a.d=true", "e=x"]) == {"a": {"b": {"c": 3}, "d": True}, "e": "x"}


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["vae.bta=1"], r"vae\.bta: Extra inputs are not permitted"),
        (["vae.beta=-1"], r"vae\.beta: Input should be greater than or equal to 0"),
        (["expression.split_fractions=[0.5, 0.5, 0.5]"], "sum to 1"),
        (["gan.image_size=100"], r"gan\.image_size"),
        (["novalue"], "not of the form"),
    ],
)
def test_invalid_settings_name_the_field(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config("tiny", overrides=overrides)


def test_presets_are_the_shipped_yaml_files_over_the_defaults() -> None:
    assert preset_names() == ("paper", "small", "tiny")
    assert preset("paper") == preset("paper").model_validate({"preset": "paper"})  # paper is the defaults
    small = preset("small")
    assert small.gan.loss == "hinge" and small.vae.latent_dim == 64 and small.gan.latent_dim == 64


def test_preset_files_set_only_what_differs_from_the_defaults() -> None:
    import yaml

    for name in preset_names()[1:]:
        text = PRESET_DIR.joinpath(f"{name}.yaml").read_text()
        assert text.startswith(f"# {name}:"), f"presets/{name}.yaml must open with a line saying what it is for"
        defaults = preset("paper").model_dump(mode="json")
        for section, values in yaml.safe_load(text).items():
            for field, value in values.items():
                assert defaults[section][field] != value, f"{name}: {section}.{field} repeats the default"


def test_unknown_preset_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="paper, small, tiny"):
        preset("huge")


def test_bad_yaml_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vae: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("tiny", path=path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("tiny", path=tmp_path / "missing.yaml")


def test_a_saved_config_with_retired_settings_still_loads() -> None:
    saved = to_yaml(preset("tiny")).replace("demo:\n", "demo:\n  minutes: 10.0\n  image_size: 64\n", 1)
    assert config_from_yaml(saved) == preset("tiny")
    with pytest.raises(ConfigError, match=r"demo\.minutes: Extra inputs"):
        load_config("tiny", overrides=["demo.minutes=3"])
