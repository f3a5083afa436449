"""Makes the tiny ruDALL-E test files with ruDALL-E's own classes (DalleModel, VQGanGumbelVAE).

Needs ai-forever/ru-dalle (rudalle/dalle/*.py and rudalle/vae/model.py are imported without the
package's __init__, which pulls in the whole pipeline), CompVis/taming-transformers, einops, and the
shims of tests/data/README.md. tests/data/README.md records the commits and the command. dalle-vk's code
only writes the GGUF goldens.

Writes (into --out, default: this folder), the files as ruDALL-E ships them:
  v3.bin       torch.save(DalleModel.state_dict()) of a hf_version='v3' model: f16 tensors and the three
               bool mask buffers (transformer.row_mask / col_mask / conv_mask), as the model saves them
  v2.bin       the same for hf_version='v2' (Emojich, Malevich_v2 layout): f32 tensors, mask buffers removed
  vqgan.ckpt   {'state_dict': GumbelVQ.state_dict()}: the layout of vqgan.gumbelf8-sber.model.ckpt
               (quantize.embed, quantize.proj, encoder included), f16, 2 levels so that its latent is
               the transformer's G x G grid
  bpe.model    a tiny YouTokenToMe BPE model file (written as text: its format is plain text)
  v3.gguf, v2.gguf  goldens, float32 tensors:
      text_ids  [T]         the caption as the engine feeds it (docs/model-format.md §8.3): upstream's
                            input ids (bos, BPE ids, eos, 0-pads) with pad j -> Vt + j; v2: T = 129-style
                            (one more position: upstream's prepended bos)
      upstream_ids [T_up]   the text part of input_ids given to DalleModel.forward
      codes     [G*G - 1]   the image codes fed (teacher forcing): the first G*G - 1 of dec.codes
      logits    [G*G, Vi]   DalleModel.forward(...)[0][0, T-1:, vocab_size:] in float64: row i = the
                            image logits of image token i
      dec.codes [1, G, G]   a code grid (raster order)
      dec.output [1, 3, R, R]  GumbelVQ.decode(one_hot(codes) @ quantize.embed.weight), pre-clamp
      dec.pixels [1, 3, R, R]  VQGanGumbelVAE.decode(codes): (clamp(output, -1, 1) + 1) / 2

Sizes: Vt 40 BPE ids (vocab_size 48 = 40 + 8 pad tokens), text_seq_length 8, grid 12 (kernel-11 conv
windows both clipped (v3) and wrapped (v2) differ from full attention at 12), d 32, 4 heads, 4 layers
(row, col, row, conv), 64 image codes. VQGAN: ch 32, ch_mult [1, 2], 1 res block, attention at the
12 x 12 latent, z_channels = embed_dim = 16; 24 x 24 px. Weights: seeded random, every LayerNorm and
bias non-trivial; the transformer's weights are rounded to f16 before use (v2.bin stores these values as
f32), so f16 and f32 model files hold exactly the weights the goldens used.
"""
import argparse
import importlib
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "taming_vqgan"))
from dallevk.gguf import GGUFWriter  # noqa: E402
from make_goldens import shared_views  # noqa: E402

VT, T_UP, GRID, D, HEADS, LAYERS, VI = 40, 8, 12, 32, 4, 4, 64
DDCONFIG = dict(double_z=False, z_channels=16, resolution=2 * GRID, in_channels=3, out_ch=3, ch=32,
                ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[GRID], dropout=0.0)
# caption: bos, BPE ids, eos, then upstream's 0-pads
CAPTION = [2, 4, 13, 4, 15, 3]  # bos, "кот пес" in bpe.model, eos
# tiny YTTM model: characters (YTTM's space marker U+2581 first) get ids 4.., merges after them
BPE_CHARS = "\u2581котпеса"
BPE_RULES = [("к", "о"), ("ко", "т"), ("п", "е"), ("пе", "с")]


class AttrDict(dict):
    """rudalle reads its OmegaConf config both as a mapping and by attribute."""
    __getattr__ = dict.__getitem__


def import_rudalle(rudalle_root, *modules):
    """rudalle submodules without running rudalle/__init__.py (which imports the whole package)."""
    for name, sub in (("rudalle", ""), ("rudalle.dalle", "dalle"), ("rudalle.vae", "vae")):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(rudalle_root, sub)]
        sys.modules[name] = mod
    return [importlib.import_module(m) for m in modules]


def random_weights(model, seed, keep=()):
    """model's state_dict with seeded random values rounded to f16 (float tensors only; buffers in keep
    as they are): LayerNorm weights around 1, biases around 0, matrices scaled by 1/sqrt(fan_in),
    embeddings of unit scale."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, t in model.state_dict().items():
        if name in keep or not t.is_floating_point():
            sd[name] = t
            continue
        r = torch.randn(t.shape, generator=g, dtype=torch.float64)
        is_ln = t.dim() == 1 and ("layernorm" in name or "ln" in name or name.startswith("to_logits.0"))
        if is_ln and name.endswith("weight"):
            r = 1 + 0.2 * r
        elif t.dim() == 1:
            r = 0.1 * r
        elif "emb" in name:
            r = 0.7 * r
        else:
            r = r / t.shape[1] ** 0.5
        sd[name] = r.half().float()
    return sd


def write_bpe_model(path):
    """YouTokenToMe's model file: 'n_chars n_rules', 'codepoint id' per character, 'left right new'
    per merge (ids), then 'unk pad bos eos' (ruDALL-E: 1 0 2 3)."""
    ids = {c: 4 + i for i, c in enumerate(BPE_CHARS)}
    lines = ["%d %d" % (len(BPE_CHARS), len(BPE_RULES))]
    lines += ["%d %d" % (ord(c), ids[c]) for c in BPE_CHARS]
    nxt = 4 + len(BPE_CHARS)
    for a, b in BPE_RULES:
        ids[a + b] = nxt
        lines.append("%d %d %d" % (ids[a], ids[b], nxt))
        nxt += 1
    lines.append("1 0 2 3")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def make_vqgan(vae_model, out):
    config = AttrDict(model=AttrDict(params=AttrDict(ddconfig=AttrDict(DDCONFIG), n_embed=VI, embed_dim=16,
                                                     kl_weight=1e-8)))
    torch.manual_seed(51)
    vae = vae_model.VQGanGumbelVAE(config, dwt=False).eval()
    sd = shared_views(vae.model, torch.Generator().manual_seed(52))
    sd["quantize.embed.weight"] = torch.randn(VI, 16, generator=torch.Generator().manual_seed(53)).half()
    vae.model.load_state_dict(sd, strict=True)
    torch.save({"state_dict": sd}, os.path.join(out, "vqgan.ckpt"))
    grid = torch.randint(0, VI, (1, GRID, GRID), generator=torch.Generator().manual_seed(54))
    with torch.no_grad():
        seq = grid.reshape(1, GRID * GRID)
        pixels = vae.decode(seq)
        z = torch.nn.functional.one_hot(seq, VI).float() @ vae.model.quantize.embed.weight
        output = vae.model.decode(z.reshape(1, GRID, GRID, 16).permute(0, 3, 1, 2))
    return grid, output, pixels


def make_transformer(dalle_model, version, out, grid, dec):
    torch.manual_seed(61)
    model = dalle_model.DalleModel(device="cpu", num_layers=LAYERS, vocab_size=VT + T_UP, hidden_size=D,
                                   num_attention_heads=HEADS, embedding_dropout_prob=0.0,
                                   attention_dropout_prob=0.0, output_dropout_prob=0.0, text_seq_length=T_UP,
                                   image_tokens_per_dim=GRID, image_vocab_size=VI,
                                   cogview_sandwich_layernorm=True, cogview_pb_relax=True,
                                   hf_version=version).eval()
    masks = ("transformer.row_mask", "transformer.col_mask", "transformer.conv_mask")
    sd = random_weights(model, 70 if version == "v3" else 71, keep=masks)
    model.load_state_dict(sd, strict=True)
    if version == "v3":
        saved = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    else:
        saved = {k: v for k, v in sd.items() if k not in masks}
    torch.save(saved, os.path.join(out, "%s.bin" % version))

    up_ids = CAPTION + [0] * (T_UP - len(CAPTION))
    codes = grid.reshape(-1)[:GRID * GRID - 1]
    input_ids = torch.tensor([up_ids + codes.tolist()])
    S = T_UP + GRID * GRID
    attn = torch.tril(torch.ones(1, 1, S, S, dtype=torch.float64))
    model.double()
    with torch.no_grad():
        logits, _ = model(input_ids, attn)
    # the engine's text ids: pad j -> Vt + j; v2 has upstream's bos in front (one more position)
    ids = [t if t != 0 else VT + j for j, t in enumerate(up_ids)]
    if version == "v2":
        ids = [2] + [t if t < VT else t + 1 for t in ids]
    T = len(ids)
    img_logits = logits[0, T - 1:, VT + T_UP:]
    assert img_logits.shape == (GRID * GRID, VI), img_logits.shape

    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.description", "goldens of upstream ruDALL-E DalleModel %s (tests/data/README.md)" % version)
    for name, t in (("text_ids", torch.tensor(ids)), ("upstream_ids", torch.tensor(up_ids)), ("codes", codes),
                    ("logits", img_logits), ("dec.codes", grid), ("dec.output", dec[0]), ("dec.pixels", dec[1])):
        w.add_tensor(name, t.to(torch.float32).numpy(), "f32")
    w.write(os.path.join(out, "%s.gguf" % version))
    print("%s: logits std %.3f, argmax agrees with the next code at %d of %d steps" % (
        version, img_logits.std(), int((img_logits[:-1].argmax(-1) == codes).sum()), len(codes)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rudalle", required=True, help="the rudalle/ package folder of ai-forever/ru-dalle")
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    dalle_model, vae_model = import_rudalle(a.rudalle, "rudalle.dalle.model", "rudalle.vae.model")
    grid, output, pixels = make_vqgan(vae_model, a.out)
    for version in ("v3", "v2"):
        make_transformer(dalle_model, version, a.out, grid, (output, pixels))
    write_bpe_model(os.path.join(a.out, "bpe.model"))
    print("VQGAN output range %.3f..%.3f, pixels std %.3f" % (output.min(), output.max(), pixels.std()))


if __name__ == "__main__":
    main()
