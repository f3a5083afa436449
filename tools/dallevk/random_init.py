"""Seeded random weights for golden and fixture models: of a scale that keeps activations O(1), so
comparisons of the engine with the reference are not dominated by zeros (tools/make_goldens.py,
tools/make_random_model.py); DALL-E Mini / Mega files at full shape in min-dalle's layout (tools/paper_check.py,
tools/bench_public_sizes.py)."""
import os
import shutil

import torch

from .gguf import GGUFReader

MIN_DALLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "min_dalle")


def randomize(module, gen):
    """Weights of a scale that keeps activations O(1), so the comparison is not dominated by zeros."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() >= 2 and ("emb" not in name) and name != "blocks.input.w":
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / fan_in ** 0.5)
            elif p.dim() >= 2 or name == "image_start":
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif name.endswith(("ln1.w", "ln2.w", "post_ln.w")) or name in ("ln_f.w", "ln_f2.w"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))


def randomize_clip(clip, gen):
    """randomize() for the reranker: O(1) activations; then every weight rounded to float32."""
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if name == "logit_scale":
                p.copy_(torch.log(torch.tensor(10.0, dtype=torch.float64))
                        + 0.1 * torch.randn((), generator=gen, dtype=torch.float64))
            elif p.dim() >= 2 and "emb" not in name:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / p[0].numel() ** 0.5)
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif name.endswith(("ln1.w", "ln2.w", "ln_f.w")):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            if name != "logit_scale":
                p.copy_(p.float().double())


def min_dalle_files(folder, shape, gen):
    """Writes min-dalle's encoder.pt and decoder.pt at a full shape into folder, seeded random values: the keys of
    the tiny files of tests/data/min_dalle (min-dalle's own state_dicts; layer i has the keys of tiny layer i mod 2),
    each dimension of the tiny sizes scaled (d_model, GLU width, text vocabulary, decoder rows), shape["enc_layers"]
    and shape["n_layers"] layers. LayerNorm weights around 1, biases around 0, matrices scaled by 1 / sqrt(fan-in).
    Copies vocab.json, merges.txt and detoker.pt there too."""
    g = GGUFReader(os.path.join(MIN_DALLE, "goldens.gguf"))
    scale = {g.get("golden.d_model"): shape["d_model"], g.get("golden.d_glu"): shape["d_ff"],
             g.get("golden.text_vocab"): shape["text_vocab"], g.get("golden.image_vocab") + 1: shape["rows"]}
    assert len(scale) == 4 and not set(scale) & {64, 256}, scale  # each tiny size names one dimension
    for name, layers in (("encoder.pt", shape["enc_layers"]), ("decoder.pt", shape["n_layers"])):
        tiny = torch.load(os.path.join(MIN_DALLE, name))
        n_tiny = 1 + max(int(k.split(".")[1]) for k in tiny if k.startswith("layers."))
        keys = [(k, k) for k in tiny if not k.startswith("layers.")]
        for i in range(layers):
            pre = "layers.%d." % (i % n_tiny)
            keys += [("layers.%d.%s" % (i, k[len(pre):]), k) for k in tiny if k.startswith(pre)]
        sd = {}
        for key, src in keys:
            size = [scale.get(n, n) for n in tiny[src].shape]
            if len(size) == 1:
                sd[key] = 0.2 * torch.randn(size, generator=gen) + (1.0 if key.endswith(".weight") else 0.0)
            else:
                sd[key] = torch.randn(size, generator=gen) * size[1] ** -0.5
        torch.save(sd, os.path.join(folder, name))
        del sd
    for name in ("vocab.json", "merges.txt", "detoker.pt"):
        shutil.copy(os.path.join(MIN_DALLE, name), folder)
