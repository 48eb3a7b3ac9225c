"""The coarse recipe runs real abTEM multislice (≈ 10 s): shapes, units, positions, SCS, cache."""
import json

import numpy as np
import pytest

import simulate.thickness_series as thickness_series
from simulate.recipe import COARSE_RECIPE
from simulate.thickness_series import simulate_thickness_series


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def coarse(cache_dir):
    return simulate_thickness_series(COARSE_RECIPE, cache_dir=cache_dir, progress=False)


def test_shapes_and_units(coarse):
    n = COARSE_RECIPE.scan_points_per_cell
    assert coarse.images.shape == (COARSE_RECIPE.max_thickness_atoms + 1, n, n)
    assert coarse.pixel_size_A == pytest.approx(3.924 / n)
    assert np.array_equal(coarse.atoms_per_column, np.arange(11))
    # a fraction of the incident beam: zero at the entrance plane, never above 1
    assert np.all(coarse.images >= 0) and coarse.images.max() < 1
    assert coarse.images[0].max() < 1e-6


def test_intensity_peaks_on_the_true_columns(coarse):
    image = coarse.image(8)
    n = image.shape[0]
    columns = np.round(coarse.column_positions_A / coarse.pixel_size_A).astype(int)
    on_columns = image[columns[:, 1] % n, columns[:, 0] % n]
    between = image[n // 4, n // 4]  # the empty site between four columns
    assert on_columns.min() > 10 * between
    # every column is a local maximum of the image
    for x, y in columns:
        neighbourhood = np.roll(np.roll(image, 1 - y, axis=0), 1 - x, axis=1)[:3, :3]
        assert image[y % n, x % n] == neighbourhood.max()


def test_scs_increases_with_thickness_over_the_first_ten_atoms(coarse):
    scs = coarse.scs_A2
    assert scs[0] == pytest.approx(0, abs=1e-9)
    assert np.all(np.diff(scs[:11]) > 0)
    # one Pt atom scatters a few hundredths of Å² into a 50–120 mrad detector at 300 kV
    assert 0.005 < scs[1] < 0.05


def test_cache_hit_does_not_simulate(coarse, cache_dir, monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("a cache hit must not simulate")

    monkeypatch.setattr(thickness_series, "build_configuration", fail)
    again = simulate_thickness_series(COARSE_RECIPE, cache_dir=cache_dir, progress=False)
    assert np.array_equal(again.configuration_intensities, coarse.configuration_intensities)
    meta = json.loads(next(cache_dir.rglob("meta.json")).read_text())
    assert meta["recipe"] == COARSE_RECIPE.to_dict()
    assert meta["metadata"]["versions"]["abtem"] == "1.0.11"


def test_a_different_recipe_misses_the_cache(cache_dir):
    from simulate.cache import cache_entry

    other = COARSE_RECIPE.replace(convergence_semiangle_mrad=21.0)
    kind = "pt001-thickness-series"
    assert not cache_entry(kind, thickness_series._cache_payload(other), cache_dir).result_path.exists()
    assert cache_entry(kind, thickness_series._cache_payload(COARSE_RECIPE), cache_dir).result_path.exists()


def test_corrupt_entry_is_detected_and_recomputed(coarse, cache_dir, monkeypatch, capsys):
    from simulate.cache import cache_entry

    entry = cache_entry("pt001-thickness-series", thickness_series._cache_payload(COARSE_RECIPE), cache_dir)
    data = bytearray(entry.result_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.result_path.write_bytes(bytes(data))
    calls = []
    real = thickness_series.build_configuration
    monkeypatch.setattr(thickness_series, "build_configuration",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    again = simulate_thickness_series(COARSE_RECIPE, cache_dir=cache_dir, progress=False)
    assert len(calls) == COARSE_RECIPE.phonon_configurations
    assert "corrupt or partial" in capsys.readouterr().err
    assert np.allclose(again.configuration_intensities, coarse.configuration_intensities, rtol=1e-6)
    assert entry.load() is not None


def test_interrupted_run_resumes_without_redoing_finished_configurations(tmp_path, monkeypatch):
    tiny = COARSE_RECIPE.replace(name="tiny", lateral_cells=2, max_thickness_atoms=2,
                                 phonon_configurations=2, scan_points_per_cell=18)
    real = thickness_series.build_configuration
    calls = []

    def interrupt_second(recipe, k):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(recipe, k)

    monkeypatch.setattr(thickness_series, "build_configuration", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        simulate_thickness_series(tiny, cache_dir=tmp_path, progress=False)
    calls.clear()
    monkeypatch.setattr(thickness_series, "build_configuration", lambda r, k: calls.append(k) or real(r, k))
    series = simulate_thickness_series(tiny, cache_dir=tmp_path, progress=False)
    assert calls == [1]
    assert series.configuration_intensities.shape[0] == 2
    assert series.metadata["configurations_resumed_from_partial"] == 1
    assert np.all(np.isfinite(series.scs_standard_error_A2[1:]))


def test_thickness_outside_the_series_is_rejected(coarse):
    with pytest.raises(ValueError, match=r"atoms_per_column=11 must be an integer in \[0, 10\]"):
        coarse.image(11)


def test_runs_on_a_dask_distributed_cluster(tmp_path):
    from dask.distributed import LocalCluster

    tiny = COARSE_RECIPE.replace(name="tiny-distributed", lateral_cells=2, max_thickness_atoms=2,
                                 phonon_configurations=2)
    local = simulate_thickness_series(tiny, cache_dir=tmp_path / "local", progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = simulate_thickness_series(tiny, scheduler=cluster.scheduler_address,
                                           cache_dir=tmp_path / "remote", progress=False)
    assert remote.metadata["scheduler"] == cluster.scheduler_address
    assert np.allclose(remote.configuration_intensities, local.configuration_intensities, rtol=1e-5)


def test_device_choice():
    from simulate.thickness_series import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "gpu")
    with pytest.raises(ValueError, match="device='tpu'"):
        resolve_device("tpu")


@pytest.mark.parametrize("stem", sorted(thickness_series.SHIPPED_SERIES))
def test_shipped_series_are_served_without_simulating(stem, tmp_path, monkeypatch):
    """Every shipped series (the default and the atom-counting library) loads, hash-verified, for its recipe."""
    def refuse(*args, **kwargs):
        raise AssertionError("a shipped series must not be simulated again")

    monkeypatch.setattr(thickness_series, "run_configurations", refuse)
    recipe = thickness_series.shipped_series_recipe(stem)
    assert recipe is not None, f"simulate/data/{stem}.json is missing"
    series = simulate_thickness_series(recipe, cache_dir=tmp_path, progress=False)
    assert series.recipe == recipe
    k, t, _ = series.configuration_intensities.shape
    assert k == recipe.phonon_configurations and t == recipe.max_thickness_atoms + 1
    assert np.all(np.diff(series.scs_A2[1:11]) > 0)  # the SCS grows with thickness


def test_a_damaged_shipped_series_names_its_regeneration_command(tmp_path, monkeypatch):
    stem = "pt001_haadf_library_nanoparticle"
    for suffix in (".json", ".npz"):
        source = (thickness_series.DATA_DIRECTORY / stem).with_suffix(suffix)
        (tmp_path / source.name).write_bytes(source.read_bytes())
    data = bytearray((tmp_path / f"{stem}.npz").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / f"{stem}.npz").write_bytes(bytes(data))
    monkeypatch.setattr(thickness_series, "DATA_DIRECTORY", tmp_path)
    recipe = thickness_series.shipped_series_recipe(stem)
    with pytest.raises(ValueError, match="write-shipped-library"):
        thickness_series.load_shipped_series(recipe)
