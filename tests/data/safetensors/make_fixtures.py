#!/usr/bin/python3
"""Regenerate the malformed .safetensors fixtures that tests/check_safetensors.c rejects.

Each file is one defect; the test's table names the expected status code and a word of the
message. Run from anywhere: python3 make_fixtures.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def st(header, data=b"", hlen=None):
    h = header.encode("utf-8") if isinstance(header, str) else header
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data


F4 = struct.pack("<ff", 1.5, -2.0)
T = '"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
FIXTURES = {
    "short": b"\x01\x00\x00",
    "header_past_end": st("{}", hlen=1000),
    "header_empty": st(""),
    "bad_json": st('{"t":{"dtype":"F32",'),
    "trailing_garbage": st("{} x"),
    "top_level_array": st("[]"),
    "dtype_f64": st('{"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', F4),
    "rank3": st('{"t":{"dtype":"F32","shape":[1,1,2],"data_offsets":[0,8]}}', F4),
    "offsets_out_of_range": st('{"t":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}', F4),
    "offsets_size_mismatch": st('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', F4),
    "offsets_reversed": st('{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', F4),
    "overlap": st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                  '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', F4 + F4[:4]),
    "hole": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
               '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', F4 + F4[:4]),
    "trailing_data": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', F4),
    "duplicate_name": st('{' + T + ',"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}',
                         F4 + F4),
    "duplicate_metadata": st('{"__metadata__":{},' + T + ',"__metadata__":{}}', F4),
    "duplicate_metadata_key": st('{"__metadata__":{"k":"a","k":"b"},' + T + '}', F4),
    "metadata_not_string": st('{"__metadata__":{"k":1},' + T + '}', F4),
    "metadata_not_object": st('{"__metadata__":"x",' + T + '}', F4),
    "negative_int": st('{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', F4),
    "float_offset": st('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]}}', F4),
    "leading_zero": st('{"t":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}', F4),
    "int_overflow": st('{"t":{"dtype":"F32","shape":[99999999999999999999],'
                       '"data_offsets":[0,8]}}', F4),
    "shape_overflow": st('{"t":{"dtype":"F32","shape":[4294967296,4294967296],'
                         '"data_offsets":[0,8]}}', F4),
    "nested_shape": st('{"t":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}}', F4),
    "bad_escape": st('{"t\\x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F4),
    "lone_surrogate": st('{"t\\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F4),
    "bad_utf8": st(b'{"t\xff":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F4),
    "control_char": st('{"t\x01":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F4),
    "unknown_field": st('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', F4),
    "missing_offsets": st('{"t":{"dtype":"F32","shape":[2]}}', F4),
    "three_offsets": st('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}', F4),
    "unterminated_string": st('{"t'),
    "not_object_entry": st('{"t":[1,2]}', F4),
}

if __name__ == "__main__":
    for name, blob in sorted(FIXTURES.items()):
        with open(os.path.join(HERE, name + ".safetensors"), "wb") as f:
            f.write(blob)
    print("wrote %d fixtures" % len(FIXTURES))
