"""The codec's user-facing error type and one-line messages; importing this costs nothing
(no torch), so the command line can report errors before it loads the networks."""


class CodecError(ValueError):
    """The codec cannot do what was asked (bad image, unreadable checkpoint,
    bitstream made by another checkpoint).  The message is one line."""


def first_line(e: BaseException) -> str:
    """An exception's message cut to its first line (its type name when it has none)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
