#!/usr/bin/python3
"""Train the CLIP-style reranker (tools/dallevk/clip.py) on (caption, dVAE codes) pairs of the emoji set.

Data: the transformer run's files (<run root>/<--dalle>/bpe.json and codes.npy, the dVAE argmax codes of
every image in D.load_dataset() order; never re-encoded here); text_len / text_vocab / image_vocab come
from that run's config, the grid from codes.npy. Each step draws --batch distinct training images, each
with one of its captions at random; loss = CLIP's symmetric cross-entropy over the batch score matrix.
AdamW (0.9, 0.98), linear warmup then cosine to 10% by --steps, weight decay on Linear weight matrices
only, gradient clipping at 1. Held-out retrieval (val + zero-shot images, each image's first caption:
rank of the true image among all held-out images, top-1 / top-5 vs chance) every --eval-every steps and
at the end.

Run dir (default ~/.cache/dalle-vk/runs/<name>, env DVK_RUN_DIR): ckpt.pt (resumable, atomic, every
--ckpt-every s), log.csv, final.pt (weights, config, BPE merges, metrics). Rerun with --resume.
"""
import argparse
import os
import random
import sys
import time

import numpy as np
import torch

from dallevk import data as D
from dallevk import training as TR
from dallevk.bpe import BPE
from dallevk.clip import Clip, ClipConfig, retrieval


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    TR.add_run_args(ap, "clip", steps=700, batch=128, lr=1e-3, warmup=100)
    ap.add_argument("--dalle", default="dalle", help="transformer run whose bpe.json / codes.npy / config to use")
    ap.add_argument("--dvae", default="dvae", help="dVAE run (only if codes.npy had to be computed)")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--d-ff", type=int, default=256)
    ap.add_argument("--text-layers", type=int, default=2)
    ap.add_argument("--image-layers", type=int, default=2)
    ap.add_argument("--d-embed", type=int, default=64)
    ap.add_argument("--init-from", metavar="RUN",
                    help="start from RUN's final.pt weights and config (a fresh optimizer and schedule); the "
                         "--d-model etc. options are then ignored")
    ap.add_argument("--prefix-weight", type=float, default=None,
                    help="weight of the prefix loss (Clip.loss): the contrastive loss also over the features of "
                         "the image's first 1..G-1 rows, so the reranker can score half-sampled candidates "
                         "(pruning during sampling); default 0 (on --resume: the saved value)")
    return ap.parse_args(argv)


def dalle_config(run):
    """The transformer run's config dict (final.pt, else ckpt.pt)."""
    for fn in ("final.pt", "ckpt.pt"):
        p = os.path.join(run, fn)
        if os.path.exists(p):
            return dict(torch.load(p, map_location="cpu")["config"])
    raise SystemExit("clip: no final.pt or ckpt.pt in %s (train the transformer first)" % run)


def heldout_texts(tok, items, idx, cfg):
    """int64 [N, T]: the first caption of each item in idx."""
    return TR.text_batch(tok, [items[i]["captions"][0] for i in idx], cfg)


def main(argv=None):
    a = parse_args(argv)
    run, ckpt_path, state = TR.start(a, "clip", ("batch", "lr", "warmup", "weight_decay", "seed", "dalle"), 700)
    if run is None:
        return 0
    TR.saved_or(a, state, "prefix_weight", 0.0, 0.0)

    dalle_run = os.path.join(D.run_root(), a.dalle)
    images, items = D.load_dataset()
    codes = TR.encode_dataset(dalle_run, a.dvae, images, a.device)  # cached codes.npy of the transformer run
    del images
    tok = BPE.load(os.path.join(dalle_run, "bpe.json"))
    train_idx = D.split_indices(items, "train")
    held_idx = np.concatenate([D.split_indices(items, "val"), D.split_indices(items, "zeroshot")])

    init = None
    if state is None and a.init_from:
        init = torch.load(os.path.join(D.run_root(), a.init_from, "final.pt"), map_location="cpu")
    if state is not None:
        cfg = ClipConfig(**state["config"])
    elif init is not None:
        cfg = ClipConfig(**init["config"])
    else:
        dc = dalle_config(dalle_run)
        if tok.vocab_size > dc["text_vocab"] or codes.shape[1] != dc["grid"]:
            raise SystemExit("clip: bpe.json / codes.npy do not match the transformer config %s" % dc)
        cfg = ClipConfig(text_len=dc["text_len"], text_vocab=dc["text_vocab"], grid=dc["grid"],
                         image_vocab=dc["image_vocab"], d_model=a.d_model, n_heads=a.n_heads, d_ff=a.d_ff,
                         text_layers=a.text_layers, image_layers=a.image_layers, d_embed=a.d_embed,
                         ln_eps=dc.get("ln_eps", 1e-5))
    torch.manual_seed(a.seed)
    model = Clip(cfg).to(a.device)
    opt = TR.adamw_matrix_decay(model, a.weight_decay, a.lr, (0.9, 0.98))
    step = 0
    rng = random.Random(a.seed)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        rng.setstate(state["py_rng"])
        print("clip: resumed at step", step)
    elif init is not None:
        model.load_state_dict(init["model"])
        print("clip: weights from", a.init_from)
    n_params = sum(p.numel() for p in model.parameters())
    print("clip: config", cfg.to_dict(), "params %.2fM" % (n_params / 1e6), "train %d, held-out %d images"
          % (len(train_idx), len(held_idx)), flush=True)

    codes_flat = codes.reshape(len(codes), -1).astype(np.int64)
    held_text = heldout_texts(tok, items, held_idx, cfg).to(a.device)
    held_codes = torch.from_numpy(codes_flat[held_idx]).to(a.device)

    logf, log = TR.open_log(run, step, ["step", "wall_s", "loss", "batch_acc", "lr", "logit_scale", "heldout_top1",
                                        "heldout_top5"])

    def save():
        logf.flush()
        D.atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                       "config": cfg.to_dict(), "args": vars(a), "py_rng": rng.getstate()}, ckpt_path)

    def evaluate():
        r = retrieval(model, held_text, held_codes)
        print("clip: step %d held-out retrieval (N=%d) top-1 %.3f top-5 %.3f (chance %.4f / %.4f), "
              "mean rank %.1f" % (step, r["n"], r["top1"], r["top5"], r["chance1"], r["chance5"],
                                  r["mean_rank"]), flush=True)
        if a.prefix_weight > 0:
            G = cfg.grid
            print("clip: step %d prefix retrieval top-1 / top-5: %s" % (step, ", ".join(
                "rows 0-%d %.3f / %.3f" % (row, q["top1"], q["top5"]) for row, q in
                ((row, retrieval(model, held_text, held_codes, row=row)) for row in (G // 4 - 1, G // 2 - 1)))),
                flush=True)
        return r

    t0 = time.time()
    ckpt = TR.Checkpointer(save, logf, a.ckpt_every, a.time_limit, "clip")
    start_step = step
    r = None
    while step < a.steps:
        lr = TR.lr_at(step, a)
        TR.set_lr(opt, lr)
        b = [int(train_idx[k]) for k in rng.sample(range(len(train_idx)), a.batch)]  # distinct images
        t = TR.text_batch(tok, [rng.choice(items[i]["captions"]) for i in b], cfg).to(a.device)
        c = torch.from_numpy(codes_flat[b]).to(a.device)
        loss, logits = model.loss(t, c, a.prefix_weight)
        TR.optimizer_step(opt, loss, model.parameters())
        step += 1
        with torch.no_grad():
            y = torch.arange(len(b), device=logits.device)
            acc = 0.5 * ((logits.argmax(1) == y).float().mean() + (logits.argmax(0) == y).float().mean()).item()
        r = None
        if step % a.eval_every == 0 or step == a.steps:
            r = evaluate()
        if step <= 10 or step % 50 == 0:
            print("clip: step %d loss %.4f batch acc %.3f scale %.2f lr %.3g (%.2f s/step)"
                  % (step, loss.item(), acc, model.scale().item(), lr,
                     (time.time() - t0) / max(1, step - start_step)), flush=True)
        log.writerow([step, "%.1f" % (time.time() - t0), "%.5f" % loss.item(), "%.4f" % acc, "%.6g" % lr,
                      "%.4f" % model.scale().item(), "" if r is None else "%.4f" % r["top1"],
                      "" if r is None else "%.4f" % r["top5"]])
        if ckpt.after_step(step):
            return 0
    save()
    r = evaluate() if r is None else r
    D.atomic_save({"model": model.state_dict(), "config": cfg.to_dict(),
                   "bpe_merges": [list(m) for m in tok.merges], "dalle": a.dalle, "args": vars(a),
                   "metrics": {"heldout_top1": r["top1"], "heldout_top5": r["top5"], "chance_top1": r["chance1"],
                               "chance_top5": r["chance5"], "heldout_mean_rank": r["mean_rank"],
                               "heldout_n": r["n"], "logit_scale": model.scale().item(), "steps": step}},
                  os.path.join(run, "final.pt"))
    print("clip: done, held-out top-1 %.3f top-5 %.3f (chance %.4f)" % (r["top1"], r["top5"], r["chance1"]),
          flush=True)
    logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
