from __future__ import annotations

from rnagan.config import SSLConfig, config_from_yaml
from rnagan.demo.bundle import BUNDLE


def test_a_config_saved_with_the_retired_time_budget_still_loads() -> None:
    ssl = SSLConfig.model_validate({"minutes": 20.0, "pretrain_share": 0.3, "seeds": 2})
    assert ssl.seeds == 2 and not hasattr(ssl, "minutes")
    bundled = BUNDLE / "rnagan" / "config.yaml"  # written when the budget was in minutes
    assert "pretrain_share" in bundled.read_text()
    assert config_from_yaml(bundled.read_text(), source=str(bundled)).ssl.seeds == 3  # the file predates seeds
