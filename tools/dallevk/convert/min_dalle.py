"""kuprel/min-dalle's DALL-E Mini / Mega files -> one model file (docs/model-format.md §9).

Inputs as min-dalle keeps them: a folder with encoder.pt, decoder.pt, vocab.json, merges.txt (its
`pretrained/dalle_bart_mini` or `dalle_bart_mega`; the download names encoder_mini.pt, vocab_mini.json
... are accepted too), and detoker.pt (the VQGAN, default: that folder or `../vqgan/`). The .pt files
are plain state_dicts, read with the restricted unpickler (no class but OrderedDict is accepted).

Hyperparameters come from the tensor shapes (d_model, text vocabulary and positions, GLU width, layer
counts, image positions); the head count is not in the files: --n-heads (default d_model / 64, as Mini
with 16 and Mega with 32). min-dalle samples codes 0..16383 and feeds 16383 as the start token, so
the decoder's embedding and lm_head keep their first 16384 rows (Mini ships 16385, Mega 16416) and
image_start is embedding row 16383 plus position row 0; image_pos_emb row i is position row i + 1 (the
code fed at decoder input i + 1), so the decoder's positions are those of the decoder-only files.
Canonical layouts: q|k|v of self-attention fused, k|v of cross-attention fused, zero biases for the bias-free projections and the head. min-dalle loads the
encoder and decoder with strict=False, so a LayerNorm weight or bias missing from a file runs with
nn.LayerNorm's initial 1 / 0: the converter writes the same and names each such key; every other
tensor must be present with its shape, and an unknown key is an error.
"""
import os

import numpy as np

from . import ConvertError, taming_vqgan
from .bart_bpe import BartBPE, emoji_table
from .checks import match_tensors, require
from .plan import Plan
from .torchfile import LazyTensor, open_checkpoint
from .. import bart as B

CODES = 16384        # min-dalle: logits[:, :2**14] sampled, start token 2**14 - 1
START = CODES - 1
HEAD_DIM = 64        # Mini 1024 / 16, Mega 2048 / 32
TOP_K, TEMPERATURE, COND_SCALE = 256, 1.0, 16.0  # min-dalle's generate defaults
LICENSE = "Apache-2.0 (the DALL-E Mini and DALL-E Mega model cards)"
FILES = {"encoder": ("encoder.pt", "encoder_mini.pt"), "decoder": ("decoder.pt", "decoder_mini.pt"),
         "vocab": ("vocab.json", "vocab_mini.json"), "merges": ("merges.txt", "merges_mini.txt")}


def find_inputs(folder, detoker=None):
    """{encoder, decoder, vocab, merges, detoker} paths; ConvertError naming what is missing."""
    if not os.path.isdir(folder):
        raise ConvertError("%s: not a folder (min-dalle's dalle_bart_mini / dalle_bart_mega)" % folder)
    out = {}
    for what, names in FILES.items():
        found = [n for n in names if os.path.isfile(os.path.join(folder, n))]
        if len(found) != 1:
            raise ConvertError("%s: %s (min-dalle's files: encoder.pt, decoder.pt, vocab.json, merges.txt)"
                               % (folder, "no %s" % " or ".join(names) if not found else
                                  "both %s: which one?" % " and ".join(found)))
        out[what] = os.path.join(folder, found[0])
    if detoker is None:
        for cand in (os.path.join(folder, "detoker.pt"), os.path.join(folder, "..", "vqgan", "detoker.pt")):
            if os.path.isfile(cand):
                detoker = os.path.normpath(cand)
                break
        else:
            raise ConvertError("%s: no detoker.pt here or in ../vqgan/ (give it with --detoker)" % folder)
    out["detoker"] = detoker
    return out


def _state_dict(stack, path, what):
    ck = stack.enter_context(open_checkpoint(path, what="min-dalle's " + what))
    sd = ck.root
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, LazyTensor) for v in sd.values()):
        raise ConvertError("%s: not a state_dict of tensors (min-dalle's %s)" % (path, what))
    return sd


def _is_ln(key):
    return any(s in key for s in ("layer_norm.", "layernorm_embedding.", "final_ln.", "glu.ln0.", "glu.ln1."))


class _Side:
    """The expected tensors of one file: upstream key -> shape, and how each GGUF tensor is made."""

    def __init__(self, path, sd, what):
        self.path, self.sd, self.what = path, sd, what
        self.expected, self.out, self.defaulted = [], [], []

    def take(self, key, shape):
        self.expected.append((key, tuple(shape)))
        if key not in self.sd and _is_ln(key):
            self.defaulted.append(key)
            value = 1.0 if key.endswith(".weight") else 0.0
            return lambda: np.full(shape, value, np.float32)
        return lambda: self.sd[key].numpy()

    def put(self, name, shape, load, key):
        self.out.append((name, tuple(shape), load, (self.path, key)))

    def copy(self, name, key, shape):
        self.put(name, shape, self.take(key, shape), key)

    def ln(self, name, key, n):
        self.copy(name + ".w", key + ".weight", (n,))
        self.copy(name + ".b", key + ".bias", (n,))

    def fused(self, name, keys, d):
        loads = [self.take(k, (d, d)) for k in keys]
        self.put(name + ".w", (len(keys) * d, d), lambda: np.concatenate([f() for f in loads]), keys[0])
        self.put(name + ".b", (len(keys) * d,), lambda: np.zeros(len(keys) * d, np.float32), keys[0])

    def check(self):
        present = [(k, s) for k, s in self.expected if k not in self.defaulted]
        match_tensors(self.path, self.sd, present, "min-dalle " + self.what)


def _layer(side, pre, up, cfg, cross):
    d, f = cfg.d_model, cfg.d_ff
    side.ln(pre + "ln1", up + "pre_self_attn_layer_norm", d)
    side.fused(pre + "attn.qkv", [up + "self_attn.%s_proj.weight" % x for x in "qkv"], d)
    side.fused(pre + "attn.out", [up + "self_attn.out_proj.weight"], d)
    side.ln(pre + "attn.post_ln", up + "self_attn_layer_norm", d)
    if cross:
        side.ln(pre + "ln_cross", up + "pre_encoder_attn_layer_norm", d)
        side.fused(pre + "cross.q", [up + "encoder_attn.q_proj.weight"], d)
        side.fused(pre + "cross.kv", [up + "encoder_attn.%s_proj.weight" % x for x in "kv"], d)
        side.fused(pre + "cross.out", [up + "encoder_attn.out_proj.weight"], d)
        side.ln(pre + "cross.post_ln", up + "encoder_attn_layer_norm", d)
    side.ln(pre + "ln2", up + "glu.ln0", d)
    side.copy(pre + "mlp.fc1.w", up + "glu.fc0.weight", (f, d))
    side.copy(pre + "mlp.gate.w", up + "glu.fc1.weight", (f, d))
    side.ln(pre + "mlp.mid_ln", up + "glu.ln1", f)
    side.copy(pre + "mlp.fc2.w", up + "glu.fc2.weight", (d, f))


def _layer_count(sd):
    ids = {int(k.split(".")[1]) for k in sd if k.startswith("layers.") and k.split(".")[1].isdigit()}
    return max(ids) + 1 if ids else 0


def infer_config(enc_path, enc, dec_path, dec, heads=None):
    """BartConfig and the decoder's shipped embedding rows, from the tensor shapes."""
    what = "min-dalle encoder.pt"
    text_vocab, d = require(enc_path, enc, "embed_tokens.weight", 2, what, "shape [text_vocab, d_model]")
    text_len = require(enc_path, enc, "embed_positions.weight", 2, what, "shape [64, d_model]")[0]
    d_ff = require(enc_path, enc, "layers.0.glu.fc0.weight", 2, what, "shape [glu_width, d_model]")[0]
    what = "min-dalle decoder.pt"
    rows = require(dec_path, dec, "embed_tokens.weight", 2, what, "shape [image_vocab + 1, d_model]")[0]
    n_image = require(dec_path, dec, "embed_positions.weight", 2, what, "shape [256, d_model]")[0]
    if rows < CODES:
        raise ConvertError("%s: tensor 'embed_tokens.weight' has %d rows, expected at least %d (min-dalle "
                           "samples codes 0..%d and starts from %d)" % (dec_path, rows, CODES, CODES - 1, START))
    grid = int(round(n_image ** 0.5))
    if grid * grid != n_image:
        raise ConvertError("%s: tensor 'embed_positions.weight' has %d rows, expected a square grid (256)"
                           % (dec_path, n_image))
    heads = heads or max(1, d // HEAD_DIM)
    if d % heads:
        raise ConvertError("d_model %d (%s) is not a multiple of --n-heads %d" % (d, enc_path, heads))
    cfg = B.BartConfig(text_vocab=text_vocab, text_len=text_len, grid=grid, image_vocab=CODES, d_model=d,
                       n_heads=heads, d_ff=d_ff, enc_layers=_layer_count(enc), n_layers=_layer_count(dec))
    if cfg.enc_layers < 1 or cfg.n_layers < 1:
        raise ConvertError("%s: no 'layers.0.*' tensors" % (enc_path if cfg.enc_layers < 1 else dec_path))
    return cfg, rows


def model_name(plan):
    """general.name for a plan: the release its width matches (Mini 1024, Mega 2048), else a plain label."""
    d = dict((k, v) for _, k, v in plan.keys)["dalle.d_model"]
    return {1024: "DALL-E Mini", 2048: "DALL-E Mega"}.get(d, "DALL-E Mini/Mega layout (d_model %d)" % d)


def _shift_rows(pos):
    """Rows 1..N-1 of the position table, then a zero row (the last code is never fed)."""
    out = np.zeros(pos.shape, np.float32)
    out[:-1] = pos[1:]
    return out


def plan(stack, paths, heads=None, emoji=None):
    """(Plan, notes) from find_inputs() paths; emoji: [(sequence, name)] or None = emoji_table()."""
    enc = _state_dict(stack, paths["encoder"], "encoder.pt")
    dec = _state_dict(stack, paths["decoder"], "decoder.pt")
    cfg, rows = infer_config(paths["encoder"], enc, paths["decoder"], dec, heads)
    d = cfg.d_model
    e = _Side(paths["encoder"], enc, "encoder.pt")
    e.copy("enc.text_emb", "embed_tokens.weight", (cfg.text_vocab, d))
    e.copy("enc.text_pos_emb", "embed_positions.weight", (cfg.text_len, d))
    e.ln("enc.emb_ln", "layernorm_embedding", d)
    for i in range(cfg.enc_layers):
        _layer(e, "enc.blk.%d." % i, "layers.%d." % i, cfg, False)
    e.ln("enc.ln_f", "final_ln", d)

    t = _Side(paths["decoder"], dec, "decoder.pt")
    emb = t.take("embed_tokens.weight", (rows, d))
    pos = t.take("embed_positions.weight", (cfg.n_image, d))
    # canonical positions (docs/model-format.md §9.2): the start row carries position 0, code i position i + 1
    t.put("image_start", (d,), lambda: emb()[START].astype(np.float32) + pos()[0].astype(np.float32),
          "embed_tokens.weight")
    t.put("image_emb", (CODES, d), lambda: emb()[:CODES], "embed_tokens.weight")
    t.put("image_pos_emb", (cfg.n_image, d), lambda: _shift_rows(pos()), "embed_positions.weight")
    t.ln("emb_ln", "layernorm_embedding", d)
    for i in range(cfg.n_layers):
        _layer(t, "blk.%d." % i, "layers.%d." % i, cfg, True)
    t.ln("ln_f", "final_ln", d)
    head = t.take("lm_head.weight", (rows, d))
    t.put("image_logits.w", (CODES, d), lambda: head()[:CODES], "lm_head.weight")
    t.put("image_logits.b", (CODES,), lambda: np.zeros(CODES, np.float32), "lm_head.weight")
    e.check()
    t.check()
    made = [n for n, *_ in e.out + t.out]
    want = [n for n, _ in B.schema(cfg)]
    assert sorted(made) == sorted(want), set(made) ^ set(want)  # the reference's table, one place

    source = None
    if emoji is None:
        emoji, source = emoji_table()
    tok = BartBPE.from_files(paths["vocab"], paths["merges"], emoji)
    if len(tok.tokens) > cfg.text_vocab:
        raise ConvertError("%s: %d tokens, more than the %d rows of the encoder's embed_tokens (%s)"
                           % (paths["vocab"], len(tok.tokens), cfg.text_vocab, paths["encoder"]))
    vq = taming_vqgan.plan(stack, paths["detoker"], encoder=False, resolution=cfg.grid * 16, norm_eps=1e-5,
                           output_range=(0.0, 1.0))
    n_embed = dict((k, v) for _, k, v in vq.keys)["vqgan.n_embed"]
    if n_embed != CODES:
        raise ConvertError("%s: codebook of %d codes, expected %d (the decoder's codes)"
                           % (paths["detoker"], n_embed, CODES))

    p = Plan()
    p.key("string", "dalle.layout", B.LAYOUT)
    for key, fname, vtype in B.GGUF_KEYS:
        p.key(vtype, key, getattr(cfg, fname))
    for vtype, key, value in (("bool", "dalle.image_start", True), ("string", "dalle.image_pos", "linear"),
                              ("string", "dalle.gelu", "erf"), ("string", "dalle.mlp", "glu"),
                              ("uint32", "dalle.top_k", TOP_K), ("float32", "dalle.temperature", TEMPERATURE),
                              ("float32", "dalle.cond_scale", COND_SCALE)):
        p.key(vtype, key, value)
    for vtype, key, value in tok.gguf_keys(source or "emoji table given to the converter"):
        p.key(vtype, key, value)
    for name, shape, load, src in e.out + t.out:
        p.tensor(name, shape, load, src)
    p.extend(vq)
    notes = ["%s: no tensor '%s'; written as nn.LayerNorm's initial %s, which min-dalle runs with (strict=False)"
             % (side.path, k, "ones" if k.endswith(".weight") else "zeros")
             for side in (e, t) for k in side.defaulted]
    return p, notes
