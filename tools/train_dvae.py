#!/usr/bin/python3
"""Train the dVAE (tools/dallevk/dvae.py) on the emoji dataset cache.

Training follows the paper's relaxation (DALL-E §2.1, App. A): encoder logits ->
Gumbel-softmax sample at temperature tau (annealed exponentially from --tau-start to
--tau-end over the first --tau-frac of the steps) -> decoder; loss = reconstruction +
kl_weight * KL(q(z|x) || uniform) (mean per latent). Reconstruction: "mse" on
map_pixels'd targets vs sigmoid(mu) (default; optimises PSNR directly), "l1", or
"laplace" (logit-Laplace NLL, paper App. A.3).
Evaluation uses hard argmax codes (what the transformer sees) and reports held-out PSNR.
--hard 1: straight-through Gumbel (one-hot forward, relaxed gradient; what train_all.sh uses).
--init-from RUN --decoder-only 1: start from RUN/final.pt, freeze the encoder (so the codes a
transformer was trained on stay valid) and train only the decoder on the hard argmax codes.

Run dir (default ~/.cache/dalle-vk/runs/<name>, env DVK_RUN_DIR): ckpt.pt (resumable,
written every --ckpt-every seconds atomically), log.csv, final.pt (weights + config +
metrics, written when all steps are done). Rerun with --resume to continue.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from dallevk import data as D
from dallevk import training as TR
from dallevk.dvae import (Decoder, DvaeConfig, Encoder, decode_pixels,
                          map_pixels)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    TR.add_run_args(ap, "dvae", steps=3000, batch=32, lr=2e-3, warmup=100)
    ap.add_argument("--n-hid", type=int, default=64)
    ap.add_argument("--n-blk", type=int, default=1)
    ap.add_argument("--group-count", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--n-init", type=int, default=128)
    ap.add_argument("--loss", choices=["mse", "l1", "laplace"], default="mse")
    ap.add_argument("--tau-start", type=float, default=1.0)
    ap.add_argument("--tau-end", type=float, default=1.0 / 16)
    ap.add_argument("--tau-frac", type=float, default=0.7)
    ap.add_argument("--hard", type=int, default=0,
                    help="1: straight-through Gumbel (hard one-hot forward, soft gradient)")
    ap.add_argument("--init-from", default="",
                    help="start from the final.pt of this run (config and weights)")
    ap.add_argument("--decoder-only", type=int, default=0,
                    help="1: freeze the encoder (codes unchanged) and train the decoder on its "
                         "hard argmax codes; for improving PSNR after the transformer's codes "
                         "are fixed")
    ap.add_argument("--kl-weight", type=float, default=1e-3)
    return ap.parse_args(argv)


def tau_at(step, a):
    t_end = max(1, int(a.tau_frac * a.steps))
    f = min(1.0, step / t_end)
    return a.tau_start * (a.tau_end / a.tau_start) ** f


def recon_loss(x_stats, x, kind):
    """x_stats [B,6,H,W], x in [0,1] [B,3,H,W] -> scalar loss (mean per pixel channel)."""
    y = map_pixels(x)
    mu = x_stats[:, :3]
    if kind == "mse":
        return F.mse_loss(torch.sigmoid(mu), y)
    if kind == "l1":
        return F.l1_loss(torch.sigmoid(mu), y)
    ln_b = x_stats[:, 3:6].clamp(-6, 6)
    logit_y = torch.log(y) - torch.log1p(-y)
    nll = (logit_y - mu).abs() * torch.exp(-ln_b) + ln_b + math.log(2) \
        + torch.log(y * (1 - y))
    return nll.mean()


@torch.no_grad()
def evaluate(enc, dec, images, idx, device, batch=64):
    """Hard-code reconstruction on images[idx] -> (mean per-image PSNR dB, codes used)."""
    enc.eval()
    dec.eval()
    ps, used = [], set()
    for s in range(0, len(idx), batch):
        x = D.to_tensor(images[idx[s:s + batch]]).to(device)
        codes = enc.encode_codes(x)
        used.update(codes.flatten().tolist())
        rec = decode_pixels(dec.decode_codes(codes))
        ps.append(D.psnr(rec, x).cpu())
    enc.train()
    dec.train()
    return float(torch.cat(ps).mean()), len(used)


def main(argv=None):
    a = parse_args(argv)
    run, ckpt_path, state = TR.start(a, "dvae", ("batch", "lr", "warmup", "loss", "tau_start", "tau_end", "tau_frac",
                                                 "kl_weight", "seed", "hard", "init_from", "decoder_only"), 3000)
    if run is None:
        return 0
    if state is not None:
        cfg = DvaeConfig(**state["config"])
    elif a.init_from:
        init = torch.load(os.path.join(D.run_root(), a.init_from, "final.pt"), map_location="cpu")
        cfg = DvaeConfig(**init["config"])
    else:
        cfg = DvaeConfig(group_count=a.group_count, n_hid=a.n_hid, n_blk_per_group=a.n_blk,
                         vocab_size=a.vocab, n_init=a.n_init)
    torch.manual_seed(a.seed)
    enc, dec = Encoder(cfg).to(a.device), Decoder(cfg).to(a.device)
    if state is None and a.init_from:
        enc.load_state_dict(init["encoder"])
        dec.load_state_dict(init["decoder"])
        print("dvae: initialised from", a.init_from)
    if a.decoder_only:
        enc.requires_grad_(False)
        params = list(dec.parameters())
    else:
        params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.99), weight_decay=1e-4)
    step = 0
    rng = np.random.default_rng(a.seed)
    if state is not None:
        enc.load_state_dict(state["encoder"])
        dec.load_state_dict(state["decoder"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        rng.bit_generator.state = state["np_rng"]
        torch.set_rng_state(state["torch_rng"])
        print("dvae: resumed at step", step)

    images, items = D.load_dataset()
    train_idx = D.split_indices(items, "train")
    val_idx = np.concatenate([D.split_indices(items, "val"), D.split_indices(items, "zeroshot")])
    logf, log = TR.open_log(run, step, ["step", "wall_s", "loss", "recon", "kl", "tau", "lr", "val_psnr",
                                        "codes_used"])

    def save():
        logf.flush()
        D.atomic_save({"encoder": enc.state_dict(), "decoder": dec.state_dict(),
                       "opt": opt.state_dict(), "step": step, "config": cfg.to_dict(),
                       "args": vars(a), "np_rng": rng.bit_generator.state,
                       "torch_rng": torch.get_rng_state()}, ckpt_path)

    t0 = time.time()
    ckpt = TR.Checkpointer(save, logf, a.ckpt_every, a.time_limit, "dvae")
    print("dvae: config", cfg.to_dict(), "params %.3fM" % (sum(p.numel() for p in params) / 1e6),
          "train", len(train_idx), "val", len(val_idx), flush=True)
    while step < a.steps:
        tau, lr = tau_at(step, a), TR.lr_at(step, a)
        TR.set_lr(opt, lr)
        bi = rng.choice(train_idx, a.batch, replace=False)
        batch = images[bi]
        flip = rng.random(a.batch) < 0.5
        batch[flip] = batch[flip, :, ::-1]
        x = D.to_tensor(batch).to(a.device)
        if a.decoder_only:
            with torch.no_grad():
                codes = enc(map_pixels(x)).argmax(dim=1)
            rec = recon_loss(dec.decode_codes(codes), x, a.loss)
            kl = torch.zeros(())
        else:
            logits = enc(map_pixels(x))
            z = F.gumbel_softmax(logits, tau=tau, hard=bool(a.hard), dim=1)
            rec = recon_loss(dec(z), x, a.loss)
            logq = F.log_softmax(logits, dim=1)
            kl = (logq.exp() * logq).sum(1).mean() + math.log(cfg.vocab_size)
        loss = rec + a.kl_weight * kl
        TR.optimizer_step(opt, loss, params)
        step += 1
        val_psnr, used = "", ""
        if step % a.eval_every == 0 or step == a.steps:
            val_psnr, used = evaluate(enc, dec, images, val_idx, a.device)
            print("dvae: step %d loss %.5f tau %.3f val_psnr %.2f dB codes %d (%.0fs)"
                  % (step, loss.item(), tau, val_psnr, used, time.time() - t0), flush=True)
        log.writerow([step, "%.1f" % (time.time() - t0), "%.6f" % loss.item(), "%.6f" % rec.item(),
                      "%.5f" % kl.item(), "%.4f" % tau, "%.6g" % lr,
                      val_psnr if val_psnr == "" else "%.3f" % val_psnr, used])
        if ckpt.after_step(step):
            return 0
    save()
    psnr_val, used = evaluate(enc, dec, images, val_idx, a.device)
    D.atomic_save({"encoder": enc.state_dict(), "decoder": dec.state_dict(),
                   "config": cfg.to_dict(), "args": vars(a),
                   "metrics": {"val_psnr": psnr_val, "codes_used": used, "steps": step}},
                  os.path.join(run, "final.pt"))
    print("dvae: done, val PSNR %.2f dB, %d codes used" % (psnr_val, used), flush=True)
    logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
