"""bench.datasets: checksums, fetching (file:// and loopback HTTP with resume), presence rules."""
import hashlib
import http.server
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import datasets
from bench.__main__ import main
from bench.datasets import REGISTRY, DatasetSpec, Download, download, fetch, present_count, resolve, verify
from bench.errors import UserError


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files of ``root`` with HTTP Range support, counting the bytes it sends."""

    root: Path = Path(".")
    sent = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        # counted before writing: the client may finish reading (and the test assert) before
        # this thread runs again after the write
        type(self).sent += len(data) - start
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = type("Handler", (_RangeHandler,), {"root": root, "sent": 0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_shared_kodak_passes_its_checksums(data_root):
    kodak = data_root / "kodak"
    assert verify(REGISTRY["kodak"], kodak) == []
    # the shared copy's own per-file SHA-256 list agrees with the files we verified
    for line in (kodak / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((kodak / name).read_bytes()).hexdigest() == digest


def test_a_changed_pixel_fails_the_checksum(tmp_path, data_root):
    where = tmp_path / "kodak"
    shutil.copytree(data_root / "kodak", where)
    rgb = np.asarray(Image.open(where / "kodim05.png").convert("RGB")).copy()
    rgb[0, 0, 0] ^= 1
    Image.fromarray(rgb).save(where / "kodim05.png")
    assert verify(REGISTRY["kodak"], where) == ["kodim05.png: pixel checksum mismatch"]


def test_fetch_kodak_from_a_file_url_mirror(tmp_path, data_root):
    root = tmp_path / "data"
    where = fetch("kodak", root, mirror=(data_root / "kodak").as_uri(), quiet=True)
    assert where == root / "kodak"
    assert present_count(REGISTRY["kodak"], root) == 24
    assert verify(REGISTRY["kodak"], where) == []
    assert not list(where.glob("*.part")) and not list(where.glob("*.download"))
    name, files = resolve("kodak", root)
    assert name == "kodak" and len(files) == 24


def test_fetch_rejects_a_wrong_image_and_keeps_nothing(tmp_path, data_root):
    mirror = tmp_path / "mirror"
    shutil.copytree(data_root / "kodak", mirror)
    shutil.copy(mirror / "kodim02.png", mirror / "kodim01.png")
    root = tmp_path / "data"
    with pytest.raises(UserError, match="kodim01.png .* does not match"):
        fetch("kodak", root, mirror=mirror.as_uri(), quiet=True)
    assert not (root / "kodak" / "kodim01.png").exists()
    assert present_count(REGISTRY["kodak"], root) == 0
    with pytest.raises(UserError, match="not found"):
        resolve("kodak", root)


def test_download_resumes_a_partial_file_over_http(tmp_path, server):
    served, base, handler = server
    payload = np.random.RandomState(0).bytes(300_000)
    (served / "blob.bin").write_bytes(payload)
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(payload[:100_000])
    download(f"{base}/blob.bin", dest, md5=_md5(payload), quiet=True)
    assert dest.read_bytes() == payload
    assert handler.sent == 200_000, "only the missing bytes are transferred"
    assert not dest.with_name("blob.bin.part").exists()


def test_download_with_a_bad_checksum_keeps_nothing(tmp_path, server):
    served, base, _ = server
    (served / "blob.bin").write_bytes(b"abc" * 1000)
    dest = tmp_path / "blob.bin"
    with pytest.raises(UserError, match="checksum mismatch"):
        download(f"{base}/blob.bin", dest, md5="0" * 32, quiet=True)
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()


def test_network_failure_is_one_line_and_keeps_the_part(tmp_path, server):
    _, base, _ = server
    with pytest.raises(UserError, match="HTTP 404"):
        download(f"{base}/absent.zip", tmp_path / "absent.zip", quiet=True)
    with pytest.raises(UserError, match="failed"):
        download("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", quiet=True)


def _archive_spec(tmp_path, monkeypatch, count=3):
    """A small registered archive dataset served from a zip like CLIC's (``valid/``)."""
    archive = tmp_path / "served" / "set.zip"
    archive.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(count):
            image = Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8))
            with zf.open(f"valid/img{i}.png", "w") as f:
                image.save(f, format="PNG")
        zf.writestr("valid/readme.txt", "not an image")
        zf.writestr("other/skip.png", b"")
    spec = DatasetSpec("tiny-set", count, (Download("http://unused/set.zip", "set.zip", _md5(archive.read_bytes())),),
                       archive_member="valid")
    monkeypatch.setitem(REGISTRY, spec.name, spec)
    return spec


def test_fetch_archive_over_http_extracts_and_verifies(tmp_path, server, monkeypatch):
    _, base, _ = server
    spec = _archive_spec(tmp_path, monkeypatch)
    root = tmp_path / "data"
    where = fetch(spec.name, root, mirror=base, quiet=True)
    assert sorted(p.name for p in where.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert present_count(spec, root) == 3
    assert not [p for p in root.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_partial_archive_download_never_counts_as_present(tmp_path, monkeypatch):
    spec = _archive_spec(tmp_path, monkeypatch)
    root = tmp_path / "data"
    root.mkdir()
    data = (tmp_path / "served" / "set.zip").read_bytes()
    (root / "set.zip.part").write_bytes(data[: len(data) // 2])
    assert present_count(spec, root) == 0
    with pytest.raises(UserError, match=f"fetch {spec.name}"):
        resolve(spec.name, root)
    # fetching resumes the .part file from a file:// mirror and completes the set
    fetch(spec.name, root, mirror=(tmp_path / "served").as_uri(), quiet=True)
    assert present_count(spec, root) == 3


def test_archive_with_the_wrong_content_is_refused(tmp_path, monkeypatch):
    spec = _archive_spec(tmp_path, monkeypatch, count=3)
    monkeypatch.setitem(REGISTRY, spec.name, DatasetSpec(spec.name, 4, spec.downloads, archive_member="valid"))
    with pytest.raises(UserError, match="3 images, expected 4"):
        fetch(spec.name, tmp_path / "data", mirror=(tmp_path / "served").as_uri(), quiet=True)
    assert not (tmp_path / "data" / spec.name).exists()


def test_any_folder_is_a_dataset(tmp_path):
    folder = tmp_path / "my-photos"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "a.png")
    name, files = resolve(str(folder), tmp_path)
    assert name == "my-photos" and [f.name for f in files] == ["a.png"]
    with pytest.raises(UserError, match="no images"):
        resolve(str(_empty(tmp_path)), tmp_path)
    with pytest.raises(UserError, match="unknown dataset"):
        resolve("no-such-set", tmp_path)


def _empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_data_root_option_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGPIC_DATA", str(tmp_path / "env"))
    assert datasets.data_root(str(tmp_path / "opt")) == tmp_path / "opt"
    assert datasets.data_root() == tmp_path / "env"
    monkeypatch.delenv("SEGPIC_DATA")
    assert datasets.data_root() == Path("~/.cache/segpic-bench/data").expanduser()


def test_missing_dataset_cli_message_is_one_line(tmp_path, capsys):
    status = main(["run", "--models", "jpeg", "--dataset", "kodak", "--data-root", str(tmp_path)])
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: dataset 'kodak' not found at {tmp_path / 'kodak'}; fetch it with: "
        f"python -m bench datasets fetch kodak --data-root {tmp_path}"
    ]


def test_datasets_list_shows_state(data_root, capsys):
    assert main(["datasets", "list", "--data-root", str(data_root)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "present" in lines["kodak"] and "missing" in lines["tecnick-100"]
