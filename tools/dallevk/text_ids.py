"""Prompt -> the T text ids a model file's transformer reads, for every tokenizer.model (docs/tokenizer.md
§10; the Python side of src/model/text_tokenizer.c).

    tok = from_reader(GGUFReader(path))
    ids, used, dropped = tok.text_ids("a red heart", text_len, text_vocab)
"""
import numpy as np

from .bpe import BPE
from .convert import charbpe, yttm


class Tokenizer:
    """model: the tokenizer.model string; encode(str) -> caption ids; prefix / suffix: id lists."""

    def __init__(self, model, encode, prefix=(), suffix=()):
        self.model, self.encode, self.prefix, self.suffix = model, encode, list(prefix), list(suffix)

    def text_ids(self, prompt, text_len, text_vocab):
        """prefix + encode(prompt) + suffix, cut to text_len, then pad text_vocab + j at each later
        position j. Returns (ids, used positions, ids cut off)."""
        ids = self.prefix + list(self.encode(prompt)) + self.suffix
        used = min(len(ids), text_len)
        return ids[:used] + [text_vocab + j for j in range(used, text_len)], used, len(ids) - used


def from_reader(r):
    """The Tokenizer of a GGUFReader's tokenizer.* keys; ValueError for an unknown tokenizer.model."""
    model = r.get("tokenizer.model")
    fields = {k: r.get(k) for k in r.fields if k.startswith("tokenizer.")}
    if model == "dalle-vk-bpe-1":
        enc = BPE(np.asarray(fields["tokenizer.bpe.merges"], dtype=np.int64).reshape(-1, 2).tolist()).encode
    elif model == yttm.MODEL:
        enc = yttm.from_keys(fields).encode_prompt
    elif model == charbpe.MODEL:
        enc = charbpe.from_keys(fields).encode
    else:
        raise ValueError("unsupported tokenizer.model %r" % (model,))
    as_list = lambda k: [int(v) for v in fields.get(k, [])]  # noqa: E731
    return Tokenizer(model, enc, as_list("tokenizer.prefix_ids"), as_list("tokenizer.suffix_ids"))
