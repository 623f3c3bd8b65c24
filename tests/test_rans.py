"""segpic.entropy.rans: compressai's rANS decoder behind form, isolation and exactness checks."""
import pytest
import torch

from segpic.entropy.rans import RansStream, StreamError, decode_with_indexes  # before compressai: see segpic/lean_compressai.py

from compressai.ans import BufferedRansEncoder  # noqa: E402  isort: skip
from compressai.entropy_models import GaussianConditional  # noqa: E402  isort: skip


@pytest.fixture(scope="module")
def coded():
    """2,000 Gaussian symbols coded with compressai's tables: (stream, symbols, indexes, tables)."""
    gc = GaussianConditional(None)
    gc.update_scale_table(torch.exp(torch.linspace(-2.2, 5.5, 64)))
    gc.update()
    tables = (gc.quantized_cdf.tolist(), gc.cdf_length.tolist(), gc.offset.tolist())
    g = torch.Generator().manual_seed(0)
    indexes = torch.randint(0, 64, (2000,), generator=g).tolist()
    symbols = (torch.randn(2000, generator=g) * 4).round().int().tolist()
    symbols[7] = 5000  # a bypass-coded value
    encoder = BufferedRansEncoder()
    encoder.encode_with_indexes(symbols, indexes, *tables)
    return encoder.flush(), symbols, indexes, tables


def test_round_trip_in_two_calls(coded):
    stream, symbols, indexes, tables = coded
    with RansStream(stream) as s:
        got = s.decode(indexes[:500], *tables) + s.decode(indexes[500:], *tables)
        s.finish()
    assert got == symbols


@pytest.mark.parametrize("change, message", [
    (lambda s: s[:-4], "ends before its last symbol|out of range|failed"),
    (lambda s: s + bytes(4), "has data after its last symbol"),
    (lambda s: s[:-1], "whole 32-bit words"),
    (lambda s: b"", "at least 8 bytes"),
    (lambda s: bytes(len(s)), "not a valid encoding|after its last symbol|ends before|out of range"),
])
def test_damaged_streams_are_refused(coded, change, message):
    stream, _, indexes, tables = coded
    with pytest.raises(StreamError, match=message):
        decode_with_indexes(change(stream), indexes, *tables)


def test_a_crashing_decoder_is_an_error_and_the_next_stream_decodes(coded):
    """A segfault of compressai's decoder kills only the worker (simulated by killing it)."""
    stream, symbols, indexes, tables = coded
    s = RansStream(stream)
    s._worker.proc.kill()
    with pytest.raises(StreamError, match="entropy decoder failed"):
        s.decode(indexes, *tables)
    assert decode_with_indexes(stream, indexes, *tables) == symbols
