"""The published reference curves: the committed files are exactly what the generator makes
from shared/reference/rd, every reference row lands once, and the dataset traps hold."""
import csv
from pathlib import Path

import pytest

from bench.curves import CurveError, CurveLibrary, read_curve_file
from bench.published import (CODECS, DATASETS, HEADLINE, generate, published_files,
                             read_reference, vtm17_clic_rows)

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "anchors" / "published"


@pytest.fixture(scope="module")
def reference(shared_dir):
    return read_reference(shared_dir)


def test_committed_files_are_reproducible(shared_dir, tmp_path):
    generate(shared_dir, tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in COMMITTED.iterdir())
    for name in made:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_every_reference_row_lands_once(reference):
    files = published_files(reference)
    placed = sum(len(rows) for rows in files.values()) + len(vtm17_clic_rows(reference))
    assert placed == len(reference) > 1500
    for name, rows in files.items():
        family, dataset = name[:-4].split("_")
        assert {r["dataset"] for r in rows} == {dataset}
        keys = [(r["codec"], r["point"]) for r in rows]
        assert len(keys) == len(set(keys)), name


def test_values_and_sources_are_verbatim(reference):
    files = published_files(reference)
    segpic = [r for r in files["segpic_clic2020-pro-valid.csv"]]
    original = [r for r in reference if r["codec"] == "SegPIC (ECCV24, MSE)"
                and r["dataset"] == "CLIC2020-professional-valid (41 img)"]
    assert [(r["bpp"], r["psnr_rgb"], r["source"]) for r in segpic] == \
        [(r["bpp"], r["psnr"], r["source"]) for r in original]


def test_dataset_traps(reference):
    """CompressAI's Kodak vtm.json is not VTM-17.0; 'Tecnick' and 'CLIC' of other or unstated
    sets never reach the project's dataset names."""
    files = published_files(reference)
    vtm = [r for r in files["compressai-bench_kodak.csv"] if r["codec"] == "vtm-compressai"]
    assert vtm and all("kodak/vtm.json" in r["source"] for r in vtm)
    assert not any(r["codec"] == "vtm17" for rows in files.values() for r in rows)
    for name, rows in files.items():
        sources = " ".join(r["source"] for r in rows)
        if name.endswith("_clic2020-pro-valid.csv"):
            assert "clic2020-professional/" not in sources and "clic21" not in sources
        if name.endswith("_tecnick-100.csv"):
            assert "tensorflow/compression" not in sources and "issues" not in sources
    assert DATASETS["Tecnick (100 img, 1200x1200, SAMPLING RGB set)"] != "tecnick-100"
    assert DATASETS["CLIC2020-professional (split not stated in repo)"] != "clic2020-pro-valid"


def test_vtm17_clic_rows_are_the_published_vtm17_points(reference):
    rows = vtm17_clic_rows(reference)
    assert len(rows) == 11 and {r["codec"] for r in rows} == {"vtm17"}
    assert {r["dataset"] for r in rows} == {"clic2020-pro-valid"}
    assert all("VTM-17.0" in r["source"] for r in rows)


def test_names_and_labels_are_stable():
    assert CODECS["SegPIC (ECCV24, MSE)"].name == "segpic-paper"
    assert CODECS["SegPIC (ECCV24, MSE)"].label == "SegPIC (paper)"
    names = {c.name for c in CODECS.values()}
    assert set(HEADLINE) <= names


def test_library_loads_published_curves_by_name():
    library = CurveLibrary("kodak", Path("no-results"), ROOT / "anchors")
    segpic = library.resolve("segpic-paper")
    assert (segpic.kind, segpic.dataset, segpic.label) == ("published", "kodak", "SegPIC (paper)")
    assert list(segpic.bpp) == sorted(segpic.bpp) and segpic.bpp.size == 6
    bpp, msssim_db = library.resolve("stf-msssim-paper").points("ms-ssim")
    assert bpp.size == 6 and 10 < msssim_db.min() < msssim_db.max() < 25
    assert library.resolve("stf-msssim-paper").points("psnr")[0].size == 0
    clic = CurveLibrary("clic2020-pro-valid", Path("no-results"), ROOT / "anchors")
    assert clic.resolve("segpic-paper").bpp[0] == pytest.approx(0.091)
    with pytest.raises(CurveError, match="no curve named 'segpic-ours'"):
        library.resolve("segpic-paper".replace("paper", "ours"))


def test_per_image_file_aggregates_by_mean(tmp_path):
    path = tmp_path / "r.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "image", "codec", "quality", "bpp", "psnr_rgb", "ms_ssim_rgb"])
        w.writerows([["kodak", "a.png", "jpeg", 50, 0.5, 30.0, 0.95],
                     ["kodak", "b.png", "jpeg", 50, 1.5, 34.0, 0.97],
                     ["kodak", "a.png", "jpeg", 90, 2.0, 40.0, 0.99]])
    (curve,) = read_curve_file(path, kind="ours")
    assert curve.label == "JPEG (ours)"
    assert list(curve.bpp) == [1.0, 2.0] and list(curve.psnr_rgb) == [32.0, 40.0]
    assert curve.notes and "incomplete" in curve.notes[0]
    images, bpp, values = curve.image_table("psnr")
    assert images == ["a"] and bpp.tolist() == [[0.5, 2.0]]


def test_unreadable_curve_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CurveError, match="neither a results file"):
        read_curve_file(path)


def test_non_numeric_values_are_one_clear_error(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("codec,dataset,point,bpp,psnr_rgb,ms_ssim_rgb,source\n"
                    "x,kodak,1,0.1,thirty,,me\n")
    with pytest.raises(CurveError, match="column psnr_rgb holds a value that is not a number"):
        read_curve_file(path)


def test_generator_command_line(shared_dir, tmp_path, monkeypatch, capsys):
    from bench.published import main

    monkeypatch.delenv("SEGPIC_SHARED", raising=False)
    assert main(["--out", str(tmp_path / "p")]) == 2
    assert "pass --shared DIR" in capsys.readouterr().err and not (tmp_path / "p").exists()
    anchor = tmp_path / "vtm17" / "clic2020-pro-valid.csv"
    assert main(["--shared", str(shared_dir), "--out", str(tmp_path / "p"),
                 "--vtm17-clic", str(anchor)]) == 0
    assert (tmp_path / "p" / "README.md").is_file()
    assert anchor.read_text().count("\nvtm17,clic2020-pro-valid,") == 11
