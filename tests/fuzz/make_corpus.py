#!/usr/bin/python3
"""Generate the seed corpora of the fuzz targets in tests/fuzz/corpus/<target>/.

Small valid files and near-valid variants (one defect each), so the fuzzers start next to
every branch of the parsers. Deterministic: running it again rewrites the same bytes.
Files named crash-* (committed regression inputs) are left alone.

    /usr/bin/python3 tests/fuzz/make_corpus.py [OUTDIR] [REPLAY_SAFETENSORS]
                                                  (default OUTDIR: tests/fuzz/corpus)

Checkpoint seeds must match the trainer the safetensors harness builds, so the harness
writes them itself: pass the replay_safetensors binary of any build as the second argument
(e.g. build/tests/fuzz/replay_safetensors); without it the committed checkpoint_* seeds are
kept as they are.
"""
import gzip
import io
import json
import os
import struct
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
REPLAY_ST = sys.argv[2] if len(sys.argv) > 2 else None


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clean(target, keep=("crash-",)):
    d = os.path.join(OUT, target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if not n.startswith(keep):
                os.remove(os.path.join(d, n))


# ---- .npy ----------------------------------------------------------------------------

def npy_bytes(arr, version=None):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version, allow_pickle=False)
    return b.getvalue()


def npy_raw(header, data=b"", version=1, pad=True):
    """A .npy image with a hand-written header dict (for malformed headers)."""
    h = header.encode("latin1")
    pre = 10 if version == 1 else 12
    if pad:
        total = pre + len(h) + 1
        h = h + b" " * ((64 - total % 64) % 64) + b"\n"
    if version == 1:
        lenfield = struct.pack("<H", len(h))
    else:
        lenfield = struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + lenfield + h + data


def make_npy():
    t = "npy"
    clean(t)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4)).astype("<f4")
    put(t, "v1_f4_2d.npy", npy_bytes(x))
    put(t, "v1_f8_2d.npy", npy_bytes(x.astype("<f8")))
    put(t, "v1_u1_2d.npy", npy_bytes((rng.random((2, 5)) * 255).astype("u1")))
    put(t, "v1_i4_1d.npy", npy_bytes(np.arange(5, dtype="<i4")))
    put(t, "v1_i8_1d.npy", npy_bytes(np.arange(4, dtype="<i8")))
    put(t, "v1_u1_1d.npy", npy_bytes(np.arange(3, dtype="u1")))
    put(t, "v1_f4_1x1.npy", npy_bytes(np.ones((1, 1), "<f4")))
    put(t, "v1_f4_nan.npy", npy_bytes(np.array([[np.nan, np.inf], [-np.inf, 0]], "<f4")))
    put(t, "v2_f4_2d.npy", npy_bytes(x, version=(2, 0)))
    put(t, "v3_f4_2d.npy", npy_bytes(x, version=(3, 0)))
    put(t, "v1_f4_0rows.npy", npy_bytes(np.zeros((0, 3), "<f4")))
    put(t, "v1_f4_0cols.npy", npy_bytes(np.zeros((3, 0), "<f4")))
    # Unsupported but well-formed.
    put(t, "bigendian_f4.npy", npy_bytes(x.astype(">f4")))
    put(t, "fortran_f4.npy", npy_bytes(np.asfortranarray(x)))
    put(t, "rank3_f4.npy", npy_bytes(np.zeros((2, 2, 2), "<f4")))
    put(t, "rank0_f4.npy", npy_bytes(np.array(1.5, "<f4")))
    put(t, "i2_1d.npy", npy_bytes(np.arange(3, dtype="<i2")))
    put(t, "f2_2d.npy", npy_bytes(np.zeros((2, 2), "<f2")))
    put(t, "bool_1d.npy", npy_bytes(np.array([True, False])))
    put(t, "unicode_1d.npy", npy_bytes(np.array(["ab", "c"])))
    put(t, "structured.npy", npy_bytes(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))
    # Malformed.
    good = npy_bytes(x)
    put(t, "truncated_data.npy", good[:-5])
    put(t, "truncated_header.npy", good[:40])
    put(t, "truncated_prefix.npy", good[:9])
    put(t, "magic_only.npy", b"\x93NUMPY")
    put(t, "bad_magic.npy", b"\x93NUMPX" + good[6:])
    put(t, "bad_version.npy", good[:6] + b"\x04\x00" + good[8:])
    put(t, "hlen_too_big.npy", good[:8] + struct.pack("<H", 0xFFFF) + good[10:])
    put(t, "v2_hlen_huge.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFFF) + b"{}")
    put(t, "extra_data.npy", good + b"\0" * 8)
    put(t, "no_newline.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", b"\0" * 16, pad=False))
    put(t, "overflow_shape.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", b"\0" * 16))
    put(t, "overflow_shape2.npy", npy_raw("{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 18446744073709551615), }"))
    put(t, "shape_too_long.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999999, 1), }"))
    put(t, "negative_shape.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }"))
    put(t, "missing_shape.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, }", b"\0" * 4))
    put(t, "missing_descr.npy", npy_raw("{'fortran_order': False, 'shape': (1,), }", b"\0" * 4))
    put(t, "dup_key.npy", npy_raw("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8))
    put(t, "unknown_key.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", b"\0" * 4))
    put(t, "shape_1tuple.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 8))
    put(t, "shape_spaces.npy", npy_raw("{ 'shape' : ( 2 , 1 ) , 'fortran_order' : False , 'descr' : '<f4' }", b"\0" * 8))
    put(t, "double_quotes.npy", npy_raw('{"descr": "<f4", "fortran_order": False, "shape": (1,)}', b"\0" * 4))
    put(t, "unterminated_str.npy", npy_raw("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", b"\0" * 4))
    put(t, "unterminated_tuple.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", b"\0" * 4))
    put(t, "fortran_true_1d.npy", npy_raw("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", b"\0" * 8))
    put(t, "fortran_bad.npy", npy_raw("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", b"\0" * 8))
    put(t, "descr_native.npy", npy_raw("{'descr': '=f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 8))
    put(t, "descr_bare.npy", npy_raw("{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 8))
    put(t, "empty_dict.npy", npy_raw("{}"))
    put(t, "not_dict.npy", npy_raw("[1, 2, 3]"))
    put(t, "nul_in_header.npy", npy_raw("{'descr': '<f4\0', 'fortran_order': False, 'shape': (1,)}", b"\0" * 4))
    put(t, "empty.npy", b"")


# ---- IDX (MNIST family) ------------------------------------------------------------------

IDX_TYPES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def idx_bytes(arr, code=None):
    dt = arr.dtype.str.lstrip("|")
    if code is None:
        code = IDX_TYPES[dt if dt in IDX_TYPES else arr.dtype.newbyteorder(">").str]
        arr = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.tobytes()


def make_idx():
    """Seeds of fuzz_idx: the library's array parser (IDX, and .npy through the same entry
    point) and the CLI's gzip path (src/gz.c)."""
    t = "idx"
    clean(t)
    rng = np.random.default_rng(2)
    images = (rng.random((3, 4, 4)) * 255).astype("u1")
    labels = np.array([1, 0, 9], "u1")
    # Plain IDX: the supported kinds (unsigned bytes, 1-D labels and 3-D images).
    put(t, "images_u8_3d.idx", idx_bytes(images))
    put(t, "labels_u8_1d.idx", idx_bytes(labels))
    put(t, "image_1x1x1.idx", idx_bytes(np.array([[[7]]], "u1")))
    put(t, "images_wide_3d.idx", idx_bytes((rng.random((2, 20, 20)) * 255).astype("u1")))
    # Well-formed IDX the library refuses: other element types and ranks.
    put(t, "vectors_u8_2d.idx", idx_bytes(images.reshape(3, 16)))
    put(t, "f32_2d.idx", idx_bytes(rng.standard_normal((2, 3)).astype(">f4")))
    put(t, "f64_2d.idx", idx_bytes(rng.standard_normal((2, 3)).astype(">f8")))
    put(t, "i32_1d.idx", idx_bytes(np.arange(4, dtype=">i4")))
    put(t, "i16_1d.idx", idx_bytes(np.arange(4, dtype=">i2")))
    put(t, "i8_1d.idx", idx_bytes(np.arange(4, dtype="i1")))
    put(t, "rank4_u8.idx", b"\x00\x00\x08\x04" + b"\x00\x00\x00\x01" * 4 + b"\x05")
    # Malformed IDX.
    good = idx_bytes(images)
    put(t, "zero_items.idx", idx_bytes(np.zeros((0, 4, 4), "u1")))
    put(t, "zero_width.idx", b"\x00\x00\x08\x03" + struct.pack(">III", 2, 4, 0))
    put(t, "truncated_data.idx", good[:-3])
    put(t, "truncated_dims.idx", good[:9])
    put(t, "extra_data.idx", good + b"\0" * 7)
    put(t, "bad_magic.idx", b"\x01\x00" + good[2:])
    put(t, "bad_type.idx", good[:2] + b"\x07" + good[3:])
    put(t, "ndim0.idx", b"\x00\x00\x08\x00" + b"\x05")
    put(t, "ndim255.idx", b"\x00\x00\x08\xff" + b"\x00\x00\x00\x01" * 8)
    # 3 dimensions of 2^32 - 1: the byte count overflows 64 bits.
    put(t, "huge_dims.idx", b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3 + b"\0" * 16)
    put(t, "huge_dims_1d.idx", b"\x00\x00\x08\x01" + b"\xff\xff\xff\xff" + b"\0" * 16)
    put(t, "huge_dims_f64.idx", b"\x00\x00\x0e\x03" + b"\x80\x00\x00\x00" * 3 + b"\0" * 16)
    put(t, "header_only.idx", b"\x00\x00\x08")
    put(t, "empty.idx", b"")
    # .npy through the same parser (and its header reader, which sizes the gzip output).
    x = rng.standard_normal((3, 4)).astype("<f4")
    put(t, "npy_f4_2d.npy", npy_bytes(x))
    put(t, "npy_f8_2d.npy", npy_bytes(x.astype("<f8")))
    put(t, "npy_u1_2d.npy", npy_bytes(images.reshape(3, 16)))
    put(t, "npy_u1_1d.npy", npy_bytes(labels))
    put(t, "npy_i4_col.npy", npy_bytes(np.array([[2], [0], [1]], "<i4")))
    put(t, "npy_i8_neg.npy", npy_bytes(np.array([1, -1, 3], "<i8")))
    put(t, "npy_i8_big.npy", npy_bytes(np.array([1, 1 << 40], "<i8")))
    put(t, "npy_f4_nan.npy", npy_bytes(np.array([[np.nan, 1.0], [0.0, np.inf]], "<f4")))
    put(t, "npy_f4_0rows.npy", npy_bytes(np.zeros((0, 5), "<f4")))
    put(t, "npy_f4_wide.npy", npy_bytes(np.ones((2, 300), "<f4")))
    put(t, "npy_trailing.npy", npy_bytes(x) + b"\0" * 5)
    put(t, "npy_truncated.npy", npy_bytes(x)[:-3])
    put(t, "npy_header_cut.npy", npy_bytes(x)[:30])
    put(t, "npy_bigendian.npy", npy_bytes(x.astype(">f4")))
    # gzip: good files, and every way the CLI's stream reading can fail.
    gz = gzip.compress(good, mtime=0)
    put(t, "images_u8_3d.idx.gz", gz)
    put(t, "labels_u8_1d.idx.gz", gzip.compress(idx_bytes(labels), mtime=0))
    put(t, "npy_f4_2d.npy.gz", gzip.compress(npy_bytes(x), mtime=0))
    put(t, "npy_u1_1d.npy.gz", gzip.compress(npy_bytes(labels), mtime=0))
    # 100 images of 28 x 28 zeros: a high ratio that is still within deflate's bound.
    put(t, "gz_zeros_28x28.idx.gz", gzip.compress(idx_bytes(np.zeros((100, 28, 28), "u1")), 9, mtime=0))
    put(t, "gz_fname.idx.gz", gzip_named(good, b"images.idx"))
    put(t, "gz_truncated.idx.gz", gz[:-10])
    put(t, "gz_no_trailer.idx.gz", gz[:-8])
    put(t, "gz_bad_crc.idx.gz", gz[:-8] + b"\0\0\0\0" + gz[-4:])
    put(t, "gz_garbage.idx.gz", b"\x1f\x8b\x08\x00" + b"\xab" * 20)
    put(t, "gz_magic_only.gz", b"\x1f\x8b")
    put(t, "gz_of_garbage.idx.gz", gzip.compress(b"not an idx file", mtime=0))
    put(t, "gz_of_empty.gz", gzip.compress(b"", mtime=0))
    put(t, "gz_of_header_only.idx.gz", gzip.compress(good[:16], mtime=0))
    put(t, "gz_of_unsupported.idx.gz", gzip.compress(idx_bytes(images.reshape(3, 16)), mtime=0))
    put(t, "gz_of_bigendian.npy.gz", gzip.compress(npy_bytes(x.astype(">f4")), mtime=0))
    # Concatenated members (gzip allows them), split after the data starts and inside the header.
    put(t, "gz_concat.idx.gz", gzip.compress(good[:20], mtime=0) + gzip.compress(good[20:], mtime=0))
    put(t, "gz_concat_in_header.idx.gz", gzip.compress(good[:6], mtime=0) + gzip.compress(good[6:], mtime=0))
    put(t, "gz_concat_empty_member.idx.gz", gzip.compress(good, mtime=0) + gzip.compress(b"", mtime=0))
    put(t, "gz_trailing_garbage.idx.gz", gz + b"\0\0\0\0")
    put(t, "gz_trailing_gzip_magic.idx.gz", gz + b"\x1f\x8b")
    # More, and less, data than the header declares.
    put(t, "gz_extra_data.idx.gz", gzip.compress(good + b"\0" * 9, mtime=0))
    put(t, "gz_short_data.idx.gz", gzip.compress(good[:-4], mtime=0))
    put(t, "gz_npy_trailing.npy.gz", gzip.compress(npy_bytes(x) + b"\0" * 5, mtime=0))
    # A small gzip that inflates to a header claiming a large array (decompression-bomb
    # shape): refused before anything is allocated.
    bomb = b"\x00\x00\x08\x03" + struct.pack(">III", 60000, 28, 28) + b"\0" * 200000
    put(t, "gz_bomb_small.idx.gz", gzip.compress(bomb, mtime=0))
    put(t, "gz_bomb_npy.npy.gz", gzip.compress(npy_raw("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000, 1000), }") + b"\0" * 100000, mtime=0))
    # A .npy header longer than the 64 KiB the CLI inflates to read it.
    put(t, "gz_npy_header_70k.npy.gz", gzip.compress(npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }" + " " * 70000, b"\0" * 16, version=2), mtime=0))


def gzip_named(data, fname):
    """A gzip member with the FNAME header field set (as gzip(1) writes it)."""
    body = gzip.compress(data, mtime=0)
    return body[:3] + b"\x08" + body[4:10] + fname + b"\0" + body[10:]


# ---- safetensors ---------------------------------------------------------------------------

ST_DTYPES = {np.dtype("float16"): ("F16", "<f2"), np.dtype("int8"): ("I8", "i1")}


def st_bytes(tensors, meta=None, align=8, header_override=None, pad_byte=b" "):
    """tensors: list of (name, array): float16 and int8 arrays as F16 and I8, the rest as F32.
    Returns a .safetensors image."""
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors:
        dt, np_dt = ST_DTYPES.get(np.asarray(arr).dtype, ("F32", "<f4"))
        raw = np.ascontiguousarray(arr, dtype=np_dt).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode() if header_override is None else header_override
    if align:
        h += pad_byte * ((align - len(h) % align) % align)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def st_raw(header_text, data=b""):
    h = header_text.encode()
    return struct.pack("<Q", len(h)) + h + data


def student_tensors(D, H, k, C, rng, norm=False):
    t = []
    if norm:
        t.append(("input.mean", rng.standard_normal(D).astype("f4")))
        t.append(("input.scale", (rng.random(D) + 0.5).astype("f4")))
    if k:
        t.append(("bottleneck.weight", rng.standard_normal((k, D)).astype("f4")))
    t.append(("hidden.weight", rng.standard_normal((H, k if k else D)).astype("f4")))
    t.append(("hidden.bias", rng.standard_normal(H).astype("f4")))
    t.append(("output.weight", rng.standard_normal((C, H)).astype("f4")))
    t.append(("output.bias", rng.standard_normal(C).astype("f4")))
    return t


# The student's "__metadata__" keys, as lib/student.c writes them.
STUDENT_META_KEYS = None


def student_meta(D, H, k, C, act="relu"):
    keys = STUDENT_META_KEYS or {}
    return {
        keys.get("n_inputs", "n_inputs"): str(D),
        keys.get("n_hidden", "n_hidden"): str(H),
        keys.get("n_bottleneck", "n_bottleneck"): str(k),
        keys.get("n_classes", "n_classes"): str(C),
        keys.get("activation", "activation"): act,
        "format": "libmimic-student",
    }


def st_split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def st_join(header, blob):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def make_checkpoints(t):
    """Checkpoint seeds from the harness, plus near-valid variants of them."""
    import subprocess
    import tempfile
    d = os.path.join(OUT, t)
    if REPLAY_ST:
        for n in os.listdir(d):
            if n.startswith(("checkpoint_", "student_saved")):
                os.remove(os.path.join(d, n))
        with tempfile.TemporaryDirectory() as tmp:
            dummy = os.path.join(tmp, "empty")
            open(dummy, "wb").close()
            subprocess.run([REPLAY_ST, dummy], check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, MIMIC_FUZZ_WRITE_SEEDS=d))
    src = os.path.join(d, "checkpoint_epoch1.safetensors")
    if not os.path.exists(src):
        return
    good = open(src, "rb").read()
    header, blob = st_split(good)
    meta = header["__metadata__"]

    def variant(name, edit_meta=None, drop=None, blob_edit=None):
        h = json.loads(json.dumps(header))
        if edit_meta:
            edit_meta(h["__metadata__"])
        if drop:
            del h[drop]
        b = blob_edit(blob) if blob_edit else blob
        put(t, "checkpoint_v_" + name + ".safetensors", st_join(h, b))

    keys = sorted(k for k in meta if k not in ("format",))
    for k in keys[:: max(1, len(keys) // 12)]:
        variant("meta_%s_garbage" % k.replace(".", "_"), lambda m, k=k: m.__setitem__(k, "x1"))
        variant("meta_%s_huge" % k.replace(".", "_"), lambda m, k=k: m.__setitem__(k, "18446744073709551615"))
        variant("meta_%s_missing" % k.replace(".", "_"), lambda m, k=k: m.pop(k))
    tensors = sorted(k for k in header if k != "__metadata__")
    for name in tensors:
        variant("drop_%s" % name.replace(".", "_"), drop=name)
    nan = struct.pack("<f", float("nan"))
    variant("nan_data", blob_edit=lambda b: nan + b[4:])
    variant("format_version_2", lambda m: m.__setitem__("format_version", "2"))
    put(t, "checkpoint_v_truncated.safetensors", good[:-10])


def make_safetensors():
    t = "safetensors"
    clean(t, keep=("crash-", "checkpoint_", "student_saved"))
    rng = np.random.default_rng(3)
    st = student_tensors(4, 3, 2, 2, rng)
    put(t, "student_k2.safetensors", st_bytes(st, student_meta(4, 3, 2, 2)))
    st0 = student_tensors(3, 4, 0, 3, rng, norm=True)
    put(t, "student_k0_norm.safetensors", st_bytes(st0, student_meta(3, 4, 0, 3, "tanh")))
    put(t, "student_sigmoid.safetensors", st_bytes(student_tensors(2, 2, 0, 2, rng), student_meta(2, 2, 0, 2, "sigmoid")))
    put(t, "plain_two.safetensors", st_bytes([("a", np.ones((2, 3), "f4")), ("b", np.zeros(4, "f4"))]))
    put(t, "plain_meta.safetensors", st_bytes([("w", np.ones(1, "f4"))], {"k": "v", "x": ""}))
    put(t, "empty_header.safetensors", st_raw("{}"))
    put(t, "only_meta.safetensors", st_raw('{"__metadata__":{"a":"b"}}'))
    put(t, "scalar.safetensors", st_raw('{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "rank3.safetensors", st_raw('{"s":{"dtype":"F32","shape":[1,1,2],"data_offsets":[0,8]}}', b"\0" * 8))
    put(t, "zero_dim.safetensors", st_raw('{"s":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}'))
    put(t, "f16.safetensors", st_raw('{"s":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "f64.safetensors", st_raw('{"s":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', b"\0" * 8))
    put(t, "nan.safetensors", st_raw('{"s":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0\0\xc0\x7f\0\0\x80\x7f"))
    put(t, "offsets_past_end.safetensors", st_raw('{"s":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 4))
    put(t, "offsets_reversed.safetensors", st_raw('{"s":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', b"\0" * 4))
    put(t, "offsets_size_mismatch.safetensors", st_raw('{"s":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}', b"\0" * 8))
    put(t, "offsets_overlap.safetensors", st_raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', b"\0" * 12))
    put(t, "offsets_gap.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', b"\0" * 12))
    put(t, "offsets_unaligned.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}}', b"\0" * 5))
    put(t, "offsets_huge.safetensors", st_raw('{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}'))
    put(t, "offsets_overflow.safetensors", st_raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551612,4]}}', b"\0" * 8))
    put(t, "shape_overflow.safetensors", st_raw('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'))
    put(t, "shape_negative.safetensors", st_raw('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "shape_float.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "number_too_long.safetensors", st_raw('{"a":{"dtype":"F32","shape":[100000000000000000000000],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "dup_name.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8))
    put(t, "missing_dtype.safetensors", st_raw('{"a":{"shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "extra_field.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":[{"y":null}]}}', b"\0" * 4))
    put(t, "escapes.safetensors", st_raw('{"a\\u00e9\\n\\"\\\\\\/":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"k\\t":"\\ud83d\\ude00"}}', b"\0" * 4))
    put(t, "bad_escape.safetensors", st_raw('{"a\\x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "lone_surrogate.safetensors", st_raw('{"a\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "nul_in_name.safetensors", st_raw('{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    put(t, "meta_not_string.safetensors", st_raw('{"__metadata__":{"a":1}}'))
    put(t, "meta_nested.safetensors", st_raw('{"__metadata__":{"a":{"b":"c"}}}'))
    put(t, "deep_nesting.safetensors", st_raw('{"a":' + "[" * 2000 + "]" * 2000 + "}"))
    put(t, "trailing_garbage.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x', b"\0" * 4))
    put(t, "truncated_json.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_'))
    put(t, "not_object.safetensors", st_raw("[1,2]"))
    put(t, "hlen_too_big.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
    put(t, "hlen_max.safetensors", struct.pack("<Q", 0xFFFFFFFFFFFFFFFF) + b"{}")
    put(t, "hlen_zero.safetensors", struct.pack("<Q", 0))
    put(t, "short.safetensors", b"\x02\x00\x00")
    put(t, "empty.safetensors", b"")
    good = st_bytes(st, student_meta(4, 3, 2, 2))
    put(t, "student_truncated.safetensors", good[:-6])
    # Student files whose tensors disagree with their metadata or each other.
    bad = student_tensors(4, 3, 2, 2, rng)
    bad[1] = ("hidden.weight", np.ones((3, 3), "f4"))
    put(t, "student_shape_mismatch.safetensors", st_bytes(bad, student_meta(4, 3, 2, 2)))
    put(t, "student_missing_tensor.safetensors", st_bytes(st[1:], student_meta(4, 3, 2, 2)))
    put(t, "student_meta_huge.safetensors", st_bytes(st, student_meta(4, 3, 2, 18446744073709551615)))
    put(t, "student_meta_overflow.safetensors", st_bytes(st, student_meta(4294967296, 4294967296, 0, 2)))
    put(t, "student_meta_garbage.safetensors", st_bytes(st, student_meta("4x", "-3", "", "2", "swish")))
    put(t, "student_no_meta.safetensors", st_bytes(st))
    nan_st = student_tensors(4, 3, 2, 2, rng)
    nan_st[2][1][0] = np.nan
    put(t, "student_nan.safetensors", st_bytes(nan_st, student_meta(4, 3, 2, 2)))
    put(t, "student_extra_tensor.safetensors", st_bytes(st + [("extra", np.ones(1, "f4"))], student_meta(4, 3, 2, 2)))
    put(t, "student_meta_big_arch.safetensors", st_bytes(st, student_meta(100000, 100000, 0, 2)))
    put(t, "student_norm_half.safetensors", st_bytes(st + [("input.mean", np.zeros(4, "f4"))], student_meta(4, 3, 2, 2)))
    # Compact students (mimic_student_quantize): float16 weights, int8 weights with per-row
    # scales, and near misses.
    def compact(tensors, dtype):
        out = []
        for name, arr in tensors:
            if not name.endswith(".weight"):
                out.append((name, arr))
            elif dtype == "float16":
                out.append((name, arr.astype(np.float16)))
            else:
                scale = np.maximum(np.abs(arr).max(1), 1e-30).astype("f4") / np.float32(127)
                out.append((name, np.rint(arr / scale[:, None]).clip(-127, 127).astype(np.int8)))
                out.append((name + "_scale", scale))
        return out
    for dtype in ("float16", "int8"):
        meta = dict(student_meta(4, 3, 2, 2), weight_dtype=dtype)
        cst = compact(st, dtype)
        put(t, "student_%s.safetensors" % dtype, st_bytes(cst, meta))
        put(t, "student_%s_norm.safetensors" % dtype,
            st_bytes(compact(st0, dtype), dict(student_meta(3, 4, 0, 3, "tanh"), weight_dtype=dtype)))
        put(t, "student_%s_no_weight_dtype.safetensors" % dtype, st_bytes(cst, student_meta(4, 3, 2, 2)))
    i8 = compact(st, "int8")
    i8_meta = dict(student_meta(4, 3, 2, 2), weight_dtype="int8")
    put(t, "student_int8_no_scale.safetensors", st_bytes([x for x in i8 if x[0] != "hidden.weight_scale"], i8_meta))
    put(t, "student_int8_zero_scale.safetensors",
        st_bytes([(n, np.zeros_like(a) if n == "output.weight_scale" else a) for n, a in i8], i8_meta))
    put(t, "student_int8_meta_float16.safetensors", st_bytes(i8, dict(i8_meta, weight_dtype="float16")))
    put(t, "student_weight_dtype_garbage.safetensors", st_bytes(st, dict(i8_meta, weight_dtype="int3")))
    f16 = compact(st, "float16")
    f16[1] = (f16[1][0], np.full(f16[1][1].shape, np.inf, np.float16))
    put(t, "student_float16_inf.safetensors", st_bytes(f16, dict(i8_meta, weight_dtype="float16")))
    put(t, "i8_plain.safetensors", st_raw('{"q":{"dtype":"I8","shape":[3],"data_offsets":[0,3]}}', b"\x80\x00\x7f"))
    put(t, "f16_odd_span.safetensors", st_raw('{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}', b"\0" * 4))
    make_checkpoints(t)


# ---- options structs -----------------------------------------------------------------------
# fuzz_options reads: byte 0 = which struct (even: student options, odd: train options),
# the rest = the struct's bytes (struct_size first, host byte order). See fuzz_options.c.

def make_options():
    t = "options"
    clean(t)
    # mimic_student_options on LP64: size_t struct_size, n_inputs, n_hidden, n_bottleneck,
    # n_classes; int32 activation (+4 pad); uint64 seed = 56 bytes.
    def sopt(D, H, k, C, act, seed, size=56, tail=b""):
        return b"\x00" + struct.pack("<QQQQQiiQ", size, D, H, k, C, act, 0, seed) + tail
    put(t, "student_ok.bin", sopt(4, 3, 2, 2, 1, 7))
    put(t, "student_k0_tanh.bin", sopt(4, 3, 0, 2, 3, 0))
    put(t, "student_small_size.bin", sopt(4, 3, 0, 2, 1, 0, size=24))
    put(t, "student_size_tiny.bin", sopt(4, 3, 0, 2, 1, 0, size=4))
    put(t, "student_bigger_zero_tail.bin", sopt(4, 3, 2, 2, 1, 0, size=72, tail=b"\0" * 16))
    put(t, "student_bigger_tail_set.bin", sopt(4, 3, 2, 2, 1, 0, size=72, tail=b"\0" * 15 + b"\1"))
    put(t, "student_overflow.bin", sopt(1 << 33, 1 << 33, 0, 2, 1, 0))
    put(t, "student_bad_act.bin", sopt(4, 3, 0, 2, 9, 0))
    put(t, "student_one_class.bin", sopt(4, 3, 0, 1, 1, 0))
    # struct_size 35 (72 % 37) cuts n_classes in two: the library mixes caller and default bytes.
    put(t, "student_split_field.bin", bytes.fromhex("00480000000000000004000000000000000300000000000000020000000000000000040000"))
    # Train options: struct_size then the fields in mimic_train_options order (see train.h);
    # the harness overwrites pointer fields with safe values.
    def topt(size, loss=1, opt=1, sched=2, nest=0, std=0, tnorm=0, thr=0, evtr=0, epochs=1,
             bs=2, lr=0.01, mom=0.9, wd=0.0, T=4.0, hw=0.0, clip=0.0, warm=0.0, gamma=0.1,
             step_ep=10, b1=0.9, b2=0.999, eps=1e-8, floor=0.1, seed=0):
        body = struct.pack("<Q8iQQ8dQ4dQ", size, loss, opt, sched, nest, std, tnorm, thr, evtr,
                           epochs, bs, lr, mom, wd, T, hw, clip, warm, gamma, step_ep, b1, b2,
                           eps, floor, seed)
        return b"\x01" + body + b"\0" * 80
    for i, kw in enumerate([{}, {"loss": 2, "hw": 0.5}, {"loss": 3}, {"opt": 2}, {"opt": 3, "wd": 0.1},
                            {"sched": 3, "step_ep": 1}, {"nest": 1}, {"std": 1, "floor": 0.0},
                            {"tnorm": 1}, {"tnorm": 2}, {"clip": 1.0, "warm": 0.5},
                            {"bs": 0}, {"bs": 1 << 62}, {"epochs": 0}, {"lr": float("nan")},
                            {"lr": float("inf")}, {"T": 0.0}, {"T": -1.0}, {"eps": 0.0},
                            {"mom": 1.5}, {"loss": 7}, {"thr": -3}, {"thr": 1 << 20}]):
        put(t, "train_%02d.bin" % i, topt(248, **kw))
    put(t, "train_small_size.bin", topt(24))
    # 1.2 fields after the pointers and dropout (offset 248 on LP64): dropout, image_height,
    # image_width, flip, shift
    def aug(ih, iw, flip, shift, dropout=0.0):
        return topt(288) + struct.pack("<dQQdQ", dropout, ih, iw, flip, shift)
    put(t, "train_augment.bin", aug(2, 2, 0.5, 1, dropout=0.25))
    put(t, "train_augment_flip_all.bin", aug(1, 4, 1.0, 0))
    put(t, "train_augment_bad_shape.bin", aug(3, 1, 0.5, 0))
    put(t, "train_augment_big_shift.bin", aug(2, 2, 0.0, 5))
    put(t, "train_augment_huge_shape.bin", aug(1 << 33, 1 << 33, 0.5, 1))
    put(t, "train_augment_nan_flip.bin", aug(2, 2, float("nan"), 0))
    # mimic__options_copy: byte 1 = the library's size - 8 (mod 64), then the caller's image.
    put(t, "copy_equal.bin", b"\x02\x10" + struct.pack("<QQQ", 24, 1, 2))
    put(t, "copy_older.bin", b"\x02\x18" + struct.pack("<QQ", 16, 5))
    put(t, "copy_newer_zero.bin", b"\x02\x08" + struct.pack("<QQQ", 24, 5, 0))
    put(t, "copy_newer_set.bin", b"\x02\x08" + struct.pack("<QQQ", 24, 5, 1 << 60))
    put(t, "copy_tiny.bin", b"\x02\x08" + struct.pack("<Q", 3))



# ---- files: every file-level entry point on a file ------------------------------------------
# fuzz_files writes the input to a file and runs identify, metadata, array, student and
# dataset loading on it (the dataset's other files are made by the harness, with the rows the
# input's own header gives). Seeds: one or two of every kind identify knows.

def st_lead(data, lead):
    """The .safetensors image with `lead` (JSON white space) before its header's '{'."""
    n = struct.unpack("<Q", data[:8])[0]
    return struct.pack("<Q", n + len(lead)) + lead + data[8:]


def make_files():
    t = "files"
    clean(t)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype("<f4")
    images = (rng.random((3, 2, 2)) * 255).astype("u1")
    # .npy in every role and dtype
    put(t, "npy_f4_inputs.npy", npy_bytes(x))
    put(t, "npy_f8_inputs.npy", npy_bytes(x.astype("<f8")))
    put(t, "npy_u1_inputs.npy", npy_bytes(images.reshape(3, 4)))
    put(t, "npy_f4_logits_nan.npy", npy_bytes(np.array([[0.5, np.nan], [1, 2], [3, 4]], "<f4")))
    put(t, "npy_u1_labels.npy", npy_bytes(np.array([1, 0, 1], "u1")))
    put(t, "npy_i4_labels.npy", npy_bytes(np.array([0, 1, 1], "<i4")))
    put(t, "npy_i8_labels_big.npy", npy_bytes(np.array([0, 5, 1 << 33], "<i8")))
    put(t, "npy_i8_labels_neg.npy", npy_bytes(np.array([0, -1], "<i8")))
    put(t, "npy_i4_column.npy", npy_bytes(np.array([[1], [0]], "<i4")))
    put(t, "npy_f4_1d.npy", npy_bytes(np.arange(3, dtype="<f4")))
    put(t, "npy_f4_0rows.npy", npy_bytes(np.zeros((0, 3), "<f4")))
    put(t, "npy_f4_0cols.npy", npy_bytes(np.zeros((3, 0), "<f4")))
    put(t, "npy_bigendian.npy", npy_bytes(x.astype(">f4")))
    put(t, "npy_truncated.npy", npy_bytes(x)[:-2])
    put(t, "npy_trailing.npy", npy_bytes(x) + b"\0" * 3)
    # IDX
    put(t, "idx_images.idx", idx_bytes(images))
    put(t, "idx_labels.idx", idx_bytes(np.array([1, 0, 2], "u1")))
    put(t, "idx_2d_unsupported.idx", idx_bytes(images.reshape(3, 4)))
    put(t, "idx_f32.idx", idx_bytes(x.astype(">f4")))
    put(t, "idx_truncated.idx", idx_bytes(images)[:-1])
    # gzip (the CLI's path to an array)
    put(t, "gz_idx_images.gz", gzip.compress(idx_bytes(images), mtime=0))
    put(t, "gz_npy_labels.gz", gzip.compress(npy_bytes(np.array([1, 0, 1], "u1")), mtime=0))
    put(t, "gz_truncated.gz", gzip.compress(idx_bytes(images), mtime=0)[:-5])
    # .safetensors: students, a checkpoint, plain files, broken ones
    st = student_tensors(4, 3, 2, 2, rng)
    put(t, "student_k2.safetensors", st_bytes(st, student_meta(4, 3, 2, 2)))
    put(t, "student_norm.safetensors", st_bytes(student_tensors(3, 2, 0, 2, rng, norm=True), student_meta(3, 2, 0, 2, "tanh")))
    put(t, "student_no_format.safetensors", st_bytes(st, {k: v for k, v in student_meta(4, 3, 2, 2).items() if k != "format"}))
    put(t, "student_ws_header.safetensors", st_lead(st_bytes(st, student_meta(4, 3, 2, 2)), b"\t\r\n "))
    put(t, "student_missing_tensor.safetensors", st_bytes(st[1:], student_meta(4, 3, 2, 2)))
    put(t, "student_shape_mismatch.safetensors", st_bytes(st, student_meta(5, 3, 2, 2)))
    put(t, "student_format_checkpoint.safetensors", st_bytes(st, dict(student_meta(4, 3, 2, 2), format="mimic-trainer-checkpoint")))
    put(t, "plain.safetensors", st_bytes([("w", np.ones((2, 2), "f4")), ("b", np.zeros(2, "f4"))], {"k": "v"}))
    put(t, "plain_format_other.safetensors", st_bytes([("w", np.ones(1, "f4"))], {"format": "pt"}))
    put(t, "tensor_named_format.safetensors", st_bytes([("format", np.ones(1, "f4"))], {"a": "format"}))
    put(t, "safetensors_truncated.safetensors", st_bytes(st, student_meta(4, 3, 2, 2))[:-7])
    put(t, "safetensors_bad_json.safetensors", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}', b"\0" * 4))
    ckpt = os.path.join(OUT, "safetensors", "checkpoint_epoch1.safetensors")
    if os.path.exists(ckpt):
        put(t, "checkpoint.safetensors", open(ckpt, "rb").read())
    # other kinds
    put(t, "onnx_like.onnx", b"\x08\x07\x12\x08libmimic\x1a\x051.2.0:\x00")
    put(t, "text.txt", b"hello, not a model\n")
    put(t, "one_byte", b"\x93")
    put(t, "empty", b"")


# ---- option_text: the option tables' text interface -----------------------------------------
# fuzz_option_text reads lines: 'T' train set, 'S' student set (NAME=VALUE), 'U' check_used,
# 'F' find + info + choices (NAME), 'I' info by number. Names, flags and choices are read
# from the library's tables (lib/train/options.c, lib/model/student.c, ...), so the seeds and
# the dictionary follow the tables.

def read_src(rel):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, rel)) as f:
        return f.read()


def option_rows(rel, macro):
    """(name, type, flag) of each row of an option table."""
    import re
    src = read_src(rel)
    rows = []
    for m in re.finditer(r"\{" + macro + r"\((\w+), (\w+)[^)]*\)(.*?)\},?\n(?=\s*(?:\{" + macro + r"|\};))", src, re.S):
        flag = re.search(r'\.flag = "([^"]+)"', m.group(3))
        rows.append((m.group(1), m.group(2), flag.group(1) if flag else None))
    return rows


def choice_names():
    import re
    names = set()
    for rel, pat in [("lib/model/loss.c", r'\{MIMIC_LOSS_\w+,\s*"(\w+)"'),
                     ("lib/train/optimizer.c", r'\{MIMIC_OPTIMIZER_\w+,\s*"(\w+)"'),
                     ("lib/train/schedule.c", r'\{MIMIC_SCHEDULE_\w+,\s*"(\w+)"'),
                     ("lib/train/options.c", r'\{"(\w+)", MIMIC_TARGET_'),
                     ("lib/model/student.c", r'\{"(\w+)", MIMIC_(?:ACT|INIT)_')]:
        names.update(re.findall(pat, read_src(rel)))
    return sorted(names)


VALUES = {
    "BOOL": ["1", "0", "true", "off", "2", "yes "],
    "ENUM": ["1", "0", "99", "-1"],
    "INT32": ["4", "0", "-1", "2147483648", "1e3"],
    "UINT64": ["3", "0", "18446744073709551615", "18446744073709551616", "-1", "+5", "0x10"],
    "SIZE": ["4", "0", "1", "18446744073709551615", "4294967296", " 4"],
    "DOUBLE": ["0.5", "0", "-0", "1e-3", "1e308", "1e999", "1e-400", "nan", "inf", "0x1p-2",
               ".5", "5.", " 0.5", "0.5 ", "\t1", "1,5"],
    "STRING": ["/nonexistent-mimic-fuzz/ckpt.safetensors", ""],
    "POINTER": ["0", "0x1"],
}


def make_option_text():
    t = "option_text"
    clean(t)
    train = option_rows("lib/train/options.c", "TOPT")
    student = option_rows("lib/model/student.c", "SOPT")
    assert len(train) > 30 and len(student) >= 7, (len(train), len(student))
    choices = choice_names()
    for op, rows in (("T", train), ("S", student)):
        for name, typ, flag in rows:
            vals = VALUES[typ] + (choices if typ == "ENUM" else [])
            lines = ["%s%s=%s" % (op, name, v) for v in vals]
            if flag:
                lines.append("%s%s=%s" % (op, flag, vals[0]))
            lines.append("%s%s" % (op, name))  # no value: NULL
            put(t, "%s_%s" % (op.lower(), name), "\n".join(lines).encode())
    for name, _, flag in train:
        put(t, "u_%s" % name, ("U%s\nF%s" % (name, flag or name)).encode())
    # rules between fields, and whole runs
    put(t, "run_sgd_nesterov", b"Toptimizer=sgd\nTmomentum=0.5\nTnesterov=1\nUmomentum\nUadam_beta1")
    put(t, "run_nesterov_adam", b"Tnesterov=1\nUnesterov")
    put(t, "run_augment", b"Tflip=0.5\nTimage_height=2\nTimage_width=2\nTshift=1\nUimage_height")
    put(t, "run_augment_bad_shape", b"Tflip=0.5\nTimage_height=3\nTimage_width=1")
    put(t, "run_checkpoint", b"Tcheckpoint_path=/nonexistent-mimic-fuzz/c.safetensors\nTresume=1\nTcheckpoint_every=0\nUcheckpoint_every")
    put(t, "run_resume_no_path", b"Tresume=1")
    put(t, "run_kd", b"T--loss=kd\nT--temperature=2\nT--hard-weight=0.5\nUtemperature\nUtarget_norm")
    put(t, "run_labels_target_norm", b"Tloss=labels\nTtarget_norm=center")
    put(t, "run_step_schedule", b"Tschedule=step\nTstep_epochs=1\nTstep_gamma=0.5\nUstep_gamma")
    put(t, "run_standardize", b"T--standardize=1\nTstd_floor=0.01\nUstd_floor")
    put(t, "run_dropout", b"Tdropout=0.5\nT--batch=1000000")
    put(t, "run_patience", b"Tpatience=3")
    put(t, "run_student", b"Sn_inputs=6\nS--hidden=5\nS--bottleneck=2\nSn_classes=4\nS--activation=tanh\nS--init=he")
    put(t, "run_student_overflow", b"Sn_inputs=4294967296\nSn_hidden=4294967296")
    put(t, "run_student_huge", b"Sn_inputs=100000\nSn_hidden=100000")
    put(t, "info_all", "\n".join("I%s%s%d" % (c, chr(64 + k), i) for i in range(0, 48, 5) for c, k in (("a", 0), ("b", 3))).encode("latin1"))
    put(t, "info_sizes", b"Ia\x00\x00\nIa\x08\x00\nIa\x10 3\nIb\x7f2\nIa\xff99999999999999999999")
    put(t, "garbage_names", b"T=1\nT--=1\nTlearning_rate\x00x=1\nTLEARNING_RATE=1\nT--lr=\nUno_such\nF\nFvalidation\nTvalidation=0\nTprogress=1")
    put(t, "plain_line", b"learning_rate=0.1")
    put(t, "empty", b"")


def make_option_text_dict():
    """tests/fuzz/option_text.dict: the names, flags, choices and a few values."""
    train = option_rows("lib/train/options.c", "TOPT")
    student = option_rows("lib/model/student.c", "SOPT")
    words = set()
    for name, _, flag in train + student:
        words.add(name)
        if flag:
            words.add(flag)
    words.update(choice_names())
    for v in VALUES.values():
        words.update(x for x in v if x)
    words.update(["\nT", "\nS", "\nU", "\nF", "\nI", "=", "e-", "e+", "."])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "option_text.dict")
    with open(path, "w") as f:
        f.write("# libFuzzer dictionary for fuzz_option_text (written by make_corpus.py from the\n"
                "# library's option tables: field names, CLI flags, choice names, values)\n")
        for w in sorted(words):
            f.write('"%s"\n' % "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c) for c in w))

# ---- manifests ---------------------------------------------------------------------------

def make_manifest():
    """Manifests naming the shard files fuzz_manifest.c writes beside them (a.*: 3 rows of 4
    inputs, 3 classes, labels; b.*: 2 rows of 6 inputs; c.z16.npy: float16 logits)."""
    t = "manifest"
    clean(t)

    def m(shards, **top):
        doc = {"format": "mimic-manifest", "version": 1, "shards": shards}
        doc.update(top)
        return json.dumps(doc, indent=1).encode()

    a = {"inputs": "a.x.npy", "logits": "a.z.npy", "labels": "a.y.npy", "rows": 3}
    put(t, "one_shard", m([a]))
    put(t, "three_shards", m([a, a, {k: v for k, v in a.items() if k != "rows"}], rows=9))
    put(t, "float16", m([{"inputs": "a.x.npy", "logits": "c.z16.npy"},
                         {"inputs": "a.x.npy", "logits": "c.z16.npy"}]))
    put(t, "labels_only", m([{"inputs": "a.x.npy", "labels": "a.y.npy"}]))
    put(t, "metadata", m([a], metadata={"seed": 3, "made_by": ["label", {"x": None}]}))
    put(t, "escaped", m([{"inputs": "a.x.npy", "logits": "./a.z.npy"}])
        .replace(b'"a.x.npy"', b'"a.x.np' + b'\\' + b'u0079"'))
    put(t, "columns_differ", m([{"inputs": "a.x.npy", "logits": "a.z.npy"},
                                {"inputs": "b.x.npy", "logits": "b.z.npy"}]))
    put(t, "rows_differ", m([{"inputs": "a.x.npy", "logits": "b.z.npy"}]))
    put(t, "dtypes_differ", m([{"inputs": "a.x.npy", "logits": "a.z.npy"},
                               {"inputs": "a.x.npy", "logits": "c.z16.npy"}]))
    put(t, "missing_file", m([{"inputs": "nope.npy", "logits": "a.z.npy"}]))
    put(t, "wrong_total", m([a], rows=4))
    put(t, "wrong_rows", m([dict(a, rows=5)]))
    put(t, "version2", m([a]).replace(b'"version": 1', b'"version": 2'))
    put(t, "unknown_key", m([dict(a, label="a.y.npy")]))
    put(t, "not_object", b'["mimic-manifest"]')
    put(t, "truncated", m([a])[:40])
    put(t, "deep", b'{"format": "mimic-manifest", "version": 1, "metadata": ' + b"[" * 40 + b"]" * 40 +
        b', "shards": [{"inputs": "a.x.npy", "logits": "a.z.npy"}]}')
    put(t, "array_file", npy_bytes(np.zeros((2, 2), "<f4")))


if __name__ == "__main__":
    make_npy()
    make_idx()
    make_safetensors()
    make_options()
    make_files()
    make_option_text()
    make_option_text_dict()
    make_manifest()
