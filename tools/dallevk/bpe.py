"""Byte-level BPE tokenizer (trainer + encoder), specified so a C port matches id-for-id.

Specification (also in docs/tokenizer.md):

1. Normalisation, on the UTF-8 bytes of the text:
   - ASCII 'A'..'Z' (0x41..0x5A) are lowercased (+0x20); no other byte changes case;
   - every maximal run of ASCII whitespace bytes (0x20 space, 0x09 \\t, 0x0A \\n,
     0x0D \\r, 0x0B \\v, 0x0C \\f) becomes one 0x20;
   - a leading and a trailing 0x20 are then removed.
   Bytes >= 0x80 are left untouched (no Unicode tables). The C side rejects invalid
   UTF-8; this module takes a Python str, so its bytes are always valid UTF-8.
2. Pre-tokenisation into chunks, scanning left to right from position i:
   a chunk is an optional single 0x20 followed by EITHER the maximal run (>= 1 byte) of
   "word bytes" (0x30..0x39, 0x41..0x5A, 0x61..0x7A, and every byte >= 0x80) starting
   at the next byte, OR exactly one byte if the next byte is not a word byte.
   (A lone 0x20 at the end of the input would be its own chunk; normalisation makes
   that impossible.) Merges never cross chunk boundaries.
3. Ids: 0..255 are the raw bytes; id 256 + r is merge r, a pair (a, b) of earlier ids.
   Vocabulary size = 256 + n_merges. There is no unknown token.
4. Encoding a chunk: start from its bytes as ids. Repeat: among all adjacent pairs
   that are merges, take the one with the lowest rank r; replace its occurrences,
   scanning left to right without overlap, by 256 + r. Stop when no adjacent pair is
   a merge. encode(text) is the concatenation over chunks in order; no truncation,
   no special tokens (the model code truncates and pads).
5. Training (Python only; C never trains): chunks of the normalised training texts
   are counted; repeatedly the most frequent adjacent pair (counted over all chunk
   occurrences, overlapping pairs counted each time) becomes the next merge, ties
   broken by the smallest (a, b); stops at the requested number of merges or when
   the best pair occurs fewer than `min_count` times.

File format (JSON): {"format": "dalle-vk-bpe-1", "merges": [[a, b], ...]}.
"""
import json
from collections import Counter

WHITESPACE = frozenset(b" \t\n\r\v\f")
FORMAT = "dalle-vk-bpe-1"


def normalize(text):
    """str -> normalised bytes (rule 1)."""
    out = bytearray()
    in_ws = False
    for c in text.encode("utf-8"):
        if c in WHITESPACE:
            in_ws = True
            continue
        if in_ws and out:
            out.append(0x20)
        in_ws = False
        out.append(c + 0x20 if 0x41 <= c <= 0x5A else c)
    return bytes(out)


def is_word_byte(c):
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c >= 0x80


def pretokenize(data):
    """Normalised bytes -> list of chunks (bytes) (rule 2)."""
    chunks = []
    i, n = 0, len(data)
    while i < n:
        start = i
        if data[i] == 0x20:
            i += 1
        if i < n and is_word_byte(data[i]):
            while i < n and is_word_byte(data[i]):
                i += 1
        elif i < n:
            i += 1
        chunks.append(data[start:i])
    return chunks


def _merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPE:
    """merges: list of (a, b) id pairs; merge r produces id 256 + r."""

    def __init__(self, merges=()):
        self.merges = [tuple(int(x) for x in m) for m in merges]
        self.ranks = {}
        for r, m in enumerate(self.merges):  # a repeated pair keeps its first (lowest) rank, as rule 4
            self.ranks.setdefault(m, r)       # and src/model/tokenizer.c
        for r, (a, b) in enumerate(self.merges):
            assert 0 <= a < 256 + r and 0 <= b < 256 + r, "merge %d uses a later id" % r
        self._cache = {}

    @property
    def vocab_size(self):
        return 256 + len(self.merges)

    def encode_chunk(self, chunk):
        ids = self._cache.get(chunk)
        if ids is not None:
            return list(ids)
        ids = list(chunk)
        while len(ids) > 1:
            best = None
            for p in zip(ids, ids[1:]):
                r = self.ranks.get(p)
                if r is not None and (best is None or r < best):
                    best = r
            if best is None:
                break
            ids = _merge_pair(ids, self.merges[best], 256 + best)
        self._cache[chunk] = tuple(ids)
        return ids

    def encode(self, text):
        """str -> list of ids (rules 1-4)."""
        out = []
        for ch in pretokenize(normalize(text)):
            out.extend(self.encode_chunk(ch))
        return out

    def token_bytes(self):
        """List of byte strings, index = id (for the GGUF vocabulary)."""
        toks = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            toks.append(toks[a] + toks[b])
        return toks

    def decode_bytes(self, ids):
        toks = self.token_bytes()
        return b"".join(toks[i] for i in ids)

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"format": FORMAT, "merges": [list(m) for m in self.merges]}, f)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            d = json.load(f)
        assert d.get("format") == FORMAT, "not a dalle-vk BPE file"
        return cls(d["merges"])

    @classmethod
    def train(cls, texts, vocab_size, min_count=2):
        """Learn merges until vocab_size = 256 + n_merges (rule 5)."""
        words = Counter()
        for t in texts:
            words.update(pretokenize(normalize(t)))
        seqs = [[list(w), n] for w, n in words.items()]
        merges = []
        while 256 + len(merges) < vocab_size:
            pairs = Counter()
            for ids, n in seqs:
                for p in zip(ids, ids[1:]):
                    pairs[p] += n
            if not pairs:
                break
            best_n = max(pairs.values())
            if best_n < min_count:
                break
            best = min(p for p, c in pairs.items() if c == best_n)
            new_id = 256 + len(merges)
            merges.append(best)
            for s in seqs:
                if len(s[0]) > 1:
                    s[0] = _merge_pair(s[0], best, new_id)
        return cls(merges)
