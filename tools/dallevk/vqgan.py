"""PyTorch reference of the taming-transformers VQGAN (image decoder and encoder), sizes as parameters.

Used by minDALL-E (f16, 16384 codes), taming's released VQGANs and ruDALL-E's Sber VQGAN (f8, Gumbel
quantizer, 8192 codes). Checked against upstream goldens (tests/data/README.md); model file keys
and tensors: docs/model-format.md §8. Parameter names below the `dec.` / `enc.` prefixes are the
upstream checkpoint's names below `decoder.` / `encoder.`, so a converted file loads 1:1.

Shapes (float32), L = len(ch_mult) levels, G = resolution / 2^(L-1) latent cells per side, R = resolution:
  decode_codes(codes int64 [B, G, G], raster order) -> output [B, out_channels, R, R], roughly in
      [output_lo, output_hi]; to_pixels(output) -> [0, 1] (any G works: R = G * 2^(L-1))
  encode(pixels [B, in_channels, R, R] in [0, 1]) -> h [B, embed_dim, G, G] (quant_conv output)
  codes_from_h(h) -> int64 [B, G, G]: nearest codebook row (vq) or argmax of gumbel_proj (gumbel)

Blocks: GroupNorm(norm_groups, norm_eps) (statistics always in float32), swish x*sigmoid(x);
ResnetBlock h = conv2(swish(norm2(conv1(swish(norm1(x)))))) + (nin_shortcut(x) if widths differ);
AttnBlock: one head over all positions, q/k/v/proj_out 1x1 convs, scale C^-1/2, softmax in float32;
decoder level upsample = nearest 2x then 3x3 conv; encoder downsample = zero pad right/bottom by one,
then 3x3 conv with stride 2. Decoder: conv_in, mid (block_1, attn_1, block_2), levels L-1..0 with
num_res_blocks+1 blocks each (attention after each block on attn_levels), norm_out, swish, conv_out.
Encoder: conv_in, levels 0..L-1 with num_res_blocks blocks each, mid, norm_out, swish, conv_out.
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class VqganConfig:
    """VQGAN sizes. Defaults: minDALL-E's / taming's f16 model with 16384 codes."""
    ch: int = 128
    ch_mult: tuple = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_levels: tuple = (4,)  # levels (0 = full resolution) with attention after each block
    resolution: int = 256      # training image size; sets the default latent grid
    z_channels: int = 256
    embed_dim: int = 256
    n_embed: int = 16384
    in_channels: int = 3
    out_channels: int = 3
    norm_groups: int = 32
    norm_eps: float = 1e-6
    quantizer: str = "vq"      # "vq": nearest codebook row; "gumbel": argmax of a 1x1 conv's logits
    output_lo: float = -1.0    # pixel = clamp((output - lo) / (hi - lo), 0, 1)
    output_hi: float = 1.0

    @property
    def levels(self):
        return len(self.ch_mult)

    @property
    def grid(self):
        return self.resolution // 2 ** (self.levels - 1)

    def width(self, level):
        return self.ch * self.ch_mult[level]

    def to_dict(self):
        return asdict(self)


def swish(x):
    return x * torch.sigmoid(x)


class GroupNorm(nn.Module):
    """GroupNorm with float32 statistics whatever the input dtype (fp16 breaks these decoders)."""

    def __init__(self, channels, cfg, device=None):
        super().__init__()
        if channels % cfg.norm_groups:
            raise ValueError("GroupNorm: %d channels are not a multiple of %d groups" % (channels, cfg.norm_groups))
        self.groups, self.eps = cfg.norm_groups, cfg.norm_eps
        self.weight = nn.Parameter(torch.ones(channels, device=device))
        self.bias = nn.Parameter(torch.zeros(channels, device=device))

    def forward(self, x):
        y = F.group_norm(x.float(), self.groups, self.weight.float(), self.bias.float(), self.eps)
        return y.to(x.dtype)


def _conv(cin, cout, k, device):
    return nn.Conv2d(cin, cout, k, padding=k // 2, device=device)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, cfg, device=None):
        super().__init__()
        self.norm1, self.conv1 = GroupNorm(cin, cfg, device), _conv(cin, cout, 3, device)
        self.norm2, self.conv2 = GroupNorm(cout, cfg, device), _conv(cout, cout, 3, device)
        if cin != cout:
            self.nin_shortcut = _conv(cin, cout, 1, device)

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        skip = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return skip + h


class AttnBlock(nn.Module):
    def __init__(self, c, cfg, device=None):
        super().__init__()
        self.norm = GroupNorm(c, cfg, device)
        self.q, self.k, self.v, self.proj_out = (_conv(c, c, 1, device) for _ in range(4))

    def forward(self, x):
        b, c, hh, ww = x.shape
        hn = self.norm(x)
        q = self.q(hn).reshape(b, c, hh * ww)
        k = self.k(hn).reshape(b, c, hh * ww)
        v = self.v(hn).reshape(b, c, hh * ww)
        scores = torch.einsum("bci,bcj->bij", q.float(), k.float()) * c ** -0.5
        attn = torch.softmax(scores, dim=-1).to(v.dtype)                  # [b, query i, key j]
        o = torch.einsum("bij,bcj->bci", attn, v).reshape(b, c, hh, ww)
        return x + self.proj_out(o)


class Resample(nn.Module):
    """'up': nearest 2x then 3x3 conv; 'down': pad right/bottom by one, 3x3 conv stride 2."""

    def __init__(self, c, mode, device=None):
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv2d(c, c, 3, padding=1 if mode == "up" else 0, stride=1 if mode == "up" else 2,
                              device=device)

    def forward(self, x):
        if self.mode == "up":
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class _Level(nn.Module):
    """One resolution level: block[j], attn[j] (when the level has attention), upsample/downsample."""

    def __init__(self, cin, cout, n_blocks, attn, resample, cfg, device):
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(cin if j == 0 else cout, cout, cfg, device) for j in range(n_blocks))
        self.attn = nn.ModuleList(AttnBlock(cout, cfg, device) for _ in range(n_blocks if attn else 0))
        if resample == "up":
            self.upsample = Resample(cout, "up", device)
        elif resample == "down":
            self.downsample = Resample(cout, "down", device)

    def forward(self, x):
        for j, blk in enumerate(self.block):
            x = blk(x)
            if len(self.attn):
                x = self.attn[j](x)
        for name in ("upsample", "downsample"):
            if hasattr(self, name):
                x = getattr(self, name)(x)
        return x


class _Mid(nn.Module):
    def __init__(self, c, cfg, device):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = (ResnetBlock(c, c, cfg, device), AttnBlock(c, cfg, device),
                                                   ResnetBlock(c, c, cfg, device))

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Decoder(nn.Module):
    """z [B, z_channels, G, G] -> output [B, out_channels, R, R]."""

    def __init__(self, cfg, device=None):
        super().__init__()
        top = cfg.width(cfg.levels - 1)
        self.conv_in = _conv(cfg.z_channels, top, 3, device)
        self.mid = _Mid(top, cfg, device)
        levels, cin = [None] * cfg.levels, top
        for lv in reversed(range(cfg.levels)):
            levels[lv] = _Level(cin, cfg.width(lv), cfg.num_res_blocks + 1, lv in cfg.attn_levels,
                                "up" if lv else None, cfg, device)
            cin = cfg.width(lv)
        self.up = nn.ModuleList(levels)
        self.norm_out = GroupNorm(cfg.width(0), cfg, device)
        self.conv_out = _conv(cfg.width(0), cfg.out_channels, 3, device)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for lv in reversed(range(len(self.up))):
            h = self.up[lv](h)
        return self.conv_out(swish(self.norm_out(h)))


class Encoder(nn.Module):
    """x [B, in_channels, R, R] in [-1, 1] -> [B, z_channels, G, G]."""

    def __init__(self, cfg, device=None):
        super().__init__()
        self.conv_in = _conv(cfg.in_channels, cfg.ch, 3, device)
        levels, cin = [], cfg.ch
        for lv in range(cfg.levels):
            levels.append(_Level(cin, cfg.width(lv), cfg.num_res_blocks, lv in cfg.attn_levels,
                                 "down" if lv < cfg.levels - 1 else None, cfg, device))
            cin = cfg.width(lv)
        self.down = nn.ModuleList(levels)
        self.mid = _Mid(cin, cfg, device)
        self.norm_out = GroupNorm(cin, cfg, device)
        self.conv_out = _conv(cin, cfg.z_channels, 3, device)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        return self.conv_out(swish(self.norm_out(self.mid(h))))


class Vqgan(nn.Module):
    """The whole image tokenizer. Parameter names = the GGUF names without the `vqgan.` prefix:
    codebook [n_embed, embed_dim], post_quant_conv, dec.*; with_encoder adds enc.*, quant_conv and,
    for the Gumbel quantizer, gumbel_proj (1x1 conv embed_dim -> n_embed logits)."""

    def __init__(self, cfg, with_encoder=True, device=None):
        super().__init__()
        self.cfg = cfg
        self.codebook = nn.Parameter(torch.randn(cfg.n_embed, cfg.embed_dim, device=device))
        self.post_quant_conv = _conv(cfg.embed_dim, cfg.z_channels, 1, device)
        self.dec = Decoder(cfg, device)
        if with_encoder:
            self.enc = Encoder(cfg, device)
            self.quant_conv = _conv(cfg.z_channels, cfg.embed_dim, 1, device)
            if cfg.quantizer == "gumbel":
                self.gumbel_proj = _conv(cfg.embed_dim, cfg.n_embed, 1, device)

    def decode_codes(self, codes):
        """int64 [B, h, w] -> decoder output [B, out_channels, 2^(L-1) h, 2^(L-1) w]."""
        z = self.codebook[codes].permute(0, 3, 1, 2)
        return self.dec(self.post_quant_conv(z))

    def to_pixels(self, output):
        lo, hi = self.cfg.output_lo, self.cfg.output_hi
        return torch.clamp((output - lo) / (hi - lo), 0, 1)

    def encode(self, pixels):
        """pixels in [0, 1] -> quant_conv output h [B, embed_dim, G, G] (input mapped to [lo, hi])."""
        lo, hi = self.cfg.output_lo, self.cfg.output_hi
        return self.quant_conv(self.enc(pixels * (hi - lo) + lo))

    def codes_from_h(self, h):
        """h [B, embed_dim, G, G] -> codes int64 [B, G, G]."""
        if self.cfg.quantizer == "gumbel":
            return self.gumbel_proj(h).argmax(dim=1)
        flat = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        d = (flat.unsqueeze(1) - self.codebook.unsqueeze(0)).pow(2).sum(-1)    # [N, n_embed]
        return d.argmin(dim=1).reshape(h.shape[0], h.shape[2], h.shape[3])


def schema(cfg, with_encoder=True):
    """[(name without `vqgan.`, PyTorch shape)] of a Vqgan, in state_dict order (built on the meta
    device: no memory)."""
    return [(k, tuple(v.shape)) for k, v in Vqgan(cfg, with_encoder, device="meta").state_dict().items()]


# --- model file (docs/model-format.md §8): vqgan.* keys <-> VqganConfig fields ----------------------
# (GGUF key, field, GGUF value type name: "uint32" / "float32" / "string" / "array_uint32")
GGUF_KEYS = [
    ("vqgan.ch", "ch", "uint32"), ("vqgan.ch_mult", "ch_mult", "array_uint32"),
    ("vqgan.num_res_blocks", "num_res_blocks", "uint32"), ("vqgan.attn_levels", "attn_levels", "array_uint32"),
    ("vqgan.resolution", "resolution", "uint32"), ("vqgan.z_channels", "z_channels", "uint32"),
    ("vqgan.embed_dim", "embed_dim", "uint32"), ("vqgan.n_embed", "n_embed", "uint32"),
    ("vqgan.in_channels", "in_channels", "uint32"), ("vqgan.out_channels", "out_channels", "uint32"),
    ("vqgan.norm_groups", "norm_groups", "uint32"), ("vqgan.norm_eps", "norm_eps", "float32"),
    ("vqgan.quantizer", "quantizer", "string"), ("vqgan.output_lo", "output_lo", "float32"),
    ("vqgan.output_hi", "output_hi", "float32"),
]
PREFIX = "vqgan."


def from_gguf(reader, dtype=torch.float32):
    """Vqgan (eval mode) from a GGUFReader of a file with the vqgan.* section; ValueError naming the
    key or tensor when one is missing or misshaped. Encoder tensors are loaded when vqgan.has_encoder."""
    if "vqgan.ch" not in reader.fields:
        raise ValueError("%s: no vqgan.* section" % reader.path)
    kw = {}
    for key, fname, vtype in GGUF_KEYS:
        v = reader.get(key)
        kw[fname] = tuple(int(x) for x in v) if vtype == "array_uint32" else v
    cfg = VqganConfig(**kw)
    with_encoder = bool(reader.get("vqgan.has_encoder", False))
    sd = {k: torch.from_numpy(v).to(dtype) for k, v in reader.arrays(schema(cfg, with_encoder), PREFIX).items()}
    model = Vqgan(cfg, with_encoder).to(dtype)
    model.load_state_dict(sd, strict=True)
    return model.eval()
