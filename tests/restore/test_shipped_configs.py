"""The shipped training configs (restore/configs, ablation included) read, and name data that exists."""
from pathlib import Path

import pytest

from restore.training_config import TrainingConfig
from simulate.synthetic.modalities import get_modality

CONFIGS = sorted((Path(__file__).parents[2] / "restore" / "configs").rglob("*.toml"))


def test_there_are_configs():
    assert any(path.parent.name == "ablation" for path in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_config_reads_and_its_cache_names_a_known_modality(path):
    config = TrainingConfig.read(path)
    for spec in (config.data, config.validation):
        kind, _, value = str(spec).partition(":")
        if kind == "cache":  # cache:<modality>-<size>px-seed<seed>, as `bench train-cache build` names it
            modality = value.rsplit("-", 2)[0]
            assert get_modality(modality).name == modality
        elif kind == "synthetic":
            get_modality(value)
