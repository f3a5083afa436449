"""Dataset cache access (written by tools/fetch_emoji.py) and run-dir helpers.

load_dataset() -> (images uint8 [N, 64, 64, 3], items list of dicts with keys
key/base/style/tone/split/captions). to_tensor() turns a uint8 batch into float32
[B, 3, H, W] in [0, 1].
"""
import json
import os
import time

import numpy as np
import torch


def data_dir():
    return os.environ.get("DVK_DATA_DIR", os.path.expanduser("~/.cache/dalle-vk/emoji"))


def run_root():
    return os.environ.get("DVK_RUN_DIR", os.path.expanduser("~/.cache/dalle-vk/runs"))


def load_dataset(path=None):
    path = path or data_dir()
    images = np.load(os.path.join(path, "dataset.npz"))["images"]
    with open(os.path.join(path, "dataset.json")) as f:
        items = json.load(f)["items"]
    assert len(items) == images.shape[0]
    return images, items


def split_indices(items, split):
    """Indices of items whose split is `split` ("train", "val", "zeroshot")."""
    return np.array([i for i, it in enumerate(items) if it["split"] == split], dtype=np.int64)


def to_tensor(batch_u8):
    """uint8 [B, H, W, 3] numpy -> float32 [B, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(batch_u8)).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def encode_images(enc, images, device="cpu", batch=128):
    """dVAE encoder enc, uint8 images [N, H, W, 3] -> argmax codes int64 numpy [N, G, G], in batches."""
    out = [enc.encode_codes(to_tensor(images[s:s + batch]).to(device)).cpu().numpy()
           for s in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.int64)


def atomic_save(obj, path):
    """torch.save to path via a temporary file and rename (never a torn checkpoint)."""
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def psnr(a, b):
    """Per-image PSNR in dB of float tensors in [0,1], shape [B, C, H, W] -> [B]."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


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


def open_run(name, resume, tag):
    """The run directory run_root()/name (created) for a training script printing as `tag`.
    Returns (run, ckpt_path, state): state is the checkpoint dict of ckpt.pt when resuming one, else None;
    run is None when --resume finds the run already finished (final.pt exists)."""
    import torch
    run = os.path.join(run_root(), name)
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


def add_run_args(ap, name, steps, batch, lr, warmup):
    """Adds the options every training script shares, with that script's defaults: --name (run directory
    under run_root()), --device, --threads, --resume, --steps (None = the saved total on --resume, else
    `steps`; resolved by restore_args), --batch, --lr, --warmup."""
    ap.add_argument("--name", default=name)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, default=None,
                    help="total steps (default %d); on --resume overrides the saved value" % steps)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--warmup", type=int, default=warmup)


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
