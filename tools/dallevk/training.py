"""What the three training scripts (tools/train_dvae.py, train_dalle.py, train_clip.py) share.

A run lives in run_root()/<--name>: ckpt.pt (resumable: weights, optimizer, step, args, RNG state;
written atomically every --ckpt-every seconds and at the end), log.csv (one row per step) and
final.pt (written once all steps are done). Each script:
    a = parse_args(...)                    # add_run_args() gives the shared options
    run, ckpt_path, state = start(a, tag, restored_keys, default_steps)   # None: already finished
    logf, log = open_log(run, step, header)
    ckpt = Checkpointer(save, logf, a.ckpt_every, a.time_limit, tag)
    while step < a.steps: set_lr(opt, lr_at(step, a)); ...; optimizer_step(opt, loss, params); ...
"""
import math
import os
import time

import numpy as np
import torch

from . import data as D
from .checkpoints import load_dvae
from .transformer import pad_text


def add_run_args(ap, name, steps, batch, lr, warmup):
    """Adds the options every training script shares, with that script's defaults: --name (run directory
    under run_root()), --device, --threads, --resume, --steps (None = the saved total on --resume, else
    `steps`; resolved by restore_args), --batch, --lr, --warmup, --ckpt-every, --eval-every, --time-limit,
    --seed."""
    ap.add_argument("--name", default=name)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, default=None,
                    help="total steps (default %d); on --resume overrides the saved value" % steps)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--ckpt-every", type=float, default=180.0, help="seconds between checkpoints")
    ap.add_argument("--eval-every", type=int, default=250, help="steps between held-out evaluations")
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="stop (after a checkpoint) after this many seconds; 0 = none")
    ap.add_argument("--seed", type=int, default=0)


def start(a, tag, keys, default_steps):
    """Sets torch's thread count and opens the run (open_run), restoring `keys` on resume (restore_args).
    Returns (run, ckpt_path, state) as open_run does."""
    torch.set_num_threads(a.threads)
    run, ckpt_path, state = open_run(a.name, a.resume, tag)
    if run is not None:
        restore_args(a, state, keys, default_steps)
    return run, ckpt_path, state


def open_run(name, resume, tag):
    """The run directory run_root()/name (created) for a training script printing as `tag`.
    Returns (run, ckpt_path, state): state is the checkpoint dict of ckpt.pt when resuming one, else None;
    run is None when --resume finds the run already finished (final.pt exists)."""
    run = os.path.join(D.run_root(), name)
    os.makedirs(run, exist_ok=True)
    if resume and os.path.exists(os.path.join(run, "final.pt")):
        print("%s: already finished: %s" % (tag, os.path.join(run, "final.pt")))
        return None, None, None
    ckpt_path = os.path.join(run, "ckpt.pt")
    state = torch.load(ckpt_path, map_location="cpu") if resume and os.path.exists(ckpt_path) else None
    return run, ckpt_path, state


def restore_args(a, state, keys, default_steps):
    """On resume, the saved values of `keys` replace the command line's (the run's own settings), and
    --steps, when not given, is the saved total; otherwise default_steps."""
    if state is not None:
        for k in keys:
            setattr(a, k, state["args"].get(k, getattr(a, k)))
        a.steps = a.steps or state["args"]["steps"]
    a.steps = a.steps or default_steps


def saved_or(a, state, key, fresh, before):
    """An option whose None means "not given": on resume the run's saved value (`before` for runs saved
    before the option existed), else `fresh`."""
    if getattr(a, key) is None:
        saved = state["args"].get(key) if state is not None else None
        setattr(a, key, fresh if state is None else (before if saved is None else saved))


def trim_log(path, step):
    """Drop CSV rows (after the header) whose first column (step) exceeds `step` and keep
    one row per step, so a resumed run does not log steps after its last checkpoint twice."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.readlines()
    rows = {}
    for ln in lines[1:]:  # a step logged twice (earlier resumes): the later row wins
        s = ln.split(",", 1)[0]
        if s.isdigit() and int(s) <= step:
            rows[int(s)] = ln
    keep = lines[:1] + [rows[k] for k in sorted(rows)]
    with open(path + ".tmp", "w") as f:
        f.writelines(keep)
    os.replace(path + ".tmp", path)


def open_log(run, step, header):
    """run/log.csv trimmed to `step` (trim_log) and opened for appending, with the `header` row when new.
    Returns (file, csv writer)."""
    import csv
    path = os.path.join(run, "log.csv")
    trim_log(path, step)
    new = not os.path.exists(path)
    f = open(path, "a", newline="")
    w = csv.writer(f)
    if new:
        w.writerow(header)
    return f, w


class Checkpointer:
    """The bookkeeping after every training step: flushes the CSV log every 20 steps, calls save() once
    `every` seconds have passed since the last checkpoint, and ends the run after `time_limit` seconds
    (0 = no limit) with a final save(). Starts its clocks when created (just before the loop)."""

    def __init__(self, save, logf, every, time_limit, tag):
        self.save, self.logf, self.every, self.time_limit, self.tag = save, logf, every, time_limit, tag
        self.t0 = self.last = time.time()

    def after_step(self, step):
        """True when the time limit is reached (the checkpoint is saved; the caller returns)."""
        if step % 20 == 0:
            self.logf.flush()
        now = time.time()
        if now - self.last > self.every:
            self.save()
            self.last = now
        if self.time_limit and now - self.t0 > self.time_limit:
            self.save()
            print("%s: time limit reached at step %d" % (self.tag, step), flush=True)
            return True
        return False


def lr_at(step, a):
    """Learning rate at `step`: linear warmup over a.warmup steps to a.lr, then cosine to 10% of a.lr at
    a.steps."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    f = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, f))))


def set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


def adamw_matrix_decay(model, weight_decay, lr, betas):
    """AdamW with weight decay on the Linear weight matrices only (2-D parameters named *.w, not in a
    LayerNorm); embeddings, biases and norms are not decayed."""
    decay = [p for n, p in model.named_parameters() if n.endswith(".w") and p.dim() == 2 and "ln" not in n]
    other = [p for n, p in model.named_parameters() if not any(p is q for q in decay)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=lr, betas=betas)


def optimizer_step(opt, loss, params):
    """Backward of `loss`, gradient norm clipped at 1 over `params`, one optimizer step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def encode_dataset(run, dvae_name, images, device):
    """argmax codes int16 [N, G, G] of every image by the dVAE run `dvae_name`, cached in run/codes.npy."""
    path = os.path.join(run, "codes.npy")
    if os.path.exists(path):
        return np.load(path)
    enc, _, _, _ = load_dvae(dvae_name, device)
    codes = D.encode_images(enc, images, device).astype(np.int16)
    np.save(path + ".tmp.npy", codes)
    os.replace(path + ".tmp.npy", path)
    return codes


def text_batch(tok, caps, cfg):
    """list of caption strings -> int64 [B, cfg.text_len] (pad_text)."""
    return torch.stack([pad_text(tok.encode(c), cfg.text_len, cfg.text_vocab) for c in caps])


def widen_mlp(sd, d_ff, gen, std=0.02):
    """A copy of state dict sd whose MLPs have d_ff units: each layer's new fc1 rows are drawn from N(0, std),
    their biases and the new fc2 columns are zero, so the widened model computes the same outputs
    (Net2Net-style growth, Chen et al. 2016, with zero outgoing weights instead of split units).
    Raises ValueError when d_ff is narrower than sd's."""
    out = dict(sd)
    for k, v in sd.items():
        if k.endswith("mlp.fc1.w") and v.shape[0] > d_ff:
            raise ValueError("--d-ff %d is narrower than the source run's %d" % (d_ff, v.shape[0]))
        if k.endswith("mlp.fc1.w") and v.shape[0] < d_ff:
            out[k] = torch.cat([v, torch.randn(d_ff - v.shape[0], v.shape[1], generator=gen) * std])
        elif k.endswith("mlp.fc1.b") and v.shape[0] < d_ff:
            out[k] = torch.cat([v, torch.zeros(d_ff - v.shape[0])])
        elif k.endswith("mlp.fc2.w") and v.shape[1] < d_ff:
            out[k] = torch.cat([v, torch.zeros(v.shape[0], d_ff - v.shape[1])], dim=1)
    return out
