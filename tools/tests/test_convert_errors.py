"""tools/convert.py on bad inputs: a wrong file, a missing key, a misshaped tensor, an unexpected key, a
truncated file, a pickle naming a class the converter does not expect (refused, never run), f16
overflow; each exits 1 with a message naming the file (and the key and expected shape), and leaves no
output behind. Also: the legacy torch.save layout, ignored loss.* keys, lazy reading.
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import argparse
import collections
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import tracemalloc
import unittest

import torch

from dallevk.convert import ConvertError, taming_vqgan
from dallevk.convert import torchfile
from dallevk.convert.cli import main
from dallevk.convert.plan import Plan, write_plan
from dallevk.gguf import GGUFReader

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

DATA = os.path.join(TOOLS, "..", "tests", "data")
CKPT = os.path.join(DATA, "taming_vqgan", "vq_f16.ckpt")
DVAE = os.path.join(DATA, "openai_dvae")
MARKER = "convert-test-pickle-ran"


class Payload:
    """Unpickling this runs os.system: a restricted unpickler must refuse it without running it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, ("touch %s" % self.path,))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class CliCase(unittest.TestCase):
    """tools/convert.py's main() into a temp folder: run_cli, and assert_fails (exit 1, the message
    naming what it must, no output or temp file left)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "out.gguf")

    def tearDown(self):
        self.tmp.cleanup()

    def run_cli(self, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(list(args) + ["-o", self.out])
        return rc, err.getvalue()

    def assert_fails(self, args, *needles):
        rc, err = self.run_cli(*args)
        self.assertEqual(rc, 1, err)
        for n in needles:
            self.assertIn(n, err)
        self.assertFalse(os.path.exists(self.out), "partial output left behind")
        self.assertFalse([n for n in os.listdir(self.tmp.name) if n.startswith(".")], "temp file left behind")
        return err


class TestConvertErrors(CliCase):
    def edited_ckpt(self, edit, name="edited.ckpt", **save_kw):
        ck = torch.load(CKPT)
        sd = collections.OrderedDict((k, v.clone()) for k, v in ck["state_dict"].items())
        edit(sd)
        path = os.path.join(self.tmp.name, name)
        torch.save({"state_dict": sd}, path, **save_kw)
        return path

    def test_wrong_file(self):
        self.assert_fails(["vqgan", os.path.join(DVAE, "decoder.pkl")], "decoder.pkl", "dall_e.decoder.Decoder")
        self.assert_fails(["openai-dvae", "--decoder", CKPT], "vq_f16.ckpt", "dall_e.decoder.Decoder")
        self.assert_fails(["vqgan", os.path.join(DATA, "taming_vqgan", "vq_f16.gguf")], "vq_f16.gguf",
                          "not a PyTorch checkpoint")
        self.assert_fails(["vqgan", os.path.join(self.tmp.name, "nothing.ckpt")], "nothing.ckpt", "cannot open")

    def test_missing_key(self):
        path = self.edited_ckpt(lambda sd: sd.pop("decoder.mid.attn_1.q.weight"))
        self.assert_fails(["vqgan", path], "edited.ckpt", "'decoder.mid.attn_1.q.weight'", "[64, 64, 1, 1]")
        path = self.edited_ckpt(lambda sd: sd.pop("quantize.embedding.weight"))
        self.assert_fails(["vqgan", path], "'quantize.embedding.weight'", "[n_embed, embed_dim]")

    def test_misshaped_tensor(self):
        def edit(sd):
            sd["decoder.up.1.block.0.nin_shortcut.weight"] = torch.zeros(32, 64, 3, 3)
        self.assert_fails(["vqgan", self.edited_ckpt(edit)], "'decoder.up.1.block.0.nin_shortcut.weight'",
                          "[32, 64, 3, 3]", "expected [32, 64, 1, 1]")

    def test_unexpected_key_and_ignored_loss(self):
        def extra(sd):
            sd["decoder.up.0.block.9.conv1.bias"] = torch.zeros(3)
        self.assert_fails(["vqgan", self.edited_ckpt(extra)], "unexpected tensor 'decoder.up.0.block.9.conv1.bias'")

        def loss(sd):
            sd["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)
        rc, err = self.run_cli("vqgan", self.edited_ckpt(loss), "--resolution", "64")
        self.assertEqual(rc, 0, err)

    def test_truncated(self):
        data = read_bytes(CKPT)
        for cut in (10, len(data) // 3, len(data) - 100):
            path = os.path.join(self.tmp.name, "cut.ckpt")
            with open(path, "wb") as f:
                f.write(data[:cut])
            self.assert_fails(["vqgan", path], "cut.ckpt", "truncated")

    def test_truncated_legacy(self):
        path = self.edited_ckpt(lambda sd: None, "legacy.ckpt", _use_new_zipfile_serialization=False)
        data = read_bytes(path)
        for cut in (len(data) // 2, len(data) - 10):
            with open(path, "wb") as f:
                f.write(data[:cut])
            self.assert_fails(["vqgan", path], "legacy.ckpt")

    def test_unexpected_class_is_refused_not_run(self):
        marker = os.path.join(self.tmp.name, MARKER)
        path = os.path.join(self.tmp.name, "evil.pkl")
        torch.save({"state_dict": {"x": Payload(marker)}}, path)
        err = self.assert_fails(["vqgan", path], "evil.pkl", "refusing to unpickle class 'posix.system'")
        self.assertFalse(os.path.exists(marker), "the pickled call ran")
        torch.save(collections.Counter(a=1), path)
        self.assert_fails(["openai-dvae", "--decoder", path], "evil.pkl", "'collections.Counter'")
        self.assertIn("evil.pkl", err)

    def test_f16_overflow(self):
        def edit(sd):
            sd["decoder.conv_in.weight"] = sd["decoder.conv_in.weight"].float() * 1e6
        path = self.edited_ckpt(edit)
        self.assert_fails(["vqgan", path], "edited.ckpt: tensor 'decoder.conv_in.weight'", "'vqgan.dec.conv_in.weight'",
                          "overflow f16", "--type f32")
        rc, err = self.run_cli("vqgan", path, "--type", "f32", "--resolution", "64")
        self.assertEqual(rc, 0, err)

    def test_failure_keeps_existing_output(self):
        with open(self.out, "wb") as f:
            f.write(b"old")
        rc, _ = self.run_cli("vqgan", os.path.join(DVAE, "decoder.pkl"))
        self.assertEqual(rc, 1)
        self.assertEqual(read_bytes(self.out), b"old")
        self.assertEqual(sorted(os.listdir(self.tmp.name)), ["out.gguf"])

    def test_legacy_layout_converts_the_same(self):
        legacy = self.edited_ckpt(lambda sd: None, "legacy.ckpt", _use_new_zipfile_serialization=False)
        rc, err = self.run_cli("vqgan", legacy, "--resolution", "64")
        self.assertEqual(rc, 0, err)
        a = GGUFReader(self.out)
        os.unlink(self.out)
        rc, err = self.run_cli("vqgan", CKPT, "--resolution", "64")
        self.assertEqual(rc, 0, err)
        b = GGUFReader(self.out)
        self.assertEqual(list(a.tensors), list(b.tensors))
        for n in a.tensors:
            self.assertTrue((a.tensors[n].data == b.tensors[n].data).all(), n)

    def test_tensors_are_read_lazily(self):
        """Planning reads no tensor data; writing reads each storage only while writing its tensor."""
        reads = []
        orig = torchfile.Checkpoint._read_storage

        def counting(self, key, nbytes):
            reads.append(key)
            return orig(self, key, nbytes)
        with contextlib.ExitStack() as stack:
            torchfile.Checkpoint._read_storage = counting
            stack.callback(setattr, torchfile.Checkpoint, "_read_storage", orig)
            p = taming_vqgan.plan(stack, CKPT, resolution=64)
            self.assertEqual(reads, [])
            p.tensors[0][2]()
            self.assertEqual(len(reads), 1)

    def test_lightning_metadata_is_inert(self):
        """Training metadata of a Lightning .ckpt (hyperparameters, optimizer state, callbacks) loads as
        inert data; the state_dict converts."""
        ck = torch.load(CKPT)
        ck["hyper_parameters"] = {"args": argparse.Namespace(lr=1e-4), "dtype": torch.float32, "cls": dict}
        ck["optimizer_states"] = [{"state": {0: {"exp_avg": torch.ones(3)}}, "param_groups": [{"lr": 1e-4}]}]
        ck["callbacks"] = collections.defaultdict(list, a=[1])
        path = os.path.join(self.tmp.name, "lightning.ckpt")
        torch.save(ck, path)
        rc, err = self.run_cli("vqgan", path, "--resolution", "64")
        self.assertEqual(rc, 0, err)
        os.unlink(self.out)
        ck["callbacks"] = collections.Counter(a=1)
        torch.save(ck, path)
        self.assert_fails(["vqgan", path], "lightning.ckpt", "'collections.Counter'")

    def test_streaming_memory(self):
        """Converting 16 tensors of 1 MiB peaks at a few tensors' worth of memory, not the file's 16 MiB."""
        n, mib = 16, 1 << 20
        path = os.path.join(self.tmp.name, "big.pt")
        g = torch.Generator().manual_seed(3)
        torch.save({"t%d" % i: torch.randn(mib // 4, generator=g).reshape(256, -1) for i in range(n)}, path)
        tracemalloc.start()
        try:
            with contextlib.ExitStack() as stack:
                ck = stack.enter_context(torchfile.open_checkpoint(path))
                p = Plan()
                for name, t in ck.root.items():
                    p.tensor(name, t.shape, t.numpy)
                write_plan(self.out, p, "f16")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(len(GGUFReader(self.out).tensors), n)
        self.assertLess(peak, 5 * mib, "peak %.1f MiB" % (peak / mib))

    def test_cli_exit_status(self):
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "convert.py"), "vqgan",
                            os.path.join(DVAE, "encoder.pkl"), "-o", self.out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("encoder.pkl", r.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_convert_error_is_not_a_crash(self):
        with self.assertRaises(ConvertError):
            torchfile.open_checkpoint(os.path.join(DVAE, "decoder.pkl"), allow=())


if __name__ == "__main__":
    unittest.main()
