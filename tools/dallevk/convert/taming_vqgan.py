"""taming-transformers VQGAN checkpoint (.ckpt with 'state_dict') -> the vqgan.* section of a model file.

Covers taming's VQModel and minDALL-E's stage-1 VQGAN (codebook `quantize.embedding.weight`) and the
Gumbel VQGAN of taming / ruDALL-E's Sber VQGAN (`quantize.embed.weight`, encoder side
`quantize.proj`). Keys may sit under one prefix (`model.`, `first_stage_model.`); `loss.*`
(discriminator, LPIPS) is ignored. The checkpoint does not state its hyperparameters: they are read
from the tensor shapes (level count and widths, blocks per level, attention levels, z_channels,
embed_dim, codebook size), then every tensor is checked against the full table of
tools/dallevk/vqgan.py (the reference model, whose parameter names are upstream's). The rest comes
from options: GroupNorm eps (taming: 1e-6), the training resolution and the output range.
min-dalle's detoker.pt (a plain state_dict) names the vq codebook `embedding.weight`.

Tensor names: `vqgan.` + the reference name: codebook, post_quant_conv.*, dec.* (upstream
decoder.*), enc.* (encoder.*), quant_conv.*, gumbel_proj.* (quantize.proj.*).
"""
import re

from .. import vqgan as V
from . import ConvertError
from .checks import match_tensors, require
from .plan import Plan
from .torchfile import LazyTensor, open_checkpoint

WHAT = "taming VQGAN checkpoint (a taming-transformers .ckpt or min-dalle's detoker.pt)"
PREFIXES = ("", "model.", "first_stage_model.")
CODEBOOK = {"vq": "quantize.embedding.weight", "gumbel": "quantize.embed.weight"}
# training metadata of Lightning checkpoints: kept as inert records, never used
OPAQUE = ("pytorch_lightning.", "lightning_fabric.", "lightning.", "omegaconf.", "argparse.Namespace",
          "numpy.", "_codecs.encode", "pathlib.", "typing.")
IGNORED = ("loss.",)
ENCODER_SIDE = ("encoder.", "quant_conv.", "quantize.proj.")


def to_upstream(name, quantizer):
    """Reference (GGUF-without-prefix) name -> the checkpoint's name."""
    if name == "codebook":
        return CODEBOOK[quantizer]
    for mine, theirs in (("dec.", "decoder."), ("enc.", "encoder."), ("gumbel_proj.", "quantize.proj.")):
        if name.startswith(mine):
            return theirs + name[len(mine):]
    return name


def state_dict(path, root):
    """The name -> LazyTensor dict of a loaded .ckpt (the 'state_dict' entry, or the root itself)."""
    sd = root.get("state_dict", root) if isinstance(root, dict) else None
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, LazyTensor) for v in sd.values()):
        keys = sorted(root)[:8] if isinstance(root, dict) else type(root).__name__
        raise ConvertError("%s: no 'state_dict' of tensors (found %s): not a %s" % (path, keys, WHAT))
    for prefix in PREFIXES:
        if prefix + "decoder.conv_in.weight" in sd:
            sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
            if "embedding.weight" in sd and CODEBOOK["vq"] not in sd:  # min-dalle's detoker.pt
                sd[CODEBOOK["vq"]] = sd.pop("embedding.weight")
            return sd
    if "model.decoder.decoder.conv_in.weight" in sd:
        raise ConvertError("%s: ruDALL-E's DWT VQGAN (512 px output) is not supported; convert "
                           "vqgan.gumbelf8-sber.model.ckpt instead" % path)
    raise ConvertError("%s: missing tensor 'decoder.conv_in.weight' (expected shape [ch * ch_mult[-1], "
                       "z_channels, 3, 3]): not a %s" % (path, WHAT))


def infer_config(path, sd, encoder=True, resolution=256, norm_eps=1e-6, output_range=(-1.0, 1.0), grid=None):
    """(VqganConfig, with_encoder) read from the tensor shapes; ConvertError naming the tensor that
    is missing or misshaped. grid (a transformer's G x G codes), when given, sets the resolution to
    G * 2^(levels - 1) instead."""
    quantizer = "gumbel" if CODEBOOK["gumbel"] in sd and CODEBOOK["vq"] not in sd else "vq"
    n_embed, embed_dim = require(path, sd, CODEBOOK[quantizer], 2, WHAT, "shape [n_embed, embed_dim]")
    z = require(path, sd, "post_quant_conv.weight", 4, WHAT, "shape [z_channels, embed_dim, 1, 1]")[0]
    level_ids = {int(m.group(1)) for m in (re.match(r"decoder\.up\.(\d+)\.", k) for k in sd) if m}
    levels = max(level_ids) + 1 if level_ids else 0
    if levels < 1:
        raise ConvertError("%s: no 'decoder.up.<level>.*' tensors: not a %s" % (path, WHAT))
    widths = [require(path, sd, "decoder.up.%d.block.0.conv1.weight" % lv, 4, WHAT,
                      "shape [ch * ch_mult[%d], in, 3, 3]" % lv)[0] for lv in range(levels)]
    n_blocks = sum(1 for j in range(64) if "decoder.up.0.block.%d.conv1.weight" % j in sd)
    if n_blocks < 1:
        raise ConvertError("%s: missing tensor 'decoder.up.0.block.0.conv1.weight'" % path)
    with_encoder = encoder and "encoder.conv_in.weight" in sd
    ch, in_ch = widths[0], 3
    if with_encoder:
        ch, in_ch = require(path, sd, "encoder.conv_in.weight", 4, WHAT, "shape [ch, in_channels, 3, 3]")[:2]
    groups = V.VqganConfig.norm_groups
    if any(w % ch or w % groups for w in widths):
        raise ConvertError("%s: decoder level widths %s are not multiples of ch %d and of the %d GroupNorm groups"
                           % (path, widths, ch, groups))
    if grid is not None:
        resolution = grid * 2 ** (levels - 1)
    out_ch = require(path, sd, "decoder.conv_out.weight", 4, WHAT, "shape [out_channels, ch * ch_mult[0], 3, 3]")[0]
    if resolution < 1 or resolution % 2 ** (levels - 1):
        raise ConvertError("resolution %d is not a multiple of %d (%d levels)"
                           % (resolution, 2 ** (levels - 1), levels))
    cfg = V.VqganConfig(
        ch=ch, ch_mult=tuple(w // ch for w in widths), num_res_blocks=n_blocks - 1,
        attn_levels=tuple(lv for lv in range(levels) if "decoder.up.%d.attn.0.q.weight" % lv in sd),
        resolution=resolution, z_channels=z, embed_dim=embed_dim, n_embed=n_embed, in_channels=in_ch,
        out_channels=out_ch, norm_eps=norm_eps, quantizer=quantizer, output_lo=float(output_range[0]),
        output_hi=float(output_range[1]))
    return cfg, with_encoder


def plan(stack, path, encoder=True, resolution=256, norm_eps=1e-6, output_range=(-1.0, 1.0), grid=None):
    """Plan of the vqgan.* section from a taming .ckpt; stack (contextlib.ExitStack) keeps it open;
    grid: see infer_config."""
    ck = stack.enter_context(open_checkpoint(path, opaque=OPAQUE, what="a " + WHAT))
    sd = state_dict(path, ck.root)
    if "quantize.used" in sd:
        raise ConvertError("%s: tensor 'quantize.used': remapped codebooks are not supported" % path)
    cfg, with_encoder = infer_config(path, sd, encoder, resolution, norm_eps, output_range, grid)
    expected = [(to_upstream(n, cfg.quantizer), n, shape) for n, shape in V.schema(cfg, with_encoder)]
    ignore = IGNORED + (() if with_encoder else ENCODER_SIDE)
    match_tensors(path, sd, [(up, shape) for up, _, shape in expected], WHAT, ignore)
    p = Plan()
    for key, fname, vtype in V.GGUF_KEYS:
        p.key(vtype, key, getattr(cfg, fname))
    p.key("bool", "vqgan.has_encoder", with_encoder)
    for up, name, shape in expected:
        p.tensor(V.PREFIX + name, shape, sd[up].numpy, (path, up))
    return p
