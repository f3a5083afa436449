"""What the public transformer converters (rudalle.py, mindalle.py) share: the dalle.* keys, the
tokenizer.* keys a tokenizer module returns, the VQGAN image decoder, and the flat state_dict check.

Each converter canonicalises its layout (docs/model-format.md §8.3, §8.4) into the engine's tensor
names of §3 plus the options of §2 (dalle.image_start, dalle.image_pos, dalle.norm, dalle.gelu,
dalle.final_norms, dalle.attn_out_clamp, dalle.mask_image0), so the engine has no per-model code.
"""
import math

from . import ConvertError, taming_vqgan
from .torchfile import LazyTensor

# dalle.* keys every transformer file has: (key suffix, GGUF type)
REQUIRED = (("text_len", "uint32"), ("text_vocab", "uint32"), ("grid", "uint32"), ("image_vocab", "uint32"),
            ("d_model", "uint32"), ("n_heads", "uint32"), ("n_layers", "uint32"), ("d_ff", "uint32"),
            ("ln_eps", "float32"), ("attn_types", "array_string"), ("conv_kernel", "uint32"),
            ("conv_wrap", "bool"))
# optional keys (absent = the engine's default); written only when given
OPTIONAL = (("image_start", "bool"), ("image_pos", "string"), ("norm", "string"), ("gelu", "string"),
            ("final_norms", "uint32"), ("attn_out_clamp", "float32"), ("mask_image0", "uint32"),
            ("temperature", "float32"), ("top_k", "uint32"), ("top_p", "float32"))


def add_dalle_keys(p, cfg):
    """cfg: key suffix -> value for every REQUIRED key and any OPTIONAL ones (None = leave out)."""
    for name, vtype in REQUIRED:
        p.key(vtype, "dalle." + name, cfg[name])
    for name, vtype in OPTIONAL:
        if cfg.get(name) is not None:
            p.key(vtype, "dalle." + name, cfg[name])
    unknown = set(cfg) - {n for n, _ in REQUIRED + OPTIONAL}
    assert not unknown, unknown


def _vtype(key, value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "uint32"
    if isinstance(value, float):
        return "float32"
    if isinstance(value, (str, bytes)):
        return "string"
    values = list(value)
    if values and all(isinstance(v, (str, bytes)) for v in values):
        return "array_string"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "array_uint32"
    raise ConvertError("tokenizer key %s: value of unsupported type" % key)


def add_keys(p, keys):
    """keys: key -> value, or key -> (GGUF type, value) (a tokenizer module's gguf_keys()); plain
    values get the type of their Python type (int -> uint32, list of int -> array of uint32, ...)."""
    for key, value in keys.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
            p.key(value[0], key, value[1])
        else:
            p.key(_vtype(key, value), key, value)


def flat_state_dict(path, root, what):
    """name -> LazyTensor of a checkpoint holding a state_dict (at the root or under 'state_dict')."""
    sd = root.get("state_dict", root) if isinstance(root, dict) else None
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, LazyTensor) for v in sd.values()):
        keys = sorted(str(k) for k in root)[:8] if isinstance(root, dict) else type(root).__name__
        raise ConvertError("%s: no state_dict of tensors (found %s): not %s" % (path, keys, what))
    return sd


def attach_vqgan(stack, p, vqgan_path, grid, image_vocab, transformer_path):
    """Adds the vqgan.* section of the taming / Gumbel VQGAN checkpoint at vqgan_path, its latent grid
    the transformer's G (resolution = G * 2^(levels - 1)) and its codebook the transformer's image
    vocabulary (ConvertError naming both files otherwise)."""
    vq = taming_vqgan.plan(stack, vqgan_path, grid=grid)
    n_embed = dict((k, v) for _, k, v in vq.keys)["vqgan.n_embed"]
    if n_embed != image_vocab:
        raise ConvertError("%s: the VQGAN has %d codes but the transformer %s has %d image codes: "
                           "not the image decoder of this transformer" % (vqgan_path, n_embed, transformer_path,
                                                                          image_vocab))
    p.extend(vq)


def sampling(top_k, image_vocab, top_p=None):
    """The recommended sampling keys: top-k capped at the image vocabulary (larger = off)."""
    return {"temperature": 1.0, "top_k": min(top_k, image_vocab), "top_p": top_p}


def square_side(path, name, n):
    """G for a table of G*G rows; ConvertError naming the tensor otherwise."""
    g = math.isqrt(n)
    if g * g != n:
        raise ConvertError("%s: tensor '%s' has %d rows, expected G*G (a square image grid)" % (path, name, n))
    return g
