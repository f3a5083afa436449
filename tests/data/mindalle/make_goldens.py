"""Makes the tiny minDALL-E test files with minDALL-E's own classes (Transformer1d, stage-1 VQGAN).

Needs kakaobrain/minDALL-E (dalle/models/stage1 and stage2 are imported without the packages'
__init__, which import pytorch_lightning, tokenizers and a config module that fails on Python >= 3.11),
einops and the omegaconf shim of tests/data/README.md. tests/data/README.md records the commit and the
command. dalle-vk's code only writes the GGUF goldens.

Writes (into --out, default: this folder):
  tiny/          the layout of minDALL-E's unpacked 1.3B.tar.gz:
    config.yaml                  dataset / stage1 / stage2 sections (the tiny sizes below)
    tokenizer/bpe-16k-vocab.json, tokenizer/bpe-16k-merges.txt   a tiny CharBPE vocabulary without
                                 '[PAD]' (minDALL-E adds it as a special token: id = vocabulary size)
    stage1_last.ckpt             {'state_dict': VQGAN.state_dict()}, f16
    stage2_last.ckpt             {'state_dict': Transformer1d.state_dict()}, f32
  goldens.gguf   float32 tensors:
      text_ids  [T]        the caption as the engine feeds it (docs/model-format.md §8.4): caption ids,
                           then Vt + j at pad position j
      upstream_ids [T]     the texts given to Transformer1d.forward (caption ids, then the [PAD] id)
      codes     [G*G - 1]  the image codes fed (teacher forcing): the first G*G - 1 of dec.codes
      logits    [G*G, Vi]  Transformer1d.forward(dec.codes, texts, ...)[0][0] in float64 (logits_img:
                           row i = the logits of image token i)
      dec.codes [1, G, G]  a code grid (raster order)
      dec.output [1, 3, R, R]  VQGAN.decode_code(codes), pre-clamp
      dec.pixels [1, 3, R, R]  clamp(output * 0.5 + 0.5, 0, 1) (minDALL-E's Dalle.sampling)

Sizes: Vt 40, ctx_len_txt 8, ctx_len_img 16 (G = 4), d 32, 4 heads, 2 layers, 32 image codes.
VQGAN: ch 32, ch_mult [1, 1, 2], 1 res block, attention at the 4 x 4 latent, z_channels 16, embed_dim 8;
16 x 16 px. Weights: seeded random (tests/data/rudalle/make_goldens.random_weights), f16-rounded.
"""
import argparse
import importlib
import importlib.util
import json
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "taming_vqgan"))
from dallevk.gguf import GGUFWriter  # noqa: E402
from make_goldens import AttrDict, shared_views  # noqa: E402  (taming_vqgan's)

VT, T, GRID, D, HEADS, LAYERS, VI = 40, 8, 4, 32, 4, 2, 32
STAGE1 = dict(double_z=False, z_channels=16, resolution=16, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2],
              num_res_blocks=1, attn_resolutions=[4], pdrop=0.0)
STAGE2 = dict(embed_dim=D, n_layers=LAYERS, n_heads=HEADS, n_dense_layers=LAYERS, ctx_len_img=GRID * GRID,
              ctx_len_txt=T, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, mlp_bias=True, attn_bias=True,
              gelu_use_approx=False)
# CharBPE: word-final pieces end in '</w>'; '[UNK]' first, as CharBPETokenizer's trainer writes it
VOCAB = ["[UNK]"] + list("acdgot") + [c + "</w>" for c in "acdgost"] + ["ca", "cat</w>", "do", "dog</w>", "dog", "dogs</w>"]
MERGES = ["c a", "ca t</w>", "d o", "do g</w>", "do g", "dog s</w>"]
CAPTION = [15, 17, 19]  # "cat dog dogs"


def import_mindalle(root):
    for name in ("dalle", "dalle.models", "dalle.models.stage1", "dalle.models.stage2"):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = mod
    return (importlib.import_module("dalle.models.stage1.vqgan"),
            importlib.import_module("dalle.models.stage2.transformer"))


def write_folder(d):
    os.makedirs(os.path.join(d, "tokenizer"), exist_ok=True)
    with open(os.path.join(d, "tokenizer", "bpe-16k-vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(VOCAB)}, f)
    with open(os.path.join(d, "tokenizer", "bpe-16k-merges.txt"), "w") as f:
        f.write("#version: 0.2 - Trained by `huggingface/tokenizers`\n" + "\n".join(MERGES) + "\n")
    lines = ["dataset:", "  tokenizer_type: CharBPE", "  context_length: %d" % T, "  image_resolution: 16",
             "stage1:", "  type: vqgan", "  embed_dim: 8", "  n_embed: %d" % VI, "  hparams:"]
    lines += ["    %s: %s" % (k, json.dumps(v)) for k, v in STAGE1.items()]
    lines += ["stage2:", "  type: transformer1d", "  vocab_size_txt: %d" % VT, "  vocab_size_img: %d" % VI,
              "  hparams:"]
    lines += ["    %s: %s" % (k, json.dumps(v)) for k, v in STAGE2.items()]
    with open(os.path.join(d, "config.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mindalle", required=True, help="a checkout of kakaobrain/minDALL-E (holds dalle/)")
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    stage1, stage2 = import_mindalle(a.mindalle)
    rd_script = os.path.join(HERE, "..", "rudalle", "make_goldens.py")
    spec = importlib.util.spec_from_file_location("rudalle_goldens", rd_script)
    rd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rd)
    folder = os.path.join(a.out, "tiny")
    write_folder(folder)

    torch.manual_seed(81)
    vq = stage1.VQGAN(n_embed=VI, embed_dim=8, hparams=AttrDict(STAGE1)).eval()
    sd1 = shared_views(vq, torch.Generator().manual_seed(82))
    sd1["quantize.embedding.weight"] = torch.randn(VI, 8, generator=torch.Generator().manual_seed(83)).half()
    vq.load_state_dict(sd1, strict=True)
    torch.save({"state_dict": sd1}, os.path.join(folder, "stage1_last.ckpt"))

    tf = stage2.Transformer1d(vocab_size_txt=VT, vocab_size_img=VI, hparams=AttrDict(STAGE2)).eval()
    sd2 = rd.random_weights(tf, 90)
    tf.load_state_dict(sd2, strict=True)
    torch.save({"state_dict": sd2}, os.path.join(folder, "stage2_last.ckpt"))

    pad = len(VOCAB)  # '[PAD]' added after the vocabulary
    up_ids = CAPTION + [pad] * (T - len(CAPTION))
    ids = CAPTION + [VT + j for j in range(len(CAPTION), T)]
    grid = torch.randint(0, VI, (1, GRID, GRID), generator=torch.Generator().manual_seed(84))
    with torch.no_grad():
        output = vq.decode_code(grid)
        pixels = torch.clamp(output * 0.5 + 0.5, 0, 1)
        tf.double()
        images = grid.reshape(1, -1)
        logits, _ = tf(images, torch.tensor([up_ids]), torch.arange(GRID * GRID).view(1, -1),
                       torch.arange(T).view(1, -1))
    logits = logits[0]
    assert logits.shape == (GRID * GRID, VI)
    codes = images[0, :-1]
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.description", "goldens of upstream minDALL-E Transformer1d / VQGAN (tests/data/README.md)")
    for name, t in (("text_ids", torch.tensor(ids)), ("upstream_ids", torch.tensor(up_ids)), ("codes", codes),
                    ("logits", logits), ("dec.codes", grid), ("dec.output", output), ("dec.pixels", pixels)):
        w.add_tensor(name, t.to(torch.float32).numpy(), "f32")
    w.write(os.path.join(a.out, "goldens.gguf"))
    print("logits std %.3f; VQGAN output range %.3f..%.3f, pixels std %.3f" % (
        logits.std(), output.min(), output.max(), pixels.std()))


if __name__ == "__main__":
    main()
