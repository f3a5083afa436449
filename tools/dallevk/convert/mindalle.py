"""minDALL-E (kakaobrain/minDALL-E) -> one model file: transformer, CharBPE tokenizer, VQGAN.

Input: the folder of the unpacked 1.3B.tar.gz (FILES): config.yaml, tokenizer/bpe-16k-vocab.json and
bpe-16k-merges.txt (charbpe.py), stage1_last.ckpt (the VQGAN, taming_vqgan.py) and stage2_last.ckpt
({'state_dict': Transformer1d.state_dict()}). Sizes come from the tensor shapes; config.yaml gives the
head count (stage2.hparams.n_heads, default 24 as upstream's defaults) and must agree with the shapes
where it states them (ctx_len_txt, ctx_len_img, embed_dim, vocabularies, the GELU form).

Canonicalisation (docs/model-format.md §8.4): text_emb rows Vt + j are all the row of the '[PAD]' id
(minDALL-E pads with one token at every position); Q, K and V concatenated into qkv; the 1-D image
positions become dalle.image_pos = "linear"; head_img gets a zero bias; head_txt is dropped.
"""
import os

import numpy as np

from . import ConvertError
from .checks import match_tensors, require
from .plan import Plan
from .public_dalle import add_dalle_keys, add_keys, attach_vqgan, flat_state_dict, sampling, square_side
from .torchfile import open_checkpoint

WHAT = "minDALL-E stage-2 checkpoint"
FILES = ("config.yaml", "tokenizer/bpe-16k-vocab.json", "tokenizer/bpe-16k-merges.txt", "stage1_last.ckpt",
         "stage2_last.ckpt")
LICENSE = "CC-BY-NC-SA-4.0"  # minDALL-E README: the pretrained weights (the code is Apache-2.0)
TOP_K = 256  # minDALL-E README / sampling example
IGNORED = ("head_txt.",)  # the text head (training only)
# Lightning metadata a .ckpt may carry next to state_dict
OPAQUE = ("pytorch_lightning.", "lightning_fabric.", "lightning.", "omegaconf.", "argparse.Namespace",
          "numpy.", "_codecs.encode", "pathlib.", "typing.")
LAYER = (("ln1.w", "ln1.weight"), ("ln1.b", "ln1.bias"), ("attn.out.w", "attn.proj.weight"),
         ("attn.out.b", "attn.proj.bias"), ("ln2.w", "ln2.weight"), ("ln2.b", "ln2.bias"),
         ("mlp.fc1.w", "mlp.0.weight"), ("mlp.fc1.b", "mlp.0.bias"), ("mlp.fc2.w", "mlp.2.weight"),
         ("mlp.fc2.b", "mlp.2.bias"))
QKV = ("query", "key", "value")


def inputs(folder):
    """The paths of FILES in folder; ConvertError naming the first one missing."""
    if not os.path.isdir(folder):
        raise ConvertError("%s: not a folder (give the folder of minDALL-E's unpacked 1.3B.tar.gz)" % folder)
    paths = {f: os.path.join(folder, f) for f in FILES}
    for f, path in paths.items():
        if not os.path.isfile(path):
            raise ConvertError("%s: missing file '%s' (expected the layout of minDALL-E's 1.3B.tar.gz: %s)"
                               % (folder, f, ", ".join(FILES)))
    return paths


def read_yaml(path):
    import yaml
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ConvertError("%s: not a readable YAML file (%s)" % (path, e)) from None
    if not isinstance(doc, dict):
        raise ConvertError("%s: expected a mapping with stage1 / stage2 sections" % path)
    return doc


def _section(doc, *keys):
    for k in keys:
        doc = doc.get(k) if isinstance(doc, dict) else None
    return doc if isinstance(doc, dict) else {}


def read_config(path, sd, config_path, config):
    """The dalle.* values from the tensor shapes and config.yaml (which must agree with them)."""
    vt, d = require(path, sd, "tok_emb_txt.weight", 2, WHAT, "shape [vocab_size_txt, embed_dim]")
    vi = require(path, sd, "tok_emb_img.weight", 2, WHAT, "shape [vocab_size_img, embed_dim]")[0]
    T = require(path, sd, "pos_emb_txt.weight", 2, WHAT, "shape [ctx_len_txt, embed_dim]")[0]
    n_img = require(path, sd, "pos_emb_img.weight", 2, WHAT, "shape [ctx_len_img, embed_dim]")[0]
    d_ff = require(path, sd, "blocks.0.mlp.0.weight", 2, WHAT, "shape [4 embed_dim, embed_dim]")[0]
    n_layers = sum(1 for k in sd if k.startswith("blocks.") and k.endswith(".ln1.weight"))
    grid = square_side(path, "pos_emb_img.weight", n_img)
    hp = _section(config, "stage2", "hparams")
    for key, have in (("embed_dim", d), ("ctx_len_txt", T), ("ctx_len_img", n_img), ("n_layers", n_layers)):
        if key in hp and hp[key] != have:
            raise ConvertError("%s: stage2.hparams.%s is %r but %s has %d" % (config_path, key, hp[key], path, have))
    for key, have in (("vocab_size_txt", vt), ("vocab_size_img", vi)):
        if key in _section(config, "stage2") and config["stage2"][key] != have:
            raise ConvertError("%s: stage2.%s is %r but %s has %d" % (config_path, key, config["stage2"][key], path,
                                                                      have))
    if hp.get("gelu_use_approx"):
        raise ConvertError("%s: stage2.hparams.gelu_use_approx (x * sigmoid(1.702 x)) is not supported" % config_path)
    n_heads = hp.get("n_heads", 24)
    if not isinstance(n_heads, int) or n_heads < 1 or d % n_heads:
        raise ConvertError("%s: stage2.hparams.n_heads %r does not divide embed_dim %d" % (config_path, n_heads, d))
    return dict(text_len=T, text_vocab=vt, grid=grid, image_vocab=vi, d_model=d, n_heads=n_heads,
                n_layers=n_layers, d_ff=d_ff, ln_eps=1e-5, attn_types=["full"] * n_layers, conv_kernel=1,
                conv_wrap=False, image_start=False, image_pos="linear", **sampling(TOP_K, vi))


def expected(cfg):
    d, f = cfg["d_model"], cfg["d_ff"]
    out = [("tok_emb_txt.weight", [cfg["text_vocab"], d]), ("tok_emb_img.weight", [cfg["image_vocab"], d]),
           ("pos_emb_txt.weight", [cfg["text_len"], d]), ("pos_emb_img.weight", [cfg["grid"] ** 2, d])]
    shapes = {"ln1": [d], "ln2": [d], "attn.proj": [d, d], "mlp.0": [f, d], "mlp.2": [d, f]}
    for layer in range(cfg["n_layers"]):
        for _, up in LAYER:
            stem, wb = up.rsplit(".", 1)
            shape = shapes[stem] if wb == "weight" or len(shapes[stem]) == 1 else shapes[stem][:1]
            out.append(("blocks.%d.%s" % (layer, up), shape))
        for part in QKV:
            out += [("blocks.%d.attn.%s.weight" % (layer, part), [d, d]),
                    ("blocks.%d.attn.%s.bias" % (layer, part), [d])]
    return out + [("ln_f.weight", [d]), ("ln_f.bias", [d]), ("head_img.weight", [cfg["image_vocab"], d])]


def plan(stack, folder):
    """Plan of the whole model file from minDALL-E's folder; stack keeps the inputs open."""
    from . import charbpe  # the tokenizer's module (tokenizer.* keys)
    paths = inputs(folder)
    config = read_yaml(paths["config.yaml"])
    path = paths["stage2_last.ckpt"]
    ck = stack.enter_context(open_checkpoint(path, opaque=OPAQUE, what="a " + WHAT))
    sd = flat_state_dict(path, ck.root, "a " + WHAT)
    cfg = read_config(path, sd, paths["config.yaml"], config)
    match_tensors(path, sd, expected(cfg), WHAT, ignore=IGNORED)
    vt, vi, d, T = cfg["text_vocab"], cfg["image_vocab"], cfg["d_model"], cfg["text_len"]
    vocab, merges = paths["tokenizer/bpe-16k-vocab.json"], paths["tokenizer/bpe-16k-merges.txt"]
    pad = charbpe.pad_id(vocab, merges)
    if pad >= vt:
        raise ConvertError("%s: the '[PAD]' id %d is not below the %d rows of 'tok_emb_txt.weight' in %s"
                           % (vocab, pad, vt, path))
    p = Plan()
    add_dalle_keys(p, cfg)
    add_keys(p, charbpe.gguf_keys(vocab, merges))

    def tensor(mine, up, shape, fn=None):
        t = sd[up]
        p.tensor(mine, shape, (lambda: fn(t.numpy())) if fn else t.numpy, (path, up))

    tensor("text_emb", "tok_emb_txt.weight", [vt + T, d],
           lambda w: np.concatenate([w, np.repeat(w[pad:pad + 1], T, 0)]))
    tensor("text_pos_emb", "pos_emb_txt.weight", [T, d])
    tensor("image_emb", "tok_emb_img.weight", [vi, d])
    tensor("image_pos_emb", "pos_emb_img.weight", [cfg["grid"] ** 2, d])
    for layer in range(cfg["n_layers"]):
        for mine, up in LAYER:
            up = "blocks.%d.%s" % (layer, up)
            tensor("blk.%d.%s" % (layer, mine), up, sd[up].shape)  # shapes checked by match_tensors
        for wb, shape in (("weight", [3 * d, d]), ("bias", [3 * d])):
            parts = [sd["blocks.%d.attn.%s.%s" % (layer, q, wb)] for q in QKV]
            p.tensor("blk.%d.attn.qkv.%s" % (layer, wb[0]), shape,
                     lambda parts=parts: np.concatenate([t.numpy() for t in parts]),
                     (path, "blocks.%d.attn.{query,key,value}.%s" % (layer, wb)))
    tensor("ln_f.w", "ln_f.weight", [d])
    tensor("ln_f.b", "ln_f.bias", [d])
    tensor("image_logits.w", "head_img.weight", [vi, d])
    p.tensor("image_logits.b", [vi], lambda: np.zeros(vi, np.float32), None)
    res = _section(config, "stage1", "hparams").get("resolution")
    stage1 = paths["stage1_last.ckpt"]
    attach_vqgan(stack, p, stage1, cfg["grid"], vi, path)
    got = dict((k, v) for _, k, v in p.keys)["vqgan.resolution"]
    if res is not None and res != got:
        raise ConvertError("%s: stage1.hparams.resolution is %r but %s decodes the %dx%d grid of %s to %d px"
                           % (paths["config.yaml"], res, stage1, cfg["grid"], cfg["grid"], path, got))
    return p
