"""Load trained models from run dirs (<run root>/<name>/final.pt, else ckpt.pt).

load_dvae(name) -> (Encoder, Decoder, DvaeConfig, info); name "auto" = the decoder
    fine-tuned run "dvae_dec" when it has a final.pt, else "dvae"
load_dalle(name) -> (Dalle, BPE, info); name "auto" = the latest transformer stage of tools/train_all.sh
    that has a checkpoint: "dalle_wide3" (the shipped transformer), "dalle_wide2", "dalle_wide", "dalle_loss",
    "dalle_noise", "dalle_bal", else "dalle"
load_clip(name) -> (Clip, BPE, info)   the reranker (tools/train_clip.py), with the transformer's BPE
info = {"path": file loaded, "final": bool, "step": int or None, "metrics": dict}
"""
import os

import torch

from . import data as D
from .bpe import BPE
from .clip import Clip, ClipConfig
from .dvae import Decoder, DvaeConfig, Encoder
from .transformer import Dalle, DalleConfig


def _pick(name):
    run = os.path.join(D.run_root(), name)
    for fn in ("final.pt", "ckpt.pt"):
        p = os.path.join(run, fn)
        if os.path.exists(p):
            return run, p, fn == "final.pt"
    raise FileNotFoundError("no final.pt or ckpt.pt in " + run)


def resolve_dvae(name="auto"):
    if name != "auto":
        return name
    ft = os.path.join(D.run_root(), "dvae_dec", "final.pt")
    return "dvae_dec" if os.path.exists(ft) else "dvae"


def resolve_dalle(name="auto"):
    if name != "auto":
        return name
    # tools/train_all.sh's stages, latest first
    for run in ("dalle_wide3", "dalle_wide2", "dalle_wide", "dalle_loss", "dalle_noise", "dalle_bal"):
        if any(os.path.exists(os.path.join(D.run_root(), run, f)) for f in ("final.pt", "ckpt.pt")):
            return run
    return "dalle"


def load_dvae(name="auto", device="cpu"):
    run, path, final = _pick(resolve_dvae(name))
    st = torch.load(path, map_location="cpu")
    cfg = DvaeConfig(**st["config"])
    enc, dec = Encoder(cfg), Decoder(cfg)
    enc.load_state_dict(st["encoder"])
    dec.load_state_dict(st["decoder"])
    info = {"path": path, "final": final, "step": st.get("step"),
            "metrics": st.get("metrics", {})}
    return enc.to(device).eval(), dec.to(device).eval(), cfg, info


def load_dalle(name="auto", device="cpu"):
    run, path, final = _pick(resolve_dalle(name))
    st = torch.load(path, map_location="cpu")
    cfg = DalleConfig(**st["config"])
    model = Dalle(cfg)
    model.load_state_dict(st["model"])
    if "bpe_merges" in st:
        tok = BPE(st["bpe_merges"])
    else:
        tok = BPE.load(os.path.join(run, "bpe.json"))
    info = {"path": path, "final": final, "step": st.get("step"),
            "metrics": st.get("metrics", {}), "dvae": st.get("dvae") or st["args"]["dvae"],
            "run": run}
    return model.to(device).eval(), tok, info


def load_clip(name="clip", device="cpu"):
    run, path, final = _pick(name)
    st = torch.load(path, map_location="cpu")
    model = Clip(ClipConfig(**st["config"]))
    model.load_state_dict(st["model"])
    dalle = st.get("dalle") or st["args"].get("dalle", "dalle")
    if "bpe_merges" in st:
        tok = BPE(st["bpe_merges"])
    else:
        tok = BPE.load(os.path.join(D.run_root(), dalle, "bpe.json"))
    info = {"path": path, "final": final, "step": st.get("step", st.get("metrics", {}).get("steps")),
            "metrics": st.get("metrics", {}), "dalle": dalle, "run": run}
    return model.to(device).eval(), tok, info
