"""Tests for tools/dallevk/from_gguf.py: export -> load round trips (f32, f16, with and without the
dVAE encoder, tokenizer-only files), rejection of bad files, and a committed parity model reproducing
its golden logits (run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)."""
import os
import tempfile
import unittest

import numpy as np
import torch

from dallevk import export
from dallevk.bpe import BPE
from dallevk.dvae import Decoder, DvaeConfig, Encoder
from dallevk.from_gguf import load_model
from dallevk.gguf import GGUFReader, GGUFWriter
from dallevk.transformer import Dalle, DalleConfig, pad_text

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PARITY = os.path.join(TOOLS, "..", "tests", "data", "parity")


def _randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def _models():
    cfg = DalleConfig(text_len=6, text_vocab=280, grid=4, image_vocab=24, d_model=32, n_heads=4, n_layers=3,
                      d_ff=48, attn_types=["row", "col", "conv"], conv_kernel=3, conv_wrap=True, ln_eps=1e-6)
    vcfg = DvaeConfig(group_count=2, n_hid=8, n_blk_per_group=2, vocab_size=24, n_init=12, image_size=8)
    merges = [(104, 101), (256, 108), (257, 108), (32, 97)]  # "he", "hel", "hell", " a"
    return (_randomize(Dalle(cfg), 1), _randomize(Decoder(vcfg), 2), _randomize(Encoder(vcfg), 3), merges)


class TestRoundTrip(unittest.TestCase):
    def export(self, f16, encoder=True, parts=("dalle", "dvae", "bpe")):
        dalle, dec, enc, merges = _models()
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.gguf")
        export.export(path,
                      dalle=(dalle.cfg.to_dict(), dalle.state_dict()) if "dalle" in parts else None,
                      dvae=(dec.cfg.to_dict(), dec.state_dict(), enc.state_dict() if encoder else None)
                      if "dvae" in parts else None,
                      merges=merges if "bpe" in parts else None, f16=f16, encoder=encoder)
        self.addCleanup(lambda: (os.unlink(path), os.rmdir(d)))
        return path, (dalle, dec, enc, merges)

    def check_state(self, got, want, f16):
        gsd, wsd = got.state_dict(), want.state_dict()
        self.assertEqual(sorted(gsd), sorted(wsd))
        for k, w in wsd.items():
            if k == "text_logits.w":
                self.assertEqual(gsd[k].abs().max().item(), 0.0)  # not exported
                continue
            if f16 and w.dim() >= 2:
                w = w.half().float()
            self.assertTrue(torch.equal(gsd[k], w), k)

    def test_f32_exact(self):
        path, (dalle, dec, enc, merges) = self.export(f16=False)
        m = load_model(path)
        want_cfg = dalle.cfg.to_dict()
        want_cfg["ln_eps"] = float(np.float32(want_cfg["ln_eps"]))  # stored as float32, used as such
        self.assertEqual(m.dalle.cfg, DalleConfig(**want_cfg))
        self.assertEqual(m.dvae_cfg, dec.cfg)
        self.assertFalse(m.f16)
        self.check_state(m.dalle, dalle, False)
        self.check_state(m.decoder, dec, False)
        self.check_state(m.encoder, enc, False)
        self.assertEqual(m.bpe.merges, merges)
        self.assertEqual(m.bpe.encode("Hello a hell"), BPE(merges).encode("Hello a hell"))
        # same outputs, not only the same numbers: the transposed decoder input is back in place
        codes = torch.randint(0, 24, (2, 4, 4))
        with torch.no_grad():
            self.assertTrue(torch.equal(m.decoder.decode_codes(codes), dec.decode_codes(codes)))
            text = pad_text([1, 2, 3], 6, 280).view(1, -1)
            self.assertTrue(torch.equal(m.dalle.prefill(text)[0], dalle.eval().prefill(text)[0]))

    def test_options_round_trip(self):
        """Each architecture option survives export -> load: keys, the optional tensors, the outputs; an
        unknown option value is refused naming the key."""
        opts = [dict(image_start=False, norm="sandwich", gelu="tanh", final_norms=2, attn_out_clamp=3.5,
                     mask_image0=5),
                dict(image_start=False, image_pos="linear")]
        for o in opts:
            cfg = DalleConfig(text_len=6, text_vocab=280, grid=4, image_vocab=24, d_model=32, n_heads=4, n_layers=2,
                              d_ff=48, attn_types=["row", "conv"], conv_kernel=3, ln_eps=0.5 ** 16, **o)
            dalle = _randomize(Dalle(cfg), 4)
            d = tempfile.mkdtemp()
            path = os.path.join(d, "m.gguf")
            export.export(path, dalle=(cfg.to_dict(), dalle.state_dict()))
            m = load_model(path)
            self.assertEqual(m.dalle.cfg, cfg)
            self.check_state(m.dalle, dalle, False)
            names = set(m.reader.tensors)
            self.assertEqual("blk.1.mlp.post_ln.w" in names, o.get("norm") == "sandwich")
            self.assertEqual("image_pos_emb" in names, o.get("image_pos") == "linear")
            self.assertNotIn("image_start", names)
            text = pad_text([1, 2, 3], 6, 280).view(1, -1)
            with torch.no_grad():
                self.assertTrue(torch.equal(m.dalle.prefill(text)[0], dalle.eval().prefill(text)[0]))
            os.unlink(path)
            os.rmdir(d)
        with self.assertRaises(SystemExit) as e:
            export.export(os.path.join(tempfile.gettempdir(), "never.gguf"),
                          dalle=(dict(cfg.to_dict(), gelu="relu"), dalle.state_dict()))
        self.assertIn("dalle.gelu", str(e.exception))

    def test_f16_rounded(self):
        path, (dalle, dec, enc, _) = self.export(f16=True)
        m = load_model(path, dtype=torch.float64)
        self.assertTrue(m.f16)
        self.assertEqual(m.dalle.text_emb.dtype, torch.float64)
        self.check_state(m.dalle.float(), dalle, True)
        self.check_state(m.decoder.float(), dec, True)
        self.check_state(m.encoder.float(), enc, True)

    def test_sections_optional(self):
        path, _ = self.export(f16=False, encoder=False)
        m = load_model(path)
        self.assertIsNotNone(m.decoder)
        self.assertIsNone(m.encoder)
        path, (_, _, _, merges) = self.export(f16=False, parts=("bpe",))
        m = load_model(path)
        self.assertIsNone(m.dalle)
        self.assertIsNone(m.decoder)
        self.assertEqual(m.bpe.merges, merges)

    def rewrite(self, path, drop=None, extra=None, reshape=None):
        """Copies the file at path with one tensor dropped, added or reshaped; returns the bytes."""
        r = GGUFReader(path)
        w = GGUFWriter()
        for k, f in r.fields.items():
            if f.type == 9:
                w.add_array(k, f.value, f.elem_type)
            else:
                w.add_scalar(k, f.value, f.type)
        for name, t in r.tensors.items():
            if name == drop:
                continue
            data = np.array(t.data, np.float32)
            w.add_tensor(name, data.reshape(-1) if name == reshape else data, "f32")
        if extra:
            w.add_tensor(extra, np.zeros((2, 2), np.float32))
        return w.to_bytes()

    def test_bad_files(self):
        path, _ = self.export(f16=False)
        for kw, msg in ((dict(drop="blk.1.attn.qkv.w"), "missing"), (dict(extra="blk.9.bogus"), "no table names"),
                        (dict(reshape="dvae.dec.blocks.input.w"), "has shape")):
            with self.assertRaisesRegex(ValueError, msg):
                load_model(data=self.rewrite(path, **kw))


class TestCommittedParityModel(unittest.TestCase):
    def test_golden_logits(self):
        """The committed f16 parity model, loaded in float64, reproduces the goldens of
        tools/make_goldens.py (computed in float64 from the same f16-rounded weights)."""
        name = "g7-paper-schedule-f16"
        m = load_model(os.path.join(PARITY, name + ".gguf"), dtype=torch.float64)
        g = GGUFReader(os.path.join(PARITY, name + "-golden.gguf"))
        text = torch.tensor(g.tensors["text_ids"].data, dtype=torch.float64).long().view(1, -1)
        want = torch.tensor(np.array(g.tensors["logits"].data), dtype=torch.float64)
        codes = torch.tensor(g.tensors["codes"].data, dtype=torch.float64).long()
        with torch.no_grad():
            lg, cache = m.dalle.prefill(text)
            rows = [lg[0]] + [m.dalle.decode_step(cache, codes[s].view(1))[0] for s in range(len(codes))]
            got = torch.stack(rows)
            dc = torch.tensor(g.tensors["dvae_codes"].data, dtype=torch.float64).long()
            from dallevk.dvae import decode_pixels
            px = decode_pixels(m.decoder.decode_codes(dc))
        want_px = torch.tensor(np.array(g.tensors["pixels"].data), dtype=torch.float64)
        self.assertLess(((got - want).norm() / want.norm()).item(), 1e-6)  # goldens are stored as f32
        self.assertLess(((px - want_px).norm() / want_px.norm()).item(), 1e-6)


if __name__ == "__main__":
    unittest.main()


class TestGuidance(unittest.TestCase):
    """dalle.cond_scale round trip and the classifier-free guidance of Dalle.generate."""

    def test_cond_scale_round_trip(self):
        dalle, dec, enc, merges = _models()
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.gguf")
        self.addCleanup(lambda: (os.unlink(path), os.rmdir(d)))
        export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()), merges=merges, cond_scale=3.5)
        self.assertEqual(load_model(path).cond_scale, 3.5)
        export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()), merges=merges)
        self.assertEqual(load_model(path).cond_scale, 1.0)
        with self.assertRaises(SystemExit):
            export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()), cond_scale=0.0)

    def test_sampling_defaults_round_trip(self):
        """dalle.temperature / dalle.top_p: written when given, 1 when absent, out-of-range values refused."""
        dalle, dec, enc, merges = _models()
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.gguf")
        self.addCleanup(lambda: (os.path.exists(path) and os.unlink(path), os.rmdir(d)))
        export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()), merges=merges,
                      temperature=0.75, top_p=0.625)
        m = load_model(path)
        self.assertEqual((m.temperature, m.top_p, m.cond_scale), (0.75, 0.625, 1.0))
        export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()), merges=merges)
        m = load_model(path)
        self.assertEqual((m.temperature, m.top_p), (1.0, 1.0))
        for kw in ({"top_p": 1.5}, {"top_p": 0.0}, {"temperature": -1.0}):
            with self.assertRaises(SystemExit):
                export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()), **kw)
        with self.assertRaisesRegex(SystemExit, "need the transformer"):
            export.export(path, merges=merges, top_p=0.5)

    def test_decoding_round_trip(self):
        """dalle.decoding / beam_width / beam_sampled_rows: written when given, sampling when absent, out-of-range
        values refused (width 1..image_vocab, rows 0..grid-1)."""
        dalle, dec, enc, merges = _models()
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.gguf")
        self.addCleanup(lambda: (os.path.exists(path) and os.unlink(path), os.rmdir(d)))
        cfg = dalle.cfg.to_dict()
        export.export(path, dalle=(cfg, dalle.state_dict()), merges=merges, decoding="beam", beam_width=3,
                      beam_sampled_rows=1)
        m = load_model(path)
        self.assertEqual((m.decoding, m.beam_width, m.beam_sampled_rows), ("beam", 3, 1))
        export.export(path, dalle=(cfg, dalle.state_dict()), merges=merges)
        m = load_model(path)
        self.assertEqual((m.decoding, m.beam_width, m.beam_sampled_rows), ("sample", 0, 0))
        for kw in ({"decoding": "greedy"}, {"beam_width": 0}, {"beam_width": cfg["image_vocab"] + 1},
                   {"beam_sampled_rows": cfg["grid"]}):
            with self.assertRaises(SystemExit, msg=str(kw)):
                export.export(path, dalle=(cfg, dalle.state_dict()), **kw)

    @torch.no_grad()
    def test_guided_first_step(self):
        """The first guided draw comes from null + s * (cond - null) of the two prefills; s = 1 is plain."""
        from dallevk.transformer import guide_logits
        dalle = _models()[0].eval()
        cfg = dalle.cfg
        text = pad_text([5, 9, 2], cfg.text_len, cfg.text_vocab)
        null = pad_text([], cfg.text_len, cfg.text_vocab)
        cond, _ = dalle.prefill(text.view(1, -1))
        unc, _ = dalle.prefill(null.view(1, -1))
        g = guide_logits(torch.cat([cond, unc]), 4.0)
        self.assertTrue(torch.allclose(g, unc + 4.0 * (cond - unc)))
        self.assertFalse(torch.allclose(g, cond))
        # s = 1 samples exactly like the unguided path (same generator stream, same logits)
        a = dalle.generate(text, n=2, seed=3, cond_scale=1.0)
        b = dalle.generate(text, n=2, seed=3)
        self.assertTrue(torch.equal(a, b))
        # guided sampling runs and gives codes in range
        c = dalle.generate(text, n=2, seed=3, cond_scale=3.0)
        self.assertEqual(tuple(c.shape), (2, cfg.grid ** 2))
        self.assertTrue(bool((c >= 0).all() and (c < cfg.image_vocab).all()))
