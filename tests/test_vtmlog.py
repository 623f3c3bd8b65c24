"""The VTM encoder log parser on the real logs of the shipped anchors."""
import csv
import math
import re

import pytest

from bench.vtmlog import VtmLogError, parse_vtm_log, read_vtm_log

SETS = {"kodak": 8, "kodak-10bit": 10}


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_shipped_log_parses_and_matches_its_bitstream(shared_dir, name):
    root = shared_dir / "anchors" / "vtm17" / name
    logs = sorted((root / "logs").glob("*.log"))
    assert len(logs) == 96
    with open(root / "points.csv") as f:
        points = {(r["image"], int(r["qp"])): r for r in csv.DictReader(f)}
    for path in logs:
        image, qp = re.fullmatch(r"(kodim\d\d)_qp(\d+)", path.stem).groups()
        log = read_vtm_log(path)
        assert log.version == "17.0"
        assert log.qp == int(qp), path.name
        assert log.frames == 1
        assert log.input_bit_depth == SETS[name]
        # VTM counts every byte it writes: bits / 8 is the .bin size exactly, no header aside
        size = (root / "bitstreams" / f"{path.stem}.bin").stat().st_size
        assert log.bits == 8 * size, path.name
        assert int(points[(image, int(qp))]["bytes"]) == size
        # 4:4:4: the YUV-PSNR is that of the mean of the three planes' MSEs
        mse = sum(10 ** (-p / 10) for p in (log.psnr_y, log.psnr_u, log.psnr_v)) / 3
        assert log.psnr_yuv == pytest.approx(-10 * math.log10(mse), abs=1e-3), path.name
        assert 1 < log.total_time_s < 1000


def test_fields_of_one_log(shared_dir):
    log = read_vtm_log(shared_dir / "anchors/vtm17/kodak/logs/kodim01_qp27.log")
    assert (log.qp, log.bits, log.bytes) == (27, 572760, 71595)
    psnrs = (log.psnr_y, log.psnr_u, log.psnr_v, log.psnr_yuv)
    assert psnrs == (37.1808, 47.8792, 46.9267, 41.1922)
    assert log.total_time_s == 119.213
    assert log.command.startswith("EncoderAppStatic -i kodim01_qp27.yuv -c encoder_intra_vtm.cfg")


def test_incomplete_log_names_what_is_missing(shared_dir, tmp_path):
    text = (shared_dir / "anchors/vtm17/kodak/logs/kodim01_qp27.log").read_text()
    cut = text[:text.index("LayerId")]          # an encoder killed before its summary
    with pytest.raises(VtmLogError, match="PSNR summary, Total Time"):
        parse_vtm_log(cut)
    (tmp_path / "x.log").write_text("hello\n")
    with pytest.raises(VtmLogError, match="x.log: .*no version banner"):
        read_vtm_log(tmp_path / "x.log")
