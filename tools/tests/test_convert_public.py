"""tools/convert.py rudalle / mindalle on the tiny upstream checkpoints of tests/data/rudalle and
tests/data/mindalle (made by ru-dalle's DalleModel and minDALL-E's Transformer1d / VQGAN,
tests/data/README.md), and the PyTorch reference (tools/dallevk/from_gguf.py + transformer.py, vqgan.py)
loaded from each converted file against upstream's goldens: teacher-forced image logits (full sequence
and KV-cache path; relative error <= 1e-4 f32, 3e-3 f16), VQGAN pixels (within 1/255), the caption ids
the file's tokenizer gives; then bad inputs (missing key, misshaped tensor, truncated file, unexpected
pickled class, wrong folder layout, VQGAN of another model): exit 1, a message naming the file, the key
and the expected shape, no output.
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import collections
import os
import shutil
import unittest

import numpy as np
import torch

from dallevk.convert import charbpe, yttm
from dallevk.from_gguf import load_model
from dallevk.gguf import GGUFReader

from .test_convert_errors import CliCase, Payload

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(TOOLS, "..", "tests", "data")
RD, MD = os.path.join(DATA, "rudalle"), os.path.join(DATA, "mindalle")
MD_FOLDER = os.path.join(MD, "tiny")


def rudalle_args(version, bin_path=None, vqgan=None):
    return ["rudalle", bin_path or os.path.join(RD, version + ".bin"), "--version", version, "--n-heads", "4",
            "--vqgan", vqgan or os.path.join(RD, "vqgan.ckpt"), "--bpe", os.path.join(RD, "bpe.model")]


# case -> (convert arguments, goldens, caption, Python encoder of the file's tokenizer)
CASES = {
    "rudalle-v3": (rudalle_args("v3"), os.path.join(RD, "v3.gguf"), "Кот пес"),
    "rudalle-v2": (rudalle_args("v2"), os.path.join(RD, "v2.gguf"), "Кот пес"),
    "mindalle": (["mindalle", MD_FOLDER], os.path.join(MD, "goldens.gguf"), "Cat dog dogs"),
}


def rel_err(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def caption_ids(r, text):
    """The caption ids (before pads) the file's tokenizer keys give for text."""
    fields = {k: r.get(k) for k in r.fields if k.startswith("tokenizer.")}
    model = fields["tokenizer.model"]
    if model == "yttm-bpe":
        ids = yttm.from_keys(fields).encode(text.lower().strip())
    else:
        ids = charbpe.from_keys(fields).encode(text)
    return list(fields.get("tokenizer.prefix_ids", [])) + list(ids) + list(fields.get("tokenizer.suffix_ids", []))


class TestPublicTransformers(CliCase):
    def convert(self, case, dtype):
        args, _, _ = CASES[case]
        rc, err = self.run_cli(*args, "--type", dtype)
        self.assertEqual(rc, 0, err)
        return self.out

    def check_case(self, case, dtype):
        _, golden_path, caption = CASES[case]
        g = GGUFReader(golden_path).tensors
        path = self.convert(case, dtype)
        r = GGUFReader(path)
        m = load_model(path)
        tol = 1e-4 if dtype == "f32" else 3e-3
        ids = torch.from_numpy(g["text_ids"].data.astype(np.int64)).view(1, -1)
        grid = torch.from_numpy(g["dec.codes"].data.astype(np.int64)).view(1, -1)
        want = g["logits"].data
        self.assertGreater(want.std(), 0.5)
        with torch.no_grad():
            _, logits = m.dalle(ids, grid)
            e_full = rel_err(logits[0].numpy(), want)
            step, cache = m.dalle.prefill(ids)
            steps = [step]
            for c in g["codes"].data.astype(np.int64):
                steps.append(m.dalle.decode_step(cache, torch.tensor([c]))[0])
            e_cached = rel_err(torch.cat([s.view(1, -1) for s in steps]).numpy(), want)
        self.assertLessEqual(e_full, tol, "%s %s: full-sequence logits" % (case, dtype))
        self.assertLessEqual(e_cached, tol, "%s %s: KV-cache logits" % (case, dtype))
        if dtype == "f32":
            with torch.no_grad():
                px = m.vqgan.to_pixels(m.vqgan.decode_codes(torch.from_numpy(g["dec.codes"].data.astype(np.int64))))
            self.assertLessEqual(np.abs(px.numpy() - g["dec.pixels"].data).max(), 1 / 255)
        # the caption through the file's tokenizer = the golden's ids before the pads
        got = caption_ids(r, caption)
        self.assertEqual(got, g["text_ids"].data[:len(got)].astype(int).tolist())
        self.assertGreaterEqual(g["text_ids"].data[len(got)], r.get("dalle.text_vocab"))
        return r

    def test_rudalle_v3(self):
        for dtype in ("f32", "f16"):
            r = self.check_case("rudalle-v3", dtype)
        self.assertEqual(r.get("general.license"), "Apache-2.0")
        self.assertEqual(r.get("dalle.text_len"), 8)
        self.assertEqual(list(r.get("dalle.attn_types")), ["row", "col", "row", "conv"])
        self.assertFalse(r.get("dalle.conv_wrap"))
        self.assertEqual(list(r.get("tokenizer.prefix_ids")), [2])
        self.assertEqual(r.get("dalle.top_k"), 64)  # 2048 capped at the tiny image vocabulary
        self.assertAlmostEqual(r.get("dalle.top_p"), 0.995, places=6)
        self.assertNotIn("dalle.mask_image0", r.fields)
        self.assertEqual(r.get("general.file_type"), 1)

    def test_rudalle_v2(self):
        for dtype in ("f32", "f16"):
            r = self.check_case("rudalle-v2", dtype)
        self.assertEqual(r.get("dalle.text_len"), 9)
        self.assertEqual(r.get("dalle.mask_image0"), 8)
        self.assertTrue(r.get("dalle.conv_wrap"))
        self.assertEqual(list(r.get("tokenizer.prefix_ids")), [2, 2])
        self.assertEqual(r.tensors["text_emb"].data[40].tolist(), [0.0] * 32)  # the bos position's unused pad

    def test_mindalle(self):
        for dtype in ("f32", "f16"):
            r = self.check_case("mindalle", dtype)
        self.assertEqual(r.get("general.license"), "CC-BY-NC-SA-4.0")
        self.assertEqual(r.get("dalle.image_pos"), "linear")
        self.assertEqual(r.get("dalle.top_k"), 32)
        self.assertNotIn("text_logits.w", r.tensors)
        emb = r.tensors["text_emb"].data
        np.testing.assert_array_equal(emb[40:], np.repeat(emb[20:21], 8, 0))  # every pad = the [PAD] row

    def test_model_name_sets_the_version(self):
        args = rudalle_args("v2")
        args[args.index("--version"):args.index("--version") + 2] = ["--model", "Emojich"]
        rc, err = self.run_cli(*args)
        self.assertEqual(rc, 0, err)
        r = GGUFReader(self.out)
        self.assertEqual((r.get("dalle.text_len"), r.get("general.name")), (9, "ruDALL-E Emojich"))


class TestPublicConvertErrors(CliCase):
    def edited_bin(self, edit, name="edited.bin"):
        sd = collections.OrderedDict((k, v.clone()) for k, v in torch.load(os.path.join(RD, "v3.bin")).items())
        edit(sd)
        path = os.path.join(self.tmp.name, name)
        torch.save(sd, path)
        return path

    def test_missing_key(self):
        path = self.edited_bin(lambda sd: sd.pop("transformer.layers.2.before_second_addition_layernorm.bias"))
        self.assert_fails(rudalle_args("v3", path), "edited.bin",
                          "'transformer.layers.2.before_second_addition_layernorm.bias'", "[32]")
        path = self.edited_bin(lambda sd: sd.pop("image_row_embeddings.weight"))
        self.assert_fails(rudalle_args("v3", path), "'image_row_embeddings.weight'", "[G, d_model]")

    def test_misshaped_tensor(self):
        def edit(sd):
            sd["transformer.layers.1.attention.query_key_value.weight"] = torch.zeros(32, 96)
        self.assert_fails(rudalle_args("v3", self.edited_bin(edit)),
                          "'transformer.layers.1.attention.query_key_value.weight'", "[32, 96]", "expected [96, 32]")

        def logits(sd):
            sd["to_logits.1.bias"] = torch.zeros(100)
        self.assert_fails(rudalle_args("v3", self.edited_bin(logits)), "'to_logits.1.bias'", "expected [112]")

    def test_unexpected_key(self):
        def edit(sd):
            sd["transformer.layers.0.attention.rotary.weight"] = torch.zeros(3)
        self.assert_fails(rudalle_args("v3", self.edited_bin(edit)),
                          "unexpected tensor 'transformer.layers.0.attention.rotary.weight'")

    def test_truncated(self):
        with open(os.path.join(RD, "v2.bin"), "rb") as f:
            data = f.read()
        path = os.path.join(self.tmp.name, "cut.bin")
        for cut in (100, len(data) // 2, len(data) - 50):
            with open(path, "wb") as f:
                f.write(data[:cut])
            self.assert_fails(rudalle_args("v2", path), "cut.bin", "truncated")

    def test_unexpected_class_is_refused(self):
        marker = os.path.join(self.tmp.name, "ran")
        path = os.path.join(self.tmp.name, "evil.bin")
        torch.save({"text_embeddings.weight": Payload(marker)}, path)
        self.assert_fails(rudalle_args("v3", path), "evil.bin", "refusing to unpickle class 'posix.system'")
        folder = os.path.join(self.tmp.name, "md")
        shutil.copytree(MD_FOLDER, folder)
        torch.save({"state_dict": {"ln_f.weight": Payload(marker)}}, os.path.join(folder, "stage2_last.ckpt"))
        self.assert_fails(["mindalle", folder], "stage2_last.ckpt", "'posix.system'")
        self.assertFalse(os.path.exists(marker), "the pickled call ran")

    def test_wrong_folder_layout(self):
        folder = os.path.join(self.tmp.name, "md")
        shutil.copytree(MD_FOLDER, folder)
        os.rename(os.path.join(folder, "tokenizer"), os.path.join(folder, "tok"))
        self.assert_fails(["mindalle", folder], folder, "missing file 'tokenizer/bpe-16k-vocab.json'")
        self.assert_fails(["mindalle", os.path.join(MD_FOLDER, "stage2_last.ckpt")], "stage2_last.ckpt",
                          "not a folder")
        # the two checkpoints swapped: each named with what it lacks
        shutil.rmtree(folder)
        shutil.copytree(MD_FOLDER, folder)
        s1, s2 = (os.path.join(folder, n) for n in ("stage1_last.ckpt", "stage2_last.ckpt"))
        os.rename(s1, s1 + ".x")
        os.rename(s2, s1)
        os.rename(s1 + ".x", s2)
        self.assert_fails(["mindalle", folder], "stage2_last.ckpt", "'tok_emb_txt.weight'",
                          "[vocab_size_txt, embed_dim]")

    def test_config_disagrees(self):
        folder = os.path.join(self.tmp.name, "md")
        shutil.copytree(MD_FOLDER, folder)
        cfg = os.path.join(folder, "config.yaml")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("ctx_len_txt: 8", "ctx_len_txt: 64"))
        self.assert_fails(["mindalle", folder], "config.yaml", "stage2.hparams.ctx_len_txt is 64", "has 8")

    def test_vqgan_of_another_model(self):
        other = os.path.join(DATA, "taming_vqgan", "gumbel_f8.ckpt")  # 32 codes, the transformer has 64
        self.assert_fails(rudalle_args("v3", vqgan=other), "gumbel_f8.ckpt", "32 codes", "64 image codes")
        self.assert_fails(rudalle_args("v3", vqgan=os.path.join(RD, "v3.bin")), "v3.bin",
                          "'decoder.conv_in.weight'", "not a taming VQGAN checkpoint")

    def test_tokenizer_file_errors_name_the_file(self):
        bad = os.path.join(self.tmp.name, "bpe.model")
        with open(bad, "w") as f:
            f.write("2 0\n9601 4\n")
        args = rudalle_args("v3")
        args[args.index("--bpe") + 1] = bad
        self.assert_fails(args, bad)


if __name__ == "__main__":
    unittest.main()
