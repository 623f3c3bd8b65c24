"""CompressAI's image models as learned codecs through the registry: their checkpoint formats
load with segpic.zoo.load_checkpoint, two Kodak crops code through ImageCodec (container,
deterministic inference) and decode to the encoder's pixels with 1 and 2 threads, with the
same bytes; ``compressai:Q`` downloads released weights, verified and cached."""
import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest
import torch

from segpic import registry  # before compressai: segpic imports only the compressai modules it uses
from segpic.codec import ImageCodec, file_sha256
from segpic.errors import CodecError
from segpic.zoo import _DYNAMIC_BUFFERS, load_checkpoint

COMPRESSAI = [name for name, entry in registry.REGISTRY.items() if entry.family == "compressai"]
#: Models whose two crops code in a few seconds; the others (autoregressive: a Python loop over
#: latent pixels; ELIC and the checkerboard model: wide transforms) run with -m heavy.
FAST = ("mbt2018-mean",)


@pytest.fixture(scope="module")
def crops(data_root):
    """Two Kodak crops of sizes that are not multiples of 64 (padding and cropping exercised)."""
    from PIL import Image

    def load(name):
        with Image.open(data_root / "kodak" / name) as im:
            return np.asarray(im.convert("RGB"))

    return [np.ascontiguousarray(load("kodim04.png")[200:264, 100:196]),
            np.ascontiguousarray(load("kodim23.png")[40:112, 300:356])]


def _released_format(name, tmp_path):
    """The architecture CompressAI released for quality 1, deterministic random weights, saved
    as its zoo's files are: a bare state_dict."""
    entry = registry.get(name)
    torch.manual_seed(0)
    model = entry.build("paper")
    path = tmp_path / f"{name}.pth.tar"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.heavy) for n in COMPRESSAI])
def test_released_architecture_codes_kodak_crops_exactly(name, crops, tmp_path):
    path, reference = _released_format(name, tmp_path)
    model = load_checkpoint(path)  # architecture and N, M inferred from the tensors
    assert registry.name_of(model) == name
    weights = {k: v for k, v in reference.state_dict().items() if k.rsplit(".", 1)[-1] not in _DYNAMIC_BUFFERS}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    codec = ImageCodec(model, name, file_sha256(path), update=False)
    for rgb in crops:
        data = codec.encode(rgb)
        expected = codec.reconstruct(rgb)  # the encoder's own reconstruction
        assert data[6:6 + len(name)] == name.encode()
        threads = torch.get_num_threads()
        try:
            for n in (1, 2):
                torch.set_num_threads(n)
                assert codec.encode(rgb) == data, f"{n} threads encode other bytes"
                assert np.array_equal(codec.decode(data), expected), f"{n} threads decode other pixels"
        finally:
            torch.set_num_threads(threads)
        assert codec.decode(data).shape == rgb.shape


def test_training_checkpoint_with_old_key_names_loads(tmp_path):
    """CompressAI's training checkpoint (state_dict + optimizer ...) and the key names of its
    older releases (``downsample`` for ``skip``, ``_biases.K``) load as CompressAI loads them."""
    entry = registry.get("cheng2020-anchor")
    torch.manual_seed(0)
    model = entry.build("test")
    old = {k.replace(".skip.", ".downsample.").replace("entropy_bottleneck.biases.", "entropy_bottleneck._biases."): v
           for k, v in model.state_dict().items()}
    assert any(".downsample." in k for k in old) and any("._biases." in k for k in old)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 3, "state_dict": old, "loss": 1.5, "optimizer": {"state": {}, "param_groups": []},
                "aux_optimizer": {}, "lr_scheduler": {}}, path)
    loaded = load_checkpoint(path)
    assert registry.name_of(loaded) == "cheng2020-anchor"
    assert torch.equal(loaded.g_a[0].skip.weight, model.g_a[0].skip.weight)


def test_a_damaged_stream_is_a_clean_error(crops, tmp_path):
    """CompressAI's decoders run through the checked rANS decoder: a truncated stream is a
    one-line error, never a crash or a silently wrong image."""
    from segpic.fileformat import FormatError, pack, unpack

    path, _ = _released_format("mbt2018-mean", tmp_path)
    codec = ImageCodec.from_checkpoint(path)
    coded = unpack(codec.encode(crops[0]))
    y = coded.streams[0]
    damaged = pack(type(coded)(coded.arch, coded.checkpoint_hash, coded.height, coded.width, coded.grid,
                               (y[:-4],) + coded.streams[1:]))
    with pytest.raises(FormatError, match="bitstream does not match the model"):
        codec.decode(damaged)


# --- compressai:Q, released weights ------------------------------------------------------

class _Server:
    """A local HTTP server over a folder, counting requests."""

    def __init__(self, folder):
        self.requests = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                outer.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    (tmp_path / "www").mkdir()
    s = _Server(tmp_path / "www")
    yield s
    s.close()


def _publish(server, tmp_path, monkeypatch, body: bytes, name_hash: str) -> str:
    """Serve ``body`` as mbt2018-mean quality 1, its URL patched into CompressAI's table."""
    import compressai.zoo.image as zoo

    name = f"mbt2018-mean-1-{name_hash[:8]}.pth.tar"
    (tmp_path / "www" / name).write_bytes(body)
    monkeypatch.setitem(zoo.model_urls["mbt2018-mean"]["mse"], 1, f"{server.url}/{name}")
    return name


def test_released_weights_are_downloaded_verified_and_cached(server, tmp_path, monkeypatch, crops):
    from bench.codecs import get_codec

    monkeypatch.setenv("SEGPIC_CACHE", str(tmp_path / "cache"))
    source, _ = _released_format("mbt2018-mean", tmp_path)
    body = source.read_bytes()
    name = _publish(server, tmp_path, monkeypatch, body, hashlib.sha256(body).hexdigest())

    codec = get_codec("mbt2018-mean", checkpoints=["compressai:1"])
    cached = tmp_path / "cache" / "compressai" / name
    assert codec.checkpoints == [cached] and cached.read_bytes() == body
    assert len(server.requests) == 1
    codec.encode(crops[1], 1, tmp_path / "x.sgp")
    assert codec.decode(tmp_path / "x.sgp").shape == crops[1].shape
    get_codec("mbt2018-mean", checkpoints=["compressai:1"])
    assert len(server.requests) == 1  # cached: hashed again, not downloaded again
    assert sorted(p.name for p in cached.parent.iterdir()) == [name]


def test_a_download_that_does_not_verify_is_refused_and_not_kept(server, tmp_path, monkeypatch):
    from segpic import released

    monkeypatch.setenv("SEGPIC_CACHE", str(tmp_path / "cache"))
    _publish(server, tmp_path, monkeypatch, b"not the published weights", "0" * 8)
    with pytest.raises(CodecError, match="does not start with 00000000"):
        released.resolve("mbt2018-mean", ["compressai:1"])
    assert not any((tmp_path / "cache" / "compressai").iterdir())  # no partial or unverified file


def test_released_weights_errors_and_mirror(monkeypatch, tmp_path):
    from segpic import released

    monkeypatch.setenv("SEGPIC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CodecError, match="releases no weights for elic2022-official"):
        released.resolve("elic2022-official", ["compressai:1"])
    with pytest.raises(CodecError, match="not 9"):
        released.resolve("cheng2020-anchor", ["compressai:9"])
    with pytest.raises(CodecError, match="integer qualities"):
        released.resolve("mbt2018", ["compressai:one"])
    monkeypatch.setenv("SEGPIC_COMPRESSAI_URL", "http://mirror.example/models/")
    assert released.released_url("mbt2018-mean", 2) == "http://mirror.example/models/mbt2018-mean-2-e54a039d.pth.tar"
    monkeypatch.setenv("SEGPIC_COMPRESSAI_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(CodecError, match="cannot download"):
        released.fetch(released.released_url("mbt2018-mean", 2))


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["mbt2018", "elic2022-official"])
def test_mutated_streams_end_in_one_clean_error_or_an_image(name, tmp_path):
    """Random byte changes in a CRC-valid container of an autoregressive model (per-pixel
    decoder) and of ELIC (11 streams): each decodes to an image of the declared size or is a
    FormatError/CodecError; nothing else escapes."""
    from segpic.fileformat import FormatError, pack, unpack

    torch.manual_seed(0)
    path = tmp_path / "ckpt.pth"
    torch.save(registry.get(name).build("test").state_dict(), path)
    codec = ImageCodec.from_checkpoint(path)
    rgb = np.random.default_rng(1).integers(0, 256, (48, 70, 3), dtype=np.uint8)
    coded = unpack(codec.encode(rgb))
    rng = np.random.default_rng(2)
    outcomes = set()
    for _ in range(6):
        streams = [bytearray(s) for s in coded.streams]
        target = streams[int(rng.integers(len(streams)))]
        for _ in range(int(rng.integers(1, 4))):
            target[int(rng.integers(len(target)))] ^= int(rng.integers(1, 256))
        mutant = pack(type(coded)(coded.arch, coded.checkpoint_hash, coded.height, coded.width, coded.grid,
                                  tuple(bytes(s) for s in streams)))
        try:
            outcomes.add("image" if codec.decode(mutant).shape == rgb.shape else "wrong size")
        except (FormatError, CodecError) as e:
            assert "\n" not in str(e)
            outcomes.add("error")
    assert "wrong size" not in outcomes and "error" in outcomes
