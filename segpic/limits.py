"""Size limits on what a file may make this package allocate.

``MAX_PIXELS``: the largest image (height x width) accepted by default, by the decoder of
``.sgp`` containers and by every image reader (``python -m segpic encode``, ``bench run``:
Pillow's and imagecodecs' paths), one limit for all.  A
container declares its image size in two 32-bit fields, so a 30-byte header can ask for a
65535 x 65535 image; the networks then need memory in proportion to the pixels: decoding a
2048 x 1344 image (2.75 Mpixel) with SegPIC peaks at 2.5 GiB, about 1.1 GiB of it the loaded
stack and weights (README, "Measured speed"), i.e. roughly 0.5 KiB per pixel.  2**25 pixels
(33.5 Mpixel) holds an 8K UHD frame (7680 x 4320) and is 12 times the largest image of the
usual test sets (CLIC, 2048 x 1365); decoding that much takes about 17 GiB, so larger sizes
need an explicit ``--max-pixels`` (``max_pixels=``) from someone who has the memory.
Pillow's own bomb limit is 89,478,485 pixels (2**28 / 3), for 3-byte pixels rather than a
network's feature maps.
"""

MAX_PIXELS = 1 << 25


def pixel_limit_error(width: int, height: int, max_pixels: int = MAX_PIXELS):
    """The one-line message for an image above ``max_pixels``, or None when it fits."""
    if width * height <= max_pixels:
        return None
    return (f"image of {width}x{height} = {width * height} pixels is above the limit of {max_pixels} "
            "(raise it with --max-pixels if you have the memory: about 0.5 KiB per pixel)")
