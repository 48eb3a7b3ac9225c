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
