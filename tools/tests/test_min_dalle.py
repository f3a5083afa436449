"""DALL-E Mini / Mega: tools/convert.py dalle-mini on the tiny files of tests/data/min_dalle (made by
kuprel/min-dalle's own classes, tests/data/README.md), then the PyTorch reference tools/dallevk/bart.py,
the VQGAN reference and the BART tokenizer loaded from the converted file against min-dalle's goldens:
tokenizer ids of odd strings, encoder states, decoder logits along a fixed code path with
super-conditioning, greedy and seeded generation, detokenized pixels. Converter bad inputs too.
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import collections
import contextlib
import io
import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

from dallevk import bart as B
from dallevk import vqgan as V
from dallevk.convert import cli
from dallevk.convert.bart_bpe import BartBPE
from dallevk.gguf import GGMLType, GGUFReader

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(TOOLS, "..", "tests", "data", "min_dalle")
HEADS = "4"  # the tiny model's head count (not in min-dalle's files)


def convert(*args):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = cli.main(list(args))
    return rc, err.getvalue(), out.getvalue()


def rel_err(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


class TestMinDalle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.golden = {k: t.data for k, t in GGUFReader(os.path.join(DATA, "goldens.gguf")).tensors.items()}
        cls.files, cls.models, cls.notes = {}, {}, {}
        for dtype in ("f32", "f16"):
            out = os.path.join(cls.tmp.name, "mini-%s.gguf" % dtype)
            rc, err, text = convert("dalle-mini", DATA, "--n-heads", HEADS, "--type", dtype, "-o", out)
            assert rc == 0, err
            cls.files[dtype], cls.notes[dtype] = GGUFReader(out), text
            cls.models[dtype] = B.from_gguf(cls.files[dtype])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def text_ids(self):
        return torch.from_numpy(self.golden["enc.text_ids"].astype(np.int64))

    def test_file_keys(self):
        r = self.files["f16"]
        self.assertEqual(r.get("dalle.layout"), "encoder-decoder")
        self.assertEqual((r.get("dalle.top_k"), r.get("dalle.cond_scale"), r.get("dalle.temperature")),
                         (256, 16.0, 1.0))
        self.assertEqual((r.get("vqgan.norm_eps"), r.get("vqgan.output_lo"), r.get("vqgan.output_hi")),
                         (np.float32(1e-5), 0.0, 1.0))
        self.assertEqual(r.tensors["image_emb"].type, GGMLType.F16)
        self.assertEqual(r.tensors["blk.0.attn.post_ln.w"].type, GGMLType.F32)
        self.assertEqual(list(r.tensors["image_logits.w"].shape), [16384, 32])  # 16416 shipped rows, 16384 kept
        self.assertIn("layers.1.glu.ln1.weight", self.notes["f16"])  # the LayerNorm default min-dalle runs with

    def test_tokenizer_matches_min_dalle(self):
        with open(os.path.join(DATA, "tokenizer.json"), encoding="utf8") as f:
            cases = json.load(f)
        self.assertGreater(len(cases), 20)
        for tok in (BartBPE.from_gguf(self.files["f16"]),
                    BartBPE.from_files(os.path.join(DATA, "vocab.json"), os.path.join(DATA, "merges.txt"))):
            for case in cases:
                self.assertEqual(tok.encode(case["text"]), case["ids"], repr(case["text"]))

    def test_text_rows(self):
        tok = BartBPE.from_gguf(self.files["f16"])
        prompt = self.files["f16"].get("golden.prompt", None) or GGUFReader(
            os.path.join(DATA, "goldens.gguf")).get("golden.prompt")
        self.assertTrue(torch.equal(B.text_rows(tok.encode(prompt), 64), self.text_ids()))
        long_ids = tok.encode("an armchair in the shape of an avocado " * 12)
        rows = B.text_rows(long_ids, 64)
        self.assertEqual(rows[0, :3].tolist(), [0, long_ids[63], 1])  # min-dalle: [ids[0], ids[-1]] after truncation
        self.assertEqual(rows[1].tolist(), long_ids[:64])

    def test_encoder_states(self):
        for dtype, tol in (("f32", 1e-4), ("f16", 3e-3)):
            with torch.no_grad():
                got = self.models[dtype].encode(self.text_ids()).numpy()
            self.assertLessEqual(rel_err(got, self.golden["enc.state"]), tol, dtype)

    def test_decoder_logits_with_super_conditioning(self):
        g = self.golden
        codes = torch.from_numpy(g["dec.codes"].astype(np.int64))[None].repeat(2, 1)
        for dtype, tol in (("f32", 1e-4), ("f16", 3e-3)):
            with torch.no_grad():
                logits = self.models[dtype].logits_along(self.text_ids(), codes)   # [2, 256, 16384]
            for k, step in enumerate((0, 255)):
                self.assertLessEqual(rel_err(logits[:, step].numpy(), g["dec.logits"][k, :, :16384]), tol, dtype)
            sc = B.super_condition(logits[0], logits[1], 16.0)                     # [256, 16384]
            vals, ids = sc.topk(8, dim=-1)
            self.assertLessEqual(rel_err(vals.numpy(), g["dec.sc_top"]), tol, dtype)
            same = (ids[:, 0].numpy() == g["dec.sc_top_ids"][:, 0]).mean()
            if dtype == "f32":
                self.assertTrue(np.array_equal(ids.numpy(), g["dec.sc_top_ids"]))
            else:  # f16 weights, errors amplified 16x by the factor: near-ties may flip
                self.assertGreaterEqual(same, 0.9, "arg-max agreement %.3f" % same)
        # the logit columns past the 16384 codes (dropped by the converter) would have won: the slice matters
        self.assertGreater(np.abs(g["dec.logits"][:, :, 16384:]).max(), np.abs(g["dec.logits"][:, :, :16384]).max())

    def test_generation_greedy_and_seeded(self):
        m, g = self.models["f32"], self.golden
        with torch.no_grad():
            greedy = m.generate(self.text_ids(), 1, top_k=1, cond_scale=16.0)
            sampled = m.generate(self.text_ids(), 4, top_k=64, temperature=1.0, cond_scale=16.0,
                                 generator=torch.Generator().manual_seed(7))
        self.assertTrue(np.array_equal(greedy.numpy(), g["gen.greedy"]))
        want = g["gen.sampled"].astype(np.int64)
        self.assertGreater(len(np.unique(want)), 40)
        # seeded draws: the same torch.multinomial stream as min-dalle's torch.manual_seed(7)
        self.assertTrue(np.array_equal(sampled.numpy(), want))
        with torch.no_grad():  # each of min-dalle's sampled codes is inside the reference's top-64
            logits = m.logits_along(self.text_ids()[[0] * 4 + [1] * 4], torch.from_numpy(want).repeat(2, 1))
        for j in range(0, 256, 15):
            kept = B.top_k_kept(B.super_condition(logits[:4, j], logits[4:, j], 16.0), 64)
            self.assertTrue(kept[torch.arange(4), torch.from_numpy(want[:, j])].all(), j)
            self.assertEqual(int(kept.sum()), 4 * 64)

    def test_detokenizer_pixels(self):
        g = self.golden
        vq = V.from_gguf(self.files["f32"])
        codes = torch.from_numpy(g["det.codes"].astype(np.int64)).view(1, 16, 16)
        with torch.no_grad():
            pixels = vq.to_pixels(vq.decode_codes(codes))[0].permute(1, 2, 0).numpy()  # [256, 256, 3] in [0, 1]
        want = g["det.pixels"].astype(np.float32) / 255
        self.assertLessEqual(np.abs(pixels - want).max(), 1 / 255)
        self.assertGreater(want.std(), 0.05)


class TestMinDalleBadInputs(unittest.TestCase):
    """Each bad input: exit 1, a message naming the file (and key and shape), no output file."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "dalle_bart_mini")
        os.mkdir(self.dir)
        for name in ("encoder.pt", "decoder.pt", "vocab.json", "merges.txt", "detoker.pt"):
            shutil.copy(os.path.join(DATA, name), self.dir)
        self.out = os.path.join(self.tmp.name, "out.gguf")

    def tearDown(self):
        self.tmp.cleanup()

    def edit(self, name, fn):
        sd = collections.OrderedDict((k, v.clone()) for k, v in torch.load(os.path.join(DATA, name)).items())
        fn(sd)
        torch.save(sd, os.path.join(self.dir, name))

    def assert_fails(self, *needles):
        rc, err, _ = convert("dalle-mini", self.dir, "--n-heads", HEADS, "-o", self.out)
        self.assertEqual(rc, 1, err)
        for n in needles:
            self.assertIn(n, err)
        self.assertFalse(os.path.exists(self.out), "partial output left behind")
        self.assertEqual([n for n in os.listdir(self.tmp.name) if n.startswith(".")], [], "temp file left")
        return err

    def test_ok_copy(self):
        rc, err, _ = convert("dalle-mini", self.dir, "--n-heads", HEADS, "-o", self.out)
        self.assertEqual(rc, 0, err)

    def test_missing_key(self):
        self.edit("decoder.pt", lambda sd: sd.pop("layers.1.encoder_attn.k_proj.weight"))
        self.assert_fails("decoder.pt", "layers.1.encoder_attn.k_proj.weight", "[32, 32]")

    def test_misshaped(self):
        def fn(sd):
            sd["layers.0.glu.fc2.weight"] = sd["layers.0.glu.fc2.weight"][:, :39].clone()
        self.edit("encoder.pt", fn)
        self.assert_fails("encoder.pt", "layers.0.glu.fc2.weight", "[32, 39]", "[32, 40]")

    def test_unexpected_key(self):
        self.edit("encoder.pt", lambda sd: sd.__setitem__("layers.0.extra.weight", torch.zeros(3)))
        self.assert_fails("encoder.pt", "unexpected tensor 'layers.0.extra.weight'")

    def test_truncated(self):
        path = os.path.join(self.dir, "decoder.pt")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:len(data) * 2 // 3])
        self.assert_fails("decoder.pt", "truncated")

    def test_unexpected_pickle_class(self):
        marker = os.path.join(self.tmp.name, "ran")
        torch.save({"embed_tokens.weight": _Payload(marker)}, os.path.join(self.dir, "encoder.pt"))
        self.assert_fails("encoder.pt", "refusing to unpickle class 'posix.system'")
        self.assertFalse(os.path.exists(marker), "the pickle's code ran")

    def test_missing_file_and_bad_vocab(self):
        os.remove(os.path.join(self.dir, "merges.txt"))
        self.assert_fails("dalle_bart_mini", "merges.txt")
        shutil.copy(os.path.join(DATA, "merges.txt"), self.dir)
        with open(os.path.join(self.dir, "vocab.json"), "w") as f:
            f.write('{"<s>": 0, "</s>": 0}')
        self.assert_fails("vocab.json", "ids are not")

    def test_wrong_detoker(self):
        self.edit("detoker.pt", lambda sd: sd.__setitem__(
            "decoder.conv_out.bias", sd["decoder.conv_out.bias"][:2].clone()))
        self.assert_fails("detoker.pt", "decoder.conv_out.bias", "[3]")


class _Payload:
    """Unpickling this runs os.system: the restricted unpickler must refuse it without running it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, ("touch %s" % self.path,))


if __name__ == "__main__":
    unittest.main()
