import json

from bench.cli import main
from simulate.distortions.gallery import lattice_image


def test_lattice_image_is_a_beam_fraction():
    image = lattice_image(64)
    assert image.shape == (64, 64) and 0 < image.min() and image.max() < 0.1


def test_gallery_command_writes_the_figures_and_records(tmp_path, capsys):
    assert main(["gallery", "distortions", "-o", str(tmp_path), "--seed", "1"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["distortions_postprocessing.png", "distortions_records.json", "distortions_stem.png",
                     "distortions_tem.png"]
    for name in [n for n in names if n.endswith(".png")]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = json.loads((tmp_path / "distortions_records.json").read_text())
    assert records["seed"] == 1 and "X jitter (41-42)" in records["panels"]["stem"]
    assert main(["gallery", "distortions", "-o", str(tmp_path), "--seed", "-1"]) == 2
