import json

import pytest

from bench.cli import main
from tests.bench.tiny_run import TINY_ARGS


@pytest.mark.parametrize("arguments, message", [
    (["run", "no-such-study"], "unknown study"),
    (["run", "precision-vs-dose", "--preset", "paper", "--realisations", "1"], "realisations"),
    (["run", "precision-vs-dose", "--methods", "raw,foo"], "method 'foo' is unknown"),
    (["run", "precision-vs-dose", "--model", "cgrdn.no_such_model"], "unknown"),
    (["run", "precision-vs-dose", "--doses", ","], "doses is empty"),
    (["run", "precision-vs-dose", "--methods", "raw,raw"], "given twice"),
    (["run", "precision-vs-dose", "--preset", "abstract"], "preset 'abstract' is unknown; valid: paper, quick"),
    (["run", "precision-vs-dose", "--methods", "cgrdn.hrstem_default+half"], "unknown numeric suffix +half"),
])
def test_bad_input_fails_clearly_and_writes_nothing(arguments, message, tmp_path, capsys):
    output = tmp_path / "out"
    assert main([*arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_a_study_s_own_preset_is_offered_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "(denoise: abstract)" in " ".join(capsys.readouterr().out.split())


def test_a_results_directory_of_another_study_is_refused(series, tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "manifest.json").write_text(json.dumps({"study": "dislocation", "config_hash": "x"}))
    assert main(["run", "precision-vs-dose", *TINY_ARGS, "--output", str(output)]) == 2
    assert "holds the study 'dislocation'" in capsys.readouterr().err
    assert sorted(p.name for p in output.iterdir()) == ["manifest.json"]


def test_report_command_needs_a_results_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a bench results directory" in capsys.readouterr().err


# Everything is checked before work starts; interruptions and the estimator are recorded ---------

@pytest.mark.parametrize("arguments, message", [
    (["--workers", "0"], "--workers 0: give at least 1 worker process"),
    (["--device", "foo"], "--device 'foo' is not a device name"),
    (["--device", "cuda"], "no usable CUDA GPU"),
    (["--methods", "raw,weights.pt"], "only .safetensors checkpoints are loaded (no pickle)"),
    (["--estimator", "poisson", "--study-override", "dislocation"], "--estimator poisson does not apply"),
])
def test_bad_options_are_refused_before_any_work(arguments, message, tmp_path, capsys, monkeypatch):
    import torch

    import bench.studies.precision_vs_dose as study

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(study, "prepare_references", _no_work)  # any work would fail the test
    name = "precision-vs-dose"
    if "--study-override" in arguments:
        name = arguments[arguments.index("--study-override") + 1]
        arguments = arguments[:arguments.index("--study-override")]
    output = tmp_path / "out"
    assert main(["run", name, *arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def _no_work(*args, **kwargs):
    raise AssertionError("work started before the options were checked")


def test_a_damaged_checkpoint_is_reported_before_any_task_runs(tmp_path, capsys, monkeypatch):
    import torch

    import bench.studies.precision_vs_dose as study
    from restore.checkpoint import save_model
    from restore.models import CGRDN, CGRDNConfig

    torch.manual_seed(0)
    path = tmp_path / "damaged.safetensors"
    save_model(path, CGRDN(CGRDNConfig.tiny()), "cgrdn")
    data = bytearray(path.read_bytes())
    data[-100:] = bytes(100)  # the sidecar's SHA-256 no longer matches
    path.write_bytes(bytes(data))
    monkeypatch.setattr(study, "prepare_references", _no_work)
    output = tmp_path / "out"
    assert main(["run", "precision-vs-dose", "--methods", f"raw,{path}", "--output", str(output)]) == 2
    assert "method 'damaged': checkpoint" in capsys.readouterr().err
    assert not output.exists()


def _args(output, *extra):
    from bench.cli import build_parser

    return build_parser().parse_args(["run", "precision-vs-dose", *TINY_ARGS, "--methods", "raw",
                                      "--output", str(output), *extra])


def test_an_interrupted_run_says_so_and_records_each_segment(series, tmp_path):
    from bench.commands.run import run_study

    output = tmp_path / "out"

    def interrupt(key):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(_args(output), on_task_done=interrupt)
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    (segment,) = manifest["runs"]
    assert segment["status"] == "interrupted" and segment["wall_time_s"] >= 0
    assert (segment["tasks_stored_before"], segment["tasks_stored_after"]) == (0, 1)
    run_study(_args(output))  # the rerun resumes
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert [s["status"] for s in manifest["runs"]] == ["interrupted", "complete"]
    assert manifest["runs"][1]["tasks_stored_after"] == 2


def test_the_estimator_is_chosen_on_the_command_line_and_recorded(series, tmp_path):
    import pandas as pd

    from bench.commands.run import run_study

    least_squares = run_study(_args(tmp_path / "ls"))
    poisson = run_study(_args(tmp_path / "poisson", "--estimator", "poisson"))
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (least_squares, poisson)]
    assert [m["estimator"] for m in manifests] == ["least_squares", "poisson"]
    assert [m["config"]["estimator"] for m in manifests] == ["least_squares", "poisson"]
    tables = [pd.read_parquet(d / "summary.parquet") for d in (least_squares, poisson)]
    assert not tables[0]["scs_bias_pct"].equals(tables[1]["scs_bias_pct"])  # the fits differ


def test_run_help_lists_every_study_with_its_quick_run_time():
    from bench.cli import build_parser
    from bench.studies import study_names

    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    names = study_names()
    assert names == ["precision-vs-dose", "dislocation", "atom-counting", "denoise", "experimental"]  # paper's order
    for study in names:
        line = next(row for row in text.splitlines() if row.strip().startswith(study + " "))
        assert len(line.split()) > 4, line  # the study's name and what it measures
    assert text.count("[quick: ") == len(names)
    assert "--estimator {least_squares,poisson}" in text
    assert "dask.distributed cluster" in text and "thickness series" in text
