"""HF tokenizers' CharBPETokenizer as minDALL-E builds it: reader, encoder, GGUF keys (docs/tokenizer.md §9).

minDALL-E: CharBPETokenizer.from_file(vocab.json, merges.txt, unk_token="[UNK]", lowercase=True), then
add_special_tokens(["[PAD]"]), padding and truncation to 64 (the engine's wrapping, tokenizer.md §10).
The pipeline, as the tokenizers source defines it (the crate does not build offline here, so this is
a reading of the source, not a run of it):
1. Special tokens: "[UNK]" (added because it is in the vocabulary) and "[PAD]" are found in the raw
   text, leftmost-longest, and give their ids; the text between them goes through 2-5 piece by piece.
2. BertNormalizer(lowercase=False): drop U+0000, U+FFFD and every character of general category C*
   (Cc Cf Cn Co Cs) except \\t \\n \\r; turn White_Space characters (and \\t \\n \\r) into " "; put " "
   before and after each CJK ideograph (the ranges of CJK below). No accent stripping
   (strip_accents follows lowercase, which is False for this normalizer).
3. Lowercase(): each character's full lower-case mapping (char::to_lowercase: "İ" -> "i̇", "Σ" -> "σ").
4. BertPreTokenizer: split on White_Space (removed), then isolate every punctuation character
   (ASCII punctuation or general category P*).
5. BPE per word: each character's string, the last one with the suffix "</w>", looked up in the
   vocabulary; one [UNK] per unknown character (no fusing); merges by bpe_queue.merge_word.
"""
import json
import unicodedata

from . import ConvertError
from .bpe_queue import merge_word

MODEL = "char-bpe"
SUFFIX = "</w>"
# Unicode White_Space (Rust char::is_whitespace).
WHITE_SPACE = frozenset([0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                         0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
ASCII_PUNCT = frozenset('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')


def is_cjk(c):
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in CJK)


def normalize(text):
    """Steps 2-3 on a str."""
    out = []
    for c in text:
        cp = ord(c)
        if cp in (0, 0xFFFD) or (c not in "\t\n\r" and unicodedata.category(c)[0] == "C"):
            continue
        if cp in WHITE_SPACE:
            c = " "
        if is_cjk(c):
            out += [" ", c, " "]
        else:
            out.append(c)
    return "".join(c.lower() for c in out)  # per character: no final-sigma rule


def pre_tokenize(text):
    """Step 4: the words of a normalised str."""
    words = []
    for part in "".join(" " if ord(c) in WHITE_SPACE else c for c in text).split(" "):
        cur = ""
        for c in part:
            if c in ASCII_PUNCT or unicodedata.category(c)[0] == "P":
                if cur:
                    words.append(cur)
                words.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


class CharBpe:
    """tokens: the string of each id (0..n-1); merges: [(a, b)] ids by rank; unk_id; special_ids: the
    ids whose strings are matched in the raw text (step 1)."""

    def __init__(self, tokens, merges, unk_id, special_ids, suffix=SUFFIX, name="tokenizer"):
        self.tokens, self.suffix, self.name = list(tokens), suffix, name
        self.vocab = {}
        for i, t in enumerate(self.tokens):
            if t in self.vocab:
                self._fail("token %r has two ids (%d and %d)" % (t, self.vocab[t], i))
            self.vocab[t] = i
        self.merges = {}
        for r, (a, b) in enumerate(merges):
            if not (0 <= a < len(self.tokens) and 0 <= b < len(self.tokens)):
                self._fail("merge %d joins ids %d and %d, outside the vocabulary" % (r, a, b))
            z = self.vocab.get(self.tokens[a] + self.tokens[b])
            if z is None:
                self._fail("merge %d (%r %r): the joined token is not in the vocabulary"
                           % (r, self.tokens[a], self.tokens[b]))
            if (a, b) in self.merges:
                self._fail("merge %d (%r %r) repeats an earlier merge" % (r, self.tokens[a], self.tokens[b]))
            self.merges[(a, b)] = (r, z)
        if not 0 <= unk_id < len(self.tokens):
            self._fail("unk id %d is outside the vocabulary" % unk_id)
        self.unk_id = unk_id
        self.special = {}
        for i in special_ids:
            if not 0 <= i < len(self.tokens) or not self.tokens[i]:
                self._fail("special id %d is outside the vocabulary or empty" % i)
            self.special[self.tokens[i]] = i

    def _fail(self, what):
        raise ConvertError("%s: %s" % (self.name, what))

    def encode_word(self, word):
        ids = []
        for k, c in enumerate(word):
            ids.append(self.vocab.get(c + self.suffix if k == len(word) - 1 else c, self.unk_id))
        return merge_word(ids, self._lookup)

    def _lookup(self, a, b):
        return self.merges.get((a, b))

    def encode(self, text):
        """text (str) -> ids, as minDALL-E's tokenizer.encode(text).ids before padding and truncation."""
        out, i, start = [], 0, 0
        while i <= len(text):
            best = None
            if i < len(text):
                best = max((s for s in self.special if text.startswith(s, i)), key=len, default=None)
            if best is None and i < len(text):
                i += 1
                continue
            for word in pre_tokenize(normalize(text[start:i])):
                out += self.encode_word(word)
            if best is None:
                break
            out.append(self.special[best])
            i += len(best)
            start = i
        return out


def read_files(vocab_json_path, merges_txt_path, unk_token="[UNK]", pad_token="[PAD]"):
    """Reads vocab.json and merges.txt as minDALL-E does; [PAD] gets the next id when the vocabulary
    lacks it (tokenizers' AddedVocabulary). Returns a CharBpe; ConvertError on bad input."""
    vname, mname = str(vocab_json_path), str(merges_txt_path)
    try:
        with open(vocab_json_path, "rb") as f:
            vocab = json.loads(f.read().decode("utf-8"))
        with open(merges_txt_path, "rb") as f:
            lines = f.read().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s / %s: cannot read the CharBPE files (%s)" % (vname, mname, e))
    if not isinstance(vocab, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in vocab.values()):
        raise ConvertError("%s: not a vocabulary (an object of token -> integer id)" % vname)
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        if not 0 <= i < len(vocab) or tokens[i] is not None:
            raise ConvertError("%s: ids must be 0..%d, each once (token %r has %d)" % (vname, len(vocab) - 1, t, i))
        tokens[i] = t
    if unk_token not in vocab:
        raise ConvertError("%s: the unknown token %r is not in the vocabulary" % (vname, unk_token))
    if pad_token not in vocab:
        tokens.append(pad_token)
    if lines and lines[-1] == "":
        lines.pop()
    merges = []
    for n, line in enumerate(lines, 1):
        line = line[:-1] if line.endswith("\r") else line
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or parts[0] not in vocab or parts[1] not in vocab:
            raise ConvertError("%s:%d: a merge is two tokens of the vocabulary separated by one space, not %r"
                               % (mname, n, line))
        merges.append((vocab[parts[0]], vocab[parts[1]]))
    ids = {t: i for i, t in enumerate(tokens)}
    return CharBpe(tokens, merges, ids[unk_token], [ids[unk_token], ids[pad_token]], name=mname)


def pad_id(vocab_json_path, merges_txt_path, pad_token="[PAD]"):
    """The id of [PAD] as minDALL-E's tokenizer has it (the row its pad positions embed)."""
    bpe = read_files(vocab_json_path, merges_txt_path, pad_token=pad_token)
    return bpe.vocab[pad_token]


def gguf_keys(vocab_json_path, merges_txt_path, unk_token="[UNK]", pad_token="[PAD]"):
    """The tokenizer.* keys: {key: (Plan value type, value)} (docs/model-format.md §2). No prefix or
    suffix ids (minDALL-E adds none)."""
    bpe = read_files(vocab_json_path, merges_txt_path, unk_token, pad_token)
    return {
        "tokenizer.model": ("string", MODEL),
        "tokenizer.charbpe.tokens": ("array_string", bpe.tokens),
        "tokenizer.charbpe.merges": ("array_uint32", [v for (a, b) in bpe.merges for v in (a, b)]),
        "tokenizer.charbpe.suffix": ("string", bpe.suffix),
        "tokenizer.charbpe.unk_id": ("uint32", bpe.unk_id),
        "tokenizer.charbpe.special_ids": ("array_uint32", sorted(bpe.special.values())),
    }


def from_keys(fields):
    """A CharBpe from the tokenizer.charbpe.* values of a file ({key: value})."""
    mg = [int(v) for v in fields["tokenizer.charbpe.merges"]]
    return CharBpe(fields["tokenizer.charbpe.tokens"], list(zip(mg[0::2], mg[1::2])),
                   int(fields["tokenizer.charbpe.unk_id"]), [int(v) for v in fields["tokenizer.charbpe.special_ids"]],
                   suffix=fields["tokenizer.charbpe.suffix"], name="tokenizer.charbpe")
