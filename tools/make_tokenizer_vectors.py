#!/usr/bin/env python3
"""Writes tokenizer test vectors for the C tokenizer (tests/test_tokenizer.c).

Trains a small BPE (tools/dallevk/bpe.py) on a built-in caption corpus, then encodes >= 300 test
strings (mixed case, punctuation, digits, emoji, accented and CJK text, whitespace runs, empty,
over-long) with it. Output, in tests/data/tokenizer/:
  merges.txt   one merge per line: "a b" (merge r on line r)
  vectors.txt  one case per line: <hex of the UTF-8 input bytes> TAB <space-separated ids>
Deterministic: rerunning gives identical files.
Usage: /usr/bin/python3 tools/make_tokenizer_vectors.py [--out DIR]
"""
import argparse
import os
import random

from dallevk.bpe import BPE

SUBJECTS = ["red heart", "grinning face", "dog face", "cat face", "smiling face with sunglasses",
            "thumbs up", "pile of poo", "rocket", "pizza", "rainbow", "fire", "sparkles", "ghost",
            "alien monster", "robot", "unicorn", "sun with face", "crescent moon", "snowman",
            "party popper", "birthday cake", "red apple", "green apple", "banana", "hot beverage",
            "woman technologist", "man farmer", "family", "flag: japan", "face with tears of joy",
            "thinking face", "waving hand", "clapping hands", "folded hands", "hundred points"]
STYLES = ["twemoji style", "noto style"]
TONES = ["light skin tone", "medium-light skin tone", "medium skin tone", "medium-dark skin tone",
         "dark skin tone"]


def corpus():
    out = []
    for s in SUBJECTS:
        for st in STYLES:
            out.append("%s, %s" % (s, st))
            for t in TONES[:2]:
                out.append("%s: %s, %s" % (s, t, st))
    return out


def test_strings(rng):
    fixed = ["", " ", "   ", "\t\n", "a", "A", "Z", "0", "9", "!", "a red heart", "A Red HEART",
             "  leading and trailing  ", "multiple   spaces\tand\ttabs\nnewlines\r\n",
             "vertical\vtab\fformfeed", "don't stop", "e-mail: someone@example.com", "1,234.56",
             "C'est la vie: crème brûlée", "naïve café", "Ünïcödé", "ÀÉÎÕÜ àéîõü", "straße",
             "日本語のテキスト", "中文文本 测试", "한국어", "emoji 😀 grinning", "❤️ red heart",
             "👍🏽 thumbs up: medium skin tone", "👨‍👩‍👧‍👦 family", "🇯🇵 flag", "a😀b😀c",
             "mixed日本ascii", "tab\tinside", "dots...", "!!!", "?!?!", "(parens) [brackets] {braces}",
             "under_score", "hash#tag", "per%cent", "caret^", "back\\slash", "quote\"s", "`tick`",
             "x" * 300, "word " * 200, "😀" * 100, "A" * 50 + "b" * 50, "12345678901234567890",
             "red heart, twemoji style", "grinning face, noto style", "dog face",
             "\u00a0nbsp\u00a0inside", "zero\u200bwidth", "comb\u0301ining", "\U0001F600", "~tilde~",
             "thumbs up: light skin tone, noto style", "space before punctuation , ok",
             "trailing punctuation!", "ends with space ", " starts with space"]
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
                list(" ,.:;!?'-()&") + [" ", " ", "\t", "\n"] + list("éèàüößçñ") +
                ["日", "本", "中", "😀", "❤", "️", "👍", "🏽", "\u200d"])
    out = list(fixed)
    corp = corpus()
    while len(out) < 340:
        kind = rng.randrange(4)
        if kind == 0:
            out.append(rng.choice(corp))
        elif kind == 1:
            s = rng.choice(corp)
            out.append("".join(c.upper() if rng.random() < 0.3 else c for c in s))
        elif kind == 2:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))))
        else:
            out.append("  ".join(rng.sample(SUBJECTS, 3)) + rng.choice(["", "!", "  ", "\n"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "tokenizer"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    bpe = BPE.train(corpus(), vocab_size=600, min_count=2)
    with open(os.path.join(a.out, "merges.txt"), "w") as f:
        for x, y in bpe.merges:
            f.write("%d %d\n" % (x, y))
    rng = random.Random(1234)
    strings = test_strings(rng)
    with open(os.path.join(a.out, "vectors.txt"), "w") as f:
        for s in strings:
            ids = bpe.encode(s)
            f.write("%s\t%s\n" % (s.encode("utf-8").hex(), " ".join(map(str, ids))))
    print("wrote %d merges and %d vectors to %s" % (len(bpe.merges), len(strings), a.out))


if __name__ == "__main__":
    main()
