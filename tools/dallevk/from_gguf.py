"""A dalle-vk model file (GGUF, docs/model-format.md) -> the PyTorch reference objects.

The inverse of export.py (tools/export_gguf.py), driven by the same name tables (transformer_table,
TRANSFORMER_OPTIONS, dvae_decoder_schema, dvae_encoder_schema), so the two cannot drift:

    m = load_model("assets/dalle-emoji.gguf")           # float32; dtype=torch.float64 for goldens
    m.dalle          # transformer.Dalle (eval mode) with m.dalle.cfg a DalleConfig; None if absent
    m.decoder        # dvae.Decoder (eval mode), m.dvae_cfg a DvaeConfig; None if absent
    m.encoder        # dvae.Encoder when dvae.has_encoder, else None
    m.vqgan          # vqgan.Vqgan (eval mode; its encoder when vqgan.has_encoder) when the file has vqgan.* keys
                     # (the image decoder instead of the dVAE), else None
    m.bpe            # bpe.BPE from tokenizer.bpe.merges; None if absent
    m.clip           # clip.Clip reranker (eval mode, m.clip.cfg a ClipConfig) when the file has clip.* keys
    m.f16            # True when any tensor is stored as f16 (the engine's tolerance class)

Conversions: f16 tensors become float32 exactly (then `dtype`); `dvae.dec.blocks.input.w`, stored
transposed as [vocab, n_init], goes back to OpenAI's [n_init, vocab, 1, 1]; the text head
`text_logits.w` (training only, never exported) is set to zeros; the reranker's key clip.logit_scale (the
multiplier s) becomes the log-scale parameter ln(s). Every tensor a section needs must be
present with its exact shape, and a file tensor that no table names is an error (ValueError naming
the tensor), as in the exporter.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from . import export as X  # the name tables
from . import vqgan as V
from .bpe import BPE
from .clip import Clip, ClipConfig
from .dvae import Decoder, DvaeConfig, Encoder
from .gguf import GGMLType, GGUFReader
from .transformer import Dalle, DalleConfig


@dataclass
class GGUFModel:
    path: Optional[str]
    reader: GGUFReader
    dalle: Optional[Dalle]
    dvae_cfg: Optional[DvaeConfig]
    decoder: Optional[Decoder]
    encoder: Optional[Encoder]
    bpe: Optional[BPE]
    f16: bool
    clip: Optional[Clip] = None
    cond_scale: float = 1.0  # dalle.cond_scale: recommended classifier-free guidance scale (1 = none)
    temperature: float = 1.0  # dalle.temperature: recommended sampling temperature
    top_p: float = 1.0  # dalle.top_p: recommended nucleus sampling mass (1 = off)
    prune_rows: tuple = ()  # clip.prune_rows as row numbers: recommended pruning rows (none when absent)
    vqgan: Optional[V.Vqgan] = None  # the VQGAN image decoder (vqgan.* keys), instead of the dVAE
    decoding: str = "sample"  # dalle.decoding: recommended decoding, "sample" or "beam"
    beam_width: int = 0  # dalle.beam_width: recommended candidates with beam search (0: as with sampling)
    beam_sampled_rows: int = 0  # dalle.beam_sampled_rows: recommended rows sampled before the beam search


def read_dalle_config(r):
    """DalleConfig from the dalle.* keys; None when the file has no transformer."""
    if "dalle.d_model" not in r.fields:
        return None
    kw = {field: r.get(key) for key, field, _ in X.TRANSFORMER_KEYS}
    kw["conv_wrap"] = bool(kw["conv_wrap"])
    kw["attn_types"] = list(r.get("dalle.attn_types"))
    for key, field, _, default, _ in X.TRANSFORMER_OPTIONS:
        v = r.get(key, default)
        kw[field] = v if isinstance(default, str) else type(default)(v)

    def fail(msg):
        raise ValueError("%s: %s" % (r.path, msg))
    X.check_options(kw, fail)
    return DalleConfig(**kw)


def read_dvae_config(r):
    """DvaeConfig from the dvae.* keys; None when the file has no dVAE."""
    if "dvae.vocab_size" not in r.fields:
        return None
    return DvaeConfig(**{field: int(r.get(key)) for key, field in X.DVAE_KEYS})


def read_clip_config(r, dalle_cfg):
    """ClipConfig from the clip.* keys (T, Vt, G, Vi from dalle.*); None when the file has no reranker."""
    if not any(k.startswith("clip.") for k in r.fields):
        return None
    if dalle_cfg is None:
        raise ValueError("%s: clip.* keys without the dalle.* keys" % r.path)
    missing = [k for k, _, _ in X.CLIP_KEYS if k not in r.fields] + \
        [k for k in (X.CLIP_LOGIT_SCALE[1],) if k not in r.fields]
    if missing:
        raise ValueError("%s: reranker keys missing: %s" % (r.path, missing))
    kw = {field: r.get(key) for key, field, _ in X.CLIP_KEYS}
    kw.update({f: getattr(dalle_cfg, f) for f in X.CLIP_SHARED})
    if kw["d_model"] % kw["n_heads"] or (kw["d_model"] // kw["n_heads"]) % 4:
        raise ValueError("%s: clip.d_model %d / clip.n_heads %d: d_head must be a whole multiple of 4"
                         % (r.path, kw["d_model"], kw["n_heads"]))
    return ClipConfig(**kw)


def _tensor(r, name, shape, used):
    """The file tensor `name` as a float32 torch tensor of PyTorch shape `shape`."""
    t = r.tensors.get(name)
    if t is None:
        raise ValueError("%s: tensor %r is missing" % (r.path, name))
    if tuple(t.shape) != tuple(shape):
        raise ValueError("%s: tensor %r has shape %s, expected %s" % (r.path, name, list(t.shape), list(shape)))
    used.add(name)
    return torch.from_numpy(np.array(t.data, dtype=np.float32))


def _dalle_state(r, cfg, used):
    sd = {p: _tensor(r, g, shape, used) for p, g, shape in X.transformer_table(cfg.to_dict())}
    sd["text_logits.w"] = torch.zeros(cfg.text_vocab, cfg.d_model)  # not in the file (training only)
    return sd


def _dvae_state(r, cfg, part, used):
    c = cfg.to_dict()
    schema = X.dvae_decoder_schema(c) if part == "dec" else X.dvae_encoder_schema(c)
    sd = {}
    for name, shape in schema:
        gname = "dvae.%s.%s" % (part, name)
        if part == "dec" and name == X.DEC_INPUT:  # stored [vocab, n_init]: an embedding table
            sd[name] = _tensor(r, gname, (shape[1], shape[0]), used).t().reshape(shape).contiguous()
        else:
            sd[name] = _tensor(r, gname, shape, used)
    return sd


def _clip_state(r, cfg, used):
    sd = {p: _tensor(r, g, shape, used) for p, g, shape in X.clip_table(cfg.to_dict())}
    s = float(r.get(X.CLIP_LOGIT_SCALE[1]))
    if not 0 < s <= X.CLIP_LOGIT_SCALE_MAX:
        raise ValueError("%s: clip.logit_scale %r is outside (0, %g]" % (r.path, s, X.CLIP_LOGIT_SCALE_MAX))
    sd[X.CLIP_LOGIT_SCALE[0]] = torch.tensor(math.log(s), dtype=torch.float64)
    return sd


def _load_module(module, sd, dtype):
    module.load_state_dict(sd, strict=True)
    return module.to(dtype).eval()


def load_model(path=None, dtype=torch.float32, data=None):
    """Reads the model file at `path` (or the bytes `data`) into a GGUFModel (see the module doc).
    Raises gguf.GGUFError for a malformed file and ValueError for a missing, misshapen or unknown
    tensor. Modules are in eval mode, parameters of `dtype`, no gradients needed by callers."""
    r = GGUFReader(path, data=data)
    used = set()
    cfg = read_dalle_config(r)
    dalle = None if cfg is None else _load_module(Dalle(cfg), _dalle_state(r, cfg, used), dtype)
    vcfg = read_dvae_config(r)
    decoder = encoder = None
    if vcfg is not None:
        decoder = _load_module(Decoder(vcfg), _dvae_state(r, vcfg, "dec", used), dtype)
        if r.get("dvae.has_encoder", False):
            encoder = _load_module(Encoder(vcfg), _dvae_state(r, vcfg, "enc", used), dtype)
    vqgan = None
    if V.PREFIX + "ch" in r.fields:
        vqgan = V.from_gguf(r, dtype)
        used |= {V.PREFIX + name for name, _ in V.schema(vqgan.cfg, hasattr(vqgan, "enc"))}
    bpe = None
    if "tokenizer.bpe.merges" in r.fields:
        bpe = BPE(np.asarray(r.get("tokenizer.bpe.merges"), dtype=np.int64).reshape(-1, 2).tolist())
    ccfg = read_clip_config(r, cfg)
    clip = None
    if ccfg is not None:
        csd = _clip_state(r, ccfg, used)
        clip = _load_module(Clip(ccfg), csd, dtype)
        with torch.no_grad():  # ln(s) in the target dtype (load_state_dict rounded it to float32 first)
            clip.logit_scale.fill_(csd[X.CLIP_LOGIT_SCALE[0]].item())
    unknown = sorted(set(r.tensors) - used)
    if unknown:
        raise ValueError("%s: tensors no table names: %s" % (path, unknown))
    f16 = any(t.type == GGMLType.F16 for t in r.tensors.values())
    cond_scale = float(r.get("dalle.cond_scale", 1.0))
    return GGUFModel(path, r, dalle, vcfg, decoder, encoder, bpe, f16, clip, cond_scale,
                     float(r.get("dalle.temperature", 1.0)), float(r.get("dalle.top_p", 1.0)),
                     tuple(b for b in range(64) if int(r.get("clip.prune_rows", 0)) >> b & 1), vqgan,
                     str(r.get("dalle.decoding", "sample")), int(r.get("dalle.beam_width", 0)),
                     int(r.get("dalle.beam_sampled_rows", 0)))
