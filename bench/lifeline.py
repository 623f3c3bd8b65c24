"""Worker processes that end when the process that started them dies.

A ``bench run --jobs N`` worker killed with its parent (SIGKILL, OOM killer) would otherwise
live on, reparented to PID 1, holding a loaded model.  :func:`die_with_parent` ties a worker
to its parent twice: Linux's ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (the kernel kills the
worker when the parent exits), and, where that is not available, a daemon thread that checks
the parent's PID every ``poll_s`` seconds and ends the worker once it has changed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_pdeathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, poll_s: float) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: nobody will read this worker's results
        threading.Event().wait(poll_s)


def die_with_parent(poll_s: float = 1.0) -> None:
    """Make this (worker) process end when its parent process dies.  Call it first thing in the
    worker, e.g. from a ``ProcessPoolExecutor`` initializer."""
    parent = os.getppid()
    _set_pdeathsig()
    if parent == 1 or os.getppid() != parent:  # the parent died before the kernel was asked
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, poll_s), name="lifeline", daemon=True).start()
