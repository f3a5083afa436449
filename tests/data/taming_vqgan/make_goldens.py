"""Makes the tiny taming-transformers VQGAN test files of this folder with upstream's own VQModel.

Needs CompVis/taming-transformers (`taming`) and einops importable, plus two shims for imports that
inference does not use (tests/data/README.md): `pytorch_lightning.LightningModule` (an nn.Module)
and `main.instantiate_from_config`. dalle-vk's own code only writes the golden GGUF.

Writes (into --out, default: this folder):
  vq_f16.ckpt     {'state_dict': VQModel.state_dict() (tensors stored as float16), 'epoch', 'global_step',
                  'pytorch-lightning_version'}: the layout of taming's / minDALL-E's stage-1 .ckpt
                  (VectorQuantizer2: quantize.embedding.weight), f16 downsampling (5 levels)
  vq_f16.gguf     goldens, float32 tensors in PyTorch order:
      dec.codes   [B, h, w]      codes (integers stored as f32), raster order
      dec.output  [B, 3, R, R]   VQModel.decode(quantize.get_codebook_entry(codes)) (upstream, CPU f32)
      enc.pixels  [B, 3, R, R]   image in [0, 1], multiples of 1/255 (an RGB8 image); the encoder input is 2 * pixels - 1
      enc.h       [B, e, h, w]   quant_conv(encoder(x)) (VQModel.encode's input to the quantizer)
      enc.codes   [B, h, w]      VectorQuantizer2's nearest codebook entry of each enc.h vector
    keys golden.* with the sizes used.

Sizes: ch 32 (GroupNorm needs 32 | channels), ch_mult [1,1,2,2,2] (f16: 5 levels, with 1x1
nin_shortcut convs where the width changes), 2 res blocks (as the released models), attention at the
4x4 latent, z_channels 16, embed_dim 8, 32 codes, 64x64 px. Weights: seeded random f16 values
(shared_views below) and a codebook drawn around the encoder's outputs; the goldens are computed
from exactly the stored f16 values.
"""
import argparse
import importlib
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
from dallevk.gguf import GGUFWriter  # noqa: E402

from taming.models.vqgan import VQModel  # noqa: E402  (upstream)

DDCONFIG = dict(double_z=False, z_channels=16, resolution=64, in_channels=3, out_ch=3, ch=32,
                ch_mult=[1, 1, 2, 2, 2], num_res_blocks=2, attn_resolutions=[4], dropout=0.0)
N_EMBED, EMBED_DIM, BATCH = 32, 8, 1


def shared_views(model, g):
    """state_dict of float16 tensors that are overlapping views into a few shared random storages
    (one per kind: 3x3 / 1x1 conv weights, GroupNorm weights, biases), each view starting 11
    elements after the previous one. Every tensor differs from every other, and torch.save writes
    each storage once, which keeps the file small."""
    kinds = {}
    for name, t in model.state_dict().items():
        kind = ("norm" if (".norm" in name or "norm_out" in name) and name.endswith("weight") else
                "bias" if name.endswith("bias") else "w%d" % t.shape[-1] if t.dim() == 4 else name)
        kinds.setdefault(kind, []).append((name, t.shape))
    scale = {"norm": (1.0, 0.2), "bias": (0.0, 0.05), "w3": (0.0, 0.06), "w1": (0.0, 0.15)}
    sd = {}
    for kind, items in kinds.items():
        n = max(int(torch.Size(s).numel()) for _, s in items) + 11 * len(items)
        mean, std = scale.get(kind, (0.0, 1.0))
        base = (mean + std * torch.randn(n, generator=g)).half()
        for i, (name, shape) in enumerate(items):
            sd[name] = base[11 * i:11 * i + torch.Size(shape).numel()].view(shape)
    return sd


class AttrDict(dict):
    """minDALL-E reads its OmegaConf hparams both as a mapping and by attribute."""
    __getattr__ = dict.__getitem__


def check_mindalle(root, sd, codes, output, idx):
    """Loads the same state_dict strictly into minDALL-E's stage-1 VQGAN (its own copy of the layers)
    and checks that its decode_code / get_codes agree with taming's results."""
    for name in ("dalle", "dalle.models", "dalle.models.stage1"):  # skip the packages' __init__ imports
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = mod
    VQGAN = importlib.import_module("dalle.models.stage1.vqgan").VQGAN
    hparams = AttrDict({("pdrop" if k == "dropout" else k): v for k, v in DDCONFIG.items()})  # its name for dropout
    m = VQGAN(n_embed=N_EMBED, embed_dim=EMBED_DIM, hparams=hparams).eval()
    m.load_state_dict(sd, strict=True)
    with torch.no_grad():
        out = m.decode_code(codes)
        got = m.get_codes(2 * _PIXELS[0] - 1)
    print("minDALL-E VQGAN on the same checkpoint: strict load ok, decode max |diff| %.3g, codes equal %s"
          % ((out - output).abs().max(), bool((got.flatten() == idx.flatten()).all())))


_PIXELS = []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--mindalle", help="optional: root of kakaobrain/minDALL-E, to check its VQGAN on the same file")
    a = ap.parse_args()
    torch.manual_seed(31)
    model = VQModel(ddconfig=DDCONFIG, lossconfig={"target": "torch.nn.Identity"}, n_embed=N_EMBED,
                    embed_dim=EMBED_DIM).eval()
    sd = shared_views(model, torch.Generator().manual_seed(32))
    with torch.no_grad():
        model.load_state_dict(sd, strict=True)
        # codebook rows near the encoder's outputs, so that the nearest-entry codes vary
        x = 2 * torch.rand(4, 3, DDCONFIG["resolution"], DDCONFIG["resolution"],
                           generator=torch.Generator().manual_seed(33)) - 1
        hs = model.quant_conv(model.encoder(x)).permute(0, 2, 3, 1).reshape(-1, EMBED_DIM)
        cb = hs.mean(0) + hs.std(0) * torch.randn(N_EMBED, EMBED_DIM, generator=torch.Generator().manual_seed(34))
        sd["quantize.embedding.weight"] = cb.half()
        model.load_state_dict(sd, strict=True)  # the goldens use exactly the stored (f16) values
    torch.save({"state_dict": sd, "epoch": 0, "global_step": 0, "pytorch-lightning_version": "1.0.8"},
               os.path.join(a.out, "vq_f16.ckpt"))
    g = torch.Generator().manual_seed(35)

    levels = len(DDCONFIG["ch_mult"]) - 1
    h = w = DDCONFIG["resolution"] // 2 ** levels
    codes = torch.randint(0, N_EMBED, (BATCH, h, w), generator=g)
    pixels = torch.randint(0, 256, (BATCH, 3, DDCONFIG["resolution"], DDCONFIG["resolution"]), generator=g) / 255.0
    with torch.no_grad():
        try:  # reference note 3.4: VQModel.decode_code calls a method VectorQuantizer2 lacks
            model.decode_code(codes)
            print("note: VQModel.decode_code works")
        except AttributeError as e:
            print("note: VQModel.decode_code fails: %s" % e)
        quant = model.quantize.get_codebook_entry(codes.reshape(-1), (BATCH, h, w, EMBED_DIM))
        output = model.decode(quant)
        enc_h = model.quant_conv(model.encoder(2 * pixels - 1))
        _, _, (_, _, idx) = model.encode(2 * pixels - 1)
    if a.mindalle:
        _PIXELS.append(pixels)
        check_mindalle(a.mindalle, sd, codes, output, idx)
    wr = GGUFWriter()
    wr.add_string("general.architecture", "dalle")
    wr.add_string("general.description", "goldens of upstream taming VQModel (tests/data/README.md)")
    for k in ("z_channels", "resolution", "ch", "num_res_blocks"):
        wr.add_uint32("golden." + k, DDCONFIG[k])
    wr.add_uint32("golden.n_embed", N_EMBED)
    wr.add_uint32("golden.embed_dim", EMBED_DIM)
    for name, t in (("dec.codes", codes.float()), ("dec.output", output), ("enc.pixels", pixels),
                    ("enc.h", enc_h), ("enc.codes", idx.reshape(BATCH, h, w).float())):
        wr.add_tensor(name, t.numpy(), "f32")
    wr.write(os.path.join(a.out, "vq_f16.gguf"))
    print("decoder output range %.3f..%.3f std %.3f; encoder codes %s" % (
        output.min(), output.max(), output.std(), idx.flatten().tolist()))


if __name__ == "__main__":
    main()
