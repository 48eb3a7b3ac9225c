"""The one study shape: a new study is one module; `bench run`, `bench check` and the report find it."""
import json
import shutil
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest

from bench import studies as registry
from bench.cli import main
from bench.methods import BM3DMethod, RawMethod
from bench.runner import run_study
from bench.studies.base import RunOptions, Study
from bench.studies.presets import blocks
from bench.tasks import Task
from reports.spec import ReportSpec


@dataclass(frozen=True)
class ToyPreset:
    name: str
    images: int = 4
    block_size: int = 2
    seed: int = 7

    def to_config(self):
        return asdict(self)


def toy_task(params):
    """Poisson images of a flat 20-count field; each method's mean over its block."""
    rng = np.random.default_rng([params["seed"], params["first"]])
    counts = rng.poisson(20.0, size=(params["count"], 16, 16)).astype(float)
    restored = params["method"](counts)
    return pd.DataFrame({"method": params["method"].name, "image": params["first"] + np.arange(params["count"]),
                         "mean_counts": restored.mean(axis=(1, 2))}), None


class Toy(Study):
    name = "toy-flat-field"
    description = "mean counts of a flat field (a test study)"
    quick_run_time = "< 1 s"
    presets = {"quick": ToyPreset("quick"), "paper": ToyPreset("paper", images=8)}
    report = ReportSpec(intro="The mean of a flat Poisson field.", columns=(("method", "method"), ("mean", "mean")))

    def describe(self, preset):
        return f"{preset.images} images"

    def prepare(self, preset, inputs, store, options):
        return {}

    def plan(self, preset, methods, shared):
        return [Task(f"{m.name}__i{first:03d}", {"method": m, "first": first, "count": count, "seed": preset.seed})
                for m in methods for first, count in blocks(preset.images, preset.block_size)]

    run_task = staticmethod(toy_task)

    def finish(self, preset, shared, tasks, store):
        return store.write_summary(lambda table: table.groupby("method", as_index=False)["mean_counts"].mean()
                                   .rename(columns={"mean_counts": "mean"}))


@pytest.fixture
def toy():
    study = registry.register_study(Toy())
    yield study
    registry._REGISTRY.pop(study.name)


def test_a_new_study_is_one_class_registered_once_and_runs_through_the_shared_path(toy, tmp_path, capsys):
    assert registry.get_study("toy-flat-field") is toy and "toy-flat-field" in registry.study_names()
    preset = toy.configure("quick", images=6)
    output = run_study(toy, preset, [RawMethod(), BM3DMethod()], tmp_path / "toy",
                       options=RunOptions(workers=1, progress=False))
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["study"] == "toy-flat-field" and manifest["status"] == "complete"
    assert manifest["config"]["images"] == 6 and manifest["seeds"] == {"noise": 7, "bootstrap": 7}
    summary = pd.read_parquet(output / "summary.parquet").set_index("method")
    assert abs(summary.loc["raw", "mean"] - 20.0) < 5 * np.sqrt(20.0 / (6 * 256))  # 5 sigma of the mean
    assert "6 images; methods: raw, bm3d" in capsys.readouterr().out
    assert main(["report", str(output)]) == 0  # `bench report` finds the study's report in the registry
    text = (output / "report" / "report.html").read_text()
    assert "The mean of a flat Poisson field." in text and "<th>mean</th>" in text


def test_the_command_line_refuses_options_a_study_does_not_have(tmp_path, capsys):
    assert main(["run", "dislocation", "--thicknesses", "2", "--output", str(tmp_path / "o")]) == 2
    assert "--thicknesses 2 does not apply to the dislocation study: use --doses, --realisations" in \
        capsys.readouterr().err
    assert main(["run", "denoise", "--doses", "500", "--output", str(tmp_path / "o")]) == 2
    assert "it scores the fixed validation set" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_second_study_of_the_same_name_is_refused(toy):
    class Other(Toy):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        registry.register_study(Other())


def test_the_configurations_of_the_studies_are_those_of_earlier_results():
    """Results directories written before the study shape are resumed, not refused: each preset's
    configuration (which the directory's hash covers) has the keys it had then."""
    old = {
        "precision-vs-dose": {"name", "thicknesses", "doses", "realisations", "block_size", "cells",
                              "pixel_size_A", "border_A", "estimator", "seed", "bootstrap",
                              "example_atoms", "max_iterations"},
        "dislocation": {"name", "doses", "realisations", "block_size", "jitter_sigma_A", "jitter_phi",
                        "search_radius_fraction", "objective_tolerance", "max_iterations", "seed", "bootstrap"},
        "denoise": {"name", "modalities", "images", "size", "block_size", "bootstrap", "seed"},
    }
    old["atom-counting"] = old["dislocation"]
    for name, keys in old.items():
        assert set(registry.get_study(name).configure("quick").to_config()) == keys, name


def test_results_written_before_are_still_reported_and_checked(tiny_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["format_version"]  # the oldest manifests carry no layout version
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(old)]) == 0
    assert (old / "report" / "precision_positions.png").exists()
    assert main(["check", "--results", str(old), "--model", "raw", "--baseline", "raw"]) == 0


def test_every_registered_study_has_the_whole_shape():
    import dataclasses
    import pickle

    for study in registry.studies():
        assert study.description and study.quick_run_time, study.name
        assert {"quick", "paper"} <= set(study.presets), study.name
        preset_types = {type(p) for p in study.presets.values()}
        assert len(preset_types) == 1, study.name
        (preset_type,) = preset_types
        assert dataclasses.is_dataclass(preset_type) and preset_type.__dataclass_params__.frozen, study.name
        assert isinstance(study.report, ReportSpec) and study.report.columns, study.name
        assert study.describe(study.configure("quick")), study.name
        run_task = type(study).run_task
        assert pickle.loads(pickle.dumps(run_task)) is run_task, study.name  # workers receive it by reference
    gated = [s.name for s in registry.studies() if s.gate is not None]
    assert gated == ["precision-vs-dose", "atom-counting"]
