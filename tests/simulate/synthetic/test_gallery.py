import json

import pytest

from simulate.synthetic.gallery import make_pair_gallery


def test_pair_gallery_writes_png_and_records(tmp_path):
    written = make_pair_gallery(tmp_path, seed=3, modalities=("lrtem",), count=2, size=32)
    assert [p.name for p in written] == ["pairs_lrtem.png", "pairs_lrtem.json"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = json.loads(written[1].read_text())
    assert len(records) == 2 and all(r["modality"] == "lrtem" for r in records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs_lrtem.json", "pairs_lrtem.png"]
    with pytest.raises(ValueError):
        make_pair_gallery(tmp_path, seed=-1)


def test_gallery_command_offers_pairs():
    from bench.cli import build_parser

    args = build_parser().parse_args(["gallery", "pairs", "-o", "out"])
    assert args.kind == "pairs"
