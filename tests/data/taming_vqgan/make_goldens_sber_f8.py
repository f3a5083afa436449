"""Makes the tiny Gumbel f8 VQGAN test files (ruDALL-E's Sber VQGAN layout) with ruDALL-E's own classes.

Needs ai-forever/ru-dalle (only rudalle/vae/model.py and decoder_dwt.py are imported, without the
package's __init__, which would load the transformer stack), CompVis/taming-transformers, einops, and
a shim `pywt` (an empty module: decoder_dwt.py imports it; only the DWT decoder, not used here, needs
it). tests/data/README.md records the commits and the command. dalle-vk's code only writes the GGUF.

Writes (into --out, default: this folder):
  gumbel_f8.ckpt  {'state_dict': GumbelVQ.state_dict()} with f16 tensors: the layout of
                  vqgan.gumbelf8-sber.model.ckpt that rudalle's get_vae loads into VQGanGumbelVAE.model
                  (quantize.embed.weight, quantize.proj.*), f8 downsampling (4 levels)
  gumbel_f8.gguf  goldens, float32 tensors in PyTorch order:
      dec.codes   [B, h, w]      codes (integers stored as f32), raster order
      dec.output  [B, 3, R, R]   GumbelVQ.decode(one_hot(codes) @ quantize.embed.weight) (pre-clamp)
      dec.pixels  [B, 3, R, R]   VQGanGumbelVAE.decode(codes): (clamp(output, -1, 1) + 1) / 2
      enc.pixels  [B, 3, R, R]   image in [0, 1], multiples of 1/255 (an RGB8 image)
      enc.logits  [B, n, h, w]   quantize.proj(quant_conv(encoder(2 * pixels - 1)))
      enc.codes   [B, h, w]      VQGanGumbelVAE.get_codebook_indices(pixels, disable_gumbel_softmax=True)

Sizes: ch 32, ch_mult [1,1,2,2] (the real [1,1,2,4] has 4 levels too), 2 res blocks, attention at
the 4x4 latent (as the real model at its 32x32 latent), z_channels = embed_dim = 16 (GumbelVQ's encode
needs them equal), 32 codes, 32x32 px. Weights: make_goldens.shared_views (seeded f16 values).
"""
import argparse
import importlib
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
sys.path.insert(0, HERE)
from dallevk.gguf import GGUFWriter  # noqa: E402
from make_goldens import shared_views  # noqa: E402

DDCONFIG = dict(double_z=False, z_channels=16, resolution=32, in_channels=3, out_ch=3, ch=32,
                ch_mult=[1, 1, 2, 2], num_res_blocks=2, attn_resolutions=[4], dropout=0.0)
N_EMBED, EMBED_DIM, BATCH = 32, 16, 1


class AttrDict(dict):
    """rudalle reads its OmegaConf config both as a mapping and by attribute."""
    __getattr__ = dict.__getitem__


def import_rudalle_vae(rudalle_root):
    """rudalle.vae.model without running rudalle/__init__.py (which imports the whole package)."""
    for name, path in (("rudalle", rudalle_root), ("rudalle.vae", os.path.join(rudalle_root, "vae"))):
        mod = types.ModuleType(name)
        mod.__path__ = [path]
        sys.modules[name] = mod
    return importlib.import_module("rudalle.vae.model")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rudalle", required=True, help="the rudalle/ package folder of ai-forever/ru-dalle")
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    model_py = import_rudalle_vae(a.rudalle)
    config = AttrDict(model=AttrDict(params=AttrDict(ddconfig=AttrDict(DDCONFIG), n_embed=N_EMBED,
                                                     embed_dim=EMBED_DIM, kl_weight=1e-8)))
    torch.manual_seed(41)
    vae = model_py.VQGanGumbelVAE(config, dwt=False).eval()
    sd = shared_views(vae.model, torch.Generator().manual_seed(42))
    sd["quantize.embed.weight"] = torch.randn(N_EMBED, EMBED_DIM, generator=torch.Generator().manual_seed(43)).half()
    vae.model.load_state_dict(sd, strict=True)
    torch.save({"state_dict": sd}, os.path.join(a.out, "gumbel_f8.ckpt"))

    g = torch.Generator().manual_seed(44)
    levels = len(DDCONFIG["ch_mult"]) - 1
    h = w = DDCONFIG["resolution"] // 2 ** levels
    codes = torch.randint(0, N_EMBED, (BATCH, h, w), generator=g)
    pixels = torch.randint(0, 256, (BATCH, 3, DDCONFIG["resolution"], DDCONFIG["resolution"]), generator=g) / 255.0
    with torch.no_grad():
        seq = codes.reshape(BATCH, h * w)
        dec_pixels = vae.decode(seq)
        z = (torch.nn.functional.one_hot(seq, N_EMBED).float() @ vae.model.quantize.embed.weight)
        output = vae.model.decode(z.reshape(BATCH, h, w, EMBED_DIM).permute(0, 3, 1, 2))
        logits = vae.model.quantize.proj(vae.model.quant_conv(vae.model.encoder(2 * pixels - 1)))
        enc_codes = vae.get_codebook_indices(pixels, disable_gumbel_softmax=True).reshape(BATCH, h, w)
    wr = GGUFWriter()
    wr.add_string("general.architecture", "dalle")
    wr.add_string("general.description", "goldens of upstream rudalle VQGanGumbelVAE (tests/data/README.md)")
    for k in ("z_channels", "resolution", "ch", "num_res_blocks"):
        wr.add_uint32("golden." + k, DDCONFIG[k])
    wr.add_uint32("golden.n_embed", N_EMBED)
    wr.add_uint32("golden.embed_dim", EMBED_DIM)
    for name, t in (("dec.codes", codes.float()), ("dec.output", output), ("dec.pixels", dec_pixels),
                    ("enc.pixels", pixels), ("enc.logits", logits), ("enc.codes", enc_codes.float())):
        wr.add_tensor(name, t.numpy(), "f32")
    wr.write(os.path.join(a.out, "gumbel_f8.gguf"))
    print("decoder output range %.3f..%.3f, pixels std %.3f; encoder codes %s" % (
        output.min(), output.max(), dec_pixels.std(), enc_codes.flatten().tolist()))


if __name__ == "__main__":
    main()
