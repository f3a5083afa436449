#!/usr/bin/python3
"""Writes the model-parity goldens that tests/test_parity.c checks the engine against.

For each case: a small DALL-E transformer + dVAE decoder with random weights (tools/dallevk), exported
as GGUF with f32 and with f16 weights (tests/data/parity/<case>-f32.gguf, -f16.gguf), and a golden file
<case>-golden.gguf computed by the PyTorch reference in float64 from exactly the weights in the file
(the f16 golden uses the f16-rounded weights). Golden tensors (GGUF, f32):
  text_ids   [T]          caption ids + per-position pad ids (exact small integers)
  codes      [steps]      the image tokens fed to the decode steps (random, fixed)
  logits     [steps+1, Vi]  row 0: prefill (image token 0); row s: after feeding codes[s-1]
  dvae_codes [n_img, G, G]  codes decoded by the dVAE check
  pixels     [n_img, 3, R, R]  the dVAE decoder output in [0, 1]
Cases cover every attention type, both conv modes, and grids that are not powers of two; the "m1-", "r2-" and
"r3-" cases the architecture options of docs/model-format.md §2 as the public models use them (minDALL-E-like:
no start token, linear image positions, full masks, pre-LN, erf GELU; ruDALL-E-v2-like: T = 129 with the masks'
image index 0 at position 128 and a wrapped conv window; ruDALL-E-v3-like: no start token, sandwich norm, tanh
GELU, two final norms, a clamp small enough to bite, row/col/clipped-conv masks).

Case "g6-full-convclamp" (CLIP_CASES) also holds a random CLIP-style reranker (tools/dallevk/clip.py;
clip.* keys and tensors in both model files; dc 32, 2 heads (d_head 16), d_ff 48, 2 + 2 layers,
d_embed 24, logit_scale ~ 10), drawn from its own torch.Generator after everything else, so the
transformer / dVAE weights and the goldens above are exactly those of the files without it. Its weights
are rounded to float32 before use, so both goldens are float64 math on exactly the stored weights
(f16 file: 2+-dim tensors f16-rounded), with the multiplier s read back from the file. Extra golden
tensors of that case (f32):
  clip_codes      [3, G*G]        image codes scored (random, exact small integers)
  clip_text_feat  [d_embed]       normalised text feature of text_ids
  clip_image_feat [3, d_embed]    normalised image features of clip_codes
  clip_scores     [3]             s * dot(clip_text_feat, clip_image_feat[n])
Deterministic (fixed seeds); rerun after changing the reference or the format:
  /usr/bin/python3 tools/make_goldens.py
"""
import argparse
import os

import numpy as np
import torch

from dallevk.clip import Clip, ClipConfig
from dallevk.dvae import Decoder, DvaeConfig, decode_pixels
from dallevk.export import CLIP_LOGIT_SCALE, export
from dallevk.gguf import GGUFReader, GGUFWriter
from dallevk.random_init import randomize, randomize_clip
from dallevk.transformer import Dalle, DalleConfig, pad_text

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "parity")

# name: (DalleConfig kwargs, dVAE kwargs beyond vocab/image size, decode steps)
CASES = {
    "g5-row-col-convwrap": (dict(text_len=7, text_vocab=300, grid=5, image_vocab=50, d_model=48, n_heads=4,
                                 n_layers=3, d_ff=80, attn_types=["row", "col", "conv"], conv_kernel=3,
                                 conv_wrap=True), dict(group_count=2, n_hid=8, n_blk_per_group=1, n_init=16), 20),
    "g6-full-convclamp": (dict(text_len=5, text_vocab=270, grid=6, image_vocab=33, d_model=32, n_heads=2,
                               n_layers=2, d_ff=64, attn_types=["full", "conv"], conv_kernel=5,
                               conv_wrap=False), dict(group_count=3, n_hid=8, n_blk_per_group=2, n_init=12), 20),
    "g7-paper-schedule": (dict(text_len=9, text_vocab=320, grid=7, image_vocab=64, d_model=64, n_heads=4,
                               n_layers=5, d_ff=128, conv_kernel=5, conv_wrap=False),
                          dict(group_count=2, n_hid=12, n_blk_per_group=1, n_init=16), 20),
    "m1-mindalle-like": (dict(text_len=6, text_vocab=290, grid=4, image_vocab=40, d_model=32, n_heads=2,
                              n_layers=2, d_ff=64, attn_types=["full", "full"], image_start=False,
                              image_pos="linear"), dict(group_count=2, n_hid=8, n_blk_per_group=1, n_init=16), 15),
    "r2-rudalle-v2-like": (dict(text_len=129, text_vocab=300, grid=5, image_vocab=48, d_model=32, n_heads=2,
                                n_layers=3, d_ff=64, attn_types=["row", "col", "conv"], conv_kernel=3,
                                conv_wrap=True, image_start=False, norm="sandwich", gelu="tanh", final_norms=2,
                                attn_out_clamp=65504.0, mask_image0=128),
                           dict(group_count=2, n_hid=8, n_blk_per_group=1, n_init=16), 24),
    "r3-rudalle-v3-like": (dict(text_len=8, text_vocab=300, grid=6, image_vocab=40, d_model=48, n_heads=4,
                                n_layers=3, d_ff=96, attn_types=["row", "col", "conv"], conv_kernel=3,
                                conv_wrap=False, image_start=False, norm="sandwich", gelu="tanh", final_norms=2,
                                attn_out_clamp=0.75), dict(group_count=2, n_hid=8, n_blk_per_group=1, n_init=16), 35),
}

# name: ClipConfig kwargs beyond the transformer's sizes (a reranker in that case's model files)
CLIP_CASES = {
    "g6-full-convclamp": dict(d_model=32, n_heads=2, d_ff=48, text_layers=2, image_layers=2, d_embed=24),
}
N_CLIP_CODES = 3


def round_f16(module):
    """Rounds every tensor of 2+ dims to f16 precision (what the --f16 file holds)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                p.copy_(p.half().double())


def clip_goldens(clip, scale, text_ids, codes):
    """float64 goldens of the reranker; scale = the multiplier as stored in the file."""
    with torch.no_grad():
        tf = clip.text_features(text_ids.view(1, -1))[0]
        imf = clip.image_features(codes)
        scores = scale * (imf @ tf)
    return [("clip_codes", codes.numpy()), ("clip_text_feat", tf.numpy()),
            ("clip_image_feat", imf.numpy()), ("clip_scores", scores.numpy())]


def write_golden(path, text_ids, codes, logits, dvae_codes, pixels, extra=()):
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle-golden")
    for name, arr in (("text_ids", text_ids), ("codes", codes), ("logits", logits),
                      ("dvae_codes", dvae_codes), ("pixels", pixels)) + tuple(extra):
        w.add_tensor(name, np.asarray(arr, dtype=np.float32), "f32")
    w.write(path)


def make_case(name, dalle_kw, dvae_kw, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    cfg = DalleConfig(**dalle_kw)
    vcfg = DvaeConfig(vocab_size=cfg.image_vocab, image_size=cfg.grid * 2 ** (dvae_kw["group_count"] - 1),
                      **dvae_kw)
    model = Dalle(cfg).double()
    dec = Decoder(vcfg).double()
    randomize(model, gen)
    randomize(dec, gen)
    merges = [(97 + i % 26, 97 + (i * 7) % 26) for i in range(cfg.text_vocab - 256 - 5)]  # any valid merges
    caption = torch.randint(0, 256 + len(merges), (cfg.text_len - 2,), generator=gen).tolist()
    text_ids = pad_text(caption, cfg.text_len, cfg.text_vocab)
    codes = torch.randint(0, cfg.image_vocab, (steps,), generator=gen)
    dvae_codes = torch.randint(0, cfg.image_vocab, (2, cfg.grid, cfg.grid), generator=gen)
    clip = None
    if name in CLIP_CASES:  # own generator: the draws above (and so every existing golden) are unchanged
        cgen = torch.Generator().manual_seed(seed + 50000)
        ccfg = ClipConfig(text_len=cfg.text_len, text_vocab=cfg.text_vocab, grid=cfg.grid,
                          image_vocab=cfg.image_vocab, ln_eps=float(np.float32(cfg.ln_eps)), **CLIP_CASES[name])
        clip = Clip(ccfg).double()
        randomize_clip(clip, cgen)
        clip_codes = torch.randint(0, cfg.image_vocab, (N_CLIP_CODES, cfg.grid ** 2), generator=cgen)
    for dtype in ("f32", "f16"):
        m, d = model, dec
        if dtype == "f16":
            m = Dalle(cfg).double()
            m.load_state_dict(model.state_dict())
            d = Decoder(vcfg).double()
            d.load_state_dict(dec.state_dict())
            round_f16(m)
            round_f16(d)
        with torch.no_grad():
            lg, cache = m.prefill(text_ids.view(1, -1))
            rows = [lg[0]]
            for s in range(steps):
                rows.append(m.decode_step(cache, codes[s].view(1))[0])
            logits = torch.stack(rows).numpy()
            pixels = decode_pixels(d.decode_codes(dvae_codes)).numpy()
        model_path = os.path.join(OUT, "%s-%s.gguf" % (name, dtype))
        export(model_path, dalle=(cfg.to_dict(), {k: v.float() for k, v in model.state_dict().items()}),
               dvae=(vcfg.to_dict(), {k: v.float() for k, v in dec.state_dict().items()}, None),
               merges=merges, f16=dtype == "f16", encoder=False, name="parity-" + name,
               license="test data",
               clip=None if clip is None else (clip.cfg.to_dict(), clip.state_dict()))
        extra = ()
        if clip is not None:
            c = clip
            if dtype == "f16":
                c = Clip(clip.cfg).double()
                c.load_state_dict(clip.state_dict())
                round_f16(c)
            scale = float(GGUFReader(model_path).get(CLIP_LOGIT_SCALE[1]))  # as stored (f32)
            extra = clip_goldens(c, scale, text_ids, clip_codes)
        write_golden(os.path.join(OUT, "%s-%s-golden.gguf" % (name, dtype)), text_ids.numpy(), codes.numpy(),
                     logits, dvae_codes.numpy(), pixels, extra)
        print("%s %s: logits %s, pixels %s" % (name, dtype, logits.shape, pixels.shape))


def main():
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()  # no options: --help only
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, (dk, vk, steps)) in enumerate(sorted(CASES.items())):
        make_case(name, dk, vk, steps, seed=1000 + i)


if __name__ == "__main__":
    main()
