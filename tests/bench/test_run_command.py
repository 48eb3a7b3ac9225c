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
])
def test_bad_input_fails_clearly_and_writes_nothing(arguments, message, tmp_path, capsys):
    output = tmp_path / "out"
    assert main([*arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


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
