#!/usr/bin/python3
"""Regenerate the IDX fixtures of the CLI tests (run from anywhere; writes beside itself).

images.idx / images.idx.gz    6 images of 4 x 3 unsigned bytes (magic 0x00000803)
labels.idx / labels.idx.gz    6 labels in 0..2 (magic 0x00000801)
truncated.idx                 images header declares 6 images, the file holds 5
truncated.idx.gz              images.idx.gz cut in the middle of the deflate stream
corrupt.idx.gz                images.idx.gz with deflate bytes flipped (bad data / CRC)
badtype.idx                   element type 0x0D (float), which the CLI rejects
trailing.idx                  labels.idx plus 3 bytes the header does not declare
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
N, H, W = 6, 4, 3


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


pixels = bytes((i * 37 + 11) % 256 for i in range(N * H * W))
images = struct.pack(">I3I", 0x00000803, N, H, W) + pixels
labels = struct.pack(">II", 0x00000801, N) + bytes([0, 1, 2, 0, 1, 2])

write("images.idx", images)
write("images.idx.gz", gz(images))
write("labels.idx", labels)
write("labels.idx.gz", gz(labels))
write("truncated.idx", images[: len(images) - H * W])
g = gz(images)
write("truncated.idx.gz", g[: len(g) // 2])
c = bytearray(g)
for i in range(12, len(c) - 8, 5):
    c[i] ^= 0x5A
write("corrupt.idx.gz", bytes(c))
write("badtype.idx", struct.pack(">I3I", 0x00000D03, N, H, W) + bytes(4 * N * H * W))
write("trailing.idx", labels + b"xyz")
