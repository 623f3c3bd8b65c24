"""Codec ``vtm`` against a stand-in VTM tree (the real VTM is not available on CI).

The stand-in EncoderAppStatic parses VTM's flags, checks the input YUV is exactly one planar
4:4:4 picture at --InputBitDepth, and writes a real bitstream (a small header, then the planes
zlib-compressed, losslessly); the stand-in DecoderAppStatic inflates it into a YUV file at -d bits.
Both print what VTM prints, so the codec's log parsing runs on their output too.
"""
import os
import struct
import sys
import zlib

import numpy as np
import pytest

from bench.codecs.base import CodecError, get_codec
from bench.codecs.vtm import VTM
from bench.colour import rgb_to_ycbcr

ENCODER = r'''#!{python}
import argparse, struct, sys, zlib
VERSION = "{version}"
print(f"VVCSoftware: VTM Encoder Version {{VERSION}} [stand-in][64 bit]")
if len(sys.argv) == 1:
    sys.exit(1)                                    # VTM prints its help and fails without options
p = argparse.ArgumentParser()
for flag in ("-i", "-c", "-o", "-b"):
    p.add_argument(flag, required=True)
for flag in ("-q", "-wdt", "-hgt", "-fr", "-f"):
    p.add_argument(flag, type=int, required=True)
for flag in ("--InputChromaFormat", "--InputBitDepth", "--ConformanceWindowMode"):
    p.add_argument(flag, type=int, required=True)
a = p.parse_args()
print("ARGV " + " ".join(sys.argv[1:]))
open(a.c).read()
if not 0 <= a.q <= 63:
    sys.exit(f"ERROR: QP {{a.q}} out of range")
assert a.InputChromaFormat == 444 and a.InputBitDepth in (8, 10) and a.f == 1 and a.o == "/dev/null"
data = open(a.i, "rb").read()
nbytes = 1 if a.InputBitDepth == 8 else 2
if len(data) != 3 * a.wdt * a.hgt * nbytes:
    sys.exit(f"ERROR: {{a.i}} is {{len(data)}} bytes, not one {{a.wdt}}x{{a.hgt}} 4:4:4 picture")
payload = struct.pack("<4sHHB", b"STND", a.wdt, a.hgt, a.InputBitDepth) + zlib.compress(data, 9)
open(a.b, "wb").write(payload)
bits = 8 * len(payload)
print(f"POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP {{a.q}} )     {{bits}} bits "
      "[Y 99.9900 dB    U 99.9900 dB    V 99.9900 dB] [ET     0 ] [L0] [L1]")
print("\tTotal Frames |  Bitrate      Y-PSNR   U-PSNR   V-PSNR   YUV-PSNR ")
print(f"\t1            a  {{bits / 8000:.4f}}      99.9900  99.9900  99.9900  99.9900  ")
print(" Total Time:        0.010 sec. [user]        0.012 sec. [elapsed]")
'''

DECODER = r'''#!{python}
import argparse, struct, sys, zlib
import numpy as np
p = argparse.ArgumentParser()
p.add_argument("-b", required=True)
p.add_argument("-o", required=True)
p.add_argument("-d", type=int, required=True)
a = p.parse_args()
raw = open(a.b, "rb").read()
magic, w, h, bits = struct.unpack("<4sHHB", raw[:9])
assert magic == b"STND"
planes = np.frombuffer(zlib.decompress(raw[9:]), np.uint8 if bits == 8 else "<u2").astype(np.int64)
shift = a.d - bits                                  # VTM's output bit depth change, rounded
if shift > 0:
    planes = planes << shift
elif shift < 0:
    planes = np.clip((planes + (1 << (-shift - 1))) >> -shift, 0, (1 << a.d) - 1)
open(a.o, "wb").write(planes.astype(np.uint8 if a.d == 8 else "<u2").tobytes())
print("VVCSoftware: VTM Decoder Version stand-in")
'''


def _standin_tree(root, version="17.0"):
    """A VTM tree layout: bin/EncoderAppStatic, bin/DecoderAppStatic, cfg/encoder_intra_vtm.cfg."""
    (root / "bin").mkdir(parents=True)
    (root / "cfg").mkdir()
    (root / "cfg" / "encoder_intra_vtm.cfg").write_text("IntraPeriod : 1\n")
    for name, text in (("EncoderAppStatic", ENCODER.format(python=sys.executable, version=version)),
                       ("DecoderAppStatic", DECODER.format(python=sys.executable))):
        (root / "bin" / name).write_text(text)
        (root / "bin" / name).chmod(0o755)
    return root


@pytest.fixture
def vtm_dir(tmp_path):
    return _standin_tree(tmp_path / "vtm")


def _image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


@pytest.mark.parametrize("bits, anchor", [(None, "kodak-10bit"), (8, "kodak")])
def test_command_line_is_the_anchors(vtm_dir, tmp_path, shared_dir, bits, anchor):
    """By default (no --vtm-input-bits) the command of the default vtm17 Kodak anchor, 10-bit;
    with 8 bits that of the 8-bit set.  The bit depth is in the version (a row's identity)."""
    out = tmp_path / "out"
    out.mkdir()
    codec = get_codec("vtm", vtm_dir=str(vtm_dir), **({} if bits is None else {"vtm_input_bits": bits}))
    assert codec.default_qualities == (27, 32, 37, 42)
    assert codec.version() == f"VTM-17.0 encoder_intra_vtm.cfg YCbCr-BT.709 4:4:4 {bits or 10}-bit input"
    codec.encode(_image(512, 768), 27, out / "kodim01_qp27.bin")
    ours = (out / "kodim01_qp27.log").read_text().splitlines()
    shipped = (shared_dir / f"anchors/vtm17/{anchor}/logs/kodim01_qp27.log").read_text().splitlines()
    null = "null" if "-o null" in shipped[0] else os.devnull  # the 10-bit logs name the unused output null
    assert ours[0] == shipped[0].replace(" -o null ", f" -o {os.devnull} ")
    # and the stand-in received exactly that command (with full paths)
    received = next(line for line in ours if line.startswith("ARGV ")).split()[1:]
    names = [null if a == os.devnull else os.path.basename(a) for a in received]
    assert names == shipped[0].split()[2:]


@pytest.mark.parametrize("bits", [8, 10])
def test_round_trip_yuv_layout_and_cleanup(vtm_dir, tmp_path, bits):
    rgb = _image(23, 37, seed=bits)                         # odd sizes on purpose
    codec = VTM(vtm_dir=str(vtm_dir), vtm_input_bits=bits)
    path = tmp_path / "img_qp32.bin"
    codec.encode(rgb, 32, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_qp32.bin", "img_qp32.log", "vtm"]
    # the bitstream holds the planar YCbCr the encoder was fed: read it independently
    raw = path.read_bytes()
    assert struct.unpack("<4sHHB", raw[:9]) == (b"STND", 37, 23, bits)
    fed = np.frombuffer(zlib.decompress(raw[9:]), np.uint8 if bits == 8 else "<u2")
    np.testing.assert_array_equal(fed.reshape(3, 23, 37), rgb_to_ycbcr(rgb, bits))
    out = codec.decode(path)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    err = np.abs(out.astype(int) - rgb)
    assert err.max() == (0 if bits == 10 else 1)            # 10-bit YCbCr holds 8-bit RGB exactly
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_qp32.bin", "img_qp32.log", "vtm"]
    # deterministic: the same input gives the same bitstream
    codec.encode(rgb, 32, tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == raw


def test_other_version_warns_loudly(tmp_path):
    root = _standin_tree(tmp_path / "vtm23", version="23.0")
    with pytest.warns(UserWarning, match="VTM 23.0, not 17.0"):
        codec = VTM(vtm_dir=str(root))
    assert codec.version().startswith("VTM-23.0 ")


def test_no_build_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.delenv("VTM_DIR", raising=False)
    with pytest.raises(CodecError) as e:
        VTM()
    message = str(e.value)
    assert "\n" not in message and "VTM_DIR" in message and "--vtm-dir" in message
    assert "bdrate --anchor vtm17" in message
    with pytest.raises(CodecError, match="EncoderAppStatic is not an executable"):
        VTM(vtm_dir=str(tmp_path))
    monkeypatch.setenv("VTM_DIR", str(_standin_tree(tmp_path / "env")))
    assert VTM().encoder == tmp_path / "env" / "bin" / "EncoderAppStatic"
    for bad in (12, "ten"):
        with pytest.raises(CodecError, match="must be 8 or 10"):
            VTM(vtm_input_bits=bad)


def test_encoder_failure_leaves_no_files(vtm_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    codec = VTM(vtm_dir=str(vtm_dir))
    failed = r"EncoderAppStatic failed on x\.bin \(exit 1\): ERROR: QP 70"
    with pytest.raises(CodecError, match=failed):
        codec.encode(_image(8, 8), 70, out / "x.bin")
    assert list(out.iterdir()) == []
    with pytest.raises(CodecError, match="encoder log"):
        codec.decode(out / "x.bin")
