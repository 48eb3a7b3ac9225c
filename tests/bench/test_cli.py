import subprocess
import sys

from bench import __version__
from bench.cli import main


def test_version_is_reported(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_subcommands():
    result = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "simulate" in result.stdout


def test_bench_simulate_set_accepts_the_old_field_names():
    from bench.commands.simulate import _parse_settings

    assert _parse_settings(["potential_sampling_angstrom=0.05", "phonon_configurations=8"]) == {
        "potential_sampling_A": 0.05, "phonon_configurations": 8}
