#!/usr/bin/python3
"""Paper-sized model check: writes DALL-E-paper-shaped models with random weights and their PyTorch
reference logits, for tests/test_paper.c (ctest label "slow").

Hyperparameters of the paper's transformer (Ramesh et al. 2021, App. B.1): d_model 3968, 62 heads
(d_head 64), text_len 256, text vocab 16384 (+256 per-position pads), grid 32 (1024 image tokens),
image vocab 8192, paper mask schedule, but only 1-2 layers:
  paper-rowcol: 2 layers, row then col;   paper-conv: 1 layer, conv 11x11 (clamp)
Weights are f16 except the text tables: text_emb kept f32 (16640 x 3968 x 4 = 264 MB) so that a tensor larger than
lavapipe's 128 MiB maxStorageBufferRange is exercised. The reference runs in float32 on the f16-rounded
weights: a prefill (256 text tokens + start-of-image) and 3 decode steps (image tokens 0, 1, 2).
Outputs in OUT_DIR: <case>.gguf, <case>-golden.gguf (text_ids, codes, logits [4, 8192]).
Needs ~6 GB of memory and a few minutes on 2 cores.
Usage: /usr/bin/python3 tools/paper_check.py OUT_DIR
"""
import argparse
import os
import time

import numpy as np
import torch

from dallevk.dvae import Decoder, DvaeConfig
from dallevk.export import add_dvae, add_tokenizer, add_transformer
from dallevk.gguf import GGUFWriter
from dallevk.transformer import Dalle, DalleConfig, pad_text

PAPER = dict(text_len=256, text_vocab=16384, grid=32, image_vocab=8192, d_model=3968, n_heads=62,
             d_ff=4 * 3968, conv_kernel=11, conv_wrap=False)
CASES = {"paper-rowcol": ["row", "col"], "paper-conv": ["conv"]}
STEPS = 3
F32_TENSORS = {"text_emb", "text_pos_emb"}  # the text tables share a dtype (the embedding op adds them)


def build(types, gen):
    cfg = DalleConfig(n_layers=len(types), attn_types=types, **PAPER)
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=gen)))
    m = Dalle(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name == "text_logits.w":
                continue
            if p.dim() >= 2 and "emb" not in name:
                p.normal_(0, p.shape[1] ** -0.5)
            elif p.dim() >= 2 or name == "image_start":
                p.normal_(0, 1)
            elif name.endswith(".w"):
                p.normal_(1, 0.2)
            else:
                p.normal_(0, 0.2)
            if p.dim() >= 2 and name not in F32_TENSORS:
                p.copy_(p.half().float())  # the file holds f16
    return cfg, m


def write_model(path, cfg, model):
    vcfg = DvaeConfig(group_count=1, n_hid=4, n_blk_per_group=1, vocab_size=cfg.image_vocab, n_init=4,
                      image_size=cfg.grid)  # a token dVAE: the config loader needs one; not checked here
    dec = Decoder(vcfg)
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.name", "paper-shaped random model")
    sd = {k: v for k, v in model.state_dict().items()}
    tensors = add_transformer(w, cfg.to_dict(), sd)
    tensors += add_dvae(w, vcfg.to_dict(), dec.state_dict(), None)
    add_tokenizer(w, [])
    for name, arr in tensors:
        w.add_tensor(name, arr, "f16" if arr.ndim >= 2 and name not in F32_TENSORS else "f32")
    w.write(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="where the <case>.gguf and <case>-golden.gguf files go")
    out = ap.parse_args().out_dir
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(2021)
    for name, types in CASES.items():
        t0 = time.time()
        cfg, m = build(types, gen)
        caption = torch.randint(0, 256, (40,), generator=gen).tolist()
        text_ids = pad_text(caption, cfg.text_len, cfg.text_vocab)
        codes = torch.randint(0, cfg.image_vocab, (STEPS,), generator=gen)
        with torch.no_grad():
            lg, cache = m.prefill(text_ids.view(1, -1))
            rows = [lg[0]]
            for s in range(STEPS):
                rows.append(m.decode_step(cache, codes[s].view(1))[0])
        logits = torch.stack(rows).numpy().astype(np.float32)
        write_model(os.path.join(out, name + ".gguf"), cfg, m)
        g = GGUFWriter()
        g.add_string("general.architecture", "dalle-golden")
        g.add_tensor("text_ids", text_ids.numpy().astype(np.float32), "f32")
        g.add_tensor("codes", codes.numpy().astype(np.float32), "f32")
        g.add_tensor("logits", logits, "f32")
        g.write(os.path.join(out, name + "-golden.gguf"))
        del m, cache
        print("%s: %d layers %s, reference + export in %.0fs" % (name, len(types), types, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
