"""The coded-image container: round trip and strict parsing of every kind of damage."""
import struct
import zlib

import pytest

from segpic.fileformat import MAGIC, CodedImage, FormatError, pack, unpack


def sample(**kw):
    fields = dict(
        arch="segpic",
        checkpoint_hash=bytes(range(8)),
        height=512,
        width=768,
        grid=4,
        streams=(b"y" * 300, b"z" * 40, b"", b"\x00\xff" * 7),
    )
    fields.update(kw)
    return CodedImage(**fields)


def test_round_trip_keeps_every_field():
    img = sample()
    assert unpack(pack(img)) == img


def test_layout_is_documented_one():
    data = pack(sample(arch="stf", grid=0, streams=(b"abc", b"de")))
    assert data[:4] == MAGIC and data[4] == 1 and data[5] == 3 and data[6:9] == b"stf"
    assert struct.unpack(">8sIIBB", data[9:27]) == (bytes(range(8)), 512, 768, 0, 2)
    assert struct.unpack(">II", data[27:35]) == (3, 2)
    (crc,) = struct.unpack(">I", data[35:39])
    assert crc == zlib.crc32(data[:35] + b"abcde")
    assert data[39:] == b"abcde"


def test_packing_is_deterministic():
    assert pack(sample()) == pack(sample())


def test_empty_input():
    with pytest.raises(FormatError, match="empty"):
        unpack(b"")


@pytest.mark.parametrize("foreign", [b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"SGP", b"hello world"])
def test_foreign_input(foreign):
    with pytest.raises(FormatError, match="not a segpic bitstream"):
        unpack(foreign)


def test_every_truncation_is_rejected():
    data = pack(sample())
    for n in range(1, len(data)):
        with pytest.raises(FormatError, match="truncated|bad magic"):
            unpack(data[:n])


def test_trailing_bytes_are_rejected():
    with pytest.raises(FormatError, match="trailing"):
        unpack(pack(sample()) + b"\0")


def test_every_single_bit_flip_is_rejected():
    data = pack(sample(streams=(b"y" * 20, b"z" * 5)))
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(FormatError):
                unpack(bytes(bad))


def test_newer_version_is_named():
    data = bytearray(pack(sample()))
    data[4] = 9
    with pytest.raises(FormatError, match="version 9"):
        unpack(bytes(data))


def test_messages_are_one_line():
    data = pack(sample())
    for bad in (b"", b"xx", data[:10], data[:-1], data + b"1", data[:-1] + bytes([data[-1] ^ 1])):
        with pytest.raises(FormatError) as e:
            unpack(bad)
        assert "\n" not in str(e.value) and str(e.value)


@pytest.mark.parametrize(
    "kw",
    [dict(arch=""), dict(arch="é"), dict(checkpoint_hash=b"123"), dict(height=0), dict(grid=256), dict(streams=())],
)
def test_invalid_fields_cannot_be_packed(kw):
    with pytest.raises(ValueError):
        sample(**kw)
