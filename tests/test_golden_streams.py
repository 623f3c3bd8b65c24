"""The shipped golden streams (results/golden/streams/) decode on this machine to exactly the
symbols and pixels recorded on the machine that made them, and their crops encode to the
same bytes. They are recorded once and kept: this is the cross-machine check, on whichever
CPU the suite runs."""
import numpy as np
import pytest

from bench import golden_streams

ROWS = {row["arch"] + "-" + row["image"]: row for row in golden_streams.read_manifest()}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_golden_stream_decodes_exactly_and_its_crop_encodes_to_it(name, data_root):
    row = ROWS[name]
    assert row["checkpoint"] == f"{row['arch']}-q{golden_streams.QUALITY}.pth"
    codec = golden_streams.golden_codec(row["arch"])
    data = (golden_streams.FOLDER / golden_streams.stream_name(row["arch"], row["image"])).read_bytes()
    got = golden_streams.decode(codec, data)
    assert got.symbols_sha256 == row["symbols_sha256"], "other latent symbols than on " + row["recorded_on"]
    assert got.pixels_sha256 == row["pixels_sha256"], "other pixels than on " + row["recorded_on"]
    assert codec.encode(golden_streams.crop_of(data_root / "kodak", row["image"], row["crop"])) == data


def test_symbol_hash_sees_every_decoded_symbol():
    """The hash covers the latents: a stream whose last byte differs decodes to other symbols."""
    codec = golden_streams.golden_codec("wacnn")
    model = codec.model
    x = np.zeros((64, 64, 3), np.uint8)
    x[:32] = 200
    data = codec.encode(x)
    with golden_streams.decoded_symbols() as symbols:
        codec.decode(data)
    sizes = [s.size for s in symbols]
    # z (M/... channels at 1/64) and each y slice at 1/16: every latent element is seen once
    assert sum(sizes) == model.entropy_bottleneck.channels * 1 * 1 + 32 * 4 * 4, sizes
