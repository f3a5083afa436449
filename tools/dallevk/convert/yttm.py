"""YouTokenToMe BPE (bpe.model) as ruDALL-E uses it: reader, encoder, GGUF keys (docs/tokenizer.md §7-§8).

bpe.model is text: "n_chars n_rules", n_chars lines "codepoint id", n_rules lines "x y z" (merge rule r
joins ids x and y into id z; rank = line order), then "unk_id pad_id bos_id eos_id" (-1 = none).

Encoding (YouTokenToMe's BaseEncoder::encode_sentence without dropout):
- Spaces are U+0009..U+000D, U+0020 and U+2581 ("▁"). Trailing spaces are dropped; each maximal run of
  non-space characters is a word.
- A word starts as the id of "▁" followed by the id of each character; a maximal run of characters
  absent from the model is one placeholder that no rule joins and that comes out as unk_id.
- Merging: bpe_queue.merge_word (lowest rank first, then leftmost).
ruDALL-E first applies Python's str.lower() and str.strip() to the prompt (encode_prompt) and wraps
the ids as [bos] + ids + [eos] (the tokenizer.prefix_ids / suffix_ids keys).
"""
from . import ConvertError
from .bpe_queue import merge_word

SPACE = 0x2581
MODEL = "yttm-bpe"


def is_space(cp):
    """YouTokenToMe's is_space: C isspace() below 256, and U+2581."""
    return cp in (9, 10, 11, 12, 13, 32, SPACE)


class YttmBpe:
    """A loaded bpe.model. chars: {codepoint: id}; rules: [(x, y, z)] by rank; unk/pad/bos/eos ids."""

    def __init__(self, chars, rules, unk_id, pad_id=-1, bos_id=-1, eos_id=-1, name="bpe.model"):
        self.chars, self.rules, self.name = dict(chars), [tuple(r) for r in rules], name
        self.unk_id, self.pad_id, self.bos_id, self.eos_id = unk_id, pad_id, bos_id, eos_id
        self._check()
        self.rank = {(x, y): (r, z) for r, (x, y, z) in enumerate(self.rules)}

    def _fail(self, what):
        raise ConvertError("%s: %s" % (self.name, what))

    def _check(self):
        special = [i for i in (self.unk_id, self.pad_id, self.bos_id, self.eos_id) if i != -1]
        if self.unk_id < 0:
            self._fail("no unk id (the 4 special ids on the last line start with unk)")
        if len(set(special)) != len(special) or min(special) < 0:
            self._fail("special ids %s must be distinct and >= 0 (or -1 for none)" % special)
        if SPACE not in self.chars:
            self._fail("the character U+2581 (word start) is missing")
        known = set(special)
        for cp, i in self.chars.items():
            if not (0 <= cp <= 0x10FFFF) or 0xD800 <= cp <= 0xDFFF:
                self._fail("character %d is not a Unicode scalar value" % cp)
            if i < 0 or i in known:
                self._fail("character U+%04X has id %d, negative or already used" % (cp, i))
            known.add(i)
        pairs = set()
        for r, (x, y, z) in enumerate(self.rules):
            if x not in known or y not in known or x in special or y in special:
                self._fail("rule %d (%d %d -> %d) joins an id that is not a character or an earlier rule's result"
                           % (r, x, y, z))
            if z < 0 or z in known:
                self._fail("rule %d (%d %d -> %d): result id negative or already used" % (r, x, y, z))
            if (x, y) in pairs:
                self._fail("rule %d (%d %d -> %d) repeats the pair of an earlier rule" % (r, x, y, z))
            pairs.add((x, y))
            known.add(z)
        self.ids = known

    def _lookup(self, a, b):
        return self.rank.get((a, b))

    @property
    def vocab_size(self):
        """YouTokenToMe's vocab_size(): characters + rules + special ids."""
        return len(self.ids)

    def encode(self, text):
        """text (str) -> ids, as yttm.BPE.encode([text], output_type=ID)[0]."""
        cps = [ord(c) for c in text]
        while cps and is_space(cps[-1]):
            cps.pop()
        out, i, n = [], 0, len(cps)
        while i < n:
            while i < n and is_space(cps[i]):
                i += 1
            word, unknown = [self.chars[SPACE]], -1
            while i < n and not is_space(cps[i]):
                cid = self.chars.get(cps[i])
                if cid is not None:
                    word.append(cid)
                elif not (word[-1] < 0 and unknown == word[-1]):  # a run of unknown characters is one placeholder
                    word.append(unknown - len(word))
                    unknown = word[-1]
                i += 1
            merged = merge_word(word, self._lookup)
            out += [self.unk_id if t < 0 else t for t in merged]
        return out

    def encode_prompt(self, text):
        """ruDALL-E's prompt ids before wrapping: encode(text.lower().strip())."""
        return self.encode(text.lower().strip())


def read_model(path):
    """Parses bpe.model at path into a YttmBpe; ConvertError naming the file and line on bad input."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read().decode("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise ConvertError("%s: cannot read a YouTokenToMe model (%s)" % (name, e))
    try:
        nums = [int(t) for t in data.split()]
    except ValueError:
        raise ConvertError("%s: not a YouTokenToMe model (non-integer field)" % name)
    if len(nums) < 2 or nums[0] < 0 or nums[1] < 0 or len(nums) != 2 + 2 * nums[0] + 3 * nums[1] + 4:
        raise ConvertError("%s: not a YouTokenToMe model (field count does not match the header)" % name)
    n, m = nums[0], nums[1]
    chars = {}
    for k in range(n):
        cp, cid = nums[2 + 2 * k], nums[3 + 2 * k]
        if cp in chars:
            raise ConvertError("%s: character U+%04X listed twice" % (name, cp))
        chars[cp] = cid
    base = 2 + 2 * n
    rules = [tuple(nums[base + 3 * r: base + 3 * r + 3]) for r in range(m)]
    unk, pad, bos, eos = nums[base + 3 * m:]
    return YttmBpe(chars, rules, unk, pad, bos, eos, name=name)


def gguf_keys(bpe_model_path, prefix_ids=None, suffix_ids=None):
    """The tokenizer.* keys for a bpe.model: {key: (Plan value type, value)} (docs/model-format.md §2).
    prefix_ids / suffix_ids default to ruDALL-E v3's [bos] and [eos]; v2 passes prefix [bos, bos]."""
    bpe = read_model(bpe_model_path)
    prefix = [bpe.bos_id] if prefix_ids is None else list(prefix_ids)
    suffix = [bpe.eos_id] if suffix_ids is None else list(suffix_ids)
    if min(prefix + suffix, default=0) < 0:
        raise ConvertError("%s: the model has no bos/eos id for the prefix/suffix" % bpe.name)
    chars = [v for cp in sorted(bpe.chars) for v in (cp, bpe.chars[cp])]
    return {
        "tokenizer.model": ("string", MODEL),
        "tokenizer.yttm.chars": ("array_uint32", chars),
        "tokenizer.yttm.merges": ("array_uint32", [v for r in bpe.rules for v in r]),
        "tokenizer.yttm.unk_id": ("uint32", bpe.unk_id),
        "tokenizer.prefix_ids": ("array_uint32", prefix),
        "tokenizer.suffix_ids": ("array_uint32", suffix),
    }


def from_keys(fields):
    """A YttmBpe from the tokenizer.yttm.* values of a file ({key: value}), for the Python reference."""
    c = list(fields["tokenizer.yttm.chars"])
    mg = list(fields["tokenizer.yttm.merges"])
    chars = {int(c[2 * k]): int(c[2 * k + 1]) for k in range(len(c) // 2)}
    rules = [(int(mg[3 * r]), int(mg[3 * r + 1]), int(mg[3 * r + 2])) for r in range(len(mg) // 3)]
    return YttmBpe(chars, rules, int(fields["tokenizer.yttm.unk_id"]), name="tokenizer.yttm")
