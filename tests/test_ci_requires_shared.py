"""Under CI a missing shared folder fails the run instead of skipping the tests that need it
(conformance, determinism, golden streams): a green CI must have run them."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ci, outcome", [("true", "1 error"), ("", "1 skipped")])
def test_missing_shared_data_fails_under_ci_and_skips_elsewhere(tmp_path, ci, outcome):
    (tmp_path / "test_needs_data.py").write_text(textwrap.dedent("""
        def test_uses_kodak(data_root):
            assert (data_root / "kodak").is_dir()
    """))
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    env = {**os.environ, "CI": ci, "SEGPIC_SHARED": str(tmp_path / "absent")}
    env.pop("SEGPIC_DATA", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    if ci:
        assert proc.returncode != 0 and "CI needs the shared data folder" in proc.stdout
