"""Tests for train_dalle's mismatched-caption draw (--contrast), on a made-up item list."""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from train_dalle import NegativeCaptions  # noqa: E402


def _item(name, style):
    tag = {"twitter": "twemoji", "google": "noto"}[style]
    return {"base": name, "style": style, "captions": ["%s, %s style" % (name, tag), name]}


class NegativeCaptionsTest(unittest.TestCase):
    def setUp(self):
        names = ["dog face", "neutral face", "grinning face", "red heart", "rocket", "floppy disk", "cat"]
        self.items = [_item(n, s) for n in names for s in ("twitter", "google")]
        self.by_base = [[2 * k, 2 * k + 1] for k in range(len(names))]
        self.neg = NegativeCaptions(self.items, self.by_base)

    def test_other_emoji_same_style(self):
        seed = 1234
        rng = random.Random(seed)
        for _ in range(500):
            i = rng.randrange(len(self.items))
            cap, usable = self.neg.draw(i, rng)
            it = self.items[i]
            self.assertTrue(usable, "seed %d" % seed)
            self.assertNotIn(cap, it["captions"], "seed %d: own caption drawn" % seed)
            self.assertTrue(cap.endswith("twemoji style" if it["style"] == "twitter" else "noto style"),
                            "seed %d: %r for a %s image" % (seed, cap, it["style"]))

    def test_hard_negatives_share_a_word(self):
        seed = 99
        rng = random.Random(seed)
        caps = [self.neg.draw(2, rng)[0] for _ in range(400)]  # item 2 = "neutral face", twemoji
        faces = sum(c.split(",")[0].endswith(" face") for c in caps)
        # half the draws come from {dog face, grinning face}, the other half uniformly from the 6 other bases
        self.assertGreater(faces / len(caps), 0.55, "seed %d" % seed)
        self.assertLess(faces / len(caps), 0.85, "seed %d" % seed)
        self.assertEqual(NegativeCaptions.name_words(self.items[0]), {"dog", "face"})

    def test_own_caption_shared_is_flagged(self):
        items = [_item("star", "twitter"), _item("star", "twitter")]
        items[1]["base"] = "star2"
        neg = NegativeCaptions(items, [[0], [1]])
        cap, usable = neg.draw(0, random.Random(0))
        self.assertEqual(cap, "star, twemoji style")
        self.assertFalse(usable)


if __name__ == "__main__":
    unittest.main()
