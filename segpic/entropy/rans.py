"""Decoding compressai's rANS streams without trusting them.

compressai's ``RansDecoder`` (C++) reads its stream 32 bits at a time and never checks where it
ends. A stream shorter than the symbols it must yield, or one whose bypass codes ask for more
words (a bypass length is itself read from the stream, up to 2^31 nibbles per symbol), makes it
read past its buffer: garbage symbols, or a segmentation fault (a CRC-valid SegPIC container
with its grid set to 255 killed the decoding process). No check made before the call can bound
how far it reads, so every stream is decoded here in four steps:

1. form: a stream is whole 32-bit words and holds at least the 64-bit final state that the
   encoder's ``flush`` writes (an empty stream is refused);
2. isolation: the decoder runs in a small worker process (``rans_worker.py``, which loads only
   compressai's ``ans`` extension, not torch): a crash there is a :class:`StreamError` here,
   and whatever the decoder reads past the end is the worker's memory, not this process's;
3. range: no decoded value is MAX_SYMBOL_MAGNITUDE or more away from its table's offset (the
   encoder cannot write such values);
4. exactness: the decoded symbols are encoded again with the same tables and indexes. The
   encoder is deterministic, so this gives back the stream if and only if the decoder consumed
   exactly the stream: one that ends early (the decoder read past it), has unread trailing
   words, or holds non-canonical bypass codes is refused, as is nearly every stream of random
   bits.

Cost: one worker per process, started at the first decode (about 50 ms) and reused; the symbols
and indexes cross a pipe as int32 arrays, and the re-encoding costs about what decoding does.

API::

    with RansStream(data) as stream:                 # one rANS stream
        symbols = stream.decode(indexes, cdfs, cdf_lengths, offsets)   # as often as needed
        ...
        stream.finish()                              # StreamError unless exactly consumed
    symbols = decode_with_indexes(data, indexes, cdfs, cdf_lengths, offsets)   # all at once
"""
from __future__ import annotations

import array
import atexit
import importlib.machinery
import importlib.util
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Sequence

import numpy as np

__all__ = ["StreamError", "RansStream", "decode_with_indexes", "MIN_STREAM_BYTES"]

MIN_STREAM_BYTES = 8  # the encoder's flush writes the 64-bit final state
_HEADER = struct.Struct(">cQ")  # rans_worker's reply header: status, payload length
_BASE_TIMEOUT_S = 10.0
_TIMEOUT_PER_SYMBOL_S = 1e-5  # compressai decodes 1 to 3 million symbols per second here
# compressai's encoder loops forever on a bypass value of 2^28 or more (its shift count wraps),
# so decoded values at least this far from their table's offset are refused before re-encoding;
# its own streams never hold them.
MAX_SYMBOL_MAGNITUDE = 1 << 26


class StreamError(ValueError):
    """A rANS stream that is malformed, crashes the decoder, or is not exactly the encoding of
    the symbols decoded from it.  The message is one line."""


def _ans_extension() -> str:
    """Path of compressai's ``ans`` extension module, found without importing compressai."""
    package = importlib.util.find_spec("compressai")
    spec = importlib.machinery.PathFinder.find_spec("ans", list(package.submodule_search_locations or []))
    if spec is None or not spec.origin:
        raise ImportError("compressai's ans extension module was not found")
    return spec.origin


class _Worker:
    """One rans_worker process and its pipes."""

    def __init__(self):
        script = Path(__file__).with_name("rans_worker.py")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(script), _ans_extension()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def call(self, request: tuple, timeout: float) -> bytes:
        """Send ``request``, return the reply's payload; StreamError if the worker fails."""
        try:
            pickle.dump(request, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
            status, length = _HEADER.unpack(self._read(_HEADER.size, time.monotonic() + timeout))
            payload = self._read(length, time.monotonic() + timeout)
        except (OSError, EOFError) as e:
            self.kill()
            raise StreamError(f"the entropy decoder failed on this stream ({e})") from None
        if status != b"k":
            raise RuntimeError(f"rans_worker: {payload.decode(errors='replace')}")
        return payload

    def _read(self, n: int, deadline: float) -> bytes:
        fd, chunks, left = self.proc.stdout.fileno(), [], n
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise EOFError("no answer in time")
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                code = self.proc.wait()
                raise EOFError(f"it was killed by signal {-code}" if code < 0 else f"it exited with status {code}")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:  # a broken pipe's buffered data cannot be flushed
                pass

    def close(self) -> None:
        """End the worker: it exits when its stdin closes."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


_idle: List[_Worker] = []
_idle_lock = threading.Lock()


@atexit.register
def _close_idle_workers() -> None:
    with _idle_lock:
        while _idle:
            _idle.pop().close()


def _checkout() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive:
                return worker
    return _Worker()


def _checkin(worker: _Worker) -> None:
    if worker.alive:
        with _idle_lock:
            _idle.append(worker)


class RansStream:
    """One rANS stream being decoded, with the checks described in the module docstring."""

    def __init__(self, data: bytes, name: str = "rANS stream"):
        data = bytes(data)
        self.name = name
        if len(data) < MIN_STREAM_BYTES or len(data) % 4:
            raise StreamError(f"{name} of {len(data)} bytes: a stream is whole 32-bit words, at least {MIN_STREAM_BYTES} bytes")
        self.data = data
        self._coded = []  # (symbols, indexes, tables) of every decode call, for finish()
        self._worker = _checkout()
        try:
            self._worker.call(("stream", data), _BASE_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def decode(self, indexes: Sequence[int], cdfs, cdf_lengths, offsets) -> List[int]:
        """Decode ``len(indexes)`` symbols, symbol i with CDF ``indexes[i]``; the tables are
        compressai's (``quantized_cdf``, ``cdf_length``, ``offset`` as lists)."""
        if self._worker is None:
            raise RuntimeError("decode on a closed RansStream")
        idx = array.array("i", indexes)
        if idx and not (0 <= min(idx) and max(idx) < min(len(cdfs), len(cdf_lengths), len(offsets))):
            raise ValueError(f"CDF index out of range for {len(cdfs)} tables")
        try:
            raw = self._worker.call(("decode", idx.tobytes(), cdfs, cdf_lengths, offsets),
                                    _BASE_TIMEOUT_S + _TIMEOUT_PER_SYMBOL_S * len(idx))
        except StreamError as e:
            self.close()
            raise StreamError(f"{self.name}: {e}") from None
        symbols = array.array("i")
        symbols.frombytes(raw)
        if len(symbols) != len(idx):
            self.close()
            raise StreamError(f"{self.name}: the decoder returned {len(symbols)} symbols for {len(idx)}")
        values = np.frombuffer(symbols, np.int32).astype(np.int64) - np.asarray(offsets, np.int64)[np.frombuffer(idx, np.int32)]
        if values.size and np.abs(values).max() >= MAX_SYMBOL_MAGNITUDE:
            self.close()
            raise StreamError(f"{self.name}: decoded value out of range ({int(np.abs(values).max())})")
        self._coded.append((symbols, idx, (cdfs, cdf_lengths, offsets)))
        return symbols.tolist()

    def finish(self) -> None:
        """Close, and raise StreamError unless the stream is exactly the encoding of the decoded symbols."""
        from compressai.ans import BufferedRansEncoder

        self.close()
        encoder = BufferedRansEncoder()
        for symbols, idx, tables in self._coded:
            encoder.encode_with_indexes(symbols.tolist(), idx.tolist(), *tables)
        again = encoder.flush()
        self._coded = []
        if again != self.data:
            why = "ends before its last symbol" if len(again) > len(self.data) else (
                "has data after its last symbol" if len(again) < len(self.data) else "is not a valid encoding")
            raise StreamError(f"{self.name} of {len(self.data)} bytes {why} (re-encoding its symbols gives {len(again)} bytes)")

    def close(self) -> None:
        if self._worker is not None:
            _checkin(self._worker)
            self._worker = None

    def __enter__(self) -> "RansStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_with_indexes(data: bytes, indexes: Sequence[int], cdfs, cdf_lengths, offsets, name: str = "rANS stream") -> List[int]:
    """All symbols of one stream in one call (compressai's ``decode_with_indexes``), checked."""
    with RansStream(data, name) as stream:
        symbols = stream.decode(indexes, cdfs, cdf_lengths, offsets)
        stream.finish()
    return symbols
