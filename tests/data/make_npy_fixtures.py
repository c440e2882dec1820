#!/usr/bin/python3
"""Write the .npy test fixtures of tests/check_npy.c and tests/check_dataset.c into
tests/data/npy/: a few valid files (every supported dtype and header version) and one
malformed file per rejection the reader makes. Deterministic; rerun after editing and commit
the script and its output together:   /usr/bin/python3 tests/data/make_npy_fixtures.py
"""
import io
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")
MAGIC = b"\x93NUMPY"


def save(name, arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    write(name, buf.getvalue())


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def header(text, version=(1, 0), align=64):
    """A preamble + header for the dict `text`, padded as numpy pads (align=None: no
    padding, so the data may start at any offset)."""
    lb = 2 if version[0] == 1 else 4
    h = text.encode("utf-8" if version[0] == 3 else "latin-1")
    if align:
        h += b" " * ((-(len(MAGIC) + 2 + lb + len(h) + 1)) % align)
    h += b"\n"
    return MAGIC + bytes(version) + len(h).to_bytes(lb, "little") + h


def raw(name, text, data=b"", version=(1, 0), align=64):
    write(name, header(text, version, align) + data)


def main():
    os.makedirs(OUT, exist_ok=True)
    x = (np.arange(18, dtype=np.float64).reshape(6, 3) * 0.5 - 1.0)
    z = (np.arange(24, dtype=np.float64).reshape(6, 4) * 0.25 - 2.0)
    y = np.array([0, 1, 2, 3, 0, 1])

    # ---- valid files ----------------------------------------------------------------------
    save("x_f4.npy", x.astype("<f4"))
    save("x_f8.npy", x.astype("<f8"))
    save("z_f2.npy", z.astype("<f2"))  # float16 teacher logits (the values are exact in it)
    save("x_u1.npy", (np.arange(18).reshape(6, 3) * 13 % 256).astype("|u1"))
    save("z_f4.npy", z.astype("<f4"))
    save("z_f8.npy", z.astype("<f8"))
    save("y_i4.npy", y.astype("<i4"))
    save("y_i8.npy", y.astype("<i8"))
    save("y_u1.npy", y.astype("|u1"))
    save("x_v2.npy", x.astype("<f4"), version=(2, 0))
    save("x_v3.npy", x.astype("<f4"), version=(3, 0))
    # Arrays of more dimensions are rows of the trailing dimensions' product; one-channel
    # images keep their height and width.
    save("x_nhw.npy", (np.arange(18).reshape(2, 3, 3) * 7 % 256).astype("|u1"))
    save("x_n1hw.npy", (np.arange(24).reshape(2, 1, 3, 4) * 7 % 256).astype("|u1"))
    save("x_nhwc.npy", (np.arange(24).reshape(2, 2, 2, 3)).astype("<f4"))
    # Keys in another order, double quotes, no trailing comma, Python 2 'L' dims, and no
    # padding: the data starts at an odd offset, so the reader must copy, not map, it.
    raw("x_odd_header.npy",
        '{ "shape" : (6L,3L) ,"fortran_order":False,  "descr":"<f4"}',
        x.astype("<f4").tobytes(), align=None)
    # A Fortran-order column vector has the C layout: accepted.
    raw("z_fortran_column.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (6, 1), }",
        np.arange(6, dtype="<f4").tobytes())

    # ---- malformed headers (check_npy parses them, check_dataset loads them) -------------
    f4 = x.astype("<f4").tobytes()
    good = "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3), }"
    write("bad_magic.npy", b"\x93NUMPZ" + header(good)[6:] + f4)
    write("empty.npy", b"")
    write("truncated_preamble.npy", MAGIC + b"\x01")
    write("truncated_header.npy", header(good)[:40])
    raw("truncated_data.npy", good, f4[:20])
    raw("shape_overflow.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }", f4)
    raw("dim_overflow.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 3), }",
        f4)
    raw("shape_exceeds_file.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000), }", f4)
    raw("header_no_brace.npy", "'descr': '<f4', 'fortran_order': False, 'shape': (6, 3)", f4)
    raw("header_missing_key.npy", "{'descr': '<f4', 'shape': (6, 3), }", f4)
    raw("header_unknown_key.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3), 'colour': 'red', }", f4)
    raw("header_duplicate_key.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3), 'descr': '<f4', }", f4)
    raw("header_negative_dim.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-6, 3), }", f4)
    raw("header_unterminated.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (6, 3)}",
        f4)
    raw("header_bad_bool.npy", "{'descr': '<f4', 'fortran_order': false, 'shape': (6, 3), }",
        f4)
    raw("header_trailing_garbage.npy", good + " junk", f4)
    raw("header_shape_not_tuple.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (18), }", f4)
    raw("fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (6, 3), }",
        np.asfortranarray(x.astype("<f4")).tobytes(order="F"))
    raw("big_endian.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (6, 3), }",
        x.astype(">f4").tobytes())
    raw("dtype_f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (6, 3), }",
        x.astype("<f2").tobytes())
    raw("dtype_c8.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (6, 3), }",
        x.astype("<c8").tobytes())
    raw("dtype_structured.npy",
        "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (6,), }",
        np.zeros(12, "<f4").tobytes())
    raw("rank0.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
        np.zeros(1, "<f4").tobytes())
    raw("rank9.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 3, 1, 1, 1, 1, 1, 1), }",
        f4)
    write("version4.npy", MAGIC + b"\x04\x00" + header(good)[8:] + f4)

    # ---- well-formed files the dataset loader rejects --------------------------------------
    save("inputs_1d.npy", np.arange(6, dtype="<f4"))
    save("labels_2d.npy", y.astype("<i4").reshape(6, 1))
    save("logits_u1.npy", np.ones((6, 4), "|u1"))
    save("labels_f4.npy", y.astype("<f4"))
    save("z_5rows.npy", z[:5].astype("<f4"))
    save("y_5rows.npy", y[:5].astype("<i4"))
    zn = z.astype("<f4")
    zn[2, 1] = np.nan
    save("z_nan.npy", zn)
    zi = z.astype("<f8")
    zi[4, 3] = -np.inf
    save("z_inf_f8.npy", zi)
    yr = y.astype("<i4")
    yr[3] = 4
    save("y_range.npy", yr)
    yn = y.astype("<i8")
    yn[5] = -1
    save("y_negative_i8.npy", yn)
    yu = y.astype("|u1")
    yu[0] = 200
    save("y_range_u1.npy", yu)
    save("x_zero_rows.npy", np.zeros((0, 3), "<f4"))
    save("x_zero_cols.npy", np.zeros((6, 0), "<f4"))


if __name__ == "__main__":
    main()
