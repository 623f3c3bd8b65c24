"""``bench run --cluster``: the run's tasks on a Dask cluster (Dask's ``distributed``).

    --cluster local:N            a LocalCluster of N worker processes on 127.0.0.1, closed at the end
    --cluster tcp://HOST:PORT    a running scheduler (``dask scheduler``), its workers started
                                 with ``dask worker tcp://HOST:PORT`` where this package is installed

Workers need neither the data folder nor the output folder.  :class:`ClusterExecutor` reads
each task's image file on the client and sends its bytes with the task; the worker stages
them in a temporary folder, runs the task there exactly as a ``--jobs`` worker would, and
sends back the task result (rows, notes, errors) and every file the codec wrote (bitstreams,
VTM logs).  The client writes those files, each atomically, before it hands the result to
:func:`bench.run.execute`, which adds the rows to the results file: the client alone
writes, as with ``--jobs``, so resuming after a killed client works the same way.
Checkpoints (learned codecs) and tools (``--vtm-dir``) are read by the workers at the
paths given on the command line: they must be there too (e.g. on a shared filesystem);
a worker whose checkpoint file differs from the one the client hashed reports it.

Failures: when a worker dies mid-task (SIGKILL, a lost machine), the scheduler runs its
tasks again on other workers (Dask's ``distributed.scheduler.allowed-failures``, 3 by
default; a task that has killed more workers than that is reported once as failed).  A task
that fails for a reason in its input (unreadable image, codec error) comes back as a
reported error, as with ``--jobs``, and is not retried.

Learned codecs with ``--device cuda`` go only to workers that advertise a GPU
(``dask worker ADDR --resources GPU=1``); a ``local:N`` cluster gives each worker
``GPU=1`` when this machine has one.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from concurrent.futures import Executor, Future
from dataclasses import replace
from pathlib import Path
from typing import Dict, Optional, Tuple

from .errors import UserError

INSTALL_HINT = "--cluster needs Dask's distributed: pip install 'segpic-bench[cluster]' (or: pip install distributed)"
#: Seconds to wait for a scheduler to answer, and for its first worker to join.
CONNECT_TIMEOUT_S = 30
WORKERS_TIMEOUT_S = 60

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"tcp://[^\s/:]+:\d+")


def parse_cluster(spec: str) -> Tuple[str, object]:
    """``("local", N)`` for ``local:N``, ``("address", spec)`` for ``tcp://HOST:PORT``."""
    local = _LOCAL.fullmatch(spec)
    if local:
        workers = int(local.group(1))
        if workers < 1:
            raise UserError("--cluster local:N needs N >= 1 worker")
        return "local", workers
    if _ADDRESS.fullmatch(spec):
        return "address", spec
    raise UserError(f"--cluster {spec}: expected local:N or tcp://HOST:PORT")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _set_threads(threads: Optional[int]) -> None:
    """Torch threads for this task: ``threads``, else the worker's cores over its task threads."""
    import torch

    if threads is None:
        from distributed import get_worker

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // max(1, get_worker().state.nthreads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def run_shipped(fn, task, image: bytes, threads: Optional[int]):
    """On a worker: ``fn(task)`` with the image staged from ``image`` and the streams written
    to a temporary folder.  Returns the task result, told in the client's paths, and the
    files written, as ``{path relative to the streams folder: bytes}``."""
    _set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bench-task-") as tmp:
        staged = Path(tmp) / "image" / task.image.name
        staged.parent.mkdir()
        staged.write_bytes(image)
        streams = Path(tmp) / "streams"
        result = fn(replace(task, image=staged, streams=streams))
        files = {p.relative_to(streams).as_posix(): p.read_bytes()
                 for p in sorted(streams.rglob("*")) if p.is_file()}
    result.task = task
    result.notes = [n.replace(str(staged), str(task.image)) for n in result.notes]
    result.errors = [e.replace(str(staged), str(task.image)) for e in result.errors]
    return result, files


def _needs_gpu(task) -> bool:
    from segpic.devices import kind

    return kind(getattr(task.codec, "device", "cpu")) == "cuda"


class ClusterExecutor(Executor):
    """A ``concurrent.futures.Executor`` of ``bench run`` tasks on a Dask client.

    ``submit(fn, task)`` runs ``fn(task)`` on a worker through :func:`run_shipped` and returns
    a future whose result is ``fn``'s, available once the files the task wrote are on the
    client's disk.  ``window``: how many tasks to keep in flight (twice the workers' threads).
    """

    def __init__(self, client, cluster=None, threads: Optional[int] = None):
        self.client = client
        self.cluster = cluster
        self.threads = threads
        self.window = 2 * max(1, sum(client.nthreads().values()))
        self._running: Dict[str, object] = {}  # dask key -> its future, while in flight

    def submit(self, fn, /, task):
        future: Future = Future()
        try:
            image = task.image.read_bytes()
        except OSError:
            # unreadable here: running the task here reports it as any worker would
            future.set_result(fn(task))
            return future
        key = f"bench-{task.codec.name}-{task.image.name}-{uuid.uuid4().hex}"
        remote = self.client.submit(run_shipped, fn, task, image, self.threads, key=key, pure=False,
                                    resources={"GPU": 1} if _needs_gpu(task) else None)
        self._running[key] = remote
        remote.add_done_callback(lambda done: self._deliver(done, task, future))
        future.add_done_callback(lambda f: f.cancelled() and remote.cancel())
        return future

    def _deliver(self, remote, task, future: Future) -> None:
        """On Dask's callback thread: write the task's files, then complete ``future``."""
        from distributed import KilledWorker

        self._running.pop(remote.key, None)
        if not future.set_running_or_notify_cancel():
            return  # cancelled here (Ctrl-C), which cancelled ``remote`` too
        if remote.cancelled():  # by the cluster: the scheduler was lost
            future.set_exception(UserError(
                f"the Dask cluster dropped the task {task.codec.name} on {task.image.name} (scheduler lost?); "
                "run the same command to resume"))
            return
        try:
            result, files = remote.result()
            for name, data in files.items():
                path = task.streams / name
                if ".." in Path(name).parts or Path(name).is_absolute():
                    raise RuntimeError(f"a worker sent a file outside the streams folder: {name}")
                _write_atomic(path, data)
            future.set_result(result)
        except KilledWorker as err:
            from .run import TaskResult

            future.set_result(TaskResult(task, errors=[
                f"{task.codec.name} on {task.image.name}: given up after its workers died ({err})"]))
        except BaseException as err:
            future.set_exception(err)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures and self._running:
            self.client.cancel(list(self._running.values()))
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _check_gpu_workers(client, address: str) -> None:
    from segpic.devices import DeviceUnavailable

    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    if not any(w.get("resources", {}).get("GPU", 0) >= 1 for w in workers):
        raise DeviceUnavailable(f"--device cuda: no worker of the cluster at {address} advertises a GPU "
                                f"(start them with: dask worker {address} --resources GPU=1)")


def connect(spec: str, threads: Optional[int], device: str = "cpu") -> ClusterExecutor:
    """The executor of ``--cluster spec``; ``threads``: torch threads per task (``--threads``).

    Raises UserError (one line) when ``distributed`` is missing or the scheduler cannot be
    reached, and ``segpic.devices.DeviceUnavailable`` when ``device`` is a GPU and the
    cluster has none.
    """
    what, value = parse_cluster(spec)
    try:
        import distributed
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    from segpic.devices import kind, require

    from .run import default_threads

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # the run reports its own failures, in one line
    gpu = kind(device) == "cuda"
    if what == "local":
        if gpu:
            require(device)
        cluster = distributed.LocalCluster(
            n_workers=value, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR, resources={"GPU": 1} if gpu else None)
        client = distributed.Client(cluster)
        return ClusterExecutor(client, cluster, threads or default_threads(value))
    try:
        client = distributed.Client(value, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise UserError(f"cannot reach the Dask scheduler at {value}: {err}") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        if gpu:
            _check_gpu_workers(client, value)
    except TimeoutError:
        client.close()
        raise UserError(f"no Dask worker joined the scheduler at {value} within {WORKERS_TIMEOUT_S} s; "
                        f"start one with: dask worker {value}") from None
    except BaseException:
        client.close()
        raise
    return ClusterExecutor(client, None, threads)
