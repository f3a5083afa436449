#!/usr/bin/env python3
"""Goldens of the yttm-bpe, char-bpe and bart-bpe tokenizers (tests/data/tokenizer/yttm, charbpe, bart;
commands and upstream commits: tests/data/README.md).

  yttm --driver BIN    BIN = tools/yttm_golden_driver.cpp built against YouTokenToMe's C++ core. Writes
                       goldens.txt: each prompt of PROMPTS (hex) and the ids YouTokenToMe gives for
                       prompt.lower().strip() (ruDALL-E's normalisation), and tokenizer.gguf (the keys
                       of tools/dallevk/convert/yttm.gguf_keys for bpe.model).
  charbpe              Writes vocab.json and merges.txt (a small vocabulary trained below on
                       CHARBPE_CORPUS, plus two merges that share a result), goldens.txt from the Python
                       reference (tools/dallevk/convert/charbpe.py; the HF crate does not build offline
                       here) and tokenizer.gguf.
  bart                 Writes tokenizer.gguf (the tokenizer.* keys of tools/dallevk/convert/bart_bpe.py for
                       tests/data/min_dalle's vocab.json and merges.txt with the installed `emoji` package's
                       table, and dalle.text_pad_id 1) and goldens.txt: the Python port's ids (it matches
                       min-dalle's TextTokenizer: tools/tests/test_min_dalle.py) without <s> and </s>.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dallevk.convert import bart_bpe, charbpe, yttm  # noqa: E402
from dallevk.convert.plan import Plan, write_plan  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "tokenizer")
LONG = ("Красивый пейзаж с горами и рекой на закате, масло, холст. " * 40) + ("A painting of a red heart. " * 20)
PROMPTS = [
    "", " ", "   \t\n ", "a", "A", "Hello, World!", "HeLLo   wOrLd", "красивый пейзаж", "КРАСИВЫЙ ПЕЙЗАЖ С ГОРАМИ",
    "Ёлка и ЁЖИК, ещё мёд", "Рыжая лиса!!!", "123 4567 89", "2021 год", "e-mail: test@example.com #tag 50%",
    "...!!!???", "«очень вкусно» — сказал он", "猫和狗", "猫 狗 龍", "😀 smile 😀😀", "cat🐱dog", "👨\u200d👩\u200d👧 семья",
    "a  b   c", " leading", "trailing   ", "tab\tsep\nnewline", "\x0bvt\x0cff\rcr\x0b", "nbsp\u00a0here",
    "\u00a0edge\u00a0",
    "word\u2581word", "\u2581\u2581start", "\u3000wide\u3000space\u3000", "\x1cfs\x1f", "ΣΟΦΟΣ ΟΔΟΣ", "ΌΔΟΣ.", "σοφος",
    "ΣΑ\u0301Σ", "Σ.Σ", "İstanbul", "ǅemal", "ﬁne ﬂow", "Straße", "cafe\u0301 café", "ΣΣ", "Σ", "aΣb", "\x00nul",
    "x\ufffdy", "[PAD] pad [UNK]", "the [PAD][PAD]cat[UNK]", "[pad]", "Ⅻ ⓐ ＡＢＣ", "a\u00adb", "\u0085nel\u0085",
    "кот" * 200, LONG,
]
CHARBPE_CORPUS = """a painting of a red heart, noto style. the quick brown fox jumps over the lazy dog!
an astronaut riding a horse in photorealistic style; 4k, trending on artstation.
cats and dogs: 123 456 7890 (parentheses) [brackets] {braces} 'quotes' "double".
a café in paris at night, oil on canvas. 猫 和 狗. a smiling cat with a red hat and a cat's toy.
"""


def write_keys(path, keys):
    plan = Plan()
    for k, (vtype, value) in keys.items():
        plan.key(vtype, k, value)
    write_plan(path, plan, name="tokenizer fixture")


def write_goldens(path, rows):
    with open(path, "w", encoding="ascii") as f:
        f.write("# hex(UTF-8 prompt) <TAB> ids; made by tools/make_tokenizer_goldens.py\n")
        for text, ids in rows:
            f.write("%s\t%s\n" % (text.encode("utf-8").hex(), " ".join(map(str, ids))))


def make_yttm(driver):
    d = os.path.join(DATA, "yttm")
    model = os.path.join(d, "bpe.model")
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        for p in PROMPTS:
            f.write(p.lower().strip().encode("utf-8").hex() + "\n")
    try:
        out = subprocess.run([driver, "encode", model, f.name], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    ids = [[int(x) for x in line.split("\t")[1].split()] for line in out.rstrip("\n").split("\n")]
    assert len(ids) == len(PROMPTS)
    write_goldens(os.path.join(d, "goldens.txt"), zip(PROMPTS, ids))
    write_keys(os.path.join(d, "tokenizer.gguf"), yttm.gguf_keys(model))


def train_charbpe(corpus, n_merges):
    """A tiny CharBPE vocabulary: characters (and their </w> forms) of the corpus words, then the most
    frequent adjacent pair (ties: the smallest pair of strings) n_merges times."""
    words = Counter(charbpe.pre_tokenize(charbpe.normalize(corpus)))
    seqs = {w: list(w[:-1]) + [w[-1] + charbpe.SUFFIX] for w in words}
    vocab = ["[PAD]", "[UNK]"] + sorted({s for seq in seqs.values() for s in seq})
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, seq in seqs.items():
            for a, b in zip(seq, seq[1:]):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        if best[0] + best[1] not in vocab:
            vocab.append(best[0] + best[1])
        for w, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    return vocab, merges


def make_charbpe():
    d = os.path.join(DATA, "charbpe")
    vocab, merges = train_charbpe(CHARBPE_CORPUS, 120)
    for a, b in (("x", "yz</w>"), ("xy", "z</w>")):  # two merges with one result: the stale-entry rule
        for t in (a, b, a + b):
            if t not in vocab:
                vocab.append(t)
        merges.append((a, b))
    for t in ("y", "z</w>", "yz</w>"):
        if t not in vocab:
            vocab.append(t)
    merges.insert(0, ("y", "z</w>"))
    merges.insert(0, ("x", "y"))
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False, indent=0)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2 - fixture of tools/make_tokenizer_goldens.py\n")
        f.writelines("%s %s\n" % m for m in merges)
    v, m = os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt")
    bpe = charbpe.read_files(v, m)
    prompts = PROMPTS + ["xyz", "xyzxyz", "XYZ, xyz!", "Café au lait", "a cat's hat"]
    write_goldens(os.path.join(d, "goldens.txt"), [(p, bpe.encode(p)) for p in prompts])
    write_keys(os.path.join(d, "tokenizer.gguf"), charbpe.gguf_keys(v, m))


BART_PROMPTS = [
    "\U0001F431", "a \U0001F431\U0001F436 b",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family", "\U0001F468\u200d\U0001F469 partial zwj",
    "\U0001F44D\U0001F3FF\U0001F44D\U0001F3FB", "\U0001F3F3\ufe0f\u200d\U0001F308",
    "\U0001F1FA\U0001F1F8\U0001F1EC\U0001F1E7\U0001F1FA", "\U0001F1FA lone indicator",
    "2\ufe0f\u20e3 3\u20e3 *\ufe0f\u20e3",
    "\u24c2\ufe0f \u24c2 circled", "\U0001F3E7 atm", "\u26d1\ufe0f helmet", "\U0001F1E6\U0001F1FD \U0001F1E8\U0001F1EE",
    "\ufe0f\ufe0e\ufe0f", "\u2764\ufe0e\ufe0f", "x\u200dy", "\u0130STANBUL \u0130\u0130", "\u212a\u212a 5\u212a",
    "\u212b \u00c5", "\u03a3\u039f\u03a6\u039f\u03a3 \u03a3", "\u0120\u0120 \u0120a", "a\x00b \x7f", "\U0001F600" * 40,
    "supercalifragilisticexpialidocious" * 80, "ab" * 1500, "a" * 3000, "\U0001F431cat" * 300,
]


def make_bart():
    d = os.path.join(DATA, "bart")
    os.makedirs(d, exist_ok=True)
    src = os.path.join(DATA, "..", "min_dalle")
    emoji, source = bart_bpe.emoji_table()
    bpe = bart_bpe.BartBPE.from_files(os.path.join(src, "vocab.json"), os.path.join(src, "merges.txt"), emoji)
    write_goldens(os.path.join(d, "goldens.txt"), [(p, bpe.encode(p)[1:-1]) for p in PROMPTS + BART_PROMPTS])
    keys = {k: (vtype, value) for vtype, k, value in bpe.gguf_keys(source)}
    keys["dalle.text_pad_id"] = ("uint32", 1)
    write_keys(os.path.join(d, "tokenizer.gguf"), keys)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    y = sub.add_parser("yttm")
    y.add_argument("--driver", required=True)
    sub.add_parser("charbpe")
    sub.add_parser("bart")
    a = ap.parse_args()
    {"yttm": lambda: make_yttm(a.driver), "charbpe": make_charbpe, "bart": make_bart}[a.what]()


if __name__ == "__main__":
    main()
