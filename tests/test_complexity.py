"""Complexity of the learned codecs (results/complexity.csv, written by ``python -m bench.perf.flops
--write``): one row per architecture and input size, and the counting itself."""
from pathlib import Path

import pytest
import torch

from bench.perf import flops
from bench.perf.codec_speed import DEFAULT_ARCHS

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "complexity.csv"


def test_committed_file_has_every_architecture_at_kodak_sizes():
    """Every architecture that ``flops`` counts by default (the SegPIC family; CompressAI's
    models are counted when named)."""
    rows = {(r["arch"], int(r["width"]), int(r["height"])): r for r in flops.read(COMMITTED)}
    for arch in DEFAULT_ARCHS:
        for size in ((768, 512), (512, 768)):
            row = rows[(arch, *size)]
            pixels = size[0] * size[1]
            for side in ("encoder", "decoder"):
                assert float(row[f"{side}_kmac_per_pixel"]) == pytest.approx(
                    float(row[f"{side}_gmac"]) * 1e6 / pixels, rel=1e-3)
                assert 0 < int(row[f"{side}_parameters"]) <= int(row["parameters"])
        # the same network on the transposed image: the same work per pixel within 2%
        assert float(rows[(arch, 768, 512)]["decoder_kmac_per_pixel"]) == pytest.approx(
            float(rows[(arch, 512, 768)]["decoder_kmac_per_pixel"]), rel=0.02)


def test_parameters_counted_are_those_of_modules_that_run():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 2, 1))
    unused = torch.nn.Linear(10, 10)
    model.add_module("unused", unused)
    first = model[0]
    count = flops._modules_run(model, lambda: first(torch.zeros(1, 3, 8, 8)))
    assert count == 3 * 4 * 9 + 4


@pytest.mark.heavy
def test_committed_wacnn_row_is_what_flops_counts():
    committed = {(r["arch"], r["width"], r["height"]): r for r in flops.read(COMMITTED)}
    row = flops.count("wacnn", 768, 512)
    expected = committed[("wacnn", "768", "512")]
    for column in flops.COLUMNS:
        if column != "torch":
            assert str(row[column]) == expected[column], column
