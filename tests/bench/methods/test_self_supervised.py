"""The self-supervised methods as the studies use them: each denoises, none sees a noise-free image, each is
reproducible from its seed, bad input is refused clearly, and a method trains one network per study point."""
import numpy as np
import pytest
import torch

from bench.methods import TrainingData, apply_method, make_method
from bench.methods.self_supervised import KINDS
from bench.studies import denoise, precision_tasks, precision_vs_dose
from bench.studies.training_data import synthesised_pairs
from restore.self_supervised_budget import SelfSupervisedBudget

# small enough for ≈ 1 s per network on one core, large enough to denoise a lattice
BUDGET = SelfSupervisedBudget(steps=200, batch_size=4, patch_px=16, features=8, depth=1, learning_rate=5e-3)
FACTOR = 20.0
# enough steps to leave the near-constant output of a fresh network, which the methods refuse as collapsed
TINY = SelfSupervisedBudget(steps=60, batch_size=2, patch_px=16, features=4, depth=1, learning_rate=5e-3,
                            hourglass_dose_factor=FACTOR)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lattice(size=48, spacing=8, sigma=1.5, peak=12.0, background=1.0, shift=0.0):
    """Expected counts of a square lattice of Gaussian columns."""
    y, x = np.mgrid[:size, :size]
    image = np.full((size, size), background)
    for cy in np.arange(spacing / 2 + shift, size, spacing):
        for cx in np.arange(spacing / 2 + shift, size, spacing):
            image += peak * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return image


def psnr(image, clean):
    return 10 * np.log10((clean.max() - clean.min()) ** 2 / np.mean((image - clean) ** 2))


def training(seed=3):
    """Four frames of one field; hourglass's high-dose frames are of a shifted lattice (another field)."""
    high = np.random.default_rng(5).poisson(FACTOR * np.repeat(lattice(shift=3.0)[None], 2, axis=0)).astype(float)
    return TrainingData(budget=BUDGET, seed=seed, same_field=True, high_dose_frames="shifted lattice",
                        high_dose=synthesised_pairs(high, factor=FACTOR, dose=1.0, pixel_size_A=1.0))


@pytest.mark.parametrize("name", list(KINDS))
def test_each_method_improves_the_psnr_of_a_seeded_poisson_lattice(name):
    clean = lattice()
    noisy = np.random.default_rng(0).poisson(np.repeat(clean[None], 4, axis=0)).astype(float)
    restored, record = apply_method(make_method(name), noisy, training=training())
    raw = np.mean([psnr(image, clean) for image in noisy])
    gain = np.mean([psnr(image, clean) for image in restored]) - raw
    # a method that does nothing gains 0 dB. Over the training seeds 3, 5, 6 and 7: n2v2 6.3, −0.8, 4.3, 5.1 dB
    # (seed 5 did not learn in 200 steps of this small budget), structn2v 2.7–4.4, n2n 8.9–9.7, hourglass
    # 8.1–8.2 dB; the seed here is 3
    assert gain > 1.0, f"{name}: {gain:.2f} dB over raw ({raw:.1f} dB)"
    assert record["training_s"] > 0 and record["budget"]["steps"] == BUDGET.steps


@pytest.mark.parametrize("name", list(KINDS))
def test_each_method_is_reproducible_from_its_seed(name):
    noisy = np.random.default_rng(1).poisson(np.repeat(lattice(size=16)[None], 2, axis=0)).astype(float)
    quick = TrainingData(budget=TINY,
                         seed=4, same_field=True, high_dose=training().high_dose)
    first, second = (apply_method(make_method(name), noisy, training=quick)[0] for _ in range(2))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(("images", "name", "message"), [
    (np.random.default_rng(0).poisson(5.0, (1, 48, 48)).astype(float), "n2n", "too small a stack"),
    (np.random.default_rng(0).poisson(5.0, (4, 10, 48)).astype(float), "n2v2", "too small to train on"),
    (np.full((4, 48, 48), 2.0), "structn2v", "constant"),
    (np.where(np.eye(48, dtype=bool), np.nan, 1.0)[None].repeat(2, axis=0), "hourglass", "NaN"),
])
def test_bad_input_gets_a_clear_error(images, name, message):
    with pytest.raises(ValueError, match=message):
        apply_method(make_method(name), images, training=training())


def test_methods_that_need_frames_are_refused_where_there_are_none():
    noisy = np.random.default_rng(0).poisson(np.repeat(lattice()[None], 2, axis=0)).astype(float)
    for name, need in (("n2n", "same field"), ("hourglass", "high-dose")):
        with pytest.raises(ValueError, match=need):
            make_method(name)(noisy)  # a bare call offers nothing beyond the images
        with pytest.raises(ValueError, match=need):  # the validation pairs are different fields
            denoise.STUDY.check_methods(denoise.STUDY.configure("quick"), [make_method(name)])
    denoise.STUDY.check_methods(denoise.STUDY.configure("abstract"), [make_method(n) for n in KINDS])


def test_the_trainers_never_receive_the_noise_free_image(monkeypatch):
    """What precision-vs-dose hands the trainers: counts of the task's realisations, and for hourglass
    synthesised counts and high-dose frames of the neighbouring thicknesses — never an expected-count image."""
    import restore.self_supervised as trainers

    given = []
    original_blind, original_pairs = trainers.train_blind_spot, trainers.train_on_pairs

    def blind(images, budget, **kwargs):
        given.append(("images", np.array(images)))
        return original_blind(images, budget, **kwargs)

    def pairs(draw, budget, **kwargs):
        inputs, targets = draw(np.random.default_rng(0), 6)
        given.extend([("inputs", inputs), ("targets", targets * FACTOR)])  # high-dose counts
        return original_pairs(draw, budget, **kwargs)

    monkeypatch.setattr(trainers, "train_blind_spot", blind)
    monkeypatch.setattr(trainers, "train_on_pairs", pairs)
    px, dose = 0.2, 5e4
    field, neighbours = lattice() / 400.0, np.stack([lattice(peak=10.0) / 400.0, lattice(peak=14.0) / 400.0])
    clean = {"field": dose * px * px * field, "neighbours": FACTOR * dose * px * px * neighbours}
    for name in KINDS:
        method = make_method(name)
        params = {"method": method, "dose": dose, "dose_index": 0, "atoms": 5, "first": 0, "count": 4,
                  "blocks": ((0, 2), (2, 2)), "seed": 1, "pixel_size_A": px, "image": field,
                  "training": TINY,
                  "neighbours": neighbours if "high_dose" in method.needs else None, "neighbour_atoms": (4, 6)}
        counts = precision_tasks.measured_counts(params)
        apply_method(method, counts, training=precision_tasks.training_data(params))
    assert {kind for kind, _ in given} == {"images", "inputs", "targets"}
    for kind, array in given:
        assert np.array_equal(array, np.round(array)), kind  # counts, not expected values
        for reference in (clean["field"], *clean["neighbours"]):
            assert not np.allclose(array, reference[None], rtol=0.05, atol=0.5), kind


def test_a_self_supervised_method_restores_every_realisation_of_a_point_in_one_task_with_the_same_noise():
    preset = precision_vs_dose.STUDY.configure("quick", thicknesses=(5,), doses=(5e4,), realisations=6,
                                               block_size=2)
    reference = {5: {"image": lattice() / 400.0, "truth": None, "central": None, "width": 0.3, "scs": None,
                     "neighbours": None, "neighbour_atoms": (4, 6)}}
    raw_tasks = precision_tasks.plan(preset, [make_method("raw")], reference)
    (learned,) = precision_tasks.plan(preset, [make_method("n2v2")], reference)
    assert len(raw_tasks) == 3 and learned.params["count"] == 6
    together = precision_tasks.measured_counts(learned.params)
    apart = np.concatenate([precision_tasks.measured_counts(task.params) for task in raw_tasks])
    np.testing.assert_array_equal(together, apart)  # common random numbers with the other methods


def test_the_abstract_scenario_is_437_electrons_per_probe_position():
    electrons = denoise.electrons_per_probe(50.0, 1.4)
    assert electrons == pytest.approx(50e-12 * 1.4e-6 / 1.602176634e-19) and round(electrons) == 437
    assert denoise.STUDY.configure("abstract").modalities == (denoise.SCENARIO,)


def test_every_self_supervised_method_has_its_own_colour_in_the_figures():
    from reports.plotting import _CYCLE, method_colour

    methods = ["raw", "bm3d", *KINDS, "cgrdn.hrstem_default", "cgrdn.other"]
    colours = [method_colour(m, methods) for m in methods]
    assert len(set(colours)) == len(methods)  # none shared, CNN models included
    assert not set(colours[2:2 + len(KINDS)]) & set(_CYCLE)  # never a colour a CNN model can take


def test_a_collapsed_training_is_retrained_from_the_next_seed_and_counted(monkeypatch):
    import restore.self_supervised as trainers

    original, seeds = trainers.train_blind_spot, []

    def first_collapses(images, budget, **kwargs):
        seeds.append(kwargs["seed"])
        denoiser = original(images, budget, **kwargs)
        if len(seeds) == 1:
            torch.nn.init.zeros_(denoiser.model.head.weight)  # a constant output, as a collapsed training gives
        return denoiser

    monkeypatch.setattr(trainers, "train_blind_spot", first_collapses)
    noisy = np.random.default_rng(1).poisson(np.repeat(lattice(size=16)[None], 2, axis=0)).astype(float)
    quick = TrainingData(budget=TINY, seed=4)
    restored, record = apply_method(make_method("n2v2"), noisy, training=quick)
    assert seeds[0] == 4 and len(seeds) == 2 and seeds[1] != 4  # a fixed second seed, not the first again
    assert record["collapsed_seeds"] == [4] and record["seed"] == seeds[1]
    assert np.all(restored.std(axis=(1, 2)) > 0)
