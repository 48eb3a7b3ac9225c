"""The model spec's numeric suffix: ``NAME_OR_PATH[+auto|+bf16|+fp32]``."""
import pytest

from _shared.model_spec import split_numeric


def test_split_numeric_reads_the_suffix_and_leaves_names_with_a_plus_alone():
    assert split_numeric("cgrdn.hrstem_default") == ("cgrdn.hrstem_default", "auto")
    assert split_numeric("cgrdn.hrstem_default+BF16") == ("cgrdn.hrstem_default", "bf16")
    assert split_numeric("/runs/a+b/model.safetensors") == ("/runs/a+b/model.safetensors", "auto")
    assert split_numeric("/runs/m.safetensors+fp32") == ("/runs/m.safetensors", "fp32")
    with pytest.raises(ValueError, match=r"unknown numeric suffix \+half; use \+auto, \+bf16 or \+fp32"):
        split_numeric("cgrdn.hrstem_default+half")
