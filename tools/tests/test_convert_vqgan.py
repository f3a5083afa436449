"""tools/convert.py vqgan on the tiny upstream checkpoint of tests/data/taming_vqgan (made by taming's
own VQModel, tests/data/README.md), and the PyTorch reference tools/dallevk/vqgan.py loaded from the
converted file against upstream's goldens: decoder output and pixels (within 1/255), encoder h and codes.
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import contextlib
import io
import os
import tempfile
import unittest

import numpy as np
import torch

from dallevk import vqgan as V
from dallevk.convert import cli
from dallevk.convert.taming_vqgan import infer_config, to_upstream
from dallevk.gguf import GGMLType, GGUFReader

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

DATA = os.path.join(TOOLS, "..", "tests", "data", "taming_vqgan")
CKPT = os.path.join(DATA, "vq_f16.ckpt")


def convert(*args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(list(args))
    return rc, err.getvalue()


class TestTamingVqgan(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.golden = GGUFReader(os.path.join(DATA, "vq_f16.gguf")).tensors

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _convert(self, dtype, *extra):
        out = os.path.join(self.tmp.name, "vq-%s-%d.gguf" % (dtype, len(extra)))
        rc, err = convert("vqgan", CKPT, "--resolution", "64", "--type", dtype, "-o", out, *extra)
        self.assertEqual(rc, 0, err)
        return out

    def _decode_matches(self, m, tol):
        g = self.golden
        codes = torch.from_numpy(g["dec.codes"].data.astype(np.int64))
        with torch.no_grad():
            out = m.decode_codes(codes)
        np.testing.assert_allclose(out.numpy(), g["dec.output"].data, atol=tol, rtol=0)
        want = np.clip((g["dec.output"].data + 1) / 2, 0, 1)  # taming: (x + 1) / 2, clipped
        self.assertLessEqual(np.abs(m.to_pixels(out).numpy() - want).max(), 1 / 255)
        self.assertGreater(want.std(), 0.05)

    def _encode_matches(self, m, tol):
        g = self.golden
        with torch.no_grad():
            h = m.encode(torch.from_numpy(g["enc.pixels"].data.copy()))
            codes = m.codes_from_h(h)
        np.testing.assert_allclose(h.numpy(), g["enc.h"].data, atol=tol, rtol=0)
        np.testing.assert_array_equal(codes.numpy(), g["enc.codes"].data)
        self.assertGreater(len(np.unique(g["enc.codes"].data)), 4)

    def test_f32_matches_upstream(self):
        r = GGUFReader(self._convert("f32"))
        m = V.from_gguf(r)
        self.assertEqual(m.cfg, V.VqganConfig(ch=32, ch_mult=(1, 1, 2, 2, 2), num_res_blocks=2, attn_levels=(4,),
                                              resolution=64, z_channels=16, embed_dim=8, n_embed=32,
                                              norm_eps=m.cfg.norm_eps))
        self.assertAlmostEqual(m.cfg.norm_eps, 1e-6, delta=1e-12)
        self.assertEqual(r.get("general.file_type"), 0)
        self.assertEqual(r.tensors["vqgan.codebook"].shape, (32, 8))
        self._decode_matches(m, 1e-4)
        self._encode_matches(m, 1e-5)

    def test_f16_default_matches_upstream(self):
        r = GGUFReader(self._convert("f16"))
        self.assertEqual(r.tensors["vqgan.dec.conv_in.weight"].type, GGMLType.F16)
        self.assertEqual(r.tensors["vqgan.dec.conv_in.bias"].type, GGMLType.F32)
        m = V.from_gguf(r)
        self._decode_matches(m, 1e-4)  # the tiny checkpoint's values are f16 already
        self._encode_matches(m, 1e-5)

    def test_no_encoder(self):
        r = GGUFReader(self._convert("f16", "--no-encoder"))
        self.assertFalse(r.get("vqgan.has_encoder"))
        self.assertFalse([n for n in r.tensors if n.startswith(("vqgan.enc.", "vqgan.quant_conv."))])
        m = V.from_gguf(r)
        self.assertFalse(hasattr(m, "enc"))
        self._decode_matches(m, 1e-4)

    def test_gumbel_f8_matches_rudalle(self):
        """ruDALL-E's Sber VQGAN layout (Gumbel quantizer, f8), goldens from rudalle's VQGanGumbelVAE."""
        out = os.path.join(self.tmp.name, "gumbel.gguf")
        rc, err = convert("vqgan", os.path.join(DATA, "gumbel_f8.ckpt"), "--resolution", "32", "--type", "f32",
                          "-o", out)
        self.assertEqual(rc, 0, err)
        m = V.from_gguf(GGUFReader(out))
        self.assertEqual((m.cfg.quantizer, m.cfg.ch_mult, m.cfg.attn_levels, m.cfg.grid),
                         ("gumbel", (1, 1, 2, 2), (3,), 4))
        g = GGUFReader(os.path.join(DATA, "gumbel_f8.gguf")).tensors
        with torch.no_grad():
            output = m.decode_codes(torch.from_numpy(g["dec.codes"].data.astype(np.int64)))
            h = m.encode(torch.from_numpy(g["enc.pixels"].data.copy()))
            logits = m.gumbel_proj(h)
        np.testing.assert_allclose(output.numpy(), g["dec.output"].data, atol=1e-4, rtol=0)
        self.assertLessEqual(np.abs(m.to_pixels(output).numpy() - g["dec.pixels"].data).max(), 1 / 255)
        self.assertGreater(g["dec.pixels"].data.std(), 0.05)
        np.testing.assert_allclose(logits.numpy(), g["enc.logits"].data, atol=1e-4, rtol=0)
        np.testing.assert_array_equal(m.codes_from_h(h).numpy(), g["enc.codes"].data)
        self.assertGreater(len(np.unique(g["enc.codes"].data)), 4)

    def test_full_size_layouts(self):
        """minDALL-E's / taming's f16 16384 and ruDALL-E's Sber f8 VQGAN: names and shapes of
        public-checkpoints.md 3.3 (spot checks; tensor counts as upstream's state_dicts at the
        commits of tests/data/README.md), and the converter recovers each config from shapes alone."""
        class Shape:
            def __init__(self, shape):
                self.shape = shape
        f16 = V.VqganConfig()
        f8 = V.VqganConfig(ch_mult=(1, 1, 2, 4), attn_levels=(3,), n_embed=8192, quantizer="gumbel")
        for cfg, count, spots in (
                (f16, 343, {"decoder.conv_in.weight": (512, 256, 3, 3), "quantize.embedding.weight": (16384, 256),
                            "decoder.up.3.block.0.nin_shortcut.weight": (256, 512, 1, 1),
                            "decoder.up.4.attn.2.proj_out.weight": (512, 512, 1, 1),
                            "decoder.up.2.upsample.conv.weight": (256, 256, 3, 3),
                            "post_quant_conv.weight": (256, 256, 1, 1), "decoder.conv_out.weight": (3, 128, 3, 3)}),
                (f8, 301, {"quantize.embed.weight": (8192, 256), "quantize.proj.weight": (8192, 256, 1, 1),
                           "decoder.up.2.block.0.nin_shortcut.weight": (256, 512, 1, 1),
                           "decoder.up.3.attn.0.q.weight": (512, 512, 1, 1),
                           "decoder.up.1.block.0.nin_shortcut.weight": (128, 256, 1, 1)})):
            sd = {to_upstream(n, cfg.quantizer): Shape(s) for n, s in V.schema(cfg)}
            self.assertEqual(len(sd), count)
            for k, shape in spots.items():
                self.assertEqual(sd[k].shape, shape, k)
            self.assertEqual(infer_config("full.ckpt", sd), (cfg, True))
            self.assertEqual(cfg.grid, 16 if cfg is f16 else 32)

    def test_reference_f32_statistics_under_half(self):
        """GroupNorm statistics and the attention softmax stay float32 when the model runs in half."""
        m = V.from_gguf(GGUFReader(self._convert("f32")))
        x = torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(5)) * 300
        norm = m.dec.mid.attn_1.norm
        want = torch.nn.functional.group_norm(x, 32, norm.weight, norm.bias, norm.eps)
        got = norm.half()(x.half()).float()
        self.assertLess((got - want).abs().max().item(), 0.05)  # fp16 statistics of x^2 ~ 1e5 would overflow


if __name__ == "__main__":
    unittest.main()
