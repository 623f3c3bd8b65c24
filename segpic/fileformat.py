"""The container for one coded image (``.sgp`` files).

A learned codec's ``compress`` returns a few entropy-coded byte strings and the
decoder needs a little more to rebuild the image: which network, which weights,
the original size (the network sees a padded copy) and, for SegPIC, the
prototype grid.  The container holds exactly that, all integers big-endian::

    offset  size  field
    0       4     magic b"SGPC"
    4       1     format version (1)
    5       1     n, length of the architecture name
    6       n     architecture name, ASCII (a segpic.registry entry, at most 32 characters)
    6+n     8     checkpoint hash: first 8 bytes of SHA-256 of the checkpoint file
    14+n    4     original height, pixels
    18+n    4     original width, pixels
    22+n    1     grid (prototype grid side for SegPIC; 0 when unused)
    23+n    1     k, number of streams
    24+n    4k    length of each stream, bytes
    24+n+4k 4     CRC32 of every byte before this field and of all streams
    28+n+4k ...   the k streams, back to back, nothing after them

The CRC covers the header too, so a flipped bit anywhere is reported as
corruption rather than decoded into a wrong image.  Parsing is strict: any file
that is not exactly one such container raises :class:`FormatError` with a
one-line message.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import List, Tuple

MAGIC = b"SGPC"
VERSION = 1
HASH_BYTES = 8
MAX_ARCH_LEN = 32
MAX_STREAMS = 255
MAX_SIDE = 1 << 20  # pixels; larger sides are treated as corruption

_PREFIX = struct.Struct(">4sBB")  # magic, version, arch length
_FIXED = struct.Struct(">8sIIBB")  # hash, height, width, grid, stream count
_U32 = struct.Struct(">I")


class FormatError(ValueError):
    """The bytes are not a valid container; the message is one line."""


@dataclass(frozen=True)
class CodedImage:
    """The content of one container.

    Attributes:
        arch: architecture name of the network that made the streams.
        checkpoint_hash: first 8 bytes of SHA-256 of the checkpoint file.
        height, width: size of the original image, pixels (before padding).
        grid: SegPIC's prototype grid side (0 for architectures without one).
        streams: the entropy-coded byte strings in the model's stream order.
    """

    arch: str
    checkpoint_hash: bytes
    height: int
    width: int
    grid: int
    streams: Tuple[bytes, ...]

    def __post_init__(self):
        if not (self.arch.isascii() and 0 < len(self.arch) <= MAX_ARCH_LEN):
            raise ValueError(f"architecture name must be 1..{MAX_ARCH_LEN} ASCII characters: {self.arch!r}")
        if len(self.checkpoint_hash) != HASH_BYTES:
            raise ValueError(f"checkpoint hash must be {HASH_BYTES} bytes, got {len(self.checkpoint_hash)}")
        if not (0 < self.height <= MAX_SIDE and 0 < self.width <= MAX_SIDE):
            raise ValueError(f"image size out of range: {self.height}x{self.width}")
        if not 0 <= self.grid <= 255:
            raise ValueError(f"grid out of range: {self.grid}")
        if not 0 < len(self.streams) <= MAX_STREAMS:
            raise ValueError(f"stream count out of range: {len(self.streams)}")
        object.__setattr__(self, "streams", tuple(bytes(s) for s in self.streams))


def pack(image: CodedImage) -> bytes:
    """Serialize ``image`` into container bytes."""
    arch = image.arch.encode("ascii")
    header = b"".join(
        [
            _PREFIX.pack(MAGIC, VERSION, len(arch)),
            arch,
            _FIXED.pack(image.checkpoint_hash, image.height, image.width, image.grid, len(image.streams)),
            b"".join(_U32.pack(len(s)) for s in image.streams),
        ]
    )
    payload = b"".join(image.streams)
    crc = zlib.crc32(payload, zlib.crc32(header))
    return header + _U32.pack(crc) + payload


def unpack(data: bytes) -> CodedImage:
    """Parse container bytes; raise :class:`FormatError` on anything else."""
    data = bytes(data)
    if not data:
        raise FormatError("empty file: not a segpic bitstream")
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise FormatError("not a segpic bitstream (bad magic)")
    reader = _Reader(data)
    _, version, arch_len = reader.take(_PREFIX)
    if version != VERSION:
        raise FormatError(f"unsupported format version {version} (this build reads version {VERSION})")
    if not 0 < arch_len <= MAX_ARCH_LEN:
        raise FormatError("corrupted header: bad architecture name length")
    arch_bytes = reader.read(arch_len)
    checkpoint_hash, height, width, grid, count = reader.take(_FIXED)
    lengths: List[int] = [reader.take(_U32)[0] for _ in range(count)]
    header_end = reader.pos
    (crc,) = reader.take(_U32)
    body = data[reader.pos :]
    if len(body) < sum(lengths):
        raise FormatError(f"truncated file: {len(body)} of {sum(lengths)} payload bytes")
    if len(body) > sum(lengths):
        raise FormatError(f"trailing data: {len(body) - sum(lengths)} bytes after the last stream")
    if zlib.crc32(body, zlib.crc32(data[:header_end])) != crc:
        raise FormatError("corrupted file: CRC32 mismatch")
    # Past the CRC the bytes are as written; the checks below only guard against a
    # writer that was given inconsistent values.
    try:
        arch = arch_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("corrupted header: architecture name is not ASCII") from None
    streams, pos = [], 0
    for n in lengths:
        streams.append(body[pos : pos + n])
        pos += n
    try:
        return CodedImage(arch, checkpoint_hash, height, width, grid, tuple(streams))
    except ValueError as e:
        raise FormatError(f"invalid header: {e}") from None


class _Reader:
    """Sequential reads that turn running out of bytes into a ``FormatError``."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def read(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError(f"truncated file: header ends after {len(self.data)} bytes")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def take(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.read(fmt.size))
