"""Shared fixtures.  The shared data folder comes from SEGPIC_DATA or sits at ../shared
beside the checkout; tests that need it skip only when it is absent, and under CI (``CI``
set to anything but empty, 0 or false) they fail instead: a CI run that skipped the
conformance, determinism and golden tests would pass without having checked them."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def missing(reason: str) -> None:
    """Skip the test for want of shared data, or fail it under CI."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason}; CI needs the shared data folder", pytrace=False)
    pytest.skip(reason)


def _shared_dir():
    env = os.environ.get("SEGPIC_SHARED")
    if env:
        return Path(env)
    data = os.environ.get("SEGPIC_DATA")
    if data:
        return Path(data).parent
    return ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only shared folder (spec/, conformance/, reference/, anchors/, data/)."""
    d = _shared_dir()
    if not d.is_dir():
        missing(f"shared folder not found at {d} (set SEGPIC_SHARED)")
    return d


@pytest.fixture(scope="session")
def data_root(shared_dir) -> Path:
    """The data root (kodak/, train/, ...): SEGPIC_DATA or <shared>/data."""
    d = Path(os.environ.get("SEGPIC_DATA", shared_dir / "data"))
    if not d.is_dir():
        missing(f"data root not found at {d}")
    return d


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread for the whole suite: on a small shared machine this is much faster
    than oversubscribing the cores.  Tests about thread counts set their own, in subprocesses."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
