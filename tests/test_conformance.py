"""The shared conformance check (../shared/conformance/check.py) as part of the suite: with the
reference's deterministic test weights, our models must give the reference's forward outputs,
bit counts and decoded image, and (--strict) byte-identical streams, side streams included,
so that the reference's bitstreams decode here."""
import importlib.util

import pytest
from conftest import missing


@pytest.fixture(scope="module")
def check(shared_dir):
    path = shared_dir / "conformance" / "check.py"
    if not path.is_file():
        missing(f"no conformance checker at {path}")
    spec = importlib.util.spec_from_file_location("conformance_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # puts conformance/ on sys.path for weights_rule
    module.STRICT = True
    return module


@pytest.mark.parametrize("arch", ["segpic", "wacnn", "stf"])
def test_conformance(arch, shared_dir, check, capsys):
    vectors_dir = shared_dir / "conformance" / arch
    assert sorted(vectors_dir.glob("vectors*.pt")), f"no vectors in {vectors_dir}"
    status = check.main([str(vectors_dir)])
    report = capsys.readouterr().out
    assert status == 0, report
    assert "0 failures" in report


@pytest.mark.parametrize("arch", ["segpic", pytest.param("wacnn", marks=pytest.mark.heavy), pytest.param("stf", marks=pytest.mark.heavy)])
def test_conformance_with_gemm_convolutions(arch, shared_dir, check, capsys):
    """The codec's deterministic inference, where every k x k and transposed convolution runs
    as banded GEMMs, is just as conformant: same outputs, bits and byte-identical streams."""
    from segpic.ops.deterministic import deterministic_inference

    with deterministic_inference():
        status = check.main([str(shared_dir / "conformance" / arch)])
    report = capsys.readouterr().out
    assert status == 0, report
    assert "0 failures" in report
