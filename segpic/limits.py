"""Size limits that protect a process from hostile inputs."""

#: Largest image, in pixels, that readers and decoders accept unless told otherwise: Pillow's
#: decompression-bomb error threshold (2 x Image.MAX_IMAGE_PIXELS = 178,956,970 pixels).
MAX_PIXELS = 178_956_970
