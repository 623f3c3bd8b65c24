"""``python -m bench regress``: the check fails on any moved value, names it, and passes on the
shipped golden set; the version rule; ``--update``; the shipped test checkpoints are the rule's.

The full regression (all codecs) runs in ``.ci/run``; here only jpeg and the BD-rates are re-run.
"""
import csv
import json
import shutil

import pytest
from numeric import assert_same_csv
import torch

from bench import golden_weights
from bench.__main__ import main as bench_main
from bench.regress import (BDRATE_FILE, CLASSICAL_FILE, CURVES_FILE, DEFAULT_GOLDEN, EXACT, Selection, check,
                           compare, difference, kodak_folder, records, run_golden_set)
from segpic import registry


def regress(capsys, *args):
    """Run ``python -m bench regress ARGS --quiet`` in this process: (exit status, stdout, stderr)."""
    status = bench_main(["regress", *map(str, args), "--quiet"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def golden(tmp_path):
    """A copy of the shipped golden CSV files (no checkpoints: jpeg and BD-rates need none)."""
    folder = tmp_path / "golden"
    shutil.copytree(DEFAULT_GOLDEN, folder, ignore=shutil.ignore_patterns("checkpoints"))
    return folder


def edit(path, match, column, change):
    """Rewrite the CSV row(s) whose values include ``match`` (a dict), ``column`` := change(old)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    hits = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert hits, f"no row {match} in {path}"
    for row in hits:
        row[column] = change(row[column])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def jpeg_now(data_root):
    """The jpeg rows and curve recomputed once (12 codings)."""
    return run_golden_set(Selection.parse(["jpeg"]), kodak_folder(str(data_root)), DEFAULT_GOLDEN, quiet=True)[0]


# --- comparison rules -------------------------------------------------------------------


def test_difference_tolerances():
    assert difference("30.0", "30.00009", 1e-4) is None
    assert difference("30.0", "30.001", 1e-4) == "+0.001"
    assert difference("0.95", "0.9499985", 1e-6) == "-1.5e-06"
    assert difference("1234", "1235", EXACT) == "changed"
    assert difference("abc", "abd", 1e-4) == "changed"
    assert difference("nan", "nan", 1e-6) is None
    assert difference("nan", "0.5", 1e-6) == "changed"
    assert difference("inf", "inf", 1e-4) is None
    assert difference("", "", 1e-6) is None
    assert difference("", "-3.2", 1e-6) == "changed"


def test_compare_names_missing_and_extra_rows():
    rows = [dict(dataset="kodak", codec="jpeg", point=p, bpp="0.5", psnr_rgb="30", ms_ssim_rgb="0.9", notes="")
            for p in (1, 2)]
    golden = records(CURVES_FILE, rows)
    now = records(CURVES_FILE, rows[1:] + [dict(rows[0], point=3)])
    moved = compare(CURVES_FILE, golden, now)
    assert [(m.what, m.golden, m.now) for m in moved] == [
        ("curves.csv: kodak jpeg 1", "row", "missing"), ("curves.csv: kodak jpeg 3", "missing", "row")]


# --- the command on the shipped golden set ------------------------------------------------


def test_bdrate_part_reproduces_the_golden_set(capsys):
    status, out, err = regress(capsys, "--only", "bdrate")
    assert status == 0, out + err
    assert "208 rows of bdrate.csv match" in out


def test_perturbed_bdrate_is_named_and_fails(capsys, golden):
    match = dict(dataset="kodak", metric="psnr", codec="segpic-paper", method="cubic")
    edit(golden / BDRATE_FILE.name, match, "bd_rate", lambda v: repr(float(v) + 1e-5))
    status, out, err = regress(capsys, "--only", "bdrate", "--golden", golden)
    assert status == 1
    assert "bdrate.csv: kodak psnr vtm17 segpic-paper cubic bd_rate" in out
    assert "regression: 1 value(s) differ" in err
    # where the golden set was recorded, and where it is checked now
    assert "golden set recorded on: AMD EPYC; isa avx2" in out and "this machine:" in out


def test_jpeg_reproduces_then_perturbed_psnr_and_bytes_fail(capsys, golden, data_root):
    status, out, err = regress(capsys, "--only", "jpeg", "--golden", golden, "--data-root", data_root)
    assert status == 0, out + err
    assert "12 rows of classical.csv" in out and "3 rows of curves.csv" in out

    path = golden / CLASSICAL_FILE.name
    edit(path, dict(image="kodim04.png", codec="jpeg", quality="35"), "psnr_rgb", lambda v: f"{float(v) + 1e-3:.6f}")
    edit(path, dict(image="kodim15.png", codec="jpeg", quality="70"), "bytes", lambda v: str(int(v) + 1))
    status, out, err = regress(capsys, "--only", "jpeg", "--golden", golden, "--data-root", data_root)
    assert status == 1
    lines = [line for line in out.splitlines() if line.startswith("classical.csv")]
    assert len(lines) == 2, out
    assert lines[0].startswith("classical.csv: kodak kodim04.png jpeg 35 psnr_rgb")
    assert "-0.001" in lines[0] and "0.0001" in lines[0]  # now - golden, and the tolerance
    assert lines[1].startswith("classical.csv: kodak kodim15.png jpeg 70 bytes") and "exact" in lines[1]


def test_missing_and_extra_rows_are_regressions(golden, jpeg_now):
    path = golden / CLASSICAL_FILE.name
    text = path.read_text().splitlines(keepends=True)
    dropped = next(line for line in text if "kodim23.png,768,512,jpeg," in line)
    added = dropped.replace("kodim23.png", "kodim24.png")
    path.write_text("".join(line for line in text if line != dropped) + added)
    moved, _ = check(golden, jpeg_now, Selection.parse(["jpeg"]))
    assert [(m.what, m.golden, m.now) for m in moved] == [
        (f"classical.csv: kodak kodim23.png jpeg {dropped.split(',')[6]}", "missing", "row"),
        (f"classical.csv: kodak kodim24.png jpeg {dropped.split(',')[6]}", "row", "missing")]


def test_a_new_codec_version_excuses_bytes_and_metrics_only(golden, jpeg_now):
    path = golden / CLASSICAL_FILE.name
    edit(path, dict(codec="jpeg"), "codec_version", lambda v: v + " (older)")
    edit(path, dict(codec="jpeg"), "bytes", lambda v: str(int(v) + 100))
    edit(path, dict(codec="jpeg"), "psnr_rgb", lambda v: f"{float(v) + 1:.6f}")
    edit(golden / CURVES_FILE.name, dict(codec="jpeg"), "psnr_rgb", lambda v: repr(float(v) + 1))
    moved, notes = check(golden, jpeg_now, Selection.parse(["jpeg"]))
    assert moved == []
    assert len(notes) == 1 and notes[0].startswith("jpeg: version changed") and "(older)" in notes[0]

    edit(path, dict(image="kodim01.png", codec="jpeg"), "width", lambda v: "767")
    moved, _ = check(golden, jpeg_now, Selection.parse(["jpeg"]))
    assert [m.what for m in moved] == [f"classical.csv: kodak kodim01.png jpeg {q} width" for q in (10, 35, 70)]


def test_update_rewrites_atomically_and_prints_the_diff(capsys, tmp_path, golden):
    fresh = tmp_path / "fresh"
    status, out, _ = regress(capsys, "--only", "bdrate", "--golden", fresh, "--update")
    assert status == 0
    assert_same_csv((fresh / "bdrate.csv").read_text(), (DEFAULT_GOLDEN / "bdrate.csv").read_text())
    assert sorted(p.name for p in fresh.iterdir()) == ["bdrate.csv", "machine.json"]  # no temp files left
    assert json.loads((fresh / "machine.json").read_text())["isa"] == "avx2"

    match = dict(dataset="clic2020-pro-valid", codec="segpic-paper", method="pchip")
    edit(golden / BDRATE_FILE.name, match, "bd_rate", lambda v: "1.5")
    status, out, _ = regress(capsys, "--only", "bdrate", "--golden", golden, "--update")
    assert status == 0
    changed = [line for line in out.splitlines() if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))]
    assert len(changed) == 2 and changed[0].startswith("-clic2020-pro-valid,psnr,vtm17,segpic-paper,pchip,1.5,")
    assert_same_csv((golden / "bdrate.csv").read_text(), (DEFAULT_GOLDEN / "bdrate.csv").read_text())


# --- bad input: one line, status 2 ----------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--only", "bpg"], "error: --only bpg: choose from classical, learned, bdrate"),
    (["--only", "jpeg", "--data-root", "{tmp}/nowhere"], "error: Kodak images kodim01.png"),
    (["--golden", "{tmp}/nowhere"], "error: golden folder {tmp}/nowhere not found"),
])
def test_bad_input_is_one_line(capsys, tmp_path, args, message):
    status, out, err = regress(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(message.format(tmp=tmp_path)), err
    assert not (tmp_path / "nowhere").exists()


# --- the shipped test checkpoints -----------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(golden_weights.CONFIGS))
def test_shipped_checkpoints_are_the_rule(arch):
    from segpic.zoo import load_checkpoint

    for quality in (1, 2):
        path = golden_weights.checkpoint_path(DEFAULT_GOLDEN / "checkpoints", arch, quality)
        shipped = torch.load(path, map_location="cpu", weights_only=True)
        made = golden_weights.checkpoint(arch, quality)
        assert shipped["config"] == made["config"]
        assert shipped["model"].keys() == made["model"].keys()
        for key, value in made["model"].items():
            assert torch.equal(shipped["model"][key], value), key
    model = load_checkpoint(path)
    assert registry.name_of(model) == arch


@pytest.mark.parametrize("arch", sorted(golden_weights.CONFIGS))
def test_values_the_rule_keeps_do_not_depend_on_the_random_state(arch):
    from segpic.zoo import model_class

    states = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        states.append(model_class(arch)(**golden_weights.CONFIGS[arch]).state_dict())
    kept = [k for k in states[0] if not golden_weights.is_generated(k)]
    assert kept and all(torch.equal(states[0][k], states[1][k]) for k in kept)
    assert any(golden_weights.is_generated(k) for k in states[0])
