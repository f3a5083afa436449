"""OpenAI's discrete VAE (dall_e/encoder.py, decoder.py) with its sizes as parameters.

Module and parameter names follow the released checkpoint exactly, so at paper sizes
(group_count=4, n_hid=256, n_blk_per_group=2, vocab_size=8192, n_init=128) the
state_dict() keys and shapes equal encoder.pkl / decoder.pkl (see paper_size_check()).

Shapes (float32 unless noted), R = input resolution, f = 2**(group_count-1), G = R / f:
  Encoder: x [B, C_in, R, R] already map_pixels()'d -> logits [B, vocab, G, G]
  Decoder: z [B, vocab, G, G] (one-hot or relaxed) -> x_stats [B, 2*C_out, R, R]
           decode_codes(codes int64 [B, G, G]) -> same, via an embedding gather
  decode_pixels(x_stats) -> pixels in [0, 1], [B, C_out, R, R]

Block: out = id_path(x) + post_gain * res_path(x), post_gain = 1/(group_count*n_blk)^2,
res_path = (ReLU, conv) x 4 with hidden width n_out // 4; encoder kernels 3,3,3,1,
decoder kernels 1,3,3,3; id_path is a 1x1 conv only when the channel count changes.
"""
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LOGIT_LAPLACE_EPS = 0.1


@dataclass
class DvaeConfig:
    """dVAE sizes. Defaults: the 64x64 emoji model (16x16 grid, 512 codes)."""
    group_count: int = 3
    n_hid: int = 64
    n_blk_per_group: int = 1
    vocab_size: int = 512
    n_init: int = 128
    input_channels: int = 3
    output_channels: int = 3
    image_size: int = 64

    @property
    def downsample(self):
        return 2 ** (self.group_count - 1)

    @property
    def grid(self):
        return self.image_size // self.downsample

    def to_dict(self):
        return asdict(self)


def map_pixels(x):
    """[0,1] -> [eps, 1-eps] (0.8 x + 0.1): what the encoder expects."""
    return (1 - 2 * LOGIT_LAPLACE_EPS) * x + LOGIT_LAPLACE_EPS


def unmap_pixels(x):
    """Inverse of map_pixels, clamped to [0, 1]."""
    return torch.clamp((x - LOGIT_LAPLACE_EPS) / (1 - 2 * LOGIT_LAPLACE_EPS), 0, 1)


class Conv2d(nn.Module):
    """Stride-1 'same' conv with parameters named w [n_out, n_in, kw, kw] and b [n_out]."""

    def __init__(self, n_in, n_out, kw):
        super().__init__()
        assert kw % 2 == 1
        self.kw = kw
        self.w = nn.Parameter(torch.randn(n_out, n_in, kw, kw) / math.sqrt(n_in * kw * kw))
        self.b = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, padding=(self.kw - 1) // 2)


class _Block(nn.Module):
    def __init__(self, n_in, n_out, post_gain, kernels):
        super().__init__()
        n_hid = n_out // 4
        self.post_gain = post_gain
        self.id_path = Conv2d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        widths = [n_in, n_hid, n_hid, n_hid, n_out]
        layers = []
        for i, k in enumerate(kernels):
            layers.append(("relu_%d" % (i + 1), nn.ReLU()))
            layers.append(("conv_%d" % (i + 1), Conv2d(widths[i], widths[i + 1], k)))
        self.res_path = nn.Sequential(OrderedDict(layers))

    def forward(self, x):
        return self.id_path(x) + self.post_gain * self.res_path(x)


class EncoderBlock(_Block):
    def __init__(self, n_in, n_out, post_gain):
        super().__init__(n_in, n_out, post_gain, (3, 3, 3, 1))


class DecoderBlock(_Block):
    def __init__(self, n_in, n_out, post_gain):
        super().__init__(n_in, n_out, post_gain, (1, 3, 3, 3))


def _post_gain(cfg):
    return 1.0 / (cfg.group_count * cfg.n_blk_per_group) ** 2


class Encoder(nn.Module):
    """map_pixels'd image [B, C_in, R, R] -> code logits [B, vocab, G, G]."""

    def __init__(self, cfg: DvaeConfig):
        super().__init__()
        self.cfg = cfg
        pg = _post_gain(cfg)
        layers = [("input", Conv2d(cfg.input_channels, cfg.n_hid, 7))]
        n_prev = cfg.n_hid
        for g in range(cfg.group_count):
            n = cfg.n_hid * 2 ** g
            grp = []
            for i in range(cfg.n_blk_per_group):
                grp.append(("block_%d" % (i + 1), EncoderBlock(n_prev if i == 0 else n, n, pg)))
            if g < cfg.group_count - 1:
                grp.append(("pool", nn.MaxPool2d(kernel_size=2)))
            layers.append(("group_%d" % (g + 1), nn.Sequential(OrderedDict(grp))))
            n_prev = n
        layers.append(("output", nn.Sequential(OrderedDict([
            ("relu", nn.ReLU()), ("conv", Conv2d(n_prev, cfg.vocab_size, 1))]))))
        self.blocks = nn.Sequential(OrderedDict(layers))

    def forward(self, x):
        return self.blocks(x)

    @torch.no_grad()
    def encode_codes(self, pixels):
        """pixels in [0,1] [B, C_in, R, R] -> argmax codes int64 [B, G, G]."""
        return self.forward(map_pixels(pixels)).argmax(dim=1)


class Decoder(nn.Module):
    """z [B, vocab, G, G] (one-hot / relaxed one-hot) -> x_stats [B, 2*C_out, R, R]."""

    def __init__(self, cfg: DvaeConfig):
        super().__init__()
        self.cfg = cfg
        pg = _post_gain(cfg)
        layers = [("input", Conv2d(cfg.vocab_size, cfg.n_init, 1))]
        n_prev = cfg.n_init
        for g in range(cfg.group_count):
            n = cfg.n_hid * 2 ** (cfg.group_count - 1 - g)
            grp = []
            for i in range(cfg.n_blk_per_group):
                grp.append(("block_%d" % (i + 1), DecoderBlock(n_prev if i == 0 else n, n, pg)))
            if g < cfg.group_count - 1:
                grp.append(("upsample", nn.Upsample(scale_factor=2, mode="nearest")))
            layers.append(("group_%d" % (g + 1), nn.Sequential(OrderedDict(grp))))
            n_prev = n
        layers.append(("output", nn.Sequential(OrderedDict([
            ("relu", nn.ReLU()), ("conv", Conv2d(n_prev, 2 * cfg.output_channels, 1))]))))
        self.blocks = nn.Sequential(OrderedDict(layers))

    def forward(self, z):
        return self.blocks(z)

    def embed_codes(self, codes):
        """codes int64 [B, G, G] -> input-conv output [B, n_init, G, G] by gathering
        columns of blocks.input.w (equal to the 1x1 conv on the one-hot)."""
        w = self.blocks.input.w[:, :, 0, 0]                     # [n_init, vocab]
        h = w.t()[codes]                                        # [B, G, G, n_init]
        return h.permute(0, 3, 1, 2) + self.blocks.input.b.view(1, -1, 1, 1)

    def decode_codes(self, codes):
        """codes int64 [B, G, G] -> x_stats [B, 2*C_out, R, R] (no one-hot built)."""
        h = self.embed_codes(codes)
        for name, mod in self.blocks.named_children():
            if name != "input":
                h = mod(h)
        return h


def decode_pixels(x_stats, channels=3):
    """x_stats [B, 2C, R, R] -> pixels in [0,1] [B, C, R, R]."""
    return unmap_pixels(torch.sigmoid(x_stats[:, :channels]))


def one_hot_codes(codes, vocab_size):
    """codes [B, G, G] -> float one-hot [B, vocab, G, G]."""
    return F.one_hot(codes, vocab_size).permute(0, 3, 1, 2).float()


def paper_size_check():
    """Build the paper-size nets and compare state_dict names/shapes with the released
    checkpoint's (reference/dalle-architecture.md 1.6). Returns a list of mismatch
    strings (empty = OK)."""
    cfg = DvaeConfig(group_count=4, n_hid=256, n_blk_per_group=2, vocab_size=8192,
                     n_init=128, image_size=256)
    enc, dec = Encoder(cfg), Decoder(cfg)
    expect_enc, expect_dec = _paper_shapes()
    errs = []
    for tag, mod, exp in (("encoder", enc, expect_enc), ("decoder", dec, expect_dec)):
        got = {k: tuple(v.shape) for k, v in mod.state_dict().items()}
        for k in sorted(set(got) | set(exp)):
            if got.get(k) != exp.get(k):
                errs.append("%s %s: got %s want %s" % (tag, k, got.get(k), exp.get(k)))
    return errs


def _paper_shapes():
    """Expected (name -> shape) of encoder.pkl and decoder.pkl, written out from the
    reference table (not derived from this module's code)."""
    enc = {"blocks.input.w": (256, 3, 7, 7), "blocks.input.b": (256,),
           "blocks.output.conv.w": (8192, 2048, 1, 1), "blocks.output.conv.b": (8192,)}
    chans = {1: (256, 256), 2: (256, 512), 3: (512, 1024), 4: (1024, 2048)}
    for g, (cin, cout) in chans.items():
        h = cout // 4
        for blk in (1, 2):
            ci = cin if blk == 1 else cout
            p = "blocks.group_%d.block_%d." % (g, blk)
            if ci != cout:
                enc[p + "id_path.w"] = (cout, ci, 1, 1)
                enc[p + "id_path.b"] = (cout,)
            for n, shp in ((1, (h, ci, 3, 3)), (2, (h, h, 3, 3)), (3, (h, h, 3, 3)),
                           (4, (cout, h, 1, 1))):
                enc[p + "res_path.conv_%d.w" % n] = shp
                enc[p + "res_path.conv_%d.b" % n] = (shp[0],)
    dec = {"blocks.input.w": (128, 8192, 1, 1), "blocks.input.b": (128,),
           "blocks.output.conv.w": (6, 256, 1, 1), "blocks.output.conv.b": (6,)}
    chans = {1: (128, 2048), 2: (2048, 1024), 3: (1024, 512), 4: (512, 256)}
    for g, (cin, cout) in chans.items():
        h = cout // 4
        for blk in (1, 2):
            ci = cin if blk == 1 else cout
            p = "blocks.group_%d.block_%d." % (g, blk)
            if ci != cout:
                dec[p + "id_path.w"] = (cout, ci, 1, 1)
                dec[p + "id_path.b"] = (cout,)
            for n, shp in ((1, (h, ci, 1, 1)), (2, (h, h, 3, 3)), (3, (h, h, 3, 3)),
                           (4, (cout, h, 3, 3))):
                dec[p + "res_path.conv_%d.w" % n] = shp
                dec[p + "res_path.conv_%d.b" % n] = (shp[0],)
    return enc, dec
