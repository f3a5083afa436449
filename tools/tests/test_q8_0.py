"""q8_0 in the Python writers (tools/dallevk/gguf.py, convert/ggufstream.py, export.py): the blocks decode as
ggml defines them (f16 scale d, then 32 int8 q, value d * q), the quantiser follows ggml's rule, the type
rule of model files, and the round trip through both writers and the reader.
(run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)"""
import math
import os
import struct
import tempfile
import unittest

import numpy as np

from dallevk.convert.plan import Plan, write_plan
from dallevk.export import reencode
from dallevk.gguf import (GGMLType, GGUFError, GGUFReader, GGUFWriter, dequantize_q8_0, quantize_q8_0,
                          tensor_type)

SEED = 20261207


def ggml_block(values):
    """One block by ggml's quantize_row_q8_0_ref, element by element in float32: d = amax / 127,
    id = 1 / d (0 when d is 0), q = roundf(x * id) (ties away from zero); d stored as f16."""
    x = [np.float32(v) for v in values]
    amax = max(abs(v) for v in x)
    d = np.float32(amax / np.float32(127))
    inv = np.float32(np.float32(1) / d) if d != 0 else np.float32(0)
    qs = []
    for v in x:
        p = float(np.float32(v * inv))
        qs.append(int(math.copysign(math.floor(abs(p) + 0.5), p)))
    return struct.pack("<e", float(d)) + struct.pack("<32b", *qs)


def decode_blocks(raw):
    """ggml's dequantize_row_q8_0: value j of a block = f16 d * int8 q[j], read straight from the bytes."""
    out = []
    for i in range(0, len(raw), 34):
        (d,) = struct.unpack_from("<e", raw, i)
        out += [d * q for q in struct.unpack_from("<32b", raw, i + 2)]
    return np.array(out, np.float32)


def sample(rng, rows, cols):
    x = rng.standard_normal((rows, cols)).astype(np.float32) * np.float32(0.05)
    x[0, :32] = 0                    # an all-zero block: d = 0, every q = 0
    x[0, 32:64] *= 1e-4              # tiny values (d subnormal in f16)
    x[2, 32:64] *= 1e-7              # tinier: d rounds to 0 in f16, every value decodes as 0
    x[1, 5] = -3.0                   # the block's largest magnitude is negative: q = -127
    x[1, 32:64] = np.arange(32, dtype=np.float32) - 15.5  # ties: x / d on .5 boundaries
    return x


class TestQ8Blocks(unittest.TestCase):
    def test_quantiser_matches_ggml_rule(self):
        print("test_q8_0 seed %d" % SEED)
        x = sample(np.random.default_rng(SEED), 3, 96)
        raw = quantize_q8_0(x)
        self.assertEqual(raw.shape, (3, 96 // 32 * 34))
        want = b"".join(ggml_block(x.reshape(-1, 32)[b]) for b in range(9))
        self.assertEqual(raw.tobytes(), want)

    def test_blocks_decode_as_ggml_defines(self):
        x = sample(np.random.default_rng(SEED + 1), 4, 64)
        raw = quantize_q8_0(x).tobytes()
        ref = decode_blocks(raw).reshape(4, 64)
        np.testing.assert_array_equal(dequantize_q8_0(raw, (4, 64)), ref)
        blocks = x.reshape(-1, 32)
        for b in range(blocks.shape[0]):
            (d,) = struct.unpack_from("<e", raw, 34 * b)
            amax = np.abs(blocks[b]).max()
            dstep = amax / 127 * 2**-11 + 2**-25  # the f16 rounding of d (relative, or a subnormal half-step)
            self.assertAlmostEqual(d, amax / 127, delta=dstep)
            q = np.frombuffer(raw, np.int8, 32, 34 * b + 2)
            if amax > 0:
                self.assertEqual(int(np.abs(q).max()), 127)
            # each value within half a step of the truth (plus the f16 rounding of d times |q| <= 127)
            err = np.abs(ref.reshape(-1, 32)[b] - blocks[b])
            self.assertTrue(np.all(err <= 0.5 * amax / 127 + 127 * dstep), b)
        self.assertEqual(raw[:2], b"\0\0")  # the zero block
        self.assertEqual(raw[2:34], bytes(32))

    def test_bad_shape(self):
        with self.assertRaises(GGUFError):
            quantize_q8_0(np.zeros((2, 33), np.float32))
        w = GGUFWriter()
        with self.assertRaises(GGUFError):
            w.add_tensor("a", np.zeros((4, 48), np.float32), "q8_0")


class TestQ8Files(unittest.TestCase):
    def test_type_rule(self):
        self.assertEqual(tensor_type("q8_0", (64,)), "f32")
        self.assertEqual(tensor_type("q8_0", (10, 64)), "q8_0")
        self.assertEqual(tensor_type("q8_0", (10, 48)), "f16")
        self.assertEqual(tensor_type("q8_0", (8, 32, 3, 3)), "f16")
        self.assertEqual(tensor_type("f16", (10, 64)), "f16")
        self.assertEqual(tensor_type("f32", (10, 64)), "f32")
        with self.assertRaises(GGUFError):
            tensor_type("q4_0", (10, 64))

    def test_writer_reader_round_trip(self):
        x = sample(np.random.default_rng(SEED + 2), 5, 64)
        w = GGUFWriter()
        w.add_tensor("a", x, "q8_0")
        w.add_tensor("b", np.ones(3, np.float32))
        data = w.to_bytes()
        r = GGUFReader(data=data)
        a = r.tensors["a"]
        self.assertEqual((a.type, a.shape), (GGMLType.Q8_0, (5, 64)))
        self.assertEqual(a.raw.tobytes(), quantize_q8_0(x).tobytes())
        np.testing.assert_array_equal(a.data, decode_blocks(quantize_q8_0(x).tobytes()).reshape(5, 64))
        # the tensor info: dims {64, 5} (ggml order), type 8; the next tensor after 5 * 2 * 34 bytes, aligned
        self.assertEqual(r.tensors["b"].offset, (5 * 2 * 34 + 31) // 32 * 32)

    def test_streaming_writer_and_reencode(self):
        rng = np.random.default_rng(SEED + 3)
        x, v, c = rng.standard_normal((6, 32)), rng.standard_normal(6), rng.standard_normal((4, 2, 3, 3))
        p = Plan()
        p.key("uint32", "t.n", 3)
        for name, arr in (("w", x), ("v", v), ("c", c)):
            p.tensor(name, arr.shape, lambda arr=arr: arr)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "s.gguf")
            write_plan(out, p, "q8_0")
            r = GGUFReader(out)
            self.assertEqual(r.get("general.file_type"), 7)
            self.assertEqual([r.tensors[n].type for n in "wvc"], [GGMLType.Q8_0, GGMLType.F32, GGMLType.F16])
            self.assertEqual(r.tensors["w"].raw.tobytes(), quantize_q8_0(x).tobytes())
            # re-encoding the q8_0 file keeps its blocks (decoded values quantise to themselves)
            again = os.path.join(d, "again.gguf")
            reencode(out, again, "q8_0")
            r2 = GGUFReader(again)
            self.assertEqual(r2.get("t.n"), 3)
            self.assertEqual(r2.tensors["w"].raw.tobytes(), r.tensors["w"].raw.tobytes())
            np.testing.assert_array_equal(r2.tensors["c"].data, r.tensors["c"].data)


if __name__ == "__main__":
    unittest.main()
