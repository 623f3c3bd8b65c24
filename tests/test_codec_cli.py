"""ImageCodec and ``python -m segpic``: round trips, determinism across processes and
thread counts, and one-line errors that leave no output file behind.

Small configurations of the three architectures (random weights, fixed seeds) are saved
as project checkpoints, so every test runs the real compress/decompress in seconds.
"""
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segpic.__main__ import main
from segpic.codec import CodecError, ImageCodec, file_sha256
from segpic.fileformat import FormatError, pack, unpack

ROOT = Path(__file__).resolve().parents[1]
SMALL = {
    "segpic": dict(N=32, M=64, num_slices=2, max_support_slices=1),
    "wacnn": dict(N=32, M=64, num_slices=2, max_support_slices=1),
    "stf": dict(embed_dim=8, depths=[2, 2, 2, 2], num_heads=[1, 1, 2, 2], N=32, num_slices=2, max_support_slices=1),
}


def _save_small(arch: str, path: Path, seed: int) -> Path:
    from segpic.zoo import model_class

    torch.manual_seed(seed)
    model = model_class(arch)(**SMALL[arch])
    torch.save({"model": model.state_dict(), "config": {"arch": arch, **SMALL[arch]}}, path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Checkpoints (two seeds for stf), a test image and one encoded file per architecture."""
    d = tmp_path_factory.mktemp("codec")
    torch.set_num_threads(1)
    ckpt = {arch: _save_small(arch, d / f"{arch}.pth", seed=1) for arch in SMALL}
    ckpt["stf-other"] = _save_small("stf", d / "stf-other.pth", seed=2)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:90, 0:150]
    rgb = np.stack([xx * 1.7, yy * 2.5, (xx + yy) % 200], -1) + rng.normal(0, 12, (90, 150, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)  # 150x90: padded to 192x128, off-centre crop
    Image.fromarray(rgb).save(d / "img.png")
    codecs = {arch: ImageCodec.from_checkpoint(ckpt[arch], grid=3 if arch == "segpic" else 4) for arch in SMALL}
    for arch, codec in codecs.items():
        (d / f"{arch}.sgp").write_bytes(codec.encode(rgb))
    return dict(dir=d, ckpt=ckpt, rgb=rgb, codecs=codecs)


# ---------------------------------------------------------------------------- ImageCodec


@pytest.mark.parametrize("arch", list(SMALL))
def test_decode_reproduces_encoder_reconstruction(work, arch):
    codec = work["codecs"][arch]
    data = (work["dir"] / f"{arch}.sgp").read_bytes()
    out = codec.decode(data)
    assert out.shape == work["rgb"].shape and out.dtype == np.uint8
    assert np.array_equal(out, codec.reconstruct(work["rgb"]))
    assert codec.encode(work["rgb"]) == data  # same input, same bytes


@pytest.mark.parametrize("arch", list(SMALL))
def test_container_header(work, arch):
    coded = unpack((work["dir"] / f"{arch}.sgp").read_bytes())
    assert (coded.arch, coded.height, coded.width) == (arch, 90, 150)
    assert coded.checkpoint_hash.hex() == file_sha256(work["ckpt"][arch])[:16]
    assert coded.grid == {"segpic": 3, "stf": 0, "wacnn": 0}[arch]
    assert len(coded.streams) == (4 if arch == "segpic" else 2)


def test_grid_is_read_from_the_bitstream(work):
    other_grid = ImageCodec.from_checkpoint(work["ckpt"]["segpic"], grid=5)
    data = (work["dir"] / "segpic.sgp").read_bytes()
    assert np.array_equal(other_grid.decode(data), work["codecs"]["segpic"].decode(data))


def test_other_checkpoint_is_refused(work):
    other = ImageCodec.from_checkpoint(work["ckpt"]["stf-other"])
    with pytest.raises(CodecError, match="made with checkpoint"):
        other.decode((work["dir"] / "stf.sgp").read_bytes())
    with pytest.raises(CodecError, match="made by a stf model"):
        work["codecs"]["wacnn"].decode((work["dir"] / "stf.sgp").read_bytes())


def test_wrong_stream_count_is_a_format_error(work):
    """A valid container (right CRC, checkpoint and arch) whose streams the model cannot use."""
    coded = unpack((work["dir"] / "segpic.sgp").read_bytes())
    data = pack(replace(coded, streams=coded.streams[:3]))
    with pytest.raises(FormatError, match="does not match the model"):
        work["codecs"]["segpic"].decode(data)


# ------------------------------------------------ crafted containers (the CRC is valid)


@pytest.mark.parametrize("grid", [160, 192, 240, 255, 1])
def test_crafted_grid_is_a_format_error(work, grid):
    """Grids that made compressai's rANS decoder read past its stream (segfault at 160..255)."""
    coded = unpack((work["dir"] / "segpic.sgp").read_bytes())
    with pytest.raises(FormatError, match="side stream"):
        work["codecs"]["segpic"].decode(pack(replace(coded, grid=grid)))


def test_grid_on_a_model_without_prototypes_is_a_format_error(work):
    coded = unpack((work["dir"] / "wacnn.sgp").read_bytes())
    with pytest.raises(FormatError, match="grid 4 for a model without prototypes"):
        work["codecs"]["wacnn"].decode(pack(replace(coded, grid=4)))


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_empty_and_cut_streams_are_format_errors(work, arch):
    """All streams empty used to decode "successfully"; a stream cut short or followed by
    data it does not need is refused too (re-encoding its symbols does not give it back)."""
    coded = unpack((work["dir"] / f"{arch}.sgp").read_bytes())
    y, *side = coded.streams
    for streams, message in [((b"",) * len(coded.streams), "at least 8 bytes"),
                             ((y[:-4], *side), "latent"),
                             ((y + bytes(4), *side), "latent"),
                             ((y, side[0][:-4], *side[1:]), "side stream"),
                             ((y, side[0] + b"\xff" * 4, *side[1:]), "side stream")]:
        with pytest.raises(FormatError, match=message):
            work["codecs"][arch].decode(pack(replace(coded, streams=streams)))


@pytest.mark.parametrize("height, width", [(65535, 65535), (16384, 16384), (768, 1048576)])
def test_huge_declared_size_is_refused_before_allocating(work, height, width):
    coded = unpack((work["dir"] / "stf.sgp").read_bytes())
    data = pack(replace(coded, height=height, width=width))
    with pytest.raises(CodecError, match="above the limit of 33554432"):
        work["codecs"]["stf"].decode(data)


def test_size_that_needs_other_streams_fails_fast(work):
    """65535x64 is under the pixel limit: its streams do not fit, found at the first side stream
    (it used to decode for 134 s at 4 GB)."""
    coded = unpack((work["dir"] / "wacnn.sgp").read_bytes())
    with pytest.raises(FormatError, match="side stream"):
        work["codecs"]["wacnn"].decode(pack(replace(coded, height=64, width=65535)))


def test_cli_max_pixels(work, tmp_path, capsys):
    src = work["dir"] / "wacnn.sgp"
    args = ["decode", src, tmp_path / "out.png", "--checkpoint", work["ckpt"]["wacnn"]]
    rc, _, err = _run(args + ["--max-pixels", "10000"], capsys)
    assert rc == 1 and err.count("\n") == 1 and "150x90 = 13500 pixels is above the limit of 10000" in err
    assert not (tmp_path / "out.png").exists()
    rc, _, err = _run(args + ["--max-pixels", "13500"], capsys)
    assert rc == 0 and (tmp_path / "out.png").exists()
    rc, _, err = _run(["encode", work["dir"] / "img.png", tmp_path / "x.sgp", "--checkpoint", work["ckpt"]["wacnn"],
                       "--max-pixels", "100"], capsys)
    assert rc == 1 and "above the limit of 100" in err and not (tmp_path / "x.sgp").exists()
    with pytest.raises(SystemExit):
        main(["decode", str(src), str(tmp_path / "o.png"), "--checkpoint", "c.pth", "--max-pixels", "0"])


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32),
                                 np.zeros((8, 8, 4), np.uint8), np.zeros((0, 8, 3), np.uint8), [[1, 2, 3]]])
def test_bad_images_are_refused(work, bad):
    with pytest.raises(CodecError):
        work["codecs"]["stf"].encode(bad)


def test_unreadable_checkpoint_is_one_line_error(work, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    for path in (junk, tmp_path / "missing.pth"):
        with pytest.raises(CodecError) as e:
            ImageCodec.from_checkpoint(path)
        assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------- CLI, in process


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_cli_round_trip(work, tmp_path, capsys):
    ck = work["ckpt"]["segpic"]
    rc, out, _ = _run(["encode", work["dir"] / "img.png", tmp_path / "a.sgp", "--checkpoint", ck, "--grid", "3"], capsys)
    assert rc == 0 and "bpp" in out
    assert (tmp_path / "a.sgp").read_bytes() == (work["dir"] / "segpic.sgp").read_bytes()
    rc, _, _ = _run(["decode", tmp_path / "a.sgp", tmp_path / "a.png", "--checkpoint", ck], capsys)
    assert rc == 0
    decoded = np.asarray(Image.open(tmp_path / "a.png"))
    assert np.array_equal(decoded, work["codecs"]["segpic"].reconstruct(work["rgb"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.sgp"]  # no temp files left


def _damaged(data: bytes):
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    return {
        "truncated": (data[: len(data) - 7], "truncated"),
        "corrupted": (bytes(flipped), "CRC32"),
        "empty": (b"", "empty"),
        "foreign": (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a segpic bitstream"),
        "trailing": (data + b"\0\0", "trailing"),
    }


@pytest.mark.parametrize("case", ["truncated", "corrupted", "empty", "foreign", "trailing"])
def test_cli_decode_refuses_damaged_files(work, tmp_path, capsys, case):
    bad, message = _damaged((work["dir"] / "stf.sgp").read_bytes())[case]
    (tmp_path / "in.sgp").write_bytes(bad)
    rc, _, err = _run(["decode", tmp_path / "in.sgp", tmp_path / "out.png", "--checkpoint", work["ckpt"]["stf"]], capsys)
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("segpic: error:") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.sgp"]


def test_cli_wrong_checkpoint_keeps_existing_output(work, tmp_path, capsys):
    (tmp_path / "out.png").write_bytes(b"previous")
    rc, _, err = _run(["decode", work["dir"] / "stf.sgp", tmp_path / "out.png", "--checkpoint", work["ckpt"]["stf-other"]],
                      capsys)
    assert rc == 1 and err.count("\n") == 1 and "checkpoint" in err
    assert (tmp_path / "out.png").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("case", ["missing image", "not an image", "missing checkpoint", "bad checkpoint",
                                  "no output folder", "wrong arch"])
def test_cli_encode_errors(work, tmp_path, capsys, case):
    img, ck, out = work["dir"] / "img.png", work["ckpt"]["stf"], tmp_path / "out.sgp"
    extra = []
    if case == "missing image":
        img = tmp_path / "nope.png"
    elif case == "not an image":
        img = tmp_path / "text.png"
        img.write_text("hello")
    elif case == "missing checkpoint":
        ck = tmp_path / "nope.pth"
    elif case == "bad checkpoint":
        ck = tmp_path / "bad.pth"
        ck.write_bytes(b"\0" * 64)
    elif case == "no output folder":
        out = tmp_path / "sub" / "out.sgp"
    else:
        extra = ["--arch", "wacnn"]
    before = set(tmp_path.iterdir())
    rc, _, err = _run(["encode", img, out, "--checkpoint", ck, *extra], capsys)
    assert rc == 1 and err.count("\n") == 1 and err.startswith("segpic: error:"), err
    assert set(tmp_path.iterdir()) == before


def test_cli_decode_needs_png_name(work, tmp_path, capsys):
    rc, _, err = _run(["decode", work["dir"] / "stf.sgp", tmp_path / "out.jpg", "--checkpoint", work["ckpt"]["stf"]], capsys)
    assert rc == 1 and "PNG" in err and not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------- fresh processes


def test_fresh_process_decodes_exactly_and_encodes_identically(work, tmp_path):
    """A new interpreter decodes every architecture's file, with 1 and then 2 threads, to
    the encoder-side reconstruction made here with 1 thread, and re-encodes the image
    (2 threads) to the same bytes.  It prints nothing on stderr."""
    d = work["dir"]
    script = textwrap.dedent(f"""
        import torch
        from segpic.__main__ import main
        cases = {[(a, str(work['ckpt'][a])) for a in SMALL]!r}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert torch.get_num_threads() == threads
            for arch, ck in cases:
                out = r"{tmp_path}/" + arch + "-" + str(threads) + ".png"
                assert main(["decode", r"{d}/" + arch + ".sgp", out, "--checkpoint", ck]) == 0
        for arch, ck in cases:
            grid = ["--grid", "3"] if arch == "segpic" else []
            assert main(["encode", r"{d}/img.png", r"{tmp_path}/" + arch + ".sgp", "--checkpoint", ck, *grid]) == 0
    """)
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    for arch, codec in work["codecs"].items():
        assert (tmp_path / f"{arch}.sgp").read_bytes() == (d / f"{arch}.sgp").read_bytes(), arch
        expected = codec.reconstruct(work["rgb"])
        for threads in (1, 2):
            decoded = np.asarray(Image.open(tmp_path / f"{arch}-{threads}.png"))
            assert np.array_equal(decoded, expected), (arch, threads)


def test_cli_rejects_bad_files_before_importing_torch(tmp_path):
    """An empty, missing or foreign input is refused in a fraction of a second: neither torch
    nor compressai is imported (it took about 10 s and 936 MB before)."""
    (tmp_path / "empty.sgp").write_bytes(b"")
    (tmp_path / "c.pth").write_bytes(b"x")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "img.txt").write_text("not an image")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "img.png")
    script = textwrap.dedent(f"""
        import sys
        from segpic.__main__ import main
        d = r"{tmp_path}"
        cases = [(["decode", d + "/empty.sgp", d + "/o.png", "--checkpoint", d + "/c.pth"], "empty file"),
                 (["decode", d + "/missing.sgp", d + "/o.png", "--checkpoint", d + "/c.pth"], "no such file"),
                 (["decode", d + "/c.pth", d + "/o.png", "--checkpoint", d + "/c.pth"], "bad magic"),
                 (["encode", d + "/img.txt", d + "/o.sgp", "--checkpoint", d + "/c.pth"], "cannot read image"),
                 (["encode", d + "/img.txt", d + "/no/o.sgp", "--checkpoint", d + "/c.pth"], "output folder"),
                 (["encode", d + "/img.png", d + "/o.sgp", "--checkpoint", d + "/empty.pth"], "not a checkpoint")]
        for argv, message in cases:
            assert main(argv) == 1, argv
        from segpic.lean_compressai import _CHEAP
        stand_ins = tuple(_CHEAP)  # segpic/lean_compressai.py: packages whose __init__ does not run
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "compressai", "torch_geometric")
                       and m not in stand_ins)
        assert not heavy, heavy[:5]
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 6 and all(line.startswith("segpic: error:") for line in lines), lines
    for line, message in zip(lines, ["empty file", "no such file", "bad magic", "cannot read image", "output folder",
                                     "not a checkpoint"]):
        assert message in line, line


def test_importing_the_codec_skips_torch_geometric_and_warns_nothing():
    """compressai's package __init__ (torch_geometric, torch._dynamo, two jit.script
    FutureWarnings) is not run when segpic and bench's learned codecs are imported."""
    script = ("import sys, segpic.codec, bench.codecs.learned, segpic.models\n"
              "assert not [m for m in sys.modules if m.startswith(('torch_geometric', 'torch._dynamo'))]\n"
              "import compressai, warnings\n"
              "assert compressai.get_entropy_coder() == 'ans'\n"
              "warnings.simplefilter('ignore')  # the rest of compressai is still there, at the full price:\n"
              "from compressai.models import FactorizedPrior\n"
              "assert compressai.__version__ == '1.2.8' and compressai.zoo.bmshj2018_factorized\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-W", "default", "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_train_subcommand_delegates_to_training_cli(monkeypatch):
    """``segpic train ...`` hands its arguments to segpic.train.cli (add_arguments, run)."""
    import types

    seen = {}
    fake = types.ModuleType("segpic.train.cli")
    fake.add_arguments = lambda p: p.add_argument("--steps", type=int)
    fake.run = lambda args: seen.setdefault("steps", args.steps) and 3
    monkeypatch.setitem(sys.modules, "segpic.train.cli", fake)
    import segpic.train

    monkeypatch.setattr(segpic.train, "cli", fake, raising=False)
    assert main(["train", "--steps", "7"]) == 3 and seen == {"steps": 7}
