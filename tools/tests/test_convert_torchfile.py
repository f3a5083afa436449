"""tools/dallevk/convert/torchfile.py against torch.load on files torch.save writes: dtypes (f32, f16,
bf16, f64, int64, bool), non-contiguous and offset views, shared storages, both layouts (zip and
legacy), and pickled nn.Modules read as Records (state_dict names, non-persistent buffers skipped).
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import os
import tempfile
import unittest

import numpy as np
import torch

from dallevk.convert import ConvertError
from dallevk.convert.torchfile import Record, module_tensors, open_checkpoint

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        self.register_buffer("steps", torch.tensor([7]))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


NET_CLASSES = ("torch.nn.modules.container.Sequential", "torch.nn.modules.linear.Linear",
               "torch.nn.modules.activation.ReLU", __name__ + ".Net")


class TestTorchFile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        g = torch.Generator().manual_seed(11)
        base = torch.randn(6, 5, generator=g)
        self.tensors = {
            "f32": base, "f16": base.half(), "bf16": base.bfloat16(), "f64": base.double(),
            "i64": torch.randint(-9, 9, (4, 3), generator=g), "bool": base > 0,
            "transposed": base.t(), "offset_view": base[2:, 1:4], "strided": base[::2, ::3],
            "shared": base.view(30)[7:19].view(3, 4),
        }

    def tearDown(self):
        self.tmp.cleanup()

    def _save(self, obj, name, legacy=False):
        path = os.path.join(self.tmp.name, name)
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        return path

    def test_tensors_match_torch_load(self):
        for legacy in (False, True):
            path = self._save(self.tensors, "t.pt", legacy)
            want = torch.load(path)
            with open_checkpoint(path) as ck:
                self.assertEqual(sorted(ck.root), sorted(want))
                for k, t in ck.root.items():
                    w = want[k].float() if want[k].is_floating_point() else want[k]
                    got = t.numpy()
                    self.assertEqual(got.shape, tuple(w.shape), k)
                    self.assertTrue(got.flags["C_CONTIGUOUS"], k)
                    np.testing.assert_array_equal(got, w.numpy(), err_msg="%s legacy=%s" % (k, legacy))
                self.assertEqual(ck.root["bf16"].dtype, "bf16")
                self.assertEqual(ck.root["f16"].numpy().dtype, np.float32)

    def test_module_records(self):
        net = Net()
        path = self._save(net, "net.pt")
        with open_checkpoint(path, allow=NET_CLASSES) as ck:
            self.assertIsInstance(ck.root, Record)
            self.assertEqual(ck.root.cls_name, __name__ + ".Net")
            found = module_tensors(ck.root)
            self.assertEqual(list(found), list(net.state_dict()))  # "scratch" is not persistent
            for k, t in found.items():
                np.testing.assert_array_equal(t.numpy(), net.state_dict()[k].numpy())
        with self.assertRaisesRegex(ConvertError, "net.pt: refusing to unpickle class '%s.Net'" % __name__):
            open_checkpoint(path, allow=NET_CLASSES[:3])

    def test_reading_after_close_fails(self):
        path = self._save({"a": torch.ones(2)}, "a.pt")
        with open_checkpoint(path) as ck:
            t = ck.root["a"]
        with self.assertRaisesRegex(ConvertError, "read after close"):
            t.numpy()


if __name__ == "__main__":
    unittest.main()
