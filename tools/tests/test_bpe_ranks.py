"""A merge list that repeats a pair: the pair keeps its first (lowest) rank (bpe.py rule 4), as the C
tokenizer does. Trained merge lists never repeat a pair, but the committed parity models' synthetic
ones do (tools/make_goldens.py), and tests/test_e2e.sh found the two tokenizers disagreeing there
(run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)."""
import unittest

from dallevk.bpe import BPE


class TestRepeatedMerge(unittest.TestCase):
    def test_first_rank_wins(self):
        # merge 0 = (a, b) -> 256; merge 1 = (a, b) again -> 257 (never produced); merge 2 = (256, c)
        bpe = BPE([(97, 98), (97, 98), (256, 99)])
        self.assertEqual(bpe.ranks[(97, 98)], 0)
        self.assertEqual(bpe.encode("abc ab"), [258, 32, 256])

    def test_committed_parity_model_prompt(self):
        """The case that failed: g7's merges (97 + i % 26, 97 + 7i % 26) repeat every 26 ranks; the C
        engine tokenizes 'grinning face' with merge 13 (id 269), not its repeat 39 (id 295)."""
        merges = [(97 + i % 26, 97 + (i * 7) % 26) for i in range(320 - 256 - 5)]
        self.assertEqual(BPE(merges).encode("grinning face"),
                         [103, 114, 105, 269, 105, 110, 103, 32, 102, 97, 99, 101])


if __name__ == "__main__":
    unittest.main()
