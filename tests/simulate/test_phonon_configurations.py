"""Per-configuration storage: the key ignores the configuration count; corrupt pieces are dropped."""
import numpy as np
import pytest

from simulate.phonon_configurations import (
    configuration_path,
    configurations_entry,
    load_configuration,
    save_configuration,
)

REQUEST = {"kind": "nanoparticle", "imaging": {"microscope": {"phonon_configurations": 4, "energy_kv": 300.0}}}


def test_key_ignores_the_count_but_not_the_physics(tmp_path):
    entry = configurations_entry("test-haadf", REQUEST, tmp_path)
    more = {**REQUEST, "imaging": {"microscope": {"phonon_configurations": 16, "energy_kv": 300.0}}}
    other = {**REQUEST, "imaging": {"microscope": {"phonon_configurations": 4, "energy_kv": 200.0}}}
    assert configurations_entry("test-haadf", more, tmp_path) == entry
    assert configurations_entry("test-haadf", other, tmp_path) != entry
    assert entry.directory.parent.name == "test-haadf-configurations"


def test_saved_configurations_load_and_corrupt_ones_are_removed(tmp_path):
    entry = configurations_entry("test-haadf", REQUEST, tmp_path)
    image = np.arange(6.0).reshape(2, 3)
    save_configuration(entry, 3, image, 12.5)
    values, seconds = load_configuration(entry, 3, (2, 3))
    assert np.array_equal(values, image) and seconds == 12.5
    assert load_configuration(entry, 2, (2, 3)) == (None, None)
    assert load_configuration(entry, 3, (3, 3)) == (None, None)  # wrong shape: dropped
    assert not configuration_path(entry, 3).exists()
    save_configuration(entry, 1, np.array([[np.nan, 1.0]]), None)
    assert load_configuration(entry, 1, (1, 2)) == (None, None)
    with pytest.raises(ValueError, match="configuration"):
        configuration_path(entry, -1)


class _Lazy:
    """Stands for a lazy abTEM measurement: ``compute().array`` gives configuration k's [x, y] image."""

    def __init__(self, k, calls):
        self.array = np.arange(6.0).reshape(3, 2) + 10 * k
        calls.append(k)

    def compute(self, scheduler):
        assert scheduler == "threads"
        return self


def test_the_runner_computes_missing_configurations_orients_them_and_resumes(tmp_path):
    from simulate.phonon_configurations import run_configurations

    entry = configurations_entry("toy", REQUEST, tmp_path)
    calls = []
    first = run_configurations(lambda k: _Lazy(k, calls), 2, entry, (2, 3), progress=False, orient=np.transpose)
    assert calls == [0, 1] and first.resumed == 0 and first.images.shape == (2, 2, 3)
    assert np.array_equal(first.images[1], (np.arange(6.0).reshape(3, 2) + 10).T)
    more = run_configurations(lambda k: _Lazy(k, calls), 3, entry, (2, 3), progress=False, orient=np.transpose)
    assert calls == [0, 1, 2] and more.resumed == 2  # only the new configuration is computed
    assert np.array_equal(more.images[:2], first.images) and set(more.seconds) == {0, 1, 2}
    run_configurations(lambda k: _Lazy(k, calls), 1, entry, (2, 3), progress=False, orient=np.transpose, reuse=False)
    assert calls == [0, 1, 2, 0]  # reuse=False recomputes
