"""Tests for the fidelity judge (tools/dallevk/judge.py) on real emoji images committed as a fixture
(tools/tests/data/judge/: Twemoji CC-BY 4.0 and Noto Emoji Apache-2.0 images, see its README) and on hand-made
wrong ones: each real image shows its own emoji and no other, also blurred, noisy or moved by 2 px; flat colours,
noise, the image moved by 24 px or inverted do not show it
(run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)."""
import os
import unittest

import numpy as np
from PIL import Image, ImageFilter

from dallevk.judge import FEATURE_GRID, Judge, features

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "judge")
SEED = 1919


def load_fixture():
    """uint8 [N, 64, 64, 3] and labels (base emoji) of the fixture PNGs named BASE-STYLE.png."""
    names = sorted(f for f in os.listdir(FIXTURE) if f.endswith(".png"))
    images = np.stack([np.asarray(Image.open(os.path.join(FIXTURE, f)).convert("RGB")) for f in names])
    return images, [f.split("-")[0] for f in names]


class JudgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.images, cls.labels = load_fixture()
        cls.judge = Judge(cls.images, cls.labels)
        cls.bases = sorted(set(cls.labels))

    def test_fixture(self):
        self.assertGreaterEqual(len(self.bases), 4)
        self.assertEqual(self.images.shape[1:], (64, 64, 3))

    def test_features_are_box_averages(self):
        rng = np.random.default_rng(SEED)
        x = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
        f = features(x).reshape(2, FEATURE_GRID, FEATURE_GRID, 3)
        k = 64 // FEATURE_GRID
        ref = x[1, 2 * k:3 * k, 5 * k:6 * k].astype(np.float64).mean(axis=(0, 1)) / 255.0
        np.testing.assert_allclose(f[1, 2, 5], ref, rtol=0, atol=1e-6, err_msg="seed %d" % SEED)
        with self.assertRaises(ValueError):
            features(np.zeros((1, 63, 64, 3), np.uint8))

    def test_real_images_show_their_emoji_and_no_other(self):
        for x, lab in zip(self.images, self.labels):
            for b in self.bases:
                self.assertEqual(self.judge.shows(x, b), b == lab, "image of %s asked for %s" % (lab, b))

    def test_degraded_copies_still_show_their_emoji(self):
        rng = np.random.default_rng(SEED)
        for x, lab in zip(self.images, self.labels):
            blurred = np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(1.5)))
            noisy = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8)
            moved = np.full_like(x, 255)
            moved[2:, 2:] = x[:-2, :-2]
            for name, y in (("blurred", blurred), ("noisy", noisy), ("moved 2 px", moved)):
                self.assertTrue(self.judge.shows(y, lab), "%s %s (seed %d)" % (name, lab, SEED))

    def test_handmade_wrong_images_show_nothing(self):
        yy, xx = np.mgrid[0:64, 0:64]
        disc = np.full((64, 64, 3), 255, np.uint8)
        disc[(yy - 31.5) ** 2 + (xx - 31.5) ** 2 < 28 ** 2] = (255, 204, 77)
        wrong = {"white": np.full((64, 64, 3), 255, np.uint8), "black": np.zeros((64, 64, 3), np.uint8),
                 "red square": np.broadcast_to(np.array([220, 40, 40], np.uint8), (64, 64, 3)).copy(),
                 "noise": np.random.default_rng(SEED).integers(0, 256, (64, 64, 3), dtype=np.uint8)}
        for name, x in wrong.items():
            for b in self.bases:
                self.assertFalse(self.judge.shows(x, b), "%s judged to show %s" % (name, b))
        for x, lab in zip(self.images, self.labels):  # the emoji's own image moved far or inverted
            shifted = np.full_like(x, 255)
            shifted[:, 24:] = x[:, :40]
            for name, y in (("moved 24 px", shifted), ("negative", 255 - x)):
                self.assertFalse(self.judge.shows(y, lab), "%s %s still judged to show it" % (name, lab))

    def test_tie_and_unknown_label(self):
        x = self.images[0]
        twin = Judge(np.stack([x, x, self.images[-1]]), ["a", "b", "c"])  # one image shared by two emoji
        self.assertTrue(twin.shows(x, "a") and twin.shows(x, "b"))
        self.assertFalse(twin.shows(x, "c"))
        with self.assertRaises(ValueError):
            twin.shows(x, "zzz")


if __name__ == "__main__":
    unittest.main()
