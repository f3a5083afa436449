"""Tests for tools/dallevk/gguf.py and tools/export_gguf.py
(run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)."""
import os
import struct
import tempfile
import unittest

import numpy as np

from dallevk.gguf import (GGMLType, GGUFError, GGUFReader, GGUFValueType as T,
                          GGUFWriter)

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(TOOLS, "..", "tests", "data", "gguf")


class TestRoundTrip(unittest.TestCase):
    def test_all_value_types(self):
        w = GGUFWriter()
        vals = [("u8", T.UINT8, 255), ("i8", T.INT8, -128), ("u16", T.UINT16, 65535),
                ("i16", T.INT16, -32768), ("u32", T.UINT32, 2**32 - 1), ("i32", T.INT32, -2**31),
                ("f32", T.FLOAT32, 1.5), ("b", T.BOOL, False), ("u64", T.UINT64, 2**64 - 1),
                ("i64", T.INT64, -2**63), ("f64", T.FLOAT64, 1e-300), ("s", T.STRING, "x\u00e9\u4e2d")]
        for k, t, v in vals:
            w.add_scalar(k, v, t)
        w.add_array("a.u32", np.array([0, 7, 2**32 - 1], np.uint64), T.UINT32)
        w.add_array("a.i16", [-3, 4], T.INT16)
        w.add_array("a.f64", [0.25, -8.0], T.FLOAT64)
        w.add_array("a.s", ["", "ab", "\u00fc"], T.STRING)
        w.add_array("a.b", [True, False], T.BOOL)
        w.add_array("a.empty", [], T.STRING)
        r = GGUFReader(data=w.to_bytes())
        self.assertEqual(r.version, 3)
        self.assertEqual(list(r.fields),
                         [k for k, _, _ in vals] + ["a.u32", "a.i16", "a.f64", "a.s", "a.b", "a.empty"])
        for k, t, v in vals:
            self.assertEqual(r.fields[k].type, t)
            self.assertEqual(r.get(k), v)
        self.assertEqual(r.get("a.u32").tolist(), [0, 7, 2**32 - 1])
        self.assertEqual(r.fields["a.u32"].elem_type, T.UINT32)
        self.assertEqual(r.get("a.i16").tolist(), [-3, 4])
        self.assertEqual(r.get("a.f64").tolist(), [0.25, -8.0])
        self.assertEqual(r.get("a.s"), ["", "ab", "\u00fc"])
        self.assertEqual(r.get("a.b").tolist(), [True, False])
        self.assertEqual(r.get("a.empty"), [])
        self.assertIsNone(r.get("missing", None))
        with self.assertRaises(KeyError):
            r.get("missing")

    def test_tensors_f32_f16_and_layout(self):
        rng = np.random.default_rng(0)
        a = rng.standard_normal((3, 5)).astype(np.float32)
        b = rng.standard_normal((7,)).astype(np.float32)
        c = rng.standard_normal((2, 3, 1, 4)).astype(np.float32)
        w = GGUFWriter()
        w.add_tensor("a", a)
        w.add_tensor("b", b, "f16")
        w.add_tensor("c", c.astype(np.float64))  # converted to f32
        raw = w.to_bytes()
        r = GGUFReader(data=raw)
        self.assertEqual([t.name for t in r.tensors.values()], ["a", "b", "c"])
        self.assertEqual(r.tensors["a"].type, GGMLType.F32)
        np.testing.assert_array_equal(r.tensors["a"].data, a)
        self.assertEqual(r.tensors["b"].type, GGMLType.F16)
        np.testing.assert_array_equal(r.tensors["b"].data, b.astype(np.float16))
        self.assertEqual(r.tensors["c"].shape, (2, 3, 1, 4))
        np.testing.assert_array_equal(r.tensors["c"].data, c)
        # On disk the dims are reversed (ggml order) and offsets aligned to 32.
        self.assertEqual([t.offset for t in r.tensors.values()], [0, 64, 96])
        self.assertEqual(r.data_start % 32, 0)
        i = raw.index(b"\x01\x00\x00\x00\x00\x00\x00\x00a")  # tensor info of "a"
        n_dims, d0, d1 = struct.unpack_from("<IQQ", raw, i + 9)
        self.assertEqual((n_dims, d0, d1), (2, 5, 3))

    def test_alignment(self):
        w = GGUFWriter(alignment=128)
        w.add_tensor("x", np.ones(3, np.float32))
        w.add_tensor("y", np.ones(1, np.float32), "f16")
        r = GGUFReader(data=w.to_bytes())
        self.assertEqual(r.alignment, 128)
        self.assertEqual(r.get("general.alignment"), 128)
        self.assertEqual(r.fields["general.alignment"].type, T.UINT32)
        self.assertEqual(r.data_start % 128, 0)
        self.assertEqual(r.tensors["y"].offset, 128)
        with self.assertRaises(GGUFError):
            GGUFWriter(alignment=24)

    def test_no_tensors_has_no_padding(self):
        w = GGUFWriter()
        w.add_uint32("k", 1)
        self.assertEqual(len(w.to_bytes()), 24 + 8 + 1 + 4 + 4)

    def test_torch_tensor(self):
        import torch
        w = GGUFWriter()
        p = torch.nn.Parameter(torch.arange(6, dtype=torch.float32).view(2, 3))
        w.add_tensor("p", p)
        np.testing.assert_array_equal(GGUFReader(data=w.to_bytes()).tensors["p"].data,
                                      np.arange(6, dtype=np.float32).reshape(2, 3))


class TestWriterRejects(unittest.TestCase):
    def test_bad_values(self):
        w = GGUFWriter()
        w.add_uint32("k", 1)
        cases = [lambda: w.add_uint32("k", 2),                 # duplicate key
                 lambda: w.add_uint8("x", 256),
                 lambda: w.add_int8("x", -129),
                 lambda: w.add_uint32("x", -1),
                 lambda: w.add_uint32("x", 1.5),
                 lambda: w.add_uint32("x", True),
                 lambda: w.add_bool("x", 1),
                 lambda: w.add_string("x", 3),
                 lambda: w.add_uint32("", 1),
                 lambda: w.add_uint32("a b", 1),
                 lambda: w.add_array("x", [1, 2**32], T.UINT32),
                 lambda: w.add_array("x", [1.5], T.INT32),
                 lambda: w.add_array("x", [[1]], T.ARRAY),
                 lambda: w.add_array("x", ["a", 1], T.STRING),
                 lambda: w.add_array("x", [1, 0], T.BOOL)]
        for i, f in enumerate(cases):
            with self.assertRaises(GGUFError, msg="case %d" % i):
                f()
        self.assertNotIn("x", w._kv)

    def test_bad_tensors(self):
        w = GGUFWriter()
        w.add_tensor("t", np.zeros(2, np.float32))
        cases = [lambda: w.add_tensor("t", np.zeros(2)),                  # duplicate
                 lambda: w.add_tensor("u", np.zeros((0, 3))),             # zero dim
                 lambda: w.add_tensor("u", np.zeros(())),                 # 0-d
                 lambda: w.add_tensor("u", np.zeros((1, 1, 1, 1, 1))),    # 5-d
                 lambda: w.add_tensor("u", np.zeros(2), "q4_0"),
                 lambda: w.add_tensor("u", np.array([1e6]), "f16"),       # overflows f16
                 lambda: w.add_tensor("n" * 256, np.zeros(2)),
                 lambda: w.add_tensor("a\tb", np.zeros(2)),
                 lambda: w.add_tensor("u", np.array(["a"]))]
        for i, f in enumerate(cases):
            with self.assertRaises(GGUFError, msg="case %d" % i):
                f()


class TestAtomicWrite(unittest.TestCase):
    def test_write_replace_and_failure(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.gguf")
            w = GGUFWriter()
            w.add_string("general.name", "one")
            w.write(path)
            self.assertEqual(GGUFReader(path).get("general.name"), "one")
            w2 = GGUFWriter()
            w2.add_string("general.name", "two")
            w2.write(path)
            self.assertEqual(GGUFReader(path).get("general.name"), "two")
            self.assertEqual(os.listdir(d), ["m.gguf"])
            # A failure while producing the bytes leaves the old file and no temp file.
            w3 = GGUFWriter()
            w3._write_to = lambda f: (f.write(b"GGUF partial"), (_ for _ in ()).throw(RuntimeError("boom")))
            with self.assertRaises(RuntimeError):
                w3.write(path)
            self.assertEqual(os.listdir(d), ["m.gguf"])
            self.assertEqual(GGUFReader(path).get("general.name"), "two")


class TestCorpus(unittest.TestCase):
    """The committed corpus (tools/make_gguf_corpus.py) as seen by the Python reader."""

    def test_generator_is_reproducible(self):
        import make_gguf_corpus as mk
        for name, make in (("valid_small.gguf", mk.valid_small), ("valid_align64.gguf", mk.valid_align64),
                           ("valid_v2.gguf", mk.valid_v2), ("valid_model_tiny.gguf", mk.valid_model_tiny)):
            with open(os.path.join(CORPUS, name), "rb") as f:
                self.assertEqual(f.read(), make(), "%s: rerun tools/make_gguf_corpus.py" % name)
        for name, data, _ in mk.bad_files():
            with open(os.path.join(CORPUS, name), "rb") as f:
                self.assertEqual(f.read(), data, name)

    def test_valid_small(self):
        r = GGUFReader(os.path.join(CORPUS, "valid_small.gguf"))
        self.assertEqual(r.get("t.u64"), 2**63 + 5)
        self.assertEqual(r.get("t.str"), "h\u00e9llo w\u00f6rld")
        self.assertEqual(r.get("t.arr_str"), ["a", "", "bc d"])
        np.testing.assert_array_equal(r.tensors["w"].data,
                                      np.arange(15, dtype=np.float32).reshape(3, 5) * 0.5 - 2)
        self.assertEqual(r.tensors["h"].data.dtype, np.float16)
        self.assertEqual(r.tensors["k"].shape, (2, 1, 3, 2))
        self.assertEqual(GGUFReader(os.path.join(CORPUS, "valid_v2.gguf")).version, 2)

    def test_bad_files_rejected(self):
        with open(os.path.join(CORPUS, "manifest.txt")) as f:
            lines = [ln.rstrip("\n").split("\t") for ln in f if ln.strip() and not ln.startswith("#")]
        bad = [ln[0] for ln in lines if len(ln) == 2]
        self.assertGreater(len(bad), 40)
        for name in bad:
            with self.assertRaises(GGUFError, msg=name):
                GGUFReader(os.path.join(CORPUS, name))


class TestExport(unittest.TestCase):
    """tools/export_gguf.py on tiny models built from the reference modules."""

    def _models(self):
        import torch
        from dallevk import bpe, dvae
        from dallevk.transformer import Dalle, DalleConfig
        torch.manual_seed(0)
        dcfg = DalleConfig(text_len=6, text_vocab=300, grid=4, image_vocab=16, d_model=16, n_heads=2,
                           n_layers=3, d_ff=32, conv_kernel=3)
        vcfg = dvae.DvaeConfig(group_count=2, n_hid=8, n_blk_per_group=1, vocab_size=16, n_init=12,
                               image_size=8)
        return (dcfg, Dalle(dcfg), vcfg, dvae.Decoder(vcfg), dvae.Encoder(vcfg),
                bpe.BPE([(104, 105), (256, 33)]))

    def _export(self, d, *extra):
        import torch
        import export_gguf  # the command-line tool
        dcfg, model, vcfg, dec, enc, tok = self._models()
        torch.save({"config": dcfg.to_dict(), "model": model.state_dict()}, os.path.join(d, "dalle.pt"))
        torch.save({"config": vcfg.to_dict(), "decoder": dec.state_dict(), "encoder": enc.state_dict()},
                   os.path.join(d, "dvae.pt"))
        tok.save(os.path.join(d, "bpe.json"))
        out = os.path.join(d, "m.gguf")
        export_gguf.main(["--dalle", os.path.join(d, "dalle.pt"), "--dvae", os.path.join(d, "dvae.pt"),
                          "--bpe", os.path.join(d, "bpe.json"), "-o", out, "--name", "tiny"] + list(extra))
        return GGUFReader(out), (dcfg, model, vcfg, dec, enc, tok)

    def test_export_f32(self):
        with tempfile.TemporaryDirectory() as d:
            r, (dcfg, model, vcfg, dec, enc, tok) = self._export(d)
        self.assertEqual(r.get("general.architecture"), "dalle")
        self.assertEqual(r.get("general.name"), "tiny")
        self.assertEqual(r.get("general.file_type"), 0)
        self.assertEqual(r.get("dalle.n_layers"), 3)
        self.assertEqual(r.fields["dalle.grid"].type, T.UINT32)
        self.assertEqual(r.fields["dalle.ln_eps"].type, T.FLOAT32)
        self.assertEqual(r.get("dalle.attn_types"), list(dcfg.attn_types))
        self.assertIs(r.get("dalle.conv_wrap"), False)
        self.assertEqual(r.get("dvae.vocab_size"), 16)
        self.assertIs(r.get("dvae.has_encoder"), True)
        self.assertEqual(r.get("tokenizer.bpe.vocab_size"), 258)
        self.assertEqual(r.get("tokenizer.bpe.merges").tolist(), [104, 105, 256, 33])
        self.assertEqual(r.get("tokenizer.model"), "dalle-vk-bpe-1")
        sd = model.state_dict()
        self.assertEqual(len([n for n in r.tensors if not n.startswith("dvae.")]), len(sd) - 1)
        np.testing.assert_array_equal(r.tensors["blk.2.attn.qkv.w"].data, sd["layers.2.attn.qkv.w"].numpy())
        np.testing.assert_array_equal(r.tensors["text_emb"].data, sd["text_emb"].numpy())
        self.assertEqual(r.tensors["text_emb"].shape, (306, 16))
        self.assertNotIn("text_logits.w", r.tensors)
        w_in = dec.state_dict()["blocks.input.w"].numpy()
        self.assertEqual(r.tensors["dvae.dec.blocks.input.w"].shape, (16, 12))
        np.testing.assert_array_equal(r.tensors["dvae.dec.blocks.input.w"].data, w_in[:, :, 0, 0].T)
        for k, v in dec.state_dict().items():
            if k != "blocks.input.w":
                np.testing.assert_array_equal(r.tensors["dvae.dec." + k].data, v.numpy(), k)
        for k, v in enc.state_dict().items():
            np.testing.assert_array_equal(r.tensors["dvae.enc." + k].data, v.numpy(), k)
        self.assertTrue(all(t.type == GGMLType.F32 for t in r.tensors.values()))

    def test_export_f16_no_encoder(self):
        with tempfile.TemporaryDirectory() as d:
            r, (dcfg, model, *_rest) = self._export(d, "--f16", "--no-encoder")
        self.assertEqual(r.get("general.file_type"), 1)
        self.assertIs(r.get("dvae.has_encoder"), False)
        self.assertFalse(any(n.startswith("dvae.enc.") for n in r.tensors))
        for t in r.tensors.values():
            self.assertEqual(t.type, GGMLType.F16 if len(t.shape) >= 2 else GGMLType.F32, t.name)
        ref = model.state_dict()["layers.0.mlp.fc1.w"].numpy()
        np.testing.assert_allclose(r.tensors["blk.0.mlp.fc1.w"].data.astype(np.float32), ref, rtol=1e-3,
                                   atol=1e-6)

    def test_from_gguf_sets_sampling_keeps_tensors(self):
        # --from-gguf with the file's own types: unchanged, the same bytes; with a new --top-p and --description
        # those keys change, every other key (in order) and every tensor's bytes stay; a bad value is refused
        import export_gguf
        with tempfile.TemporaryDirectory() as d:
            r, _ = self._export(d, "--f16", "--top-p", "0.7", "--temperature", "0.9", "--description", "d1")
            src, out = os.path.join(d, "m.gguf"), os.path.join(d, "p.gguf")
            export_gguf.main(["--from-gguf", src, "--type", "f16", "-o", out])
            with open(src, "rb") as a, open(out, "rb") as b:
                self.assertEqual(a.read(), b.read())
            export_gguf.main(["--from-gguf", src, "--type", "f16", "--top-p", "0.5", "--description", "d2", "-o", out])
            r2 = GGUFReader(out)
            with self.assertRaises(SystemExit) as cm:
                export_gguf.main(["--from-gguf", src, "--type", "f16", "--top-p", "1.5", "-o", out])
        self.assertIn("--top-p must be in (0, 1], got 1.5", str(cm.exception))
        self.assertAlmostEqual(r.get("dalle.top_p"), 0.7, places=6)
        self.assertAlmostEqual(r2.get("dalle.top_p"), 0.5, places=6)
        self.assertEqual(r2.get("general.description"), "d2")
        self.assertEqual(list(r2.fields), list(r.fields))
        for k, f in r.fields.items():
            if k not in ("dalle.top_p", "general.description"):
                self.assertEqual(np.asarray(r2.get(k)).tolist(), np.asarray(f.value).tolist(), k)
        self.assertEqual(list(r2.tensors), list(r.tensors))
        for n, t in r.tensors.items():
            self.assertEqual((r2.tensors[n].type, r2.tensors[n].shape), (t.type, t.shape), n)
            self.assertEqual(np.asarray(r2.tensors[n].data).tobytes(), np.asarray(t.data).tobytes(), n)

    def test_unmapped_parameter_is_an_error(self):
        from dallevk import export
        dcfg, model, *_ = self._models()
        sd = dict(model.state_dict())
        sd["layers.0.new_param"] = sd["ln_f.w"]
        with self.assertRaises(SystemExit) as cm:
            export.transformer_tensors(sd, dcfg.to_dict())
        self.assertIn("layers.0.new_param", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
