"""``bench report``: the page on a tiny real run (jpeg and webp on two Kodak images, against the
shipped VTM-17.0 anchor and its bitstreams) is self-contained and holds the tables, the figures
and the decoded images, checked pixel for pixel; streams that are absent or not the ones measured
are said, never shown; bad input is one line and no file; and a real browser loads the page."""
import base64
import csv
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from bench.__main__ import main as bench_main
from bench.curves import CurveLibrary
from bench.images import load_rgb
from bench.report import ANCHORS_DIR, crop_box
from bench.tables import compare

IMAGES = ("kodim01", "kodim02")
QUALITIES = ["jpeg=10,30,50,70", "webp=10,30,50,70"]
CROP = 64


@pytest.fixture(scope="module")
def run_dir(data_root, tmp_path_factory):
    """A results folder with jpeg and webp on two Kodak images, streams kept (bench run)."""
    root = tmp_path_factory.mktemp("report")
    images = root / "kodak"
    images.mkdir()
    for name in IMAGES:
        shutil.copy(data_root / "kodak" / f"{name}.png", images / f"{name}.png")
    out = root / "runs"
    assert bench_main(["run", "--models", "jpeg", "webp", "--dataset", str(images), "--out", str(out),
                       "--quiet", "--qualities", *QUALITIES, "--metrics", "psnr-yuv"]) == 0
    return out


def report(capsys, results, out, data_root, shared_dir, *extra):
    rc = bench_main(["report", "--dataset", "kodak", "--results", str(results), "--out", str(out),
                     "--data-root", str(data_root), "--crop", str(CROP), "--bootstrap", "0",
                     "--anchor-streams", str(shared_dir / "anchors/vtm17/kodak-10bit/bitstreams"), *extra])
    captured = capsys.readouterr()
    return rc, captured.err


@pytest.fixture(scope="module")
def page(run_dir, data_root, shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert bench_main(["report", "--dataset", "kodak", "--results", str(run_dir), "--out", str(out),
                       "--data-root", str(data_root), "--crop", str(CROP), "--bootstrap", "50",
                       "--anchor-streams", str(shared_dir / "anchors/vtm17/kodak-10bit/bitstreams")]) == 0
    return out


class Links(HTMLParser):
    """Every src/href value and every tag of a page."""

    def __init__(self):
        super().__init__()
        self.urls, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [(tag, k, v) for k, v in attrs if k in ("src", "href", "xlink:href", "action")]


def parsed(path):
    links = Links()
    links.feed(path.read_text())
    return links


def crops(text):
    """image -> {label: decoded RGB array} of the page's stored crops (alt "image: label")."""
    found = {}
    for image, label, data in re.findall(r'<img alt="(\w+): ([^"]+)" src="data:image/png;base64,([^"]+)"', text):
        found.setdefault(image, {})[label] = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
    return found


def test_page_is_self_contained(page):
    links = parsed(page)
    assert "link" not in links.tags and "iframe" not in links.tags
    for tag, key, value in links.urls:
        assert not re.match(r"\s*(https?:)?//", value), (tag, key, value)
        if tag == "img":
            assert value.startswith("data:image/png;base64,"), value[:40]
        if tag == "a":
            assert value.startswith("#"), value
    assert "script" in links.tags and not any(t == "script" and k == "src" for t, k, _ in links.urls)
    ids = re.findall(r'\bid="([^"]+)"', page.read_text())
    assert len(ids) == len(set(ids)) > 100  # the figures' ids too: each SVG's are prefixed


def test_tables_and_figures_of_each_metric(page, run_dir):
    text = page.read_text()
    library = CurveLibrary("kodak", run_dir, ANCHORS_DIR)
    anchor = library.resolve("vtm17")
    for metric, name in (("psnr", "PSNR-RGB"), ("ms-ssim", "MS-SSIM-RGB"), ("psnr-yuv", "PSNR-YUV")):
        section = re.search(rf'<section id="metric-{metric}">(.*?)</section>', text, re.S).group(1)
        assert section.count("<svg") == 2  # RD curves and per-image spread
        assert f"BD-rate against VTM-17.0 (anchor) on kodak, {name}, cubic" in section
        for curve in library.ours():
            expected = compare(anchor, curve, metric, "cubic").bd_rate
            row = re.search(rf"<tr><td>{re.escape(curve.label)}\s*</td>(.*?)</tr>", section).group(1)
            assert f"<td>{expected:+.2f}" in row
            # the per-image spread over the two images, and its bootstrap interval
            assert "<td>2/2" in row and re.search(r"<td>\[[+-]\d+\.\d+, [+-]\d+\.\d+\]", row)
    summary = re.search(r'<section id="summary">(.*?)</section>', text, re.S).group(1)
    assert "JPEG (ours)" in summary and "WebP (ours)" in summary
    provenance = re.search(r'<section id="provenance">(.*?)</section>', text, re.S).group(1)
    for needed in ("Pillow", "libjpeg-turbo", "libwebp", "VTM-17.0 encoder_intra_vtm.cfg", "date (UTC)",
                   "machine that made this page", "repository commit"):
        assert needed in provenance


def test_decoded_crops_are_the_measured_images(page, run_dir, data_root):
    """Each crop is the stream of the rate point nearest 0.5 bpp, decoded, cropped: checked
    against decoding the stream here (ours) and against the original (anchor, by PSNR)."""
    found = crops(page.read_text())
    assert set(found) == set(IMAGES)
    rows = list(csv.DictReader(open(run_dir / "kodak/default/per_image.csv")))
    for image in IMAGES:
        original = load_rgb(data_root / "kodak" / f"{image}.png").rgb
        box = crop_box(*original.shape[:2], CROP)
        shown = found[image]
        assert set(shown) == {"Original", "VTM-17.0 (anchor)", "JPEG (ours)", "WebP (ours)"}
        assert np.array_equal(shown["Original"], original[box])
        for codec, label, ext in (("jpeg", "JPEG (ours)", ".jpg"), ("webp", "WebP (ours)", ".webp")):
            mine = [r for r in rows if r["codec"] == codec and r["image"] == f"{image}.png"]
            nearest = min(mine, key=lambda r: (abs(float(r["bpp"]) - 0.5), float(r["bpp"])))
            stream = run_dir / "kodak/streams/default" / codec / f"q{nearest['quality']}" / f"{image}{ext}"
            decoded = np.asarray(Image.open(stream).convert("RGB"))
            assert np.array_equal(shown[label], decoded[box])
        assert not np.array_equal(shown["VTM-17.0 (anchor)"], shown["Original"])


def test_absent_streams_said_once_and_reencode_reproduces_them(run_dir, data_root, shared_dir, tmp_path, capsys):
    results = tmp_path / "results"
    (results / "kodak/default").mkdir(parents=True)
    shutil.copy(run_dir / "kodak/default/per_image.csv", results / "kodak/default/per_image.csv")
    out = tmp_path / "a.html"
    rc, _ = report(capsys, results, out, data_root, shared_dir)
    text = out.read_text()
    assert rc == 0
    for label in ("JPEG (ours)", "WebP (ours)"):
        assert text.count(f"{label}: no bitstreams kept (2 missing") == 1
    assert {frozenset(c) for c in crops(text).values()} == {frozenset({"Original", "VTM-17.0 (anchor)"})}
    rc, _ = report(capsys, results, out, data_root, shared_dir, "--reencode")
    text = out.read_text()
    assert rc == 0 and "no bitstreams kept" not in text
    assert {frozenset(c) for c in crops(text).values()} == {
        frozenset({"Original", "VTM-17.0 (anchor)", "JPEG (ours)", "WebP (ours)"})}


def test_a_stream_that_is_not_the_one_measured_is_not_shown(run_dir, data_root, shared_dir, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(run_dir / "kodak", results / "kodak")
    streams = results / "kodak/streams/default/jpeg"
    for image in IMAGES:  # every jpeg stream swapped for another quality's
        for quality in ("10", "30", "50", "70"):
            other = "70" if quality != "70" else "10"
            shutil.copy(run_dir / f"kodak/streams/default/jpeg/q{other}/{image}.jpg", streams / f"q{quality}/{image}.jpg")
    out = tmp_path / "b.html"
    rc, _ = report(capsys, results, out, data_root, shared_dir)
    text = out.read_text()
    assert rc == 0
    assert all("JPEG (ours)" not in c for c in crops(text).values())
    assert len(re.findall(r"<li>JPEG \(ours\)[^<]*the row records \d+: not the stream measured</li>", text)) == 2


def test_only_metrics_the_results_have(run_dir, data_root, shared_dir, tmp_path, capsys):
    results = tmp_path / "results"
    (results / "kodak/default").mkdir(parents=True)
    with open(run_dir / "kodak/default/per_image.csv") as f:
        rows = list(csv.DictReader(f))
    with open(results / "kodak/default/per_image.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "ms_ssim_rgb": "", "ms_ssim_db": ""} for r in rows)
    out = tmp_path / "c.html"
    rc, _ = report(capsys, results, out, data_root, shared_dir, "--images", "kodim02")
    text = out.read_text()
    assert rc == 0
    assert 'id="metric-psnr"' in text and 'id="metric-ms-ssim"' not in text
    assert set(crops(text)) == {"kodim02"}


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "nowhere"], "unknown dataset 'nowhere'"),
    (["--dataset", "tecnick-100"], "no results for tecnick-100"),
    (["--anchors", "/nonexistent/anchors"], "no vtm17 anchor for kodak"),
    (["--images", "kodim24"], "--images: no results for kodim24 from every codec shown"),
    (["--bpp", "0"], "--bpp must be positive"),
])
def test_bad_input_is_one_line_and_no_file(run_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "r.html"
    out.write_text("the previous report")
    rc = bench_main(["report", "--results", str(run_dir), "--out", str(out), "--bootstrap", "0",
                     "--data-root", str(tmp_path), *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "bootstrap" not in line]
    assert rc == 2 and len(lines) == 1 and message in lines[0], err
    assert out.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_a_browser_loads_the_page(page, tmp_path):
    """Headless Chromium, with every host unresolvable: no console message (errors, failed
    loads), the viewer's script ran (panes show crops), and the screenshot is not blank."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
              "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}"]
    url = page.resolve().as_uri()
    dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    panes = re.findall(r'<div class="pane"[^>]*>.*?<img alt="([^"]*)" src="data:image/png;base64,', dom.stdout, re.S)
    assert len(panes) == 2 * len(IMAGES) and "kodim01: Original" in panes[0], panes
    assert re.search(r'<button type="button" data-k="1"[^>]*class="on"', dom.stdout)
    shot = tmp_path / "shot.png"
    run = subprocess.run(common + ["--window-size=1280,2400", f"--screenshot={shot}", url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01  # text, lines and plots, not a blank page
