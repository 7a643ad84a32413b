"""The weight image: round trip, integrity checks, and C headers generated from the one definition."""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import pytest
from paths import MODELS

from cimconv import image
from cimconv.pipeline import convert


@pytest.fixture(scope="module")
def kws():
    return convert(MODELS / "kws_ref_model.tflite", "nor-acim")


def test_header_fields_follow_the_spec(kws):
    data = kws.image_bytes
    assert data[:4] == b"CIMG"
    major, minor, hsize, total = struct.unpack_from("<HHII", data, 4)
    assert (major, minor, hsize, total) == (1, 0, 64, len(data))
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    nsec, table = struct.unpack_from("<II", data, 24)
    for i in range(nsec):
        sid, off, size, crc = struct.unpack_from("<IIII", data, table + 16 * i)
        assert off % 8 == 0
        assert zlib.crc32(data[off : off + size]) == crc
    assert struct.unpack_from("<I", data, 32)[0] == kws.report["totals"]["activation_ram_bytes"]


def test_round_trip_preserves_program_and_weights(kws):
    img = image.parse_image(kws.image_bytes)
    assert [op.opcode for op in img.ops] == [op.opcode for op in kws.image.ops]
    assert [op.params for op in img.ops] == [op.params for op in kws.image.ops]
    for a, b in zip(img.matrices, kws.image.matrices, strict=True):
        assert np.array_equal(a.weights, b.weights)
        assert np.array_equal(a.bias, b.bias) and np.array_equal(a.mult, b.mult)
        assert [vars(t) for t in a.tiles] == [vars(t) for t in b.tiles]
    assert image.write_image(img) == kws.image_bytes


def test_weights_are_column_major_filter_order(kws):
    from cimconv.reader import read_model

    g = read_model(MODELS / "kws_ref_model.tflite")
    conv0 = g.operators[0]
    w = g.tensors[conv0.inputs[1]].data  # (cout, kh, kw, cin)
    m = image.parse_image(kws.image_bytes).matrices[0]
    assert np.array_equal(m.weights[5], w[5].reshape(-1))


@pytest.mark.parametrize("where", [10, 200, 2000, -10])
def test_any_flipped_byte_is_caught(kws, where):
    bad = bytearray(kws.image_bytes)
    bad[where] ^= 0x01
    with pytest.raises(image.ImageError):
        image.parse_image(bytes(bad))


def test_truncated_and_other_version_rejected(kws):
    with pytest.raises(image.ImageError, match="truncated|too short"):
        image.parse_image(kws.image_bytes[:-100])
    v2 = bytearray(kws.image_bytes)
    v2[4] = 2
    v2[-32:] = hashlib.sha256(bytes(v2[:-32])).digest()
    with pytest.raises(image.ImageError, match="convert the model again"):
        image.parse_image(bytes(v2))


