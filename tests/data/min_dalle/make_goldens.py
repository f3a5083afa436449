"""Makes the tiny DALL-E Mini/Mega test files of this folder with kuprel/min-dalle's own classes.

Needs kuprel/min-dalle (`min_dalle`) importable and Debian's python3-emoji (its tokenizer calls
emoji.demojize); dalle-vk's own code only writes the tokenizer files and the golden GGUF.

Writes (into --out, default: this folder), in min-dalle's file layout:
  encoder.pt, decoder.pt  state_dicts of DalleBartEncoder / DalleBartDecoder (float32), loaded back with
                          min-dalle's own `load_state_dict(strict=False)`; decoder.pt leaves out
                          `layers.1.glu.ln1.weight` (min-dalle then keeps nn.LayerNorm's ones)
  detoker.pt              state_dict of VQGanDetokenizer at its fixed full size (16384 codes, 512 wide),
                          float16 tensors that are overlapping views of a few small shared storages
                          (torch.save writes each storage once: the file stays small)
  vocab.json, merges.txt  a small byte-level BPE learnt here on a few captions (BART's special ids
                          <s> 0, <pad> 1, </s> 2, <unk> 3; merges.txt with its "#version" header line)
  tokenizer.json          [{"text": s, "ids": TextTokenizer.tokenize(s)}] for odd strings
  goldens.gguf            float32 tensors in PyTorch order (integers stored as f32):
      enc.text_ids   [2, 64]        min-dalle's text rows for PROMPT: [bos, eos, pad...] and the caption
      enc.state      [2, 64, d]     DalleBartEncoder.forward(enc.text_ids)
      dec.codes      [256]          the fixed code path fed to the decoder (input j = 16383 for j = 0, else code j-1)
      dec.logits     [2, 2, V+1]    DalleBartDecoder.forward one token at a time (KV cache) along dec.codes,
                                    at steps 0 and 255; [step, row (0: unconditional, 1: caption), column]
      dec.sc_top_ids [256, 8]       per step: the 8 largest of u(1-16) + 16 c over the first 16384 columns
      dec.sc_top     [256, 8]       their values
      gen.greedy     [1, 256]       MinDalle.generate_raw_image_stream codes, top_k 1, factor 16, grid 1
      gen.sampled    [4, 256]       the same with seed 7, top_k 64, temperature 1, factor 16, grid 2
      det.codes      [1, 256]       codes for the detokenizer
      det.pixels     [256, 256, 3]  VQGanDetokenizer.forward(False, det.codes): clip(x, 0, 1) * 255 (stored f16)
    keys golden.* with the sizes.

Sizes (Mini-shaped, tiny): d 32, 4 heads, GLU 40, 2 + 2 layers, 64 text positions, 256 image tokens,
image vocabulary V = 16415 (Mega's: 32 columns beyond the 16384 that are sampled; the rows of those
columns in lm_head are scaled up so a sampler that forgot the slice would pick them). The 16416-row
tables are views of one short random storage (row i = storage[i : i + d]).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
from dallevk.gguf import GGUFWriter  # noqa: E402

from min_dalle.min_dalle import MinDalle  # noqa: E402  (upstream)
from min_dalle.models import DalleBartDecoder, DalleBartEncoder, VQGanDetokenizer  # noqa: E402
from min_dalle.text_tokenizer import TextTokenizer  # noqa: E402

D, HEADS, GLU, LAYERS, TEXT_LEN, IMAGE_VOCAB = 32, 4, 40, 2, 64, 16415
PROMPT = "An armchair in the shape of an avocado"
CORPUS = """an armchair in the shape of an avocado. a panda wearing a top hat, oil painting of a cat
the quick brown fox jumps over the lazy dog; nuclear broccoli in space 3d render 4k photo of the
city at night, a watercolor painting of the sea with boats and birds! sunset over the mountains
a cute robot reading a book (digital art) an astronaut riding a horse on the moon 1990s film still
"""
ODD_STRINGS = [
    "", "   ", "a", "Hello, World!!!", "the   multiple   spaces  between", "  leading and trailing  ",
    "a cat... (sitting) on a mat; 100% [cute] {x} <y> @#$^&*", "'quotes' \"double\" `back` a-b_c~d|e\\f",
    "numbers 0123456789 3.14159 -42 1e10 2024/12/07 $5,000", "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m",
    "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u4f60\u597d \u3053\u3093\u306b\u3061\u306f",
    "\u0130stanbul \u212aelvin \uff21\uff22\uff23 \ufb01ne \u2460 \u00bd \u00df",
    "emoji \U0001F431 cat \U0001F44D\U0001F3FD thumbs \U0001F1EB\U0001F1F7 flag \u2764\ufe0f heart \u2764 plain",
    "family \U0001F468\u200d\U0001F469\u200d\U0001F467 keycap 1\ufe0f\u20e3 #\ufe0f\u20e3 \u00a9\u00ae\u2122",
    "\U0001F600\U0001F600\U0001F600", "pi\U0001FA85ata \U0001F1E8\U0001F1FC flags",
    "\u263a\ufe0e text style \ufe0f alone",
    "tab\tsep\nnewline\r\nend", "zero\u200bwidth\u00a0nbsp", "\u0120G literal marker", "AVOCADO ArmChair",
    "an armchair in the shape of an avocado " * 12,
]


def learn_bpe(corpus, n_merges):
    """A small byte-level BPE (GPT-2's 'G-with-dot' word marker, printable ASCII as themselves):
    vocab {token: id} with BART's four special tokens first, and the merges in rank order."""
    marker = chr(ord(" ") + 256)
    words = {}
    for w in corpus.lower().split():
        words[(marker,) + tuple(w)] = words.get((marker,) + tuple(w), 0) + 1
    tokens = ["<s>", "<pad>", "</s>", "<unk>", marker] + [chr(c) for c in range(33, 127)]
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, n in words.items():
            for p in zip(w[:-1], w[1:]):
                counts[p] = counts.get(p, 0) + n
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        tokens.append(best[0] + best[1])
        new = {}
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = n
        words = new
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def randomize(model, g):
    """Seeded random values for every parameter, LayerNorms around 1 / 0 (not the defaults)."""
    for name, p in model.named_parameters():
        if "layernorm" in name or "_ln" in name or "layer_norm" in name or ".ln" in name:
            base = 1.0 if name.endswith("weight") else 0.0
            p.data = base + 0.2 * torch.randn(p.shape, generator=g)
        else:
            p.data = torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5


def hankel(base, cols):
    """[len(base) - cols + 1, cols] view of base: row i = base[i : i + cols]."""
    return base.as_strided((base.numel() - cols + 1, cols), (1, 1))


def detoker_views(model, g):
    """state_dict of VQGanDetokenizer as float16 views of small shared storages, one per kind (3x3
    conv, 1x1 conv, GroupNorm weight, bias, codebook, and conv_out scaled to give pixels around 0.5);
    weight [o, i, kh, kw] = storage[off + 7o + 3i
    + 2kh + kw] (distinct per tensor through off, not symmetric in kh, kw or o, i)."""
    sd, kinds = {}, {}
    for name, t in model.state_dict().items():
        kind = ("codebook" if name == "embedding.weight" else name if name.startswith("decoder.conv_out") else
                "bias" if name.endswith("bias") else
                "w%d" % t.shape[-1] if t.dim() == 4 else "norm")
        kinds.setdefault(kind, []).append((name, tuple(t.shape)))
    for kind, items in kinds.items():
        strides = []
        for _, shape in items:
            if len(shape) == 4:
                strides.append((7, 3, 2, 1))
            elif len(shape) == 2:
                strides.append((1, 1))
            else:
                strides.append((1,))
        need = max(sum((n - 1) * s for n, s in zip(shape, st)) + 1 for (_, shape), st in zip(items, strides))
        base = torch.randn(need + 13 * len(items), generator=g)
        if kind == "w3":
            base *= 0.6 / (512 * 9) ** 0.5 * 3
        elif kind == "w1":
            base *= 1.0 / 512 ** 0.5
        elif kind == "norm":
            base = 1.0 + 0.2 * base
        elif kind == "bias":
            base *= 0.05
        elif kind == "decoder.conv_out.weight":  # pixels mostly inside [0, 1], not clipped
            base *= 0.004
        elif kind == "decoder.conv_out.bias":
            base = 0.5 + 0.05 * base
        base = base.half()
        for i, ((name, shape), st) in enumerate(zip(items, strides)):
            sd[name] = base[13 * i:].as_strided(shape, st)
    return sd


def load(model, path):
    """min-dalle's own loading (MinDalle.init_encoder / init_decoder): torch.load + strict=False."""
    return model.load_state_dict(torch.load(path), strict=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(20261207)
    torch.manual_seed(0)

    vocab, merges = learn_bpe(CORPUS, 150)
    with open(os.path.join(a.out, "vocab.json"), "w", encoding="utf8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(a.out, "merges.txt"), "w", encoding="utf8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    with open(os.path.join(a.out, "vocab.json"), encoding="utf8") as f:  # as MinDalle.init_tokenizer
        vocab = json.load(f)
    with open(os.path.join(a.out, "merges.txt"), encoding="utf8") as f:
        tok = TextTokenizer(vocab, f.read().split("\n")[1:-1])
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf8") as f:
        json.dump([{"text": s, "ids": tok.tokenize(s)} for s in ODD_STRINGS], f, ensure_ascii=True, indent=0)
    text_vocab = len(vocab) + 3

    enc = DalleBartEncoder(layer_count=LAYERS, embed_count=D, attention_head_count=HEADS,
                           text_vocab_count=text_vocab, text_token_count=TEXT_LEN, glu_embed_count=GLU,
                           device="cpu").eval()
    dec = DalleBartDecoder(image_vocab_count=IMAGE_VOCAB, embed_count=D, attention_head_count=HEADS,
                           glu_embed_count=GLU, layer_count=LAYERS, device="cpu").eval()
    randomize(enc, g)
    randomize(dec, g)
    torch.save(enc.state_dict(), os.path.join(a.out, "encoder.pt"))
    sd = dict(dec.state_dict())
    rows = IMAGE_VOCAB + 1
    sd["embed_tokens.weight"] = hankel(torch.randn(rows + D - 1, generator=g), D)
    head = torch.randn(rows + D - 1, generator=g) / D ** 0.5
    head[16384 + D - 1:] *= 4.0  # storage values that only rows >= 16384 (never sampled) use
    sd["lm_head.weight"] = hankel(head, D)
    del sd["layers.1.glu.ln1.weight"]
    torch.save(sd, os.path.join(a.out, "decoder.pt"))
    det = VQGanDetokenizer().eval()
    torch.save(detoker_views(det, g), os.path.join(a.out, "detoker.pt"))

    # reload every model the way min-dalle does
    enc = DalleBartEncoder(layer_count=LAYERS, embed_count=D, attention_head_count=HEADS,
                           text_vocab_count=text_vocab, text_token_count=TEXT_LEN, glu_embed_count=GLU,
                           device="cpu").eval()
    dec = DalleBartDecoder(image_vocab_count=IMAGE_VOCAB, embed_count=D, attention_head_count=HEADS,
                           glu_embed_count=GLU, layer_count=LAYERS, device="cpu").eval()
    r = load(enc, os.path.join(a.out, "encoder.pt"))
    assert not r.missing_keys and not r.unexpected_keys, r
    r = load(dec, os.path.join(a.out, "decoder.pt"))
    assert r.missing_keys == ["layers.1.glu.ln1.weight"] and not r.unexpected_keys, r
    det = VQGanDetokenizer().eval()
    det.load_state_dict(torch.load(os.path.join(a.out, "detoker.pt")))  # strict, as upstream

    out = {}
    with torch.no_grad():
        tokens = tok.tokenize(PROMPT)
        ids = np.ones((2, TEXT_LEN), dtype=np.int64)  # as MinDalle.generate_raw_image_stream
        ids[0, :2] = [tokens[0], tokens[-1]]
        ids[1, :len(tokens)] = tokens
        text_ids = torch.tensor(ids)
        state = enc.forward(text_ids)
        out["enc.text_ids"], out["enc.state"] = text_ids, state

        codes = torch.randint(0, 16384, (256,), generator=g)
        mask = text_ids.not_equal(1)[:, None, None, :]
        attn = torch.zeros(LAYERS, 4, 256, D)
        prev = torch.cat([torch.tensor([16383]), codes[:-1]])
        logits_at, top_ids, top_vals = [], [], []
        for i in range(256):
            logits, attn = dec.forward(attention_mask=mask, encoder_state=state, attention_state=attn,
                                       prev_tokens=prev[None, [i]], token_index=torch.tensor([i]))
            lg = logits[:, -1]
            if i in (0, 255):
                logits_at.append(lg.clone())
            sc = lg[0, :16384] * (1 - 16.0) + lg[1, :16384] * 16.0
            v, k = sc.topk(8)
            top_ids.append(k)
            top_vals.append(v)
        out["dec.codes"], out["dec.logits"] = codes, torch.stack(logits_at)
        out["dec.sc_top_ids"], out["dec.sc_top"] = torch.stack(top_ids), torch.stack(top_vals)
        assert (out["dec.logits"][:, :, 16384:].abs().max() > out["dec.logits"][:, :, :16384].abs().max())

        md = MinDalle.__new__(MinDalle)  # the model objects above, MinDalle's generation loop
        md.device, md.dtype, md.is_reusable, md.is_verbose, md.is_mega = "cpu", torch.float32, True, False, False
        md.text_token_count, md.layer_count, md.embed_count = TEXT_LEN, LAYERS, D
        md.tokenizer, md.encoder, md.decoder, md.detokenizer = tok, enc, dec, det
        md.image_grid_from_tokens = lambda image_tokens, **kw: image_tokens.clone()  # codes, not pixels
        out["gen.greedy"] = next(md.generate_raw_image_stream(PROMPT, seed=-1, grid_size=1, top_k=1,
                                                              supercondition_factor=16))
        out["gen.sampled"] = next(md.generate_raw_image_stream(PROMPT, seed=7, grid_size=2, top_k=64,
                                                               temperature=1, supercondition_factor=16))

        det_codes = torch.randint(0, 16384, (1, 256), generator=g)
        pixels = det.forward(False, det_codes)
        out["det.codes"], out["det.pixels"] = det_codes, pixels
        saturated = ((pixels == 0) | (pixels == 255)).float().mean()
        print("pixels: mean %.1f std %.1f saturated %.2f" % (pixels.mean(), pixels.std(), saturated))

    w = GGUFWriter()
    for k, v in (("golden.d_model", D), ("golden.n_heads", HEADS), ("golden.d_glu", GLU), ("golden.layers", LAYERS),
                 ("golden.text_vocab", text_vocab), ("golden.image_vocab", IMAGE_VOCAB)):
        w.add_uint32(k, v)
    w.add_string("golden.prompt", PROMPT)
    for name, t in out.items():
        w.add_tensor(name, t.float().numpy(), "f16" if name == "det.pixels" else "f32")
    w.write(os.path.join(a.out, "goldens.gguf"))
    for name in sorted(os.listdir(a.out)):
        print("%-16s %8d bytes" % (name, os.path.getsize(os.path.join(a.out, name))))


if __name__ == "__main__":
    main()
