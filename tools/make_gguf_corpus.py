#!/usr/bin/python3
"""Generate the GGUF loader test corpus in tests/data/gguf/ (small files, committed).

  valid_*.gguf     well-formed files; tests/test_gguf.c checks their values exactly, so the
                   values below and the expectations there must change together.
  bad_*.gguf       malformed files; manifest.txt lists for each the substring its error must hold.
  manifest.txt     "file<TAB>expected substring[<TAB>check]". Without a check, gguf_open must fail
                   with DVK_ERR_MODEL_FORMAT and that substring. With a check, gguf_open must succeed
                   and the check must fail with that substring. Checks:
                     tensor NAME TYPES SHAPE   gguf_require_tensor; TYPES f32|f16|f32,f16; SHAPE 5x3
                     u32|i32|f32|bool|string KEY     the typed getter
                     array KEY ELEMTYPE              gguf_get_array (ELEMTYPE uint32, string, ...)
The files also seed the fuzzer (tests/fuzz/). Output is deterministic: rerun and `git diff`.
Usage: /usr/bin/python3 tools/make_gguf_corpus.py [--out DIR]
"""
import argparse
import os
import struct

import numpy as np

from dallevk.gguf import GGUFValueType as T, GGUFWriter

U64_MAX = 2**64 - 1


# --- raw builders: no validation, so that any field can be wrong ----------------------------------
def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def header(n_tensors, n_kv, magic=b"GGUF", version=3):
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def kv_u32(key, v):
    return kv(key, T.UINT32, struct.pack("<I", v))


def kv_str(key, v):
    return kv(key, T.STRING, s(v))


def tinfo(name, dims, gtype=0, offset=0):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + \
        struct.pack("<IQ", gtype, offset)


def file_bytes(kvs, tinfos, data=b"", alignment=32, n_tensors=None, n_kv=None):
    """header + kvs + tensor infos + padding + data."""
    out = header(len(tinfos) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv)
    out += b"".join(kvs) + b"".join(tinfos)
    if tinfos:
        out += b"\0" * (-len(out) % alignment)
    return out + data


ARCH = kv_str("general.architecture", "dalle")
F32x4 = np.arange(4, dtype="<f4").tobytes()  # 16 bytes, fills a [4] f32 tensor


# --- valid files ---------------------------------------------------------------------------------
def valid_small():
    """Every value type and four tensors (f32 2-D, f32 1-D, f16 2-D, f32 4-D)."""
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.name", "valid_small")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.15625)
    w.add_bool("t.bool", True)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62) - 7)
    w.add_float64("t.f64", -2.5e-300)
    w.add_string("t.str", "h\u00e9llo w\u00f6rld")
    w.add_string("t.empty_str", "")
    w.add_array("t.arr_u32", [1, 2, 3, 4294967295], T.UINT32)
    w.add_array("t.arr_i32", [-1, 0, 7], T.INT32)
    w.add_array("t.arr_f32", [0.5, -1.25], T.FLOAT32)
    w.add_array("t.arr_str", ["a", "", "bc d"], T.STRING)
    w.add_array("t.arr_bool", [True, False, True], T.BOOL)
    w.add_array("t.arr_empty", [], T.UINT32)
    w.add_tensor("w", np.arange(15, dtype=np.float32).reshape(3, 5) * 0.5 - 2)      # [3, 5]
    w.add_tensor("b", np.array([1, -2, 3.5], np.float32))                            # [3]
    w.add_tensor("h", np.array([[0.5, -1, 2], [65504, -0.25, 0]], np.float32), "f16")  # [2, 3]
    w.add_tensor("k", np.arange(12, dtype=np.float32).reshape(2, 1, 3, 2))          # [2, 1, 3, 2]
    return w.to_bytes()


def valid_align64():
    """general.alignment = 64 and tensor sizes that need padding between them."""
    w = GGUFWriter(alignment=64)
    w.add_string("general.architecture", "dalle")
    w.add_tensor("x", np.array([1, 2, 3], np.float32), "f16")               # 6 bytes at 0
    w.add_tensor("y", np.array([7], np.float32))                             # 4 bytes at 64
    w.add_tensor("z", np.arange(35, dtype=np.float32).reshape(5, 7), "f16")  # 70 bytes at 128
    return w.to_bytes()


def valid_v2():
    """Version 2 shares the layout of version 3."""
    return header(1, 1, version=2) + file_bytes([ARCH], [tinfo("a", [4])], F32x4)[24:]


TINY_DALLE = dict(text_len=4, text_vocab=260, grid=2, image_vocab=8, d_model=8, n_heads=2, n_layers=2, d_ff=16,
                  attn_types=["row", "conv"], conv_kernel=3, conv_wrap=True, ln_eps=1e-5)
TINY_DVAE = dict(group_count=2, n_hid=8, n_blk_per_group=1, vocab_size=8, n_init=4, input_channels=3,
                 output_channels=3, image_size=4)
TINY_MERGES = [(104, 105), (256, 33), (32, 256)]


def valid_model_tiny():
    """A complete dalle-vk model in the documented schema (random weights, f16 matrices), written by
    tools/export_gguf.py: an example for loaders and the fixture of test_gguf.c's schema check."""
    from dallevk import export as ex
    rng = np.random.default_rng(1234)
    c = TINY_DALLE
    sd = {}
    for p, _, shape in ex.transformer_table(c):
        sd[p] = rng.standard_normal(shape).astype(np.float32)
    dec = {n: rng.standard_normal(shape).astype(np.float32) for n, shape in ex.dvae_decoder_schema(TINY_DVAE)}
    enc = {n: rng.standard_normal(shape).astype(np.float32) for n, shape in ex.dvae_encoder_schema(TINY_DVAE)}
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.gguf")
        ex.export(path, (c, sd), (TINY_DVAE, dec, enc), TINY_MERGES, f16=True, name="tiny",
                  license="MIT", description="random weights for loader tests")
        with open(path, "rb") as f:
            return f.read()


# --- malformed files -----------------------------------------------------------------------------
def bad_files():
    """[(file name, bytes, expected substring)]."""
    small = valid_small()
    one_t = [tinfo("a", [4])]
    out = []

    def add(name, data, expect):
        out.append((name, data, expect))

    # truncations
    add("bad_empty.gguf", b"", "truncated header")
    add("bad_trunc_header.gguf", small[:10], "truncated header")
    cut = header(0, 1) + s("t.u64") + struct.pack("<I", T.UINT64) + b"\1\2\3"
    add("bad_trunc_kv.gguf", cut, "truncated in key/value 0 ('t.u64')")
    two = file_bytes([ARCH], [tinfo("a.b", [2, 2]), tinfo("c.d", [2, 2], offset=32)], b"\0" * 48)
    ti_end = 24 + len(ARCH) + len(tinfo("a.b", [2, 2]))
    add("bad_trunc_tensor_info.gguf", two[:ti_end + 31], "truncated in tensor info 1 ('c.d')")
    add("bad_trunc_padding.gguf", two[:ti_end + len(tinfo("c.d", [2, 2], offset=32))],
        "truncated before the data section")
    add("bad_trunc_data.gguf", two[:-8], "tensor 'c.d' (16 bytes at data offset 32) extends past the end")
    # header
    add("bad_magic.gguf", b"GGML" + small[4:], "not a GGUF file")
    add("bad_version1.gguf", header(0, 0, version=1), "unsupported GGUF version 1")
    add("bad_version4.gguf", header(0, 0, version=4), "unsupported GGUF version 4")
    add("bad_big_endian.gguf", b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "big-endian")
    add("bad_huge_kv_count.gguf", header(0, U64_MAX) + ARCH, "kv_count 18446744073709551615 does not fit")
    add("bad_huge_tensor_count.gguf", header(2**62, 0) + one_t[0], "tensor_count 4611686018427387904 does not fit")
    add("bad_counts_sum.gguf", header(1, 2) + ARCH + b"\0" * 10, "do not fit")
    # key/values
    add("bad_huge_key_len.gguf", header(0, 1) + struct.pack("<Q", U64_MAX) + b"\0" * 16,
        "key length 18446744073709551615 out of range")
    add("bad_empty_key.gguf", header(0, 1) + kv_u32("", 1) + b"\0" * 8, "key length 0 out of range")
    add("bad_key_chars.gguf", header(0, 1) + kv_u32("a b", 1), "key contains byte 0x20")
    add("bad_huge_string_len.gguf", header(0, 1) + s("general.name") + struct.pack("<IQ", T.STRING, 2**40) + b"x" * 8,
        "string length 1099511627776 exceeds the 8 bytes left")
    add("bad_value_type.gguf", header(0, 1) + kv("k", 13, b"\0" * 16), "key/value 0 ('k'): bad value type 13")
    add("bad_array_type.gguf", header(0, 1) + kv("k", T.ARRAY, struct.pack("<IQ", 13, 1) + b"\0" * 8),
        "bad array element type 13")
    add("bad_nested_array.gguf", header(0, 1) + kv("k", T.ARRAY, struct.pack("<IQ", T.ARRAY, 1) + b"\0" * 12),
        "nested arrays are not supported")
    add("bad_huge_array.gguf", header(0, 1) + kv("k", T.ARRAY, struct.pack("<IQ", T.UINT32, 2**61) + b"\0" * 8),
        "array count 2305843009213693952 of uint32 exceeds")
    add("bad_huge_string_array.gguf", header(0, 1) + kv("k", T.ARRAY, struct.pack("<IQ", T.STRING, 3) + s("ab")),
        "array count 3 of string exceeds")
    add("bad_bool.gguf", header(0, 1) + kv("k", T.BOOL, b"\2"), "bool value 2 is not 0 or 1")
    add("bad_bool_array.gguf", header(0, 1) + kv("k", T.ARRAY, struct.pack("<IQ", T.BOOL, 3) + b"\1\0\7"),
        "bool element 2 is 7")
    add("bad_dup_key.gguf", header(0, 3) + ARCH + kv_u32("x", 1) + kv_u32("x", 2), "duplicate key 'x'")
    add("bad_alignment_type.gguf", file_bytes([kv("general.alignment", T.INT32, struct.pack("<i", 64))], one_t, F32x4),
        "key 'general.alignment' has type int32, expected uint32")
    add("bad_alignment_value.gguf", file_bytes([kv_u32("general.alignment", 48)], one_t, F32x4, alignment=48),
        "general.alignment 48 is not a power of two")
    add("bad_alignment_zero.gguf", file_bytes([kv_u32("general.alignment", 0)], one_t, F32x4),
        "general.alignment 0 is not a power of two")
    # tensor infos
    add("bad_ndims0.gguf", file_bytes([ARCH], [tinfo("a", [])], F32x4),
        "tensor info 0 ('a'): n_dims 0 out of range 1..4")
    add("bad_ndims5.gguf", file_bytes([ARCH], [tinfo("a", [1, 1, 1, 1, 4])], F32x4), "n_dims 5 out of range 1..4")
    add("bad_zero_dim.gguf", file_bytes([ARCH], [tinfo("a", [4, 0])], F32x4), "dimension 1 is 0")
    add("bad_overflow_dims.gguf", file_bytes([ARCH], [tinfo("a", [2**32, 2**32, 2**32])], F32x4),
        "element count overflows")
    add("bad_overflow_bytes.gguf", file_bytes([ARCH], [tinfo("a", [2**31, 2**31])], F32x4), "byte size overflows")
    add("bad_tensor_type.gguf", file_bytes([ARCH], [tinfo("a", [32], gtype=2)], b"\0" * 18),
        "unsupported tensor type 2 (q4_0)")
    add("bad_tensor_type_huge.gguf", file_bytes([ARCH], [tinfo("a", [4], gtype=0xFFFFFFFF)], F32x4),
        "unsupported tensor type 4294967295 (unknown)")
    add("bad_tensor_name_len.gguf", file_bytes([ARCH], [tinfo("n" * 256, [4])], F32x4),
        "tensor name length 256 out of range 1..255")
    add("bad_tensor_name_chars.gguf", file_bytes([ARCH], [tinfo("a\nb", [4])], F32x4), "tensor name contains byte 0x0a")
    add("bad_misaligned.gguf", file_bytes([ARCH], [tinfo("a", [4], offset=4)], F32x4 * 2),
        "tensor 'a': offset 4 is not a multiple of the alignment 32")
    add("bad_out_of_range.gguf", file_bytes([ARCH], [tinfo("a", [4], offset=64)], F32x4 * 2),
        "tensor 'a' (16 bytes at data offset 64) extends past the end of the file")
    add("bad_offset_wrap.gguf", file_bytes([ARCH], [tinfo("a", [4], offset=2**64 - 32)], F32x4),
        "extends past the end of the file")
    add("bad_overlap.gguf", file_bytes([ARCH], [tinfo("a", [16]), tinfo("b", [4], offset=32)], b"\0" * 64),
        "tensors 'a' and 'b' overlap")
    add("bad_overlap_same.gguf", file_bytes([ARCH], [tinfo("b", [4]), tinfo("a", [4])], F32x4), "overlap")
    add("bad_dup_tensor.gguf", file_bytes([ARCH], [tinfo("a", [4]), tinfo("a", [4], offset=32)], F32x4 * 3),
        "duplicate tensor name 'a'")
    return out


# Checks on valid files that must fail (the shape/type/key helpers).
CHECKS = [
    ("valid_small.gguf", "required tensor 'nope' is missing", "tensor nope f32 1"),
    ("valid_small.gguf", "tensor 'w' has shape [3, 5], expected [5, 3]", "tensor w f32 5x3"),
    ("valid_small.gguf", "tensor 'w' has shape [3, 5], expected [3, 5, 1]", "tensor w f32 3x5x1"),
    ("valid_small.gguf", "tensor 'h' has type f16, expected f32", "tensor h f32 2x3"),
    ("valid_small.gguf", "tensor 'w' has type f32, expected f16", "tensor w f16 3x5"),
    ("valid_small.gguf", "key 'dalle.n_layers' is missing", "u32 dalle.n_layers"),
    ("valid_small.gguf", "key 't.i32' has type int32, expected uint32", "u32 t.i32"),
    ("valid_small.gguf", "key 't.u32' has type uint32, expected float32", "f32 t.u32"),
    ("valid_small.gguf", "key 't.str' has type string, expected bool", "bool t.str"),
    ("valid_small.gguf", "key 't.arr_str' has type array, expected string", "string t.arr_str"),
    ("valid_small.gguf", "key 't.arr_str' is an array of string, expected an array of uint32",
     "array t.arr_str uint32"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "gguf"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    files = [("valid_small.gguf", valid_small()), ("valid_align64.gguf", valid_align64()),
             ("valid_v2.gguf", valid_v2()), ("valid_header_only.gguf", header(0, 0)),
             ("valid_model_tiny.gguf", valid_model_tiny())]
    bad = bad_files()
    files += [(n, d) for n, d, _ in bad]
    names = [n for n, _ in files]
    assert len(set(names)) == len(names), "duplicate corpus file name"
    for name, data in files:
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
    with open(os.path.join(args.out, "manifest.txt"), "w") as f:
        f.write("# Generated by tools/make_gguf_corpus.py; do not edit by hand.\n")
        f.write("# file<TAB>expected error substring[<TAB>check on a file that opens]\n")
        for name, _, expect in bad:
            f.write("%s\t%s\n" % (name, expect))
        for name, expect, check in CHECKS:
            f.write("%s\t%s\t%s\n" % (name, expect, check))
    print("wrote %d files (%d bytes) to %s" % (len(files), sum(len(d) for _, d in files), args.out))


if __name__ == "__main__":
    main()
