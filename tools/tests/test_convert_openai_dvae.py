"""tools/convert.py openai-dvae on the tiny upstream pickles of tests/data/openai_dvae (made by
upstream's dall_e classes, tests/data/README.md): the converted file, loaded into the project's
PyTorch dVAE (tools/dallevk/dvae.py), reproduces upstream's decoder pixels and encoder logits.
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import contextlib
import io
import os
import tempfile
import unittest

import numpy as np
import torch

from dallevk.convert import cli
from dallevk.dvae import decode_pixels, map_pixels
from dallevk.from_gguf import load_model
from dallevk.gguf import GGMLType, GGUFReader

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

DATA = os.path.join(TOOLS, "..", "tests", "data", "openai_dvae")


def convert(*args):
    """Runs the CLI in-process; returns (exit status, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(list(args))
    return rc, err.getvalue()


class TestOpenAIDvae(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.golden = GGUFReader(os.path.join(DATA, "goldens.gguf")).tensors

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _convert(self, dtype, *extra):
        out = os.path.join(self.tmp.name, "dvae-%s%s.gguf" % (dtype, len(extra)))
        rc, err = convert("openai-dvae", DATA, "--image-size", "32", "--type", dtype, "-o", out, *extra)
        self.assertEqual(rc, 0, err)
        return out

    def _check_against_goldens(self, path, x_stats_tol):
        m = load_model(path, dtype=torch.float64)
        g = self.golden
        codes = torch.from_numpy(g["dec.codes"].data.astype(np.int64))
        with torch.no_grad():
            x_stats = m.decoder.decode_codes(codes)
            pixels = decode_pixels(x_stats)
            logits = m.encoder(map_pixels(torch.from_numpy(g["enc.pixels"].data.astype(np.float64))))
        np.testing.assert_allclose(x_stats.numpy(), g["dec.x_stats"].data, atol=x_stats_tol, rtol=0)
        self.assertLessEqual(np.abs(pixels.numpy() - g["dec.pixels"].data).max(), 1 / 255)
        np.testing.assert_allclose(logits.numpy(), g["enc.logits"].data, atol=10 * x_stats_tol, rtol=0)
        np.testing.assert_array_equal(logits.argmax(1).numpy(), g["enc.codes"].data)
        self.assertGreater(len(np.unique(g["enc.codes"].data)), 2)  # the golden is not degenerate
        self.assertGreater(g["dec.pixels"].data.std(), 0.01)
        return m

    def test_f32_matches_upstream(self):
        path = self._convert("f32")
        m = self._check_against_goldens(path, 1e-5)
        r = GGUFReader(path)
        self.assertEqual(r.get("general.file_type"), 0)
        self.assertEqual((r.get("dvae.group_count"), r.get("dvae.n_hid"), r.get("dvae.n_blk_per_group"),
                          r.get("dvae.vocab_size"), r.get("dvae.n_init"), r.get("dvae.image_size")),
                         (4, 4, 2, 32, 8, 32))
        self.assertTrue(r.get("dvae.has_encoder"))
        self.assertEqual(r.tensors["dvae.dec.blocks.input.w"].shape, (32, 8))  # stored transposed
        self.assertFalse(m.f16)

    def test_f16_default_matches_upstream(self):
        path = self._convert("f16")
        self._check_against_goldens(path, 2e-3)
        r = GGUFReader(path)
        self.assertEqual(r.get("general.file_type"), 1)
        self.assertEqual(r.tensors["dvae.dec.blocks.output.conv.w"].type, GGMLType.F16)
        self.assertEqual(r.tensors["dvae.dec.blocks.output.conv.b"].type, GGMLType.F32)

    def test_decoder_only(self):
        out = os.path.join(self.tmp.name, "dec-only.gguf")
        rc, err = convert("openai-dvae", "--decoder", os.path.join(DATA, "decoder.pkl"), "--image-size", "32",
                          "-o", out)
        self.assertEqual(rc, 0, err)
        r = GGUFReader(out)
        self.assertFalse(r.get("dvae.has_encoder"))
        self.assertFalse([n for n in r.tensors if n.startswith("dvae.enc.")])

    def test_swapped_files_are_refused(self):
        out = os.path.join(self.tmp.name, "swapped.gguf")
        rc, err = convert("openai-dvae", "--decoder", os.path.join(DATA, "encoder.pkl"), "-o", out)
        self.assertEqual(rc, 1)
        self.assertIn("encoder.pkl", err)
        self.assertIn("dall_e.encoder.Encoder", err)
        self.assertFalse(os.path.exists(out))

    def test_bad_image_size(self):
        out = os.path.join(self.tmp.name, "bad-size.gguf")
        rc, err = convert("openai-dvae", DATA, "--image-size", "30", "-o", out)
        self.assertEqual(rc, 1)
        self.assertIn("not a multiple of 8", err)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
