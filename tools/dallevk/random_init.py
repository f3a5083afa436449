"""Seeded random weights for golden and fixture models: of a scale that keeps activations O(1), so
comparisons of the engine with the reference are not dominated by zeros (tools/make_goldens.py,
tools/make_random_model.py)."""
import torch


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
