"""`bench models import-r-em --download`: pip fetches the sdist into a cache and the import runs at once.

Only the network step (the pip call) is replaced: it leaves a fake sdist laid out like tk_r_em 1.0.4 whose
sfr_hrstem SavedModel holds a full-size CGRDN written in the TensorFlow bundle format, and the real import
converts it.
"""
import io
import sys
import tarfile

import pytest
import torch

import restore.tf_import
from bench.cli import main
from tests.restore.test_tf_import import _keras_name, write_bundle

EXPECTED_PIP = ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "tk_r_em==1.0.4", "-d"]


@pytest.fixture(scope="module")
def reference_and_sdist(tmp_path_factory):
    """A full-size CGRDN and the bytes of a tk_r_em-1.0.4.tar.gz holding it as models/sfr_hrstem."""
    from restore.models import CGRDN, CGRDNConfig

    torch.manual_seed(1)
    reference = CGRDN(CGRDNConfig.full())
    tensors = {}
    for i, layer in enumerate(reference.conv_layers()):
        tensors[_keras_name(i, "kernel")] = layer.weight.detach().permute(2, 3, 1, 0).numpy()
        tensors[_keras_name(i, "bias")] = layer.bias.detach().numpy()
    root = tmp_path_factory.mktemp("sdist")
    write_bundle(root / "tk_r_em-1.0.4" / "tk_r_em" / "models" / "sfr_hrstem" / "variables", tensors)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        archive.add(root / "tk_r_em-1.0.4", arcname="tk_r_em-1.0.4")
    return reference, buffer.getvalue()


def test_download_fetches_the_sdist_with_pip_and_imports_it(reference_and_sdist, tmp_path, monkeypatch, capsys):
    from restore.checkpoint import load_model

    reference, sdist = reference_and_sdist
    calls = []

    def fake_pip(command):
        calls.append(command)
        destination = command[command.index("-d") + 1]
        (tmp_path / "cache" / "tk_r_em-1.0.4.tar.gz").write_bytes(sdist)
        assert destination == str(tmp_path / "cache")
        return 0, "Saved tk_r_em-1.0.4.tar.gz", ""

    monkeypatch.setattr(restore.tf_import, "_run_pip", fake_pip)
    arguments = ["models", "import-r-em", "--download", "--cache", str(tmp_path / "cache"), "--only", "sfr_hrstem",
                 "--output", str(tmp_path / "models")]
    assert main(arguments) == 0
    assert calls[0][0] == sys.executable and calls[0][1:-1] == EXPECTED_PIP
    model, sidecar = load_model(tmp_path / "models" / "cgrdn.sfr_hrstem.safetensors")
    for (name, a), b in zip(reference.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    assert sidecar["modality"] == "HRSTEM"
    assert main(arguments) == 0  # the cached sdist is used: pip is not asked again
    assert len(calls) == 1
    assert "tk_r_em-1.0.4.tar.gz" in capsys.readouterr().out


def test_without_network_the_message_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(restore.tf_import, "_run_pip", lambda command: (
        1, "", "ERROR: Could not find a version that satisfies the requirement tk_r_em==1.0.4 (from versions: none)"))
    assert main(["models", "import-r-em", "--download", "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "could not download tk_r_em==1.0.4" in err and "Could not find a version" in err
    assert "pip download --no-deps --no-binary :all: tk_r_em==1.0.4 -d DIR" in err
    assert "bench models import-r-em DIR/tk_r_em-1.0.4.tar.gz" in err


def test_a_path_and_download_together_or_neither_are_refused(tmp_path, capsys):
    assert main(["models", "import-r-em"]) == 2
    assert "give the sdist's PATH or --download" in capsys.readouterr().err
    assert main(["models", "import-r-em", str(tmp_path / "x.tar.gz"), "--download"]) == 2
    assert "either PATH or --download" in capsys.readouterr().err
