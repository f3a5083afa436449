"""ruDALL-E (ai-forever/ru-dalle) -> one model file: transformer, YTTM tokenizer, Sber VQGAN.

Inputs as the project ships them: the transformer `pytorch_model*.bin` (a flat state_dict, fp16 or
f32, with or without the bool mask buffers transformer.row_mask / col_mask / conv_mask, which are
ignored: the engine builds masks from dalle.attn_types), the Gumbel VQGAN
`vqgan.gumbelf8-sber.model.ckpt` (taming_vqgan.py) and the YouTokenToMe `bpe.model` (yttm.py).
The file does not say whether it is a v2 model (Emojich, Malevich_v2: one more text position, the
bos token upstream prepends, and masks offset by one) or v3 (Malevich, Surrealist_XL): the caller
says so (MODELS). Nor does it state the head count: n_heads defaults to d_model / 128 (every
registered 2048-wide model). Every other hyperparameter comes from the tensor shapes.

Canonicalisation (docs/model-format.md §8.3): text_emb rows Vt + j are upstream's per-position pad
tokens (v2: row Vt + 0 is zeros, row Vt + j = shipped row Vt + j - 1); text_pos_emb keeps the first
T rows; image_logits is the image slice of to_logits.1; the text head is dropped.
"""
import numpy as np

from . import ConvertError
from .checks import match_tensors, require
from .plan import Plan
from .public_dalle import add_dalle_keys, add_keys, attach_vqgan, flat_state_dict, sampling
from .torchfile import open_checkpoint

WHAT = "ruDALL-E transformer state_dict"
MASKS = ("transformer.row_mask", "transformer.col_mask", "transformer.conv_mask")
MODELS = {"Malevich": "v3", "Malevich_v2": "v2", "Emojich": "v2", "Surrealist_XL": "v3"}
LICENSE = "Apache-2.0"
HEAD_DIM = 128  # the registered ruDALL-E XL models: 2048 / 16 heads
CONV_KERNEL = 11
TOP_K, TOP_P = 2048, 0.995  # ru-dalle README
# bos / eos around the BPE ids; v2 models see upstream's extra bos in front
PREFIX = {"v3": [2], "v2": [2, 2]}
SUFFIX = [3]
# engine layer tensor suffix -> upstream name below transformer.layers.{l}.
LAYER = (("ln1.w", "input_layernorm.weight"), ("ln1.b", "input_layernorm.bias"),
         ("attn.qkv.w", "attention.query_key_value.weight"), ("attn.qkv.b", "attention.query_key_value.bias"),
         ("attn.out.w", "attention.dense.weight"), ("attn.out.b", "attention.dense.bias"),
         ("attn.post_ln.w", "before_first_addition_layernorm.weight"),
         ("attn.post_ln.b", "before_first_addition_layernorm.bias"),
         ("ln2.w", "post_attention_layernorm.weight"), ("ln2.b", "post_attention_layernorm.bias"),
         ("mlp.fc1.w", "mlp.dense_h_to_4h.weight"), ("mlp.fc1.b", "mlp.dense_h_to_4h.bias"),
         ("mlp.fc2.w", "mlp.dense_4h_to_h.weight"), ("mlp.fc2.b", "mlp.dense_4h_to_h.bias"),
         ("mlp.post_ln.w", "before_second_addition_layernorm.weight"),
         ("mlp.post_ln.b", "before_second_addition_layernorm.bias"))


def attn_schedule(n_layers):
    """ruDALL-E's _get_layer_mask: col if (l - 1) % 4 == 0 (checked first), else row, the last layer conv."""
    return ["col" if (i - 1) % 4 == 0 else "conv" if i == n_layers - 1 else "row" for i in range(n_layers)]


def layer_shapes(d, d_ff):
    sh = {"ln1": [d], "attn.post_ln": [d], "ln2": [d], "mlp.post_ln": [d]}
    out = {}
    for mine, _ in LAYER:
        stem, wb = mine.rsplit(".", 1)
        if stem in sh:
            out[mine] = sh[stem]
        else:
            rows, cols = {"attn.qkv": (3 * d, d), "attn.out": (d, d), "mlp.fc1": (d_ff, d), "mlp.fc2": (d, d_ff)}[stem]
            out[mine] = [rows, cols] if wb == "w" else [rows]
    return out


def read_config(path, sd, version, n_heads=None):
    """The dalle.* values (docs/model-format.md §2) from the tensor shapes and the version."""
    rows, d = require(path, sd, "text_embeddings.weight", 2, WHAT, "shape [Vt + 128, d_model]")
    t_up = require(path, sd, "text_pos_embeddings.weight", 2, WHAT, "shape [text_seq_length + 1, d_model]")[0] - 1
    grid = require(path, sd, "image_row_embeddings.weight", 2, WHAT, "shape [G, d_model]")[0]
    vi = require(path, sd, "image_embeddings.weight", 2, WHAT, "shape [image_vocab, d_model]")[0]
    d_ff = require(path, sd, "transformer.layers.0.mlp.dense_h_to_4h.weight", 2, WHAT, "shape [4 d_model, d_model]")[0]
    n_layers = sum(1 for k in sd if k.startswith("transformer.layers.") and k.endswith(".input_layernorm.weight"))
    vt = rows - t_up
    if t_up < 1 or vt < 1:
        raise ConvertError("%s: tensor 'text_embeddings.weight' has %d rows, expected more than the %d text "
                           "positions of 'text_pos_embeddings.weight' - 1" % (path, rows, t_up))
    n_heads = n_heads or max(1, d // HEAD_DIM)
    if d % n_heads:
        raise ConvertError("%s: d_model %d is not a multiple of %d heads (give --n-heads)" % (path, d, n_heads))
    v2 = version == "v2"
    return dict(text_len=t_up + 1 if v2 else t_up, text_vocab=vt, grid=grid, image_vocab=vi, d_model=d,
                n_heads=n_heads, n_layers=n_layers, d_ff=d_ff, ln_eps=1e-5, attn_types=attn_schedule(n_layers),
                conv_kernel=CONV_KERNEL, conv_wrap=v2, image_start=False, norm="sandwich", gelu="tanh",
                final_norms=2, attn_out_clamp=65504.0, mask_image0=t_up if v2 else None,
                **sampling(TOP_K, vi, TOP_P))


def expected(cfg, t_up):
    """[(upstream name, shape)] of every tensor the converter uses."""
    d, vt, vi, g = cfg["d_model"], cfg["text_vocab"], cfg["image_vocab"], cfg["grid"]
    out = [("text_embeddings.weight", [vt + t_up, d]), ("text_pos_embeddings.weight", [t_up + 1, d]),
           ("image_embeddings.weight", [vi, d]), ("image_row_embeddings.weight", [g, d]),
           ("image_col_embeddings.weight", [g, d])]
    shapes = layer_shapes(d, cfg["d_ff"])
    for layer in range(cfg["n_layers"]):
        out += [("transformer.layers.%d.%s" % (layer, up), shapes[mine]) for mine, up in LAYER]
    out += [("transformer.final_layernorm.weight", [d]), ("transformer.final_layernorm.bias", [d]),
            ("to_logits.0.weight", [d]), ("to_logits.0.bias", [d]),
            ("to_logits.1.weight", [vt + t_up + vi, d]), ("to_logits.1.bias", [vt + t_up + vi])]
    return out


def v2_text_rows(w, vt):
    """v2 text_emb: one more text position than upstream's pad rows; row Vt + 0 (the position of the
    prepended bos, never a pad) is zeros and row Vt + j is upstream's pad row Vt + j - 1."""
    out = np.zeros((w.shape[0] + 1, w.shape[1]), np.float32)
    out[:vt] = w[:vt]
    out[vt + 1:] = w[vt:]
    return out


def plan(stack, path, version, vqgan_path, bpe_path, n_heads=None):
    """Plan of the whole model file; version "v2" or "v3"; stack keeps the inputs open."""
    from . import yttm  # the tokenizer's module (tokenizer.* keys)
    if version not in ("v2", "v3"):
        raise ConvertError("ruDALL-E version %r: expected v2 or v3" % version)
    ck = stack.enter_context(open_checkpoint(path, what="a " + WHAT))
    sd = flat_state_dict(path, ck.root, "a " + WHAT)
    cfg = read_config(path, sd, version, n_heads)
    t_up = cfg["text_len"] - (version == "v2")
    table = expected(cfg, t_up)
    match_tensors(path, sd, table, WHAT, ignore=MASKS)
    p = Plan()
    add_dalle_keys(p, cfg)
    add_keys(p, yttm.gguf_keys(bpe_path, PREFIX[version], SUFFIX))

    d, vt, vi, T = cfg["d_model"], cfg["text_vocab"], cfg["image_vocab"], cfg["text_len"]

    def tensor(mine, up, shape, fn=None):
        t = sd[up]
        p.tensor(mine, shape, (lambda: fn(t.numpy())) if fn else t.numpy, (path, up))

    tensor("text_emb", "text_embeddings.weight", [vt + T, d],
           (lambda w: v2_text_rows(w, vt)) if version == "v2" else None)
    tensor("text_pos_emb", "text_pos_embeddings.weight", [T, d], lambda w: w[:T])
    tensor("image_emb", "image_embeddings.weight", [vi, d])
    tensor("image_row_emb", "image_row_embeddings.weight", [cfg["grid"], d])
    tensor("image_col_emb", "image_col_embeddings.weight", [cfg["grid"], d])
    shapes = layer_shapes(d, cfg["d_ff"])
    for layer in range(cfg["n_layers"]):
        for mine, up in LAYER:
            tensor("blk.%d.%s" % (layer, mine), "transformer.layers.%d.%s" % (layer, up), shapes[mine])
    for mine, up in (("ln_f.w", "transformer.final_layernorm.weight"), ("ln_f.b", "transformer.final_layernorm.bias"),
                     ("ln_f2.w", "to_logits.0.weight"), ("ln_f2.b", "to_logits.0.bias")):
        tensor(mine, up, [d])
    tensor("image_logits.w", "to_logits.1.weight", [vi, d], lambda w: w[vt + t_up:])
    tensor("image_logits.b", "to_logits.1.bias", [vi], lambda w: w[vt + t_up:])
    attach_vqgan(stack, p, vqgan_path, cfg["grid"], vi, path)
    return p
