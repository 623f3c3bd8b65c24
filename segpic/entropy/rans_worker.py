"""The process that runs compressai's rANS decoder for :mod:`segpic.entropy.rans`.

Run as a script (``python -I rans_worker.py PATH_TO_ANS_EXTENSION``), it loads only compressai's
``ans`` extension module (not the compressai package, hence not torch), then serves requests on
stdin/stdout until stdin closes.  Every request is one pickled tuple from the parent (trusted);
every reply is raw bytes with a 9-byte header (status byte ``b"k"`` or ``b"e"``, then the length
as a big-endian uint64), so the parent never unpickles what came out of a hostile stream:

    ("stream", data: bytes)                      start decoding ``data``          -> b""
    ("decode", indexes: bytes, cdfs, lengths, offsets)
        decode len(indexes) / 4 symbols (int32 CDF indexes, native order)      -> int32 symbols

A decoder that reads past the end of its stream can crash here; the parent sees the pipe close.
"""
import array
import importlib.util
import pickle
import struct
import sys

_HEADER = struct.Struct(">cQ")


def _load_ans(path: str):
    spec = importlib.util.spec_from_file_location("compressai.ans", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reply(out, status: bytes, payload: bytes) -> None:
    out.write(_HEADER.pack(status, len(payload)))
    out.write(payload)
    out.flush()


def serve(ans, inp, out) -> None:
    decoder = None
    while True:
        try:
            request = pickle.load(inp)
        except EOFError:
            return
        if request[0] == "stream":
            decoder = ans.RansDecoder()
            decoder.set_stream(request[1])
            _reply(out, b"k", b"")
        elif request[0] == "decode" and decoder is not None:
            _, indexes, cdfs, lengths, offsets = request
            symbols = decoder.decode_stream(array.array("i", indexes).tolist(), cdfs, lengths, offsets)
            _reply(out, b"k", array.array("i", symbols).tobytes())
        else:
            _reply(out, b"e", f"bad request {request[0]!r}".encode())


if __name__ == "__main__":
    serve(_load_ans(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer)
