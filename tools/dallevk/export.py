"""Checkpoint -> GGUF model file (docs/model-format.md): the name tables and the writer behind
tools/export_gguf.py, also read by from_gguf.py (the inverse) and the fixture/golden generators.

Tensor names come from the explicit tables below (PyTorch state_dict name -> GGUF name, with the
expected shape from the config); every state_dict entry must be mapped or listed as skipped, and
every shape must match, so a model change cannot silently produce a file the engine misreads.
Errors raise SystemExit with a message naming the input and the problem.
"""
import math

import numpy as np

from .gguf import FILE_TYPES, GGUFReader, GGUFValueType as T, GGUFWriter, add_general, copy_field, tensor_type

ARCH = "dalle"
TOKENIZER_MODEL = "dalle-vk-bpe-1"
TOKENIZER_NORMALIZATION = "ascii-lowercase,collapse-ascii-whitespace,strip"

# --- transformer: tools/dallevk/transformer.py state_dict -> GGUF ---------------------------------
# Architecture options (docs/model-format.md §2): (GGUF key, config field, value type, default, allowed values
# or None). A key is written only when its value differs from the default, so a file without it means the
# default (the emoji model's architecture).
TRANSFORMER_OPTIONS = [
    ("dalle.image_start", "image_start", T.BOOL, True, (True, False)),
    ("dalle.image_pos", "image_pos", T.STRING, "axial", ("axial", "linear")),
    ("dalle.norm", "norm", T.STRING, "pre", ("pre", "sandwich")),
    ("dalle.gelu", "gelu", T.STRING, "erf", ("erf", "tanh")),
    ("dalle.final_norms", "final_norms", T.UINT32, 1, (1, 2)),
    ("dalle.attn_out_clamp", "attn_out_clamp", T.FLOAT32, 0.0, None),  # > 0 when present
    ("dalle.mask_image0", "mask_image0", T.UINT32, 0, None),  # 1 .. text_len + grid^2 when present
]


def option(c, field):
    """Option `field` of the config dict c (its default when c predates the option)."""
    for _, f, _, default, _ in TRANSFORMER_OPTIONS:
        if f == field:
            return c.get(field, default)
    raise KeyError(field)


def _axial(c):
    return option(c, "image_pos") == "axial"


def _sandwich(c):
    return option(c, "norm") == "sandwich"


# (PyTorch name, GGUF name, shape from the DalleConfig c, present(c) or None = always); {l} = the layer index.
TRANSFORMER_TENSORS = [
    ("text_emb", "text_emb", lambda c: (c["text_vocab"] + c["text_len"], c["d_model"]), None),
    ("text_pos_emb", "text_pos_emb", lambda c: (c["text_len"], c["d_model"]), None),
    ("image_start", "image_start", lambda c: (c["d_model"],), lambda c: option(c, "image_start")),
    ("image_emb", "image_emb", lambda c: (c["image_vocab"], c["d_model"]), None),
    ("image_row_emb", "image_row_emb", lambda c: (c["grid"], c["d_model"]), _axial),
    ("image_col_emb", "image_col_emb", lambda c: (c["grid"], c["d_model"]), _axial),
    ("image_pos_emb", "image_pos_emb", lambda c: (c["grid"] ** 2, c["d_model"]), lambda c: not _axial(c)),
    ("ln_f.w", "ln_f.w", lambda c: (c["d_model"],), None),
    ("ln_f.b", "ln_f.b", lambda c: (c["d_model"],), None),
    ("ln_f2.w", "ln_f2.w", lambda c: (c["d_model"],), lambda c: option(c, "final_norms") == 2),
    ("ln_f2.b", "ln_f2.b", lambda c: (c["d_model"],), lambda c: option(c, "final_norms") == 2),
    ("image_logits.w", "image_logits.w", lambda c: (c["image_vocab"], c["d_model"]), None),
    ("image_logits.b", "image_logits.b", lambda c: (c["image_vocab"],), None),
]
TRANSFORMER_LAYER_TENSORS = [
    ("layers.{l}.ln1.w", "blk.{l}.ln1.w", lambda c: (c["d_model"],), None),
    ("layers.{l}.ln1.b", "blk.{l}.ln1.b", lambda c: (c["d_model"],), None),
    ("layers.{l}.attn.qkv.w", "blk.{l}.attn.qkv.w", lambda c: (3 * c["d_model"], c["d_model"]), None),
    ("layers.{l}.attn.qkv.b", "blk.{l}.attn.qkv.b", lambda c: (3 * c["d_model"],), None),
    ("layers.{l}.attn.out.w", "blk.{l}.attn.out.w", lambda c: (c["d_model"], c["d_model"]), None),
    ("layers.{l}.attn.out.b", "blk.{l}.attn.out.b", lambda c: (c["d_model"],), None),
    ("layers.{l}.attn.post_ln.w", "blk.{l}.attn.post_ln.w", lambda c: (c["d_model"],), _sandwich),
    ("layers.{l}.attn.post_ln.b", "blk.{l}.attn.post_ln.b", lambda c: (c["d_model"],), _sandwich),
    ("layers.{l}.ln2.w", "blk.{l}.ln2.w", lambda c: (c["d_model"],), None),
    ("layers.{l}.ln2.b", "blk.{l}.ln2.b", lambda c: (c["d_model"],), None),
    ("layers.{l}.mlp.fc1.w", "blk.{l}.mlp.fc1.w", lambda c: (c["d_ff"], c["d_model"]), None),
    ("layers.{l}.mlp.fc1.b", "blk.{l}.mlp.fc1.b", lambda c: (c["d_ff"],), None),
    ("layers.{l}.mlp.fc2.w", "blk.{l}.mlp.fc2.w", lambda c: (c["d_model"], c["d_ff"]), None),
    ("layers.{l}.mlp.fc2.b", "blk.{l}.mlp.fc2.b", lambda c: (c["d_model"],), None),
    ("layers.{l}.mlp.post_ln.w", "blk.{l}.mlp.post_ln.w", lambda c: (c["d_model"],), _sandwich),
    ("layers.{l}.mlp.post_ln.b", "blk.{l}.mlp.post_ln.b", lambda c: (c["d_model"],), _sandwich),
]
TRANSFORMER_SKIP = {"text_logits.w"}  # training only (text loss); the engine never needs it


def transformer_table(c):
    """[(PyTorch name, GGUF name, shape)] of the transformer with config dict c, in file order."""
    table = [(p, g, s(c)) for p, g, s, when in TRANSFORMER_TENSORS if when is None or when(c)]
    for layer in range(c["n_layers"]):
        table += [(p.format(l=layer), g.format(l=layer), s(c)) for p, g, s, when in TRANSFORMER_LAYER_TENSORS
                  if when is None or when(c)]
    return table


def check_options(c, fail):
    """The option rules of docs/model-format.md §2; fail(message) raises."""
    for key, field, _, _, allowed in TRANSFORMER_OPTIONS:
        v = option(c, field)
        if allowed is not None and v not in allowed:
            fail("%s is %r, expected one of %s" % (key, v, list(allowed)))
    if not option(c, "attn_out_clamp") >= 0:
        fail("dalle.attn_out_clamp must be > 0 (absent: no clamp)")
    m0, image0 = option(c, "mask_image0"), c["text_len"] + (1 if option(c, "image_start") else 0)
    if m0 and not image0 - 1 <= m0 <= c["text_len"] + c["grid"] ** 2:
        fail("dalle.mask_image0 %d is outside image0 - 1 .. text_len + grid^2 (image0 = %d)" % (m0, image0))


# (GGUF key, config field, value type)
TRANSFORMER_KEYS = [
    ("dalle.text_len", "text_len", T.UINT32), ("dalle.text_vocab", "text_vocab", T.UINT32),
    ("dalle.grid", "grid", T.UINT32), ("dalle.image_vocab", "image_vocab", T.UINT32),
    ("dalle.d_model", "d_model", T.UINT32), ("dalle.n_heads", "n_heads", T.UINT32),
    ("dalle.n_layers", "n_layers", T.UINT32), ("dalle.d_ff", "d_ff", T.UINT32),
    ("dalle.ln_eps", "ln_eps", T.FLOAT32), ("dalle.conv_kernel", "conv_kernel", T.UINT32),
    ("dalle.conv_wrap", "conv_wrap", T.BOOL),
]
ATTN_TYPES = ("full", "row", "col", "conv")

# --- reranker: tools/dallevk/clip.py state_dict -> GGUF (all optional: no clip.* keys = no reranker) --
# (PyTorch name, GGUF name, shape from the ClipConfig c)
CLIP_TENSORS = [
    ("text.tok_emb", "clip.text.tok_emb", lambda c: (c["text_vocab"] + c["text_len"], c["d_model"])),
    ("text.pos_emb", "clip.text.pos_emb", lambda c: (c["text_len"], c["d_model"])),
    ("text.ln_f.w", "clip.text.ln_f.w", lambda c: (c["d_model"],)),
    ("text.ln_f.b", "clip.text.ln_f.b", lambda c: (c["d_model"],)),
    ("text.proj.w", "clip.text.proj.w", lambda c: (c["d_embed"], c["d_model"])),
    ("image.tok_emb", "clip.image.tok_emb", lambda c: (c["image_vocab"], c["d_model"])),
    ("image.row_emb", "clip.image.row_emb", lambda c: (c["grid"], c["d_model"])),
    ("image.col_emb", "clip.image.col_emb", lambda c: (c["grid"], c["d_model"])),
    ("image.ln_f.w", "clip.image.ln_f.w", lambda c: (c["d_model"],)),
    ("image.ln_f.b", "clip.image.ln_f.b", lambda c: (c["d_model"],)),
    ("image.proj.w", "clip.image.proj.w", lambda c: (c["d_embed"], c["d_model"])),
]
# {t} = tower ("text": layers 0..text_layers-1, "image": 0..image_layers-1), {l} = layer
CLIP_LAYER_TENSORS = [
    ("{t}.blk.{l}.ln1.w", "clip.{t}.blk.{l}.ln1.w", lambda c: (c["d_model"],)),
    ("{t}.blk.{l}.ln1.b", "clip.{t}.blk.{l}.ln1.b", lambda c: (c["d_model"],)),
    ("{t}.blk.{l}.attn.qkv.w", "clip.{t}.blk.{l}.attn.qkv.w", lambda c: (3 * c["d_model"], c["d_model"])),
    ("{t}.blk.{l}.attn.qkv.b", "clip.{t}.blk.{l}.attn.qkv.b", lambda c: (3 * c["d_model"],)),
    ("{t}.blk.{l}.attn.out.w", "clip.{t}.blk.{l}.attn.out.w", lambda c: (c["d_model"], c["d_model"])),
    ("{t}.blk.{l}.attn.out.b", "clip.{t}.blk.{l}.attn.out.b", lambda c: (c["d_model"],)),
    ("{t}.blk.{l}.ln2.w", "clip.{t}.blk.{l}.ln2.w", lambda c: (c["d_model"],)),
    ("{t}.blk.{l}.ln2.b", "clip.{t}.blk.{l}.ln2.b", lambda c: (c["d_model"],)),
    ("{t}.blk.{l}.mlp.fc1.w", "clip.{t}.blk.{l}.mlp.fc1.w", lambda c: (c["d_ff"], c["d_model"])),
    ("{t}.blk.{l}.mlp.fc1.b", "clip.{t}.blk.{l}.mlp.fc1.b", lambda c: (c["d_ff"],)),
    ("{t}.blk.{l}.mlp.fc2.w", "clip.{t}.blk.{l}.mlp.fc2.w", lambda c: (c["d_model"], c["d_ff"])),
    ("{t}.blk.{l}.mlp.fc2.b", "clip.{t}.blk.{l}.mlp.fc2.b", lambda c: (c["d_model"],)),
]
CLIP_TOWERS = (("text", "text_layers"), ("image", "image_layers"))
# (GGUF key, ClipConfig field, value type); text_len / text_vocab / grid / image_vocab are the dalle.* keys
CLIP_KEYS = [
    ("clip.d_model", "d_model", T.UINT32), ("clip.n_heads", "n_heads", T.UINT32),
    ("clip.d_ff", "d_ff", T.UINT32), ("clip.text_layers", "text_layers", T.UINT32),
    ("clip.image_layers", "image_layers", T.UINT32), ("clip.d_embed", "d_embed", T.UINT32),
    ("clip.ln_eps", "ln_eps", T.FLOAT32),
]
CLIP_SHARED = ("text_len", "text_vocab", "grid", "image_vocab")  # must equal the transformer's
# the learned log-scale parameter is written as the key clip.logit_scale (float32) = min(exp(.), 100)
CLIP_LOGIT_SCALE = ("logit_scale", "clip.logit_scale")
CLIP_LOGIT_SCALE_MAX = 100.0

DVAE_KEYS = [
    ("dvae.group_count", "group_count"), ("dvae.n_hid", "n_hid"),
    ("dvae.n_blk_per_group", "n_blk_per_group"), ("dvae.vocab_size", "vocab_size"),
    ("dvae.n_init", "n_init"), ("dvae.input_channels", "input_channels"),
    ("dvae.output_channels", "output_channels"), ("dvae.image_size", "image_size"),
]


# --- dVAE: OpenAI names (tools/dallevk/dvae.py) under dvae.dec. / dvae.enc. -----------------------
def _block_tensors(prefix, n_in, n_out, kernels):
    h = n_out // 4
    out = []
    if n_in != n_out:
        out += [(prefix + "id_path.w", (n_out, n_in, 1, 1)), (prefix + "id_path.b", (n_out,))]
    widths = [n_in, h, h, h, n_out]
    for i, k in enumerate(kernels):
        out += [(prefix + "res_path.conv_%d.w" % (i + 1), (widths[i + 1], widths[i], k, k)),
                (prefix + "res_path.conv_%d.b" % (i + 1), (widths[i + 1],))]
    return out


def dvae_decoder_schema(c):
    """[(OpenAI name, PyTorch shape)] of the decoder, in forward order."""
    out = [("blocks.input.w", (c["n_init"], c["vocab_size"], 1, 1)), ("blocks.input.b", (c["n_init"],))]
    n_prev = c["n_init"]
    for g in range(c["group_count"]):
        n = c["n_hid"] * 2 ** (c["group_count"] - 1 - g)
        for i in range(c["n_blk_per_group"]):
            out += _block_tensors("blocks.group_%d.block_%d." % (g + 1, i + 1), n_prev if i == 0 else n, n,
                                  (1, 3, 3, 3))
        n_prev = n
    out += [("blocks.output.conv.w", (2 * c["output_channels"], n_prev, 1, 1)),
            ("blocks.output.conv.b", (2 * c["output_channels"],))]
    return out


def dvae_encoder_schema(c):
    out = [("blocks.input.w", (c["n_hid"], c["input_channels"], 7, 7)), ("blocks.input.b", (c["n_hid"],))]
    n_prev = c["n_hid"]
    for g in range(c["group_count"]):
        n = c["n_hid"] * 2 ** g
        for i in range(c["n_blk_per_group"]):
            out += _block_tensors("blocks.group_%d.block_%d." % (g + 1, i + 1), n_prev if i == 0 else n, n,
                                  (3, 3, 3, 1))
        n_prev = n
    out += [("blocks.output.conv.w", (c["vocab_size"], n_prev, 1, 1)),
            ("blocks.output.conv.b", (c["vocab_size"],))]
    return out


# The decoder's input 1x1 conv on one-hot codes is an embedding gather: it is stored transposed,
# [vocab, n_init] (row = one code's n_init-vector, contiguous), not as OpenAI's [n_init, vocab, 1, 1].
DEC_INPUT = "blocks.input.w"


def _np(t):
    return t.detach().cpu().float().numpy() if hasattr(t, "detach") else np.asarray(t, np.float32)


def _check_mapping(sd, mapped, skip, what):
    extra = sorted(set(sd) - set(mapped) - set(skip))
    missing = sorted(set(mapped) - set(sd))
    if extra or missing:
        raise SystemExit("export_gguf: %s state_dict does not match the mapping table:\n  unmapped: %s\n"
                         "  missing: %s\n(update the tables in tools/export_gguf.py and docs/model-format.md)"
                         % (what, extra, missing))


def _check_shape(what, name, arr, shape):
    if tuple(arr.shape) != tuple(shape):
        raise SystemExit("export_gguf: %s tensor %r has shape %s, expected %s"
                         % (what, name, list(arr.shape), list(shape)))


def _table_tensors(sd, table, skip, what):
    """[(GGUF name, float32 array)] of a [(PyTorch name, GGUF name, shape)] table from state_dict sd: every
    name present (besides skip), every shape as the table says."""
    _check_mapping(sd, [p for p, _, _ in table], skip, what)
    out = []
    for p, g, shape in table:
        arr = _np(sd[p])
        _check_shape(what, p, arr, shape)
        out.append((g, arr))
    return out


def transformer_tensors(sd, c):
    """[(GGUF name, float32 array)] from the Dalle state_dict, checked against the schema."""
    return _table_tensors(sd, transformer_table(c), TRANSFORMER_SKIP, "transformer")


def clip_table(c):
    """[(PyTorch name, GGUF name, shape)] of the reranker with ClipConfig dict c, in file order."""
    table = []
    for tower, n_key in CLIP_TOWERS:
        table += [(p, g, s(c)) for p, g, s in CLIP_TENSORS if p.startswith(tower + ".")]
        for layer in range(c[n_key]):
            table += [(p.format(t=tower, l=layer), g.format(t=tower, l=layer), s(c))
                      for p, g, s in CLIP_LAYER_TENSORS]
    return table


def clip_tensors(sd, c):
    """[(GGUF name, float32 array)] from the Clip state_dict, checked against the schema."""
    return _table_tensors(sd, clip_table(c), {CLIP_LOGIT_SCALE[0]}, "reranker (clip)")


def dvae_tensors(sd, c, part):
    """[(GGUF name, float32 array)] for part "dec" or "enc"."""
    schema = dvae_decoder_schema(c) if part == "dec" else dvae_encoder_schema(c)
    _check_mapping(sd, [n for n, _ in schema], (), "dVAE " + part)
    out = []
    for name, shape in schema:
        arr = _np(sd[name])
        _check_shape("dVAE " + part, name, arr, shape)
        if part == "dec" and name == DEC_INPUT:
            arr = np.ascontiguousarray(arr[:, :, 0, 0].T)  # [vocab, n_init]
        out.append(("dvae.%s.%s" % (part, name), arr))
    return out


def load_checkpoint(path):
    """A torch.save'd checkpoint dict, loaded on the CPU."""
    import torch
    return torch.load(path, map_location="cpu")


def model_state(ckpt):
    """The model state_dict of a transformer or reranker checkpoint (key "model", "dalle" or "state_dict")."""
    for k in ("model", "dalle", "state_dict"):
        if k in ckpt:
            return ckpt[k]
    raise SystemExit("export_gguf: no 'model' state_dict in the transformer checkpoint (keys: %s)"
                     % sorted(ckpt))


def _export_fail(msg):
    raise SystemExit("export_gguf: " + msg)


def add_transformer(w, cfg, sd):
    for key, field, vt in TRANSFORMER_KEYS:
        w.add_scalar(key, cfg[field], vt)
    check_options(cfg, _export_fail)
    for key, field, vt, default, _ in TRANSFORMER_OPTIONS:
        if option(cfg, field) != default:
            w.add_scalar(key, option(cfg, field), vt)
    types = list(cfg["attn_types"])
    if len(types) != cfg["n_layers"] or not all(t in ATTN_TYPES for t in types):
        raise SystemExit("export_gguf: attn_types %s do not match n_layers / %s" % (types, ATTN_TYPES))
    w.add_array("dalle.attn_types", types, T.STRING)
    return transformer_tensors(sd, cfg)


def check_clip_config(cfg, dalle_cfg):
    """Rules of docs/model-format.md §4 for the reranker (also used by the loader)."""
    if dalle_cfg is None:
        raise SystemExit("export_gguf: the reranker (--clip) needs the transformer (--dalle): its text_len, "
                         "text_vocab, grid and image_vocab are the dalle.* keys")
    for f in CLIP_SHARED:
        if cfg[f] != dalle_cfg[f]:
            raise SystemExit("export_gguf: reranker %s %d != dalle.%s %d" % (f, cfg[f], f, dalle_cfg[f]))
    if cfg["d_model"] % cfg["n_heads"] or (cfg["d_model"] // cfg["n_heads"]) % 4:
        raise SystemExit("export_gguf: clip.d_model %d / clip.n_heads %d: d_head must be a whole multiple of 4"
                         % (cfg["d_model"], cfg["n_heads"]))


def add_clip(w, cfg, sd, dalle_cfg):
    check_clip_config(cfg, dalle_cfg)
    for key, field, vt in CLIP_KEYS:
        w.add_scalar(key, cfg[field], vt)
    log_scale = float(sd[CLIP_LOGIT_SCALE[0]])
    w.add_float32(CLIP_LOGIT_SCALE[1], min(math.exp(log_scale), CLIP_LOGIT_SCALE_MAX))
    return clip_tensors(sd, cfg)


def add_dvae(w, cfg, dec_sd, enc_sd):
    for key, field in DVAE_KEYS:
        w.add_uint32(key, cfg[field])
    w.add_bool("dvae.has_encoder", enc_sd is not None)
    out = dvae_tensors(dec_sd, cfg, "dec")
    if enc_sd is not None:
        out += dvae_tensors(enc_sd, cfg, "enc")
    return out


def add_tokenizer(w, merges):
    merges = np.asarray(merges, dtype=np.int64).reshape(-1, 2)
    for r, (a, b) in enumerate(merges):
        if not (0 <= a < 256 + r and 0 <= b < 256 + r):
            raise SystemExit("export_gguf: BPE merge %d uses id %d/%d not defined before it" % (r, a, b))
    w.add_string("tokenizer.model", TOKENIZER_MODEL)
    w.add_string("tokenizer.normalization", TOKENIZER_NORMALIZATION)
    w.add_uint32("tokenizer.bpe.vocab_size", 256 + len(merges))
    w.add_array("tokenizer.bpe.merges", merges.reshape(-1), T.UINT32)


def check_consistency(dalle_cfg, dvae_cfg, bpe_vocab):
    """The cross-section rules of docs/model-format.md."""
    if dalle_cfg and dvae_cfg:
        if dvae_cfg["vocab_size"] != dalle_cfg["image_vocab"]:
            raise SystemExit("export_gguf: dvae.vocab_size %d != dalle.image_vocab %d"
                             % (dvae_cfg["vocab_size"], dalle_cfg["image_vocab"]))
        grid = dvae_cfg["image_size"] // 2 ** (dvae_cfg["group_count"] - 1)
        if grid != dalle_cfg["grid"]:
            raise SystemExit("export_gguf: dVAE grid %d != dalle.grid %d" % (grid, dalle_cfg["grid"]))
    if dalle_cfg and bpe_vocab is not None and bpe_vocab > dalle_cfg["text_vocab"]:
        raise SystemExit("export_gguf: tokenizer vocab %d > dalle.text_vocab %d" % (bpe_vocab, dalle_cfg["text_vocab"]))


# recommended sampling settings stored in a model file: key -> upper bound of (0, bound]
SAMPLING_KEYS = {"cond_scale": 100, "temperature": 100, "top_p": 1}
# the recommended decoding (docs/model-format.md §2): "sample" | "beam", the beam width and the rows sampled first
DECODING_KEYS = ("decoding", "beam_width", "beam_sampled_rows")


def add_sampling(w, grid=None, image_vocab=None, **settings):
    """Adds the recommended settings that are not None to writer w: cond_scale, temperature, top_p (SAMPLING_KEYS)
    as dalle.<key> f32, a value outside (0, bound] an error; decoding ("sample" | "beam") as a string, beam_width
    (1..image_vocab) and beam_sampled_rows (0..grid-1) as u32."""
    for key, v in settings.items():
        if v is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "decoding":
            if v not in ("sample", "beam"):
                raise SystemExit("export_gguf: %s must be sample or beam, got %r" % (flag, v))
            w.add_string("dalle.decoding", v)
        elif key in DECODING_KEYS:
            lo, hi = (1, min(image_vocab, 4096)) if key == "beam_width" else (0, grid - 1)
            if not lo <= v <= hi:
                raise SystemExit("export_gguf: %s must be in %d..%d, got %d" % (flag, lo, hi, v))
            w.add_uint32("dalle." + key, v)
        else:
            hi = SAMPLING_KEYS[key]
            if not 0 < v <= hi:
                raise SystemExit("export_gguf: %s must be in (0, %g], got %g" % (flag, hi, v))
            w.add_float32("dalle." + key, v)


def export(out, dalle=None, dvae=None, merges=None, f16=False, encoder=True, name=None, license=None,
           description=None, clip=None, cond_scale=None, temperature=None, top_p=None, prune_rows=None,
           dtype=None, **decoding):
    """Writes the model file. dalle: (config dict, state_dict); dvae: (config dict, decoder state_dict,
    encoder state_dict or None); merges: list of (a, b); clip: (ClipConfig dict, Clip state_dict), needs
    dalle; cond_scale, temperature, top_p: the recommended sampling settings (dalle.cond_scale,
    dalle.temperature, dalle.top_p) and decoding (DECODING_KEYS: decoding, beam_width, beam_sampled_rows), need
    dalle; prune_rows: list of image rows after which to prune candidates
    by default (clip.prune_rows, a bit mask), needs clip. dtype: "f32", "f16" or "q8_0", the tensor types by
    gguf.tensor_type (None: "f16" when f16, else "f32"). Returns the number of tensors written."""
    dtype = dtype or ("f16" if f16 else "f32")
    if dalle is None and dvae is None and merges is None and clip is None:
        raise SystemExit("export_gguf: nothing to export")
    check_consistency(dalle[0] if dalle else None, dvae[0] if dvae else None,
                      256 + len(merges) if merges is not None else None)
    w = GGUFWriter()
    add_general(w, ARCH, dtype, name, license, description)
    tensors = []
    if dalle is not None:
        tensors += add_transformer(w, dalle[0], dalle[1])
        add_sampling(w, dalle[0]["grid"], dalle[0]["image_vocab"], cond_scale=cond_scale, temperature=temperature,
                     top_p=top_p, **decoding)
    elif (cond_scale, temperature, top_p) != (None, None, None) or any(v is not None for v in decoding.values()):
        raise SystemExit("export_gguf: --cond-scale / --temperature / --top-p / --decoding ... need the transformer "
                         "(--dalle)")
    if dvae is not None:
        tensors += add_dvae(w, dvae[0], dvae[1], dvae[2] if encoder else None)
    if clip is not None:
        tensors += add_clip(w, clip[0], clip[1], dalle[0] if dalle else None)
    if prune_rows:
        G = dalle[0]["grid"] if dalle else 0
        if clip is None or not all(0 <= r <= G - 2 and r < 63 for r in prune_rows):
            raise SystemExit("export_gguf: --prune-rows needs the reranker (--clip) and rows 0..grid-2, got %s"
                             % prune_rows)
        w.add_uint64("clip.prune_rows", sum(1 << r for r in set(prune_rows)))
    if merges is not None:
        add_tokenizer(w, merges)
    for gname, arr in tensors:
        w.add_tensor(gname, arr, tensor_type(dtype, arr.shape))
    w.write(out)
    return len(tensors)


def reencode(src, out, dtype, name=None, license=None, description=None, **sampling):
    """Writes model file src again with the tensor types of dtype ("f32", "f16", "q8_0"; gguf.tensor_type):
    every key copied (general.file_type set to dtype's), every tensor from its stored values (f16 and q8_0
    decoded exactly to f32 first). name, license, description (general.*) and sampling (the recommended
    sampling settings, add_sampling): values to set, None keeps src's. Keys keep src's order: with src's own
    types and values the file is written byte-identical. Returns the number of tensors written."""
    r = GGUFReader(src)
    text = {"general." + k: v for k, v in (("name", name), ("license", license), ("description", description)) if v}
    settings = {k: v for k, v in sampling.items() if v is not None}
    if settings and "dalle.n_layers" not in r.fields:
        raise SystemExit("export_gguf: %s has no transformer; --cond-scale / --temperature / --top-p / --decoding ... "
                         "need one" % src)
    limits = (r.get("dalle.grid", None), r.get("dalle.image_vocab", None))
    w = GGUFWriter(r.alignment)  # writes general.alignment itself
    for key in r.fields:
        if key == "general.file_type":
            w.add_uint32(key, FILE_TYPES[dtype])
        elif key in text:
            w.add_string(key, text.pop(key))
        elif key.startswith("dalle.") and key[6:] in settings:
            add_sampling(w, *limits, **{key[6:]: settings.pop(key[6:])})
        elif key != "general.alignment":
            copy_field(w, r, key)
    for key, v in text.items():  # the ones src does not have
        w.add_string(key, v)
    add_sampling(w, *limits, **settings)
    for name, t in r.tensors.items():
        w.add_tensor(name, np.asarray(t.data, np.float32), tensor_type(dtype, t.shape))
    w.write(out)
    return len(r.tensors)
