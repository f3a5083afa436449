#!/usr/bin/python3
"""Train the DALL-E transformer (tools/dallevk/transformer.py) on dVAE codes of the emoji set.

Pipeline: the finished dVAE (<run root>/<--dvae>/final.pt) encodes every image to argmax
codes [N, G, G] (cached as codes.npy in this run dir); a BPE tokenizer is trained on the
training-split captions (bpe.json); each step samples training images with one of their
captions at random; loss = text CE / 8 + image CE * 7/8 (paper; --text-weight). LR: linear warmup, then
cosine to 10% by --steps. Held-out image CE (val + zero-shot items, first caption) is
logged every --eval-every steps.

Run dir (default ~/.cache/dalle-vk/runs/<name>, env DVK_RUN_DIR): ckpt.pt (resumable,
atomic, every --ckpt-every s), log.csv, bpe.json, codes.npy, final.pt (weights, config,
BPE merges, dVAE config, metrics). Rerun with --resume to continue.
"""
import argparse
import os
import random
import shutil
import sys
import time

import numpy as np
import torch

from dallevk import data as D
from dallevk import training as TR
from dallevk.bpe import BPE
from dallevk.checkpoints import load_dalle
from dallevk.transformer import Dalle, DalleConfig, caption_image_ce


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    TR.add_run_args(ap, "dalle", steps=5000, batch=16, lr=5e-4, warmup=150)
    ap.add_argument("--dvae", default="dvae", help="name of the finished dVAE run")
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--text-len", type=int, default=32)
    ap.add_argument("--bpe-vocab", type=int, default=1536)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--n-layers", type=int, default=6)
    ap.add_argument("--conv-kernel", type=int, default=5)
    ap.add_argument("--conv-wrap", type=int, default=0)
    ap.add_argument("--d-ff", type=int, default=0, help="MLP width (default 4 * d_model)")
    ap.add_argument("--grow-from", default=None,
                    help="start a new run from the weights of this run (its final.pt, else its latest ckpt.pt; its "
                         "BPE and codes), widened to --d-ff: the new MLP units start with random inputs and zero "
                         "outputs, so the model computes the same function at step 0 and gains capacity; fresh "
                         "optimizer")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="save and exit once this step is reached, before --steps (the LR schedule still runs "
                         "to --steps): to branch another run from that checkpoint (tools/train_all.sh); 0 = off")
    ap.add_argument("--sample-by", choices=("image", "base", "loss"), default=None,
                    help="draw training images uniformly (image), or a base emoji uniformly and then one of its "
                         "images (base: skin-tone variants stop outweighing rare concepts), or a base emoji with "
                         "probability half uniform, half proportional to a running estimate of its image CE, then "
                         "one of its images (loss: the concepts memorised worst are drawn most); default image (on "
                         "--resume: the saved value)")
    ap.add_argument("--null-cond-prob", type=float, default=None,
                    help="probability that a training caption is replaced by the empty caption (all pad "
                         "tokens), so the model also learns p(image | no text) for classifier-free guidance "
                         "(cond_scale) at sampling; default 0.1 (on --resume: the saved value, else 0)")
    ap.add_argument("--input-noise", type=float, default=None,
                    help="probability that an input image code (not its target) is replaced by a uniformly random "
                         "code: the model cannot lean on the previous codes alone and learns to recover from its "
                         "own sampling errors (exposure bias); default 0 (on --resume: the saved value)")
    ap.add_argument("--focal-gamma", type=float, default=None,
                    help="weight each image token's CE by (1 - p)^gamma (focal loss; Dalle.loss): the training "
                         "images' CE sits in a few tokens the model gets badly wrong (about 4%% of the tokens hold "
                         "61%% of it, tools/caption_gap.py), and a sampler that misses one of them drifts to another "
                         "image; default 0 (on --resume: the saved value)")
    ap.add_argument("--text-weight", type=float, default=None,
                    help="weight of the caption tokens' CE in the loss (the image CE gets 1 - W); default 1/8 as "
                         "the paper. 0 for a run continued from a model file (tools/runs_from_gguf.py): the file "
                         "has no text head, so a fresh one would send the caption loss of an untrained head "
                         "through the whole model (on --resume: the saved value)")
    return ap.parse_args(argv)


def first_caption_ce(model, tok, items, codes, idx, device):
    """Image-token CE (nats/token) of each item in idx with its first caption -> float64 numpy [len(idx)]."""
    idx = list(idx)
    return caption_image_ce(model, tok, [items[i]["captions"][0] for i in idx], codes[idx], device)


def main(argv=None):
    a = parse_args(argv)
    run, ckpt_path, state = TR.start(a, "dalle", ("batch", "lr", "warmup", "weight_decay", "seed", "dvae"), 5000)
    if run is None:
        return 0
    TR.saved_or(a, state, "sample_by", "image", "image")
    TR.saved_or(a, state, "input_noise", 0.0, 0.0)
    TR.saved_or(a, state, "focal_gamma", 0.0, 0.0)
    TR.saved_or(a, state, "text_weight", 1.0 / 8, 1.0 / 8)
    TR.saved_or(a, state, "null_cond_prob", 0.1, 0.0)  # runs from before the option trained without

    if state is None and a.grow_from:
        for f in ("bpe.json", "codes.npy"):  # the source run's tokenizer and codes, so the weights still fit
            if not os.path.exists(os.path.join(run, f)):
                shutil.copy(os.path.join(D.run_root(), a.grow_from, f), os.path.join(run, f))
    images, items = D.load_dataset()
    codes = TR.encode_dataset(run, a.dvae, images, a.device)
    train_idx = D.split_indices(items, "train")
    held_idx = np.concatenate([D.split_indices(items, "val"), D.split_indices(items, "zeroshot")])
    bpe_path = os.path.join(run, "bpe.json")
    if os.path.exists(bpe_path):
        tok = BPE.load(bpe_path)
    else:
        t0 = time.time()
        tok = BPE.train([c for i in train_idx for c in items[i]["captions"]], a.bpe_vocab)
        tok.save(bpe_path)
        print("dalle: BPE vocab %d trained in %.0fs" % (tok.vocab_size, time.time() - t0))

    grown = None
    if state is not None:
        cfg = DalleConfig(**state["config"])
    elif a.grow_from:
        src, _, src_info = load_dalle(a.grow_from)
        cfg = DalleConfig(**dict(src.cfg.to_dict(), d_ff=a.d_ff or src.cfg.d_ff))
        a.dvae = src_info["dvae"]
        grown = TR.widen_mlp(src.state_dict(), cfg.d_ff, torch.Generator().manual_seed(a.seed))
        print("dalle: grown from %s (d_ff %d -> %d)" % (src_info["path"], src.cfg.d_ff, cfg.d_ff))
    else:
        G = codes.shape[1]
        dv = torch.load(os.path.join(D.run_root(), a.dvae, "final.pt"), map_location="cpu")
        cfg = DalleConfig(text_len=a.text_len, text_vocab=tok.vocab_size, grid=G,
                          image_vocab=dv["config"]["vocab_size"], d_model=a.d_model,
                          n_heads=a.n_heads, n_layers=a.n_layers, d_ff=a.d_ff or 4 * a.d_model,
                          conv_kernel=a.conv_kernel, conv_wrap=bool(a.conv_wrap))
    torch.manual_seed(a.seed)
    model = Dalle(cfg).to(a.device)
    opt = TR.adamw_matrix_decay(model, a.weight_decay, a.lr, (0.9, 0.96))
    step = 0
    rng = random.Random(a.seed)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        rng.setstate(state["py_rng"])
        print("dalle: resumed at step", step)
    elif grown is not None:
        model.load_state_dict(grown)
    n_params = sum(p.numel() for p in model.parameters())
    print("dalle: config", cfg.to_dict(), "params %.2fM" % (n_params / 1e6), flush=True)

    logf, log = TR.open_log(run, step, ["step", "wall_s", "loss", "text_ce", "image_ce", "lr", "heldout_image_ce"])

    def save():
        logf.flush()
        D.atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                       "config": cfg.to_dict(), "args": vars(a), "py_rng": rng.getstate(),
                       "base_ce": base_ce}, ckpt_path)

    def held_ce():  # held-out image CE (val + zero-shot items, first caption)
        return float(first_caption_ce(model, tok, items, codes, held_idx, a.device).mean())

    t0 = time.time()
    ckpt = TR.Checkpointer(save, logf, a.ckpt_every, a.time_limit, "dalle")
    codes_flat = codes.reshape(len(codes), -1).astype(np.int64)
    groups = {}
    for i in train_idx:
        groups.setdefault(items[i]["base"], []).append(int(i))
    by_base = [groups[k] for k in sorted(groups)]  # training images of each base emoji
    base_ce = state.get("base_ce") if state is not None else None  # --sample-by loss: CE estimate per base
    if a.sample_by == "loss" and (base_ce is None or len(base_ce) != len(by_base)):
        t1 = time.time()
        base_ce = first_caption_ce(model, tok, items, codes, [g[0] for g in by_base], a.device).tolist()
        print("dalle: image CE of %d base emoji (first image, first caption) in %.0fs: mean %.3f, min %.3f, "
              "max %.3f" % (len(base_ce), time.time() - t1, np.mean(base_ce), min(base_ce), max(base_ce)),
              flush=True)
    while step < a.steps:
        if a.stop_at and step >= a.stop_at:
            save()
            print("dalle: stopped at step %d (--stop-at), no final.pt" % step, flush=True)
            return 0
        lr = TR.lr_at(step, a)
        TR.set_lr(opt, lr)
        if a.sample_by == "loss":
            # half uniform, half proportional to the CE estimate: easy concepts are still revisited
            mean_ce = sum(base_ce) / len(base_ce)
            ks = rng.choices(range(len(by_base)), weights=[v + mean_ce for v in base_ce], k=a.batch)
            b = [rng.choice(by_base[k]) for k in ks]
        elif a.sample_by == "base":
            b = [rng.choice(by_base[rng.randrange(len(by_base))]) for _ in range(a.batch)]
        else:
            b = [train_idx[rng.randrange(len(train_idx))] for _ in range(a.batch)]
        caps = [rng.choice(items[i]["captions"]) for i in b]
        if a.null_cond_prob > 0:  # the empty caption pads every text position (pad_text)
            caps = ["" if rng.random() < a.null_cond_prob else c for c in caps]
        t = TR.text_batch(tok, caps, cfg).to(a.device)
        c = torch.from_numpy(codes_flat[b]).to(a.device)
        inp = None
        if a.input_noise > 0:  # seeded per step, so a resumed run draws the same corruption
            g = torch.Generator().manual_seed(a.seed * 1000003 + step)
            flip = torch.rand(c.shape, generator=g) < a.input_noise
            rnd = torch.randint(0, cfg.image_vocab, c.shape, generator=g)
            inp = torch.where(flip.to(c.device), rnd.to(c.device), c)
        loss, tce, ice_each = model.loss(t, c, text_weight=a.text_weight, input_codes=inp, per_sample=True,
                                         focal_gamma=a.focal_gamma)
        ice = ice_each.mean()
        if a.sample_by == "loss":  # running estimate: each draw moves its base 30% toward what it measured
            for k, v in zip(ks, ice_each.tolist()):
                base_ce[k] = 0.7 * base_ce[k] + 0.3 * v
        TR.optimizer_step(opt, loss, model.parameters())
        step += 1
        held = ""
        if step % a.eval_every == 0 or step == a.steps:
            held = held_ce()
            print("dalle: step %d loss %.4f text %.3f image %.3f heldout image %.3f (%.0fs)"
                  % (step, loss.item(), tce.item(), ice.item(), held, time.time() - t0), flush=True)
        log.writerow([step, "%.1f" % (time.time() - t0), "%.5f" % loss.item(), "%.5f" % tce.item(),
                      "%.5f" % ice.item(), "%.6g" % lr, held if held == "" else "%.5f" % held])
        if ckpt.after_step(step):
            return 0
    save()
    held = held_ce()
    dv = torch.load(os.path.join(D.run_root(), a.dvae, "final.pt"), map_location="cpu")
    D.atomic_save({"model": model.state_dict(), "config": cfg.to_dict(),
                   "bpe_merges": [list(m) for m in tok.merges], "dvae": a.dvae,
                   "dvae_config": dv["config"], "args": vars(a),
                   "metrics": {"heldout_image_ce": held, "steps": step}},
                  os.path.join(run, "final.pt"))
    print("dalle: done, held-out image CE %.4f nats/token" % held, flush=True)
    logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
