"""`bench restore`: nothing lost, nothing silent. A tiny real CGRDN restores real files."""
import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from bench.cli import main
from restore.imageio import read_image, write_image

SIZE = 40


@pytest.fixture
def model(tiny_cgrdn_checkpoint):
    return tiny_cgrdn_checkpoint


def image(seed: int, shape=(SIZE, SIZE)) -> np.ndarray:
    return (np.random.default_rng(seed).poisson(20.0, size=shape)).astype(np.float32)


def run_restore(*arguments) -> int:
    # direct convolutions: the Winograd path's first call costs seconds; the progress test runs it
    return main(["restore", *map(str, arguments), "--tile", "32", "--device", "cpu", "--quiet", "--algorithm",
                 "direct"])


def test_inputs_sharing_a_stem_get_distinct_outputs(model, tmp_path):
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "good.tif", image(1))
    write_image(tmp_path / "in" / "good.npy", image(2))
    assert run_restore(tmp_path / "in" / "good.tif", tmp_path / "in" / "good.npy", "-o", tmp_path / "out",
                   "--model", model) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_restored.npy", "good_restored.tif"]
    first = read_image(tmp_path / "out" / "good_restored.tif").data
    second = read_image(tmp_path / "out" / "good_restored.npy").data
    assert not np.allclose(first, second)  # each output comes from its own input

    for folder, seed in (("a", 3), ("b", 4)):  # same name in two folders: the folders are mirrored
        (tmp_path / folder).mkdir()
        write_image(tmp_path / folder / "good.tif", image(seed))
    assert run_restore(tmp_path / "a" / "good.tif", tmp_path / "b" / "good.tif", "-o", tmp_path / "mirrored",
                   "--model", model) == 0
    assert (tmp_path / "mirrored" / "a" / "good_restored.tif").is_file()
    assert (tmp_path / "mirrored" / "b" / "good_restored.tif").is_file()

    # one output type for two input types: each keeps its input type in the name
    assert run_restore(tmp_path / "in" / "good.tif", tmp_path / "in" / "good.npy", "-o", tmp_path / "one-type",
                   "--format", "h5", "--model", model) == 0
    assert sorted(p.name for p in (tmp_path / "one-type").iterdir()) == ["good_npy_restored.h5",
                                                                         "good_tif_restored.h5"]


def test_a_file_output_with_several_inputs_and_an_output_equal_to_an_input_are_refused(model, tmp_path, capsys):
    write_image(tmp_path / "a.tif", image(1))
    write_image(tmp_path / "b.tif", image(2))
    assert run_restore(tmp_path / "a.tif", tmp_path / "b.tif", "-o", tmp_path / "out" / "m.tif", "--model", model) == 2
    assert "names a file, but 2 inputs need a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    before = (tmp_path / "a.tif").read_bytes()
    assert run_restore(tmp_path / "a.tif", "-o", tmp_path / "a.tif", "--model", model) == 2
    assert "is also an input" in capsys.readouterr().err
    assert (tmp_path / "a.tif").read_bytes() == before
    assert run_restore(tmp_path / "a.tif", tmp_path / "a.tif", "-o", tmp_path / "out", "--model", model) == 2
    assert "given twice" in capsys.readouterr().err


def test_every_input_is_checked_before_anything_is_written(model, tmp_path, capsys):
    write_image(tmp_path / "good.npy", image(1))
    (tmp_path / "text.tif").write_text("no image")
    np.save(tmp_path / "rgb.npy", np.zeros((64, 64, 3), np.float32))
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "dot.npy", np.ones((1, 1), np.float32))
    nan = image(2)
    nan[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    names = ["good.npy", "text.tif", "rgb.npy", "empty.npy", "dot.npy", "nan.npy", "missing.tif"]
    assert run_restore(*(tmp_path / n for n in names), "-o", tmp_path / "out", "--model", model) == 2
    err = capsys.readouterr().err
    assert "6 of 7 inputs cannot be restored; nothing was written" in err
    for name, reason in [("text.tif", "not a readable TIFF"), ("rgb.npy", "colour (RGB)"),
                         ("empty.npy", "empty file (0 bytes)"), ("dot.npy", "1 × 1 px"),
                         ("nan.npy", "1 NaN or infinite pixels"), ("missing.tif", "no such file")]:
        line = next((text for text in err.splitlines() if f"{tmp_path / name}:" in text), "")
        assert reason in line, (name, err)
    assert "good.npy" not in err
    assert not (tmp_path / "out").exists()


def test_a_failure_while_restoring_is_summarised_and_the_other_files_are_restored(model, tmp_path, capsys,
                                                                                monkeypatch):
    import restore.inference

    write_image(tmp_path / "a.tif", image(1))
    write_image(tmp_path / "b.tif", image(2, (SIZE, SIZE + 2)))
    real = restore.inference.restore_image

    def fails_on_b(data, *args, **kwargs):
        if data.shape[-1] == SIZE + 2:
            raise RuntimeError("out of memory (simulated)")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(restore.inference, "restore_image", fails_on_b)
    assert run_restore(tmp_path / "a.tif", tmp_path / "b.tif", "-o", tmp_path / "out", "--model", model) == 1
    captured = capsys.readouterr()
    assert (tmp_path / "out" / "a_restored.tif").is_file() and not (tmp_path / "out" / "b_restored.tif").exists()
    assert "restored 1 of 2 files" in captured.out
    assert f"{tmp_path / 'b.tif'}: not restored (RuntimeError: out of memory (simulated))" in captured.err


def test_colour_is_refused_unless_grey_is_asked(model, tmp_path, capsys):
    rgb = np.random.default_rng(5).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "rgb.png")
    assert run_restore(tmp_path / "rgb.png", "-o", tmp_path / "out.tif", "--model", model) == 2
    assert "colour (RGB)" in capsys.readouterr().err
    assert run_restore(tmp_path / "rgb.png", "-o", tmp_path / "out.tif", "--model", model, "--grey") == 0
    assert read_image(tmp_path / "out.tif").data.shape == (SIZE, SIZE)


@pytest.mark.parametrize("arguments, message", [
    (["--model", "weights.pt"], "only .safetensors checkpoints are loaded (no pickle)"),
    (["--device", "foo"], "--device 'foo' is not a device"),
    (["--device", "cuda"], "no usable CUDA GPU"),
    (["--tile", "15"], "--tile 15: must be an even number of pixels ≥ 16"),
    (["--overlap", "40"], "--overlap 40: must be even and smaller than --tile"),
    (["--batch-size", "0"], "--batch-size 0: must be ≥ 1"),
    (["--format", "dm3"], "--format dm3: cannot be written"),
    (["--algorithm", "winograd", "--numeric", "bf16"], "--algorithm winograd with --numeric bf16"),
])
def test_bad_options_get_a_message_not_a_traceback(model, tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    write_image(tmp_path / "a.tif", image(1))
    (tmp_path / "weights.pt").write_bytes(b"\x80\x04pickle")
    monkeypatch.chdir(tmp_path)
    command = ["restore", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--model", model, "--tile", "32",
               *arguments]
    assert main(command) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_png_is_written_only_on_request_and_called_a_preview(model, tmp_path, capsys):
    from bench.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["restore"].format_help()
    assert "preview" in help_text and "keeps the intensity scale" not in help_text
    PILImage.fromarray(image(1).astype(np.uint8)).save(tmp_path / "in.png")
    assert run_restore(tmp_path / "in.png", "-o", tmp_path / "out", "--model", model) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["in_restored.tif"]  # floats need TIFF
    assert run_restore(tmp_path / "in.png", "-o", tmp_path / "view.png", "--model", model) == 0
    assert "preview" in capsys.readouterr().out


def test_help_shows_the_defaults_in_plain_words():
    from bench.cli import build_parser

    text = " ".join(build_parser()._subparsers._group_actions[0].choices["restore"].format_help().split())
    for expected in ("default: cgrdn.hrstem_default", "default: 256", "default: 8", "default: a quarter of --tile",
                     "default: auto"):
        assert expected in text, expected


@pytest.mark.parametrize("algorithm", ["winograd", "direct"])
def test_progress_counts_the_tiles_of_every_frame(model, tmp_path, capsys, algorithm):
    from restore.inference import tiles_needed

    write_image(tmp_path / "stack.tif", np.stack([image(1, (64, 64)), image(2, (64, 64))]))
    assert main(["restore", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out.tif"), "--model", model,
                 "--tile", "32", "--batch-size", "4", "--device", "cpu", "--algorithm", algorithm]) == 0
    total = 2 * tiles_needed((64, 64), 32)
    err = capsys.readouterr().err
    assert f"{total}/{total}" in err and "tile" in err


@pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
def test_the_numeric_path_is_printed_and_can_be_forced(model, tmp_path, capsys):
    write_image(tmp_path / "a.tif", image(1))
    assert run_restore(tmp_path / "a.tif", "-o", tmp_path / "fp32.npy", "--model", model) == 0
    assert "numeric path: fp32 on cpu (auto:" in capsys.readouterr().out
    assert run_restore(tmp_path / "a.tif", "-o", tmp_path / "bf16.npy", "--model", model, "--numeric", "bf16") == 0
    assert "numeric path: bf16 autocast (fp32 weights) on cpu (bf16: forced" in capsys.readouterr().out
    fp32, bf16 = (read_image(tmp_path / name).data for name in ("fp32.npy", "bf16.npy"))
    assert not np.array_equal(fp32, bf16)
