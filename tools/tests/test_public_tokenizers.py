"""The yttm-bpe (ruDALL-E) and char-bpe (minDALL-E) tokenizers in Python (tools/dallevk/convert/yttm.py,
charbpe.py; rules: docs/tokenizer.md §7-§10):
- yttm: every golden of tests/data/tokenizer/yttm/goldens.txt (ids made by YouTokenToMe's own C++ code)
  from encode_prompt, and from the model rebuilt out of its GGUF keys;
- char-bpe: hand-derived cases of each pipeline step, the goldens of tests/data/tokenizer/charbpe (the
  C tokenizer is checked against the same file in tests/test_tokenizer.c), the GGUF keys round trip;
- bad bpe.model / vocab.json / merges.txt files refused with ConvertError naming the file;
- text_ids: prefix + ids + suffix, cut to T, pads, from the fixtures' GGUF keys;
- bart-bpe: the goldens of tests/data/tokenizer/bart (the C tokenizer reads the same file) from the
  Python port rebuilt out of the fixture's GGUF keys, and the fixture's emoji table is the installed
  `emoji` package's (when it is installed);
- src/model/unicode_tables.c is what tools/gen_unicode_tables.py writes with this Python.
Run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools"""
import contextlib
import io
import json
import os
import tempfile
import unicodedata
import unittest

from dallevk import text_ids
from dallevk.convert import ConvertError, bart_bpe, charbpe, yttm
from dallevk.convert.plan import Plan, write_plan
from dallevk.gguf import GGUFReader

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")


def goldens(name):
    with open(os.path.join(DATA, name, "goldens.txt"), encoding="ascii") as f:
        for line in f:
            if line.startswith("#"):
                continue
            text, ids = line.rstrip("\n").split("\t")
            yield bytes.fromhex(text).decode("utf-8"), [int(x) for x in ids.split()]


def through_gguf(keys):
    """The keys written to a GGUF file and read back: {key: value}."""
    plan = Plan()
    for k, (vtype, value) in keys.items():
        plan.key(vtype, k, value)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.gguf")
        write_plan(path, plan)
        r = GGUFReader(path)
        return {k: r.get(k) for k in keys}


class TestYttm(unittest.TestCase):
    MODEL = os.path.join(DATA, "yttm", "bpe.model")

    def test_goldens(self):
        bpe = yttm.read_model(self.MODEL)
        rebuilt = yttm.from_keys(through_gguf(yttm.gguf_keys(self.MODEL)))
        rows = list(goldens("yttm"))
        self.assertGreater(len(rows), 40)
        for text, want in rows:
            self.assertEqual(bpe.encode_prompt(text), want, repr(text[:40]))
            self.assertEqual(rebuilt.encode_prompt(text), want, repr(text[:40]))

    def test_keys(self):
        keys = yttm.gguf_keys(self.MODEL)
        self.assertEqual(keys["tokenizer.model"], ("string", "yttm-bpe"))
        self.assertEqual(keys["tokenizer.prefix_ids"], ("array_uint32", [2]))
        self.assertEqual(keys["tokenizer.suffix_ids"], ("array_uint32", [3]))
        self.assertEqual(keys["tokenizer.yttm.unk_id"], ("uint32", 1))
        v2 = yttm.gguf_keys(self.MODEL, prefix_ids=[2, 2])
        self.assertEqual(v2["tokenizer.prefix_ids"][1], [2, 2])
        cps = keys["tokenizer.yttm.chars"][1][0::2]
        self.assertEqual(cps, sorted(set(cps)))

    def test_rules(self):
        # "▁" 4, a 5, b 6; rules (4 5 -> 7), (5 6 -> 8): rule 0 wins, then rule 1's entry is stale
        bpe = yttm.YttmBpe({0x2581: 4, ord("a"): 5, ord("b"): 6}, [(4, 5, 7), (5, 6, 8)], 1, 0, 2, 3)
        self.assertEqual(bpe.encode("ab"), [7, 6])
        self.assertEqual(bpe.encode("b ab\x0b"), [4, 6, 7, 6])
        self.assertEqual(bpe.encode("xyz bxa"), [4, 1, 4, 6, 1, 5])  # one unk per run of unknown characters
        self.assertEqual(bpe.encode("a\u2581b"), [7, 4, 6])  # U+2581 separates words
        self.assertEqual(bpe.encode_prompt("  AB \u3000"), [7, 6])
        self.assertEqual(bpe.vocab_size, 9)

    def test_bad_models(self):
        good = "3 2\n97 5\n98 6\n9601 4\n4 5 7\n5 6 8\n1 0 2 3\n"
        bad = {
            "header": "4 2\n97 5\n98 6\n9601 4\n4 5 7\n5 6 8\n1 0 2 3\n",
            "twice": "3 2\n97 5\n97 6\n9601 4\n4 5 7\n5 6 8\n1 0 2 3\n",
            "U+2581": "3 2\n97 5\n98 6\n99 4\n4 5 7\n5 6 8\n1 0 2 3\n",
            "earlier rule": "3 2\n97 5\n98 6\n9601 4\n4 9 7\n5 6 8\n1 0 2 3\n",
            "repeats": "3 2\n97 5\n98 6\n9601 4\n4 5 7\n4 5 8\n1 0 2 3\n",
            "already used": "3 2\n97 5\n98 6\n9601 4\n4 5 7\n5 6 7\n1 0 2 3\n",
            "distinct": "3 2\n97 5\n98 6\n9601 4\n4 5 7\n5 6 8\n1 1 2 3\n",
            "non-integer": "3 2\n97 5\nb 6\n9601 4\n4 5 7\n5 6 8\n1 0 2 3\n",
        }
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bpe.model")
            with open(path, "w") as f:
                f.write(good)
            self.assertEqual(yttm.read_model(path).encode("ab"), [7, 6])
            for what, text in bad.items():
                with open(path, "w") as f:
                    f.write(text)
                with self.assertRaises(ConvertError, msg=what) as cm:
                    yttm.read_model(path)
                self.assertIn(path, str(cm.exception))
                self.assertIn(what, str(cm.exception))


class TestCharBpe(unittest.TestCase):
    VOCAB = os.path.join(DATA, "charbpe", "vocab.json")
    MERGES = os.path.join(DATA, "charbpe", "merges.txt")

    def small(self):
        tokens = ["[PAD]", "[UNK]", "a", "b", "c", "b</w>", "c</w>", "ab", "abc</w>", "bc</w>", "a</w>", ",</w>",
                  "猫</w>", "i", "\u0307</w>", "i\u0307</w>", "σ</w>", "é</w>"]
        merges = [("a", "b"), ("b", "c</w>"), ("ab", "c</w>"), ("a", "bc</w>"), ("i", "\u0307</w>")]
        ids = {t: i for i, t in enumerate(tokens)}
        return charbpe.CharBpe(tokens, [(ids[a], ids[b]) for a, b in merges], 1, [0, 1]), ids

    def test_steps(self):
        bpe, ids = self.small()
        enc = lambda t: [bpe.tokens[i] for i in bpe.encode(t)]  # noqa: E731
        self.assertEqual(enc("ABC"), ["abc</w>"])                    # lower-cased; (a b) first, then (ab c</w>)
        self.assertEqual(enc("abcabc"), ["ab", "c", "abc</w>"])      # suffix only on the word's last character
        self.assertEqual(enc("a,b"), ["a</w>", ",</w>", "b</w>"])    # punctuation isolated
        self.assertEqual(enc("a\u00a0b\u3000c\tb"), ["a</w>", "b</w>", "c</w>", "b</w>"])  # White_Space splits
        self.assertEqual(enc("a\x01b\u200bc"), ["abc</w>"])          # Cc and Cf dropped
        self.assertEqual(enc("a猫b"), ["a</w>", "猫</w>", "b</w>"])   # CJK ideographs stand alone
        self.assertEqual(enc("\u0130"), ["i\u0307</w>"])             # İ -> i + U+0307
        self.assertEqual(enc("Σ"), ["σ</w>"])                        # no final-sigma rule
        self.assertEqual(enc("É"), ["é</w>"])                        # no accent stripping
        self.assertEqual(enc("xy"), ["[UNK]", "[UNK]"])              # one [UNK] per unknown character
        self.assertEqual(enc("a[PAD]b [UNK]"), ["a</w>", "[PAD]", "b</w>", "[UNK]"])  # specials in the raw text
        self.assertEqual(enc("[pad]"), ["[UNK]", "[UNK]", "a", "[UNK]", "[UNK]"])  # [ p a d</w> ]
        self.assertEqual(enc(""), [])

    def test_goldens(self):
        bpe = charbpe.read_files(self.VOCAB, self.MERGES)
        rebuilt = charbpe.from_keys(through_gguf(charbpe.gguf_keys(self.VOCAB, self.MERGES)))
        rows = list(goldens("charbpe"))
        self.assertGreater(len(rows), 40)
        for text, want in rows:
            self.assertEqual(bpe.encode(text), want, repr(text[:40]))
            self.assertEqual(rebuilt.encode(text), want, repr(text[:40]))

    def test_pad_id(self):
        self.assertEqual(charbpe.pad_id(self.VOCAB, self.MERGES), 0)
        with tempfile.TemporaryDirectory() as d:
            v, m = os.path.join(d, "v.json"), os.path.join(d, "m.txt")
            with open(v, "w") as f:
                json.dump({"[UNK]": 0, "a</w>": 1}, f)
            with open(m, "w") as f:
                f.write("#version: 0.2\n")
            self.assertEqual(charbpe.pad_id(v, m), 2)  # absent: the next id, as tokenizers' AddedVocabulary
            keys = charbpe.gguf_keys(v, m)
            self.assertEqual(keys["tokenizer.charbpe.tokens"][1], ["[UNK]", "a</w>", "[PAD]"])
            self.assertEqual(keys["tokenizer.charbpe.special_ids"][1], [0, 2])

    def test_bad_files(self):
        cases = [
            ({"[UNK]": 0, "a": 2}, "", "ids must be"),
            ({"[UNK]": 0, "a": 0}, "", "ids must be"),
            ({"a": 0}, "", "unknown token"),
            ({"[UNK]": 0, "a": "1"}, "", "not a vocabulary"),
            ({"[UNK]": 0, "a": 1}, "a b\n", "merges.txt:1"),
            ({"[UNK]": 0, "a": 1}, "a  a\n", "merges.txt:1"),
            ({"[UNK]": 0, "a": 1}, "a a\n", "not in the vocabulary"),
            ({"[UNK]": 0, "a": 1, "aa": 2}, "a a\na a\n", "repeats"),
        ]
        with tempfile.TemporaryDirectory() as d:
            v, m = os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt")
            for vocab, merges, what in cases:
                with open(v, "w") as f:
                    json.dump(vocab, f)
                with open(m, "w") as f:
                    f.write(merges)
                with self.assertRaises(ConvertError, msg=what) as cm:
                    charbpe.read_files(v, m)
                self.assertIn(what, str(cm.exception))


class TestTextIds(unittest.TestCase):
    def test_wrapping(self):
        tok = text_ids.from_reader(GGUFReader(os.path.join(DATA, "yttm", "tokenizer.gguf")))
        bpe = yttm.read_model(os.path.join(DATA, "yttm", "bpe.model"))
        caption = bpe.encode_prompt("Рыжая лиса!!!")
        ids, used, dropped = tok.text_ids("Рыжая лиса!!!", 16, 420)
        self.assertEqual(ids, [2] + caption + [3] + [420 + j for j in range(len(caption) + 2, 16)])
        self.assertEqual((used, dropped), (len(caption) + 2, 0))
        ids, used, dropped = tok.text_ids("Рыжая лиса!!!", 3, 420)
        self.assertEqual((ids, used, dropped), ([2] + caption[:2], 3, len(caption) - 1))
        self.assertEqual(tok.text_ids("", 4, 420)[0], [2, 3, 422, 423])
        tok = text_ids.from_reader(GGUFReader(os.path.join(DATA, "charbpe", "tokenizer.gguf")))
        self.assertEqual(tok.text_ids("[PAD]", 3, 16384)[0], [0, 16385, 16386])


class TestBartFixture(unittest.TestCase):
    def setUp(self):
        self.reader = GGUFReader(os.path.join(DATA, "bart", "tokenizer.gguf"))

    def test_goldens(self):
        tok = bart_bpe.BartBPE.from_gguf(self.reader)
        cases = list(goldens("bart"))
        self.assertGreater(len(cases), 60)
        for text, ids in cases:
            self.assertEqual(tok.encode(text), [0] + ids + [2], repr(text[:40]))

    def test_emoji_table_current(self):
        try:
            table = bart_bpe.emoji_table()[0]
        except ConvertError:
            self.skipTest("the emoji package is not installed")
        have = zip(self.reader.get("tokenizer.emoji.sequences"), self.reader.get("tokenizer.emoji.names"))
        self.assertEqual(list(have), table)


class TestUnicodeTables(unittest.TestCase):
    @unittest.skipUnless(unicodedata.unidata_version == "14.0.0", "tables are generated from Unicode 14.0.0")
    def test_tables_current(self):
        import gen_unicode_tables
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            gen_unicode_tables.main()
        with open(os.path.join(ROOT, "src", "model", "unicode_tables.c"), encoding="utf-8") as f:
            have = f.read()
        self.assertEqual(out.getvalue().split("\n", 1)[1], have.split("\n", 1)[1])


if __name__ == "__main__":
    unittest.main()
