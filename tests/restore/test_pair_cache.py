import json

import numpy as np
import pytest
import torch

from restore.checkpoint import file_sha256
from restore.dataset import SyntheticPairDataset
from restore.pair_cache import CachedPairDataset, build_pair_cache, read_manifest, verify_pair_cache
from simulate.synthetic import SYNTHETIC_RECIPE_VERSION

SIZE, PAIRS, SEED = 32, 5, 7


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cache") / "hrstem"
    build_pair_cache(directory, modality="hrstem", size=SIZE, pairs=PAIRS, seed=SEED, shard_pairs=2, workers=0,
                     progress=False)
    return directory


def test_cache_holds_exactly_the_streamed_pairs(cache_dir):
    stream = SyntheticPairDataset("hrstem", size=SIZE, seed=SEED)
    cache = CachedPairDataset(cache_dir)
    for index in range(PAIRS):
        x, y = cache[index]
        assert x.dtype == torch.float32 and x.shape == (1, SIZE, SIZE)
        assert torch.equal(x, stream[index][0]) and torch.equal(y, stream[index][1]), index
    assert torch.equal(cache[PAIRS + 1][1], cache[1][1])  # the second epoch repeats the pairs
    manifest = read_manifest(cache_dir)
    recipe = manifest["recipe"]
    assert recipe["synthetic_recipe_version"] == SYNTHETIC_RECIPE_VERSION and recipe["seed"] == SEED
    assert recipe["modality"]["name"] == "hrstem" and manifest["complete"] and manifest["pairs"] == PAIRS
    assert [e["pairs"] for e in manifest["shards"].values()] == [2, 2, 1]
    assert all(file_sha256(cache_dir / name) == e["sha256"] for name, e in manifest["shards"].items())
    assert sorted(p.name for p in cache_dir.iterdir()) == ["manifest.json", *manifest["shards"]]  # no temporaries
    report = verify_pair_cache(cache_dir, regenerate=2)
    assert report["max_abs_difference"] == 0 and len(report["regenerated"]) == 2


def test_an_interrupted_build_continues_with_the_missing_shards(tmp_path, cache_dir):
    directory = tmp_path / "cache"
    build_pair_cache(directory, size=SIZE, pairs=4, seed=SEED, shard_pairs=2, workers=0, progress=False)
    manifest = json.loads((directory / "manifest.json").read_text())
    del manifest["shards"]["shard_00001.npy"]  # as if killed after shard 0 was recorded
    manifest["complete"] = False
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "shard_00001.npy").unlink()
    kept = (directory / "shard_00000.npy").stat().st_mtime_ns
    with pytest.raises(ValueError, match="interrupted"):
        CachedPairDataset(directory)
    build_pair_cache(directory, size=SIZE, pairs=PAIRS, seed=SEED, shard_pairs=2, workers=0, progress=False)
    assert (directory / "shard_00000.npy").stat().st_mtime_ns == kept  # finished shards are not redone
    ours, reference = CachedPairDataset(directory), CachedPairDataset(cache_dir)
    assert all(torch.equal(ours[i][0], reference[i][0]) for i in range(PAIRS))
    with pytest.raises(ValueError, match="never shrunk"):
        build_pair_cache(directory, size=SIZE, pairs=3, seed=SEED, shard_pairs=2, workers=0, progress=False)
    with pytest.raises(ValueError, match=r"another recipe \(differs in \['seed'\]\)"):
        build_pair_cache(directory, size=SIZE, pairs=PAIRS, seed=8, shard_pairs=2, workers=0, progress=False)


def test_a_cache_of_another_recipe_version_is_refused_with_the_rebuild_command(tmp_path, cache_dir):
    directory = tmp_path / "old"
    directory.mkdir()
    for item in cache_dir.iterdir():
        (directory / item.name).write_bytes(item.read_bytes())
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["recipe"]["synthetic_recipe_version"] = SYNTHETIC_RECIPE_VERSION - 1
    (directory / "manifest.json").write_text(json.dumps(manifest))
    message = (rf"made with synthetic recipe version {SYNTHETIC_RECIPE_VERSION - 1}, but the pair generator is now "
               rf"version {SYNTHETIC_RECIPE_VERSION}.*bench train-cache build --modality hrstem --size {SIZE} "
               rf"--pairs {PAIRS} --seed {SEED}")
    with pytest.raises(ValueError, match=message):
        CachedPairDataset(directory)
    with pytest.raises(ValueError, match=message):
        build_pair_cache(directory, size=SIZE, pairs=PAIRS, seed=SEED, shard_pairs=2, workers=0, progress=False)


def test_crops_are_seeded_windows_of_the_cached_pairs(cache_dir):
    cache = CachedPairDataset(cache_dir, patch_size=16, crop_seed=3)
    x, y = cache[7]
    whole_x, whole_y = CachedPairDataset(cache_dir).pair(7 % PAIRS)
    windows = [(top, left) for top in range(SIZE - 15) for left in range(SIZE - 15)
               if torch.equal(whole_y[:, top:top + 16, left:left + 16], y)]
    assert len(windows) == 1  # a translation of the frame: no flip, transpose or rotation
    top, left = windows[0]
    assert torch.equal(whole_x[:, top:top + 16, left:left + 16], x)
    assert torch.equal(CachedPairDataset(cache_dir, patch_size=16, crop_seed=3)[7][1], y)
    offsets = {tuple(np.random.default_rng([3, v]).integers(0, SIZE - 15, 2)) for v in range(7, 7 + 5 * PAIRS, PAIRS)}
    assert len(offsets) > 1  # epochs see other windows of the same pair
    with pytest.raises(ValueError, match="≤ the cache's pair size"):
        CachedPairDataset(cache_dir, patch_size=64)


def test_float16_cache_rounds_within_half_precision(tmp_path, cache_dir):
    directory = tmp_path / "half"
    build_pair_cache(directory, size=SIZE, pairs=2, seed=SEED, dtype="float16", workers=0, progress=False)
    exact, half = CachedPairDataset(cache_dir), CachedPairDataset(directory)
    for index in range(2):
        for a, b in zip(exact[index], half[index]):
            # round-to-nearest in float16: relative error ≤ 2⁻¹¹ for normal numbers, 2⁻²⁵ absolute below them
            assert torch.all((a - b).abs() <= 2.0 ** -11 * a.abs() + 2.0 ** -25)
    assert verify_pair_cache(directory, regenerate=1)["max_abs_difference"] == 0


def test_training_from_the_cache_reads_the_pairs_of_the_stream(tmp_path, cache_dir):
    """The cache is a pure speed-up: at the cache's size a run trained from it equals the streamed run."""
    from restore.losses import LossWeights
    from restore.models import CGRDNConfig
    from restore.train import ArrayPairDataset, train
    from restore.training_config import TrainingConfig
    from tests.restore.conftest import make_pairs

    validation = ArrayPairDataset(*make_pairs(2, SIZE, seed=2))
    runs = {}
    for kind, spec in (("stream", "synthetic:hrstem"), ("cache", f"cache:{cache_dir}")):
        config = TrainingConfig(data=spec, validation="npz:unused", steps=2, batch_size=2, patch_size=SIZE,
                                seed=SEED, warmup_steps=1, val_every=2, val_batches=1, checkpoint_every=2,
                                generator=CGRDNConfig.tiny(), losses=LossWeights(adversarial=0.0))
        runs[kind] = train(config, tmp_path / kind, val_data=validation, progress=False).ema.state_dict()
    assert all(torch.equal(runs["stream"][name], runs["cache"][name]) for name in runs["stream"])
    # and the exported model records the modality its pairs were drawn from either way
    from restore.export import export_run

    for kind in runs:
        sidecar = json.loads(export_run(tmp_path / kind, f"cgrdn.{kind}", tmp_path).with_suffix(".json").read_text())
        assert sidecar["modality"] == "hrstem", kind


def test_an_export_records_the_size_its_validation_pairs_had(cache_dir, tmp_path):
    """A cache validates on its whole pairs, synthetic pairs at the patch size, npz arrays at their own size."""
    from restore.export import _validation_recipe

    def size_of(spec):
        return _validation_recipe({"validation": spec, "val_batches": 2, "batch_size": 4, "patch_size": 16})["size_px"]

    assert size_of(f"cache:{cache_dir}") == SIZE != 16
    assert size_of("synthetic:hrstem") == 16
    assert size_of("npz:pairs.npz") is None and size_of(f"cache:{tmp_path / 'missing'}") is None


def test_bare_cache_names_live_in_the_cache_root(tmp_path, monkeypatch):
    from restore.pair_cache import default_cache_dir, resolve_cache_dir, spec_of

    monkeypatch.setenv("STEM_BENCH_CACHE", str(tmp_path))
    assert resolve_cache_dir("hrstem-256px-seed0") == tmp_path / "pair-cache" / "hrstem-256px-seed0"
    assert resolve_cache_dir("./local") == tmp_path.__class__("./local")
    assert default_cache_dir("hrstem", 256, 0) == resolve_cache_dir("hrstem-256px-seed0")
    assert spec_of(default_cache_dir("hrstem", 256, 0)) == "cache:hrstem-256px-seed0"
    assert spec_of(tmp_path / "elsewhere") == f"cache:{(tmp_path / 'elsewhere').resolve()}"
