"""The text tokenizer of DALL-E Mini / Mega as min-dalle runs it (BART's byte-level BPE vocabulary), and
its tokenizer.* keys (docs/model-format.md §9.3).

encode(text) -> [bos] + ids + [eos], in this order of steps (min-dalle's, exactly):
  1. demojize: scan left to right; at a character that starts an emoji sequence of the table, follow
     the table's prefix tree as far as the next characters allow; if that node ends a sequence, the
     whole match becomes the emoji's English name without colons (e.g. "cat_face"), else only the first
     character is kept and the scan goes on from the next one (no backtracking). Characters U+FE0E and
     U+FE0F that are not part of a match are dropped (the `emoji` package's demojize with empty
     delimiters).
  2. Python str.lower() (full Unicode: "\u0130" -> "i\u0307", Kelvin sign -> "k"), then every non-ASCII
     character is dropped.
  3. words = the text split at each " " (other whitespace stays inside words), empty words skipped.
  4. each word: symbols ["\u0120"] + its characters; while two or more symbols: take the adjacent pair
     of lowest merge rank (the leftmost on ties), stop if no pair has a rank, else join its leftmost
     occurrence only; each symbol -> its id, or the unk id if not in the vocabulary.
Merge ranks: the lines of merges.txt without the first line (the "#version" header) and without the
last element after splitting at "\n" (empty when the file ends with a newline), each split at
whitespace into a pair; a pair listed twice has the rank of its last line. bos / eos / unk are the
ids of "<s>", "</s>", "<unk>" in vocab.json.
"""
import json

from . import ConvertError

MARKER = chr(ord(" ") + 256)  # "\u0120", GPT-2's word-start symbol
MODEL = "bart-bpe"
NORMALIZATION = "demojize,lowercase,ascii-ignore,split-space"


def emoji_table():
    """[(emoji sequence, English name without colons)] of the installed `emoji` package, which
    min-dalle's tokenizer uses, and a string naming its version."""
    try:
        import emoji
    except ImportError:
        raise ConvertError("min-dalle's text normalisation needs the emoji names of the Python package "
                           "'emoji' (Debian: python3-emoji); install it and convert again") from None
    pairs = sorted((seq, data["en"][1:-1]) for seq, data in emoji.EMOJI_DATA.items() if "en" in data)
    return pairs, "emoji %s (Python package), English names" % getattr(emoji, "__version__", "?")


class BartBPE:
    """tokens: list of token strings by id; merges: merges.txt lines after the header; emoji: list of
    (sequence, name); bos / eos / unk: ids."""

    def __init__(self, tokens, merges, emoji, bos, eos, unk):
        self.tokens, self.merges, self.emoji = list(tokens), list(merges), list(emoji)
        self.bos, self.eos, self.unk = bos, eos, unk
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        pairs = [tuple(line.split()) for line in self.merges]
        self.ranks = dict(zip(pairs, range(len(pairs))))
        self.tree = {}
        for seq, name in self.emoji:
            node = self.tree
            for ch in seq:
                node = node.setdefault(ch, {})
            node[None] = name

    def demojize(self, text):
        out, i, n = [], 0, len(text)
        while i < n:
            node = self.tree.get(text[i])
            if node is not None:
                j = i + 1
                while j < n and text[j] in node:
                    node = node[text[j]]
                    j += 1
                if None in node:
                    out.append(node[None])
                    i = j
                    continue
            if text[i] not in "\ufe0e\ufe0f":
                out.append(text[i])
            i += 1
        return "".join(out)

    def normalize(self, text):
        """Steps 1-2: the text whose space-separated words are encoded."""
        return self.demojize(text).lower().encode("ascii", errors="ignore").decode()

    def word_symbols(self, word):
        sym = [MARKER] + list(word)
        while len(sym) > 1:
            ranks = [self.ranks.get(p) for p in zip(sym[:-1], sym[1:])]
            best = min((r, i) for i, r in enumerate(ranks) if r is not None) if any(
                r is not None for r in ranks) else None
            if best is None:
                break
            i = best[1]
            sym[i:i + 2] = [sym[i] + sym[i + 1]]
        return sym

    def encode(self, text):
        """[bos] + BPE ids + [eos], not truncated."""
        ids = [self.ids.get(s, self.unk) for w in self.normalize(text).split(" ") if w for s in self.word_symbols(w)]
        return [self.bos] + ids + [self.eos]

    @classmethod
    def from_files(cls, vocab_path, merges_path, emoji=None):
        """From min-dalle's vocab.json and merges.txt; emoji None = emoji_table(). ConvertError naming
        the file and the problem."""
        try:
            with open(vocab_path, encoding="utf8") as f:
                vocab = json.load(f)
        except OSError as e:
            raise ConvertError("%s: cannot read: %s" % (vocab_path, e.strerror)) from None
        except (ValueError, UnicodeDecodeError) as e:
            raise ConvertError("%s: not a JSON vocabulary (%s)" % (vocab_path, e)) from None
        if not isinstance(vocab, dict) or not all(isinstance(k, str) and type(v) is int for k, v in vocab.items()):
            raise ConvertError("%s: expected a JSON object of token -> integer id" % vocab_path)
        tokens = [None] * len(vocab)
        for t, i in vocab.items():
            if not 0 <= i < len(vocab) or tokens[i] is not None:
                raise ConvertError("%s: ids are not 0..%d, each once (token %r has id %d)"
                                   % (vocab_path, len(vocab) - 1, t, i))
            tokens[i] = t
        special = []
        for name in ("<s>", "</s>", "<unk>"):
            if name not in vocab:
                raise ConvertError("%s: no %r token (BART's special tokens <s>, </s>, <unk>)" % (vocab_path, name))
            special.append(vocab[name])
        try:
            with open(merges_path, encoding="utf8") as f:
                lines = f.read().split("\n")[1:-1]
        except OSError as e:
            raise ConvertError("%s: cannot read: %s" % (merges_path, e.strerror)) from None
        except UnicodeDecodeError as e:
            raise ConvertError("%s: not UTF-8 text (%s)" % (merges_path, e)) from None
        for k, line in enumerate(lines):
            if len(line.split()) != 2:
                raise ConvertError("%s: line %d is %r, expected two symbols separated by a space"
                                   % (merges_path, k + 2, line))
        if emoji is None:
            emoji = emoji_table()[0]
        return cls(tokens, lines, emoji, *special)

    def gguf_keys(self, source="emoji table"):
        """[(value type, key, value)] of the tokenizer.* keys (docs/model-format.md §9.3)."""
        return [
            ("string", "tokenizer.model", MODEL),
            ("string", "tokenizer.normalization", NORMALIZATION),
            ("array_string", "tokenizer.bart.tokens", self.tokens),
            ("array_string", "tokenizer.bart.merges", self.merges),
            ("uint32", "tokenizer.bart.unk_id", self.unk),
            ("array_uint32", "tokenizer.prefix_ids", [self.bos]),
            ("array_uint32", "tokenizer.suffix_ids", [self.eos]),
            ("array_string", "tokenizer.emoji.sequences", [s for s, _ in self.emoji]),
            ("array_string", "tokenizer.emoji.names", [n for _, n in self.emoji]),
            ("string", "tokenizer.emoji.source", source),
        ]

    @classmethod
    def from_gguf(cls, reader):
        """From the tokenizer.* keys of a GGUFReader; ValueError naming the key when one is missing."""
        if reader.get("tokenizer.model", None) != MODEL:
            raise ValueError("%s: tokenizer.model is %r, expected %r"
                             % (reader.path, reader.get("tokenizer.model", None), MODEL))
        need = ("tokenizer.bart.tokens", "tokenizer.bart.merges", "tokenizer.bart.unk_id", "tokenizer.prefix_ids",
                "tokenizer.suffix_ids", "tokenizer.emoji.sequences", "tokenizer.emoji.names")
        for k in need:
            if k not in reader.fields:
                raise ValueError("%s: missing key %s" % (reader.path, k))
        seqs, names = reader.get("tokenizer.emoji.sequences"), reader.get("tokenizer.emoji.names")
        if len(seqs) != len(names):
            raise ValueError("%s: tokenizer.emoji.sequences has %d entries, tokenizer.emoji.names %d"
                             % (reader.path, len(seqs), len(names)))
        (bos,), (eos,) = reader.get("tokenizer.prefix_ids"), reader.get("tokenizer.suffix_ids")
        return cls(reader.get("tokenizer.bart.tokens"), reader.get("tokenizer.bart.merges"), list(zip(seqs, names)),
                   int(bos), int(eos), int(reader.get("tokenizer.bart.unk_id")))
