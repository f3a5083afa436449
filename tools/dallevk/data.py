"""Dataset cache access (written by tools/fetch_emoji.py), the run root and atomic checkpoint writes.

load_dataset() -> (images uint8 [N, 64, 64, 3], items list of dicts with keys
key/base/style/tone/split/captions). to_tensor() turns a uint8 batch into float32
[B, 3, H, W] in [0, 1].
"""
import json
import os

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
