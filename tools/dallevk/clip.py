"""CLIP-style reranker (Radford et al. 2021, DALL-E's third part), PyTorch reference.

A contrastive dual encoder that scores (caption, image) pairs. It reads the image as its dVAE codes
(the G x G grid the transformer samples), not pixels, so sampled candidates are scored before they
are decoded. Both towers use the transformer's Block (tools/dallevk/transformer.py: pre-LN,
x += attn(ln1(x)); x += fc2(gelu_erf(fc1(ln2(x)))); attention scale 1/sqrt(d_head), one softmax,
masked scores = MASKED = -FLT_MAX/2) with a plain CAUSAL mask (position j attends keys 0..j).

Text tower, ids int64 [B, T] padded exactly like the transformer (pad_text: position j past the
caption holds Vt + j):
  x_j = text.tok_emb[id_j] + text.pos_emb[j]            tok_emb [Vt+T, dc], pos_emb [T, dc]
  text_layers causal Blocks; text.ln_f; take position T-1 (always present thanks to the per-position
  pads; it sees the whole caption); v = text.proj.w @ h (no bias) [d_embed]; feature = v / |v|.
Image tower, codes int64 [N, G*G] in raster order:
  x_i = image.tok_emb[c_i] + image.row_emb[i // G] + image.col_emb[i % G]   tok_emb [Vi, dc]
  image_layers causal Blocks; image.ln_f; take position G*G-1; image.proj.w; / |v|.
Score: score(t, i) = s * dot(text_feat, image_feat), s = min(exp(logit_scale), 100) where
logit_scale is the learned log-scale (init ln(1/0.07)). Loss: symmetric cross-entropy over the
batch score matrix (mean of the row-wise and column-wise CE with the diagonal as targets).
The L2 normalisation is an exact v / sqrt(sum v^2) (no epsilon).

Parameter names (state_dict keys; GGUF name = "clip." + key, docs/model-format.md §3 "Reranker";
Linear weights [out, in], y = x W^T + b):
  text.tok_emb, text.pos_emb, text.blk.<l>.{ln1.w, ln1.b, attn.qkv.w, attn.qkv.b, attn.out.w,
  attn.out.b, ln2.w, ln2.b, mlp.fc1.w, mlp.fc1.b, mlp.fc2.w, mlp.fc2.b}, text.ln_f.w/b, text.proj.w;
  image.tok_emb, image.row_emb, image.col_emb, image.blk.<l>.*, image.ln_f.w/b, image.proj.w;
  logit_scale (0-dim; exported as the key clip.logit_scale = the multiplier s, not as a tensor).
"""
import math
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer import Block, LayerNorm, Linear

LOGIT_SCALE_INIT = math.log(1 / 0.07)
LOGIT_SCALE_MAX = 100.0


@dataclass
class ClipConfig:
    text_len: int = 32        # T, = dalle.text_len
    text_vocab: int = 1536    # Vt, = dalle.text_vocab (the BPE vocabulary of the DALL-E model)
    grid: int = 16            # G, = dalle.grid
    image_vocab: int = 512    # Vi, = dalle.image_vocab
    d_model: int = 64         # dc
    n_heads: int = 4
    d_ff: int = 256
    text_layers: int = 2
    image_layers: int = 2
    d_embed: int = 64
    ln_eps: float = 1e-5

    def __post_init__(self):
        assert min(self.text_len, self.text_vocab, self.grid, self.image_vocab, self.d_model, self.n_heads,
                   self.d_ff, self.d_embed) > 0, "clip sizes must be positive"
        assert self.text_layers >= 0 and self.image_layers >= 0
        assert self.d_model % self.n_heads == 0, "clip.d_model % clip.n_heads != 0"
        assert self.d_head % 4 == 0, "clip d_head must be a multiple of 4"

    @property
    def d_head(self):
        return self.d_model // self.n_heads

    def to_dict(self):
        return asdict(self)


def causal_mask(n):
    """bool [n, n]: mask[p, q] = query p may attend key q (q <= p)."""
    return torch.tril(torch.ones(n, n, dtype=torch.bool))


class _Tower(nn.Module):
    """Blocks + ln_f + projection; subclasses add the embeddings."""

    def __init__(self, cfg, n_layers, n_pos):
        super().__init__()
        bcfg = SimpleNamespace(d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head, d_ff=cfg.d_ff,
                               ln_eps=cfg.ln_eps, n_layers=max(1, n_layers))
        self.blk = nn.ModuleList(Block(bcfg) for _ in range(n_layers))
        self.ln_f = LayerNorm(cfg.d_model, cfg.ln_eps)
        self.proj = Linear(cfg.d_model, cfg.d_embed, bias=False, std=cfg.d_model ** -0.5)
        self.register_buffer("mask", causal_mask(n_pos), persistent=False)

    def states(self, x):
        """Input states [B, N, dc] (N <= the tower's length: a causal prefix) -> final (ln_f) states of every
        position [B, N, dc]."""
        n = x.shape[1]
        for blk in self.blk:
            q, k, v = blk.attn.project(blk.ln1(x))
            x = x + blk.attn.attend(q, k, v, self.mask[:n, :n])
            x = x + blk.mlp(blk.ln2(x))
        return self.ln_f(x)

    def feature(self, x, positions=(-1,)):
        """Input states [B, N, dc] -> L2-normalised features of the given positions [B, len(positions),
        d_embed] (default: the last one only)."""
        v = self.proj(self.states(x)[:, list(positions)])
        return v / v.norm(dim=-1, keepdim=True)


class TextTower(_Tower):
    def __init__(self, cfg):
        super().__init__(cfg, cfg.text_layers, cfg.text_len)
        self.tok_emb = nn.Parameter(torch.randn(cfg.text_vocab + cfg.text_len, cfg.d_model) * 0.02)
        self.pos_emb = nn.Parameter(torch.randn(cfg.text_len, cfg.d_model) * 0.01)

    def embed(self, ids):
        """ids [B, T] -> [B, T, dc]."""
        return self.tok_emb[ids] + self.pos_emb


class ImageTower(_Tower):
    def __init__(self, cfg):
        super().__init__(cfg, cfg.image_layers, cfg.grid * cfg.grid)
        self.grid = cfg.grid
        self.tok_emb = nn.Parameter(torch.randn(cfg.image_vocab, cfg.d_model) * 0.02)
        self.row_emb = nn.Parameter(torch.randn(cfg.grid, cfg.d_model) * 0.01)
        self.col_emb = nn.Parameter(torch.randn(cfg.grid, cfg.d_model) * 0.01)

    def embed(self, codes):
        """codes [N, G*G] -> [N, G*G, dc]."""
        idx = torch.arange(codes.shape[1], device=codes.device)
        return self.tok_emb[codes] + self.row_emb[idx // self.grid] + self.col_emb[idx % self.grid]


class Clip(nn.Module):
    """The reranker. All integer inputs are int64."""

    def __init__(self, cfg: ClipConfig):
        super().__init__()
        self.cfg = cfg
        self.text = TextTower(cfg)
        self.image = ImageTower(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))

    def scale(self):
        """The multiplier s = min(exp(logit_scale), 100) (0-dim tensor)."""
        return self.logit_scale.exp().clamp(max=LOGIT_SCALE_MAX)

    def text_features(self, ids):
        """ids [B, T] (or [T]) -> normalised features [B, d_embed]."""
        if ids.dim() == 1:
            ids = ids.view(1, -1)
        assert ids.shape[1] == self.cfg.text_len
        return self.text.feature(self.text.embed(ids))[:, 0]

    def image_features(self, codes):
        """codes [N, G*G] (or [N, G, G]) -> normalised features [N, d_embed]."""
        codes = codes.reshape(codes.shape[0], -1)
        assert codes.shape[1] == self.cfg.grid ** 2
        return self.image.feature(self.image.embed(codes))[:, 0]

    def prefix_features(self, codes, rows):
        """Features of image prefixes: codes [N, G*G] (or [N, G, G]; only rows 0..max(rows) are read, the tower
        being causal) and rows (ints in 0..G-1) -> [N, len(rows), d_embed], entry r = the feature at position
        (r+1)*G - 1, i.e. of the image's first r+1 rows. rows = [G-1] gives image_features."""
        G = self.cfg.grid
        codes = codes.reshape(codes.shape[0], -1)[:, :(max(rows) + 1) * G]
        return self.image.feature(self.image.embed(codes), [(r + 1) * G - 1 for r in rows])

    def prefix_scores(self, ids, codes, row):
        """One caption ids [T] against the first row+1 rows of each image codes [N, G*G] -> s * cosine [N]
        (the pruning scores; row = G-1 gives scores(ids, codes))."""
        return self.scale() * self.prefix_features(codes, [row])[:, 0] @ self.text_features(ids)[0]

    def scores(self, ids, codes):
        """ids [B, T] and codes [N, G*G] -> s * cosine, [B, N]; ids [T] -> [N]."""
        s = self.scale() * self.text_features(ids) @ self.image_features(codes).t()
        return s[0] if ids.dim() == 1 else s

    def loss(self, ids, codes, prefix_weight=0.0):
        """B matching pairs ids [B, T], codes [B, G*G] -> (loss, score matrix [B, B] of the whole images).
        Loss: CLIP's symmetric CE over the score matrix (mean of the row-wise and column-wise CE, the
        diagonal as targets); with prefix_weight w > 0: (1 - w) * that + w * the mean of the same loss over
        the G-1 score matrices of the image prefixes (first 1 .. G-1 rows, prefix_features), which trains
        the scores that prune candidates mid-image."""
        G = self.cfg.grid
        tf = self.text_features(ids)
        imf = self.prefix_features(codes, list(range(G)) if prefix_weight > 0 else [G - 1])
        y = torch.arange(tf.shape[0], device=tf.device)

        def sym_ce(logits):
            return 0.5 * (F.cross_entropy(logits, y) + F.cross_entropy(logits.t(), y))

        logits = self.scale() * tf @ imf[:, -1].t()
        loss = sym_ce(logits)
        if prefix_weight > 0:
            pre = torch.stack([sym_ce(self.scale() * tf @ imf[:, r].t()) for r in range(G - 1)]).mean()
            loss = (1 - prefix_weight) * loss + prefix_weight * pre
        return loss, logits


def prune_sources(scores):
    """Pruning rule (src/model/select.c dvk_prune_sources): scores of n candidates -> src [n]: candidates ranked
    best first (ties: lower index first); the k-th worst (k < n // 2) continues as a copy of the k-th best, the others
    as themselves."""
    order = sorted(range(len(scores)), key=lambda b: (-float(scores[b]), b))
    src = list(range(len(scores)))
    for k in range(len(scores) // 2):
        src[order[-1 - k]] = order[k]
    return src


def rerank_pool_size(fraction, n):
    """Candidates in the reranker's pool (src/model/select.c dvk_reranker_pool_size): ceil(fraction * n), the fraction
    taken as float32 and the product in double as the engine computes it, clamped to [1, n]."""
    return min(max(math.ceil(float(np.float32(fraction)) * n), 1), n)


def rerank_pool(mean_logprob, size):
    """The reranker's pool (dvk_reranker_pool, docs/design.md section 4): mean_logprob [n] (each candidate's mean
    log-probability of its own codes, compared as float32; NaN counts as -inf) and size (rerank_pool_size) -> bool
    list [n], True for the `size` most likely candidates (ties: lower index first)."""
    lp = [float("-inf") if math.isnan(float(v)) else float(np.float32(v)) for v in mean_logprob]
    order = sorted(range(len(lp)), key=lambda b: (-lp[b], b))
    pool = [False] * len(lp)
    for b in order[:size]:
        pool[b] = True
    return pool


def rerank_order(scores, pool=None):
    """Candidates best first (dvk_reranker_pick before its duplicate rule): pool members (pool None: all) before the
    others, then the higher score, then the lower index. -> index list [n]."""
    n = len(scores)
    pool = [True] * n if pool is None else pool
    return sorted(range(n), key=lambda b: (not pool[b], -float(scores[b]), b))


class Pruner:
    """Dalle.generate's on_row hook for pruning during sampling: after each row in `rows` (0-based), score
    every candidate's prefix against its prompt (prefix_features) and apply prune_sources within each prompt's
    candidates. text_ids [T] (one prompt for all candidates) or [P, T] with generate's text_ids [P, T] and n:
    candidates p*n .. p*n+n-1 belong to prompt p. events collects (row, scores, src) of each pruning."""

    def __init__(self, clip, text_ids, rows):
        self.clip, self.rows, self.events = clip, set(rows), []
        self.text = text_ids.view(-1, text_ids.shape[-1])  # [P, T]

    @torch.no_grad()
    def __call__(self, row, codes):
        P = self.text.shape[0]
        n = codes.shape[0] // P
        if row not in self.rows or n < 2:
            return None
        scores = torch.cat([self.clip.prefix_scores(self.text[p], codes[p * n:(p + 1) * n], row) for p in range(P)])
        src = [p * n + b for p in range(P) for b in prune_sources(scores[p * n:(p + 1) * n].tolist())]
        self.events.append((row, scores, src))
        return src


@torch.no_grad()
def retrieval(model, text_ids, codes, batch=64, row=None):
    """Caption -> image retrieval. text_ids [N, T] (one caption of image n), codes [N, G*G]; row: score the
    image prefixes of rows 0..row instead of the whole images (prefix_features).
    For each caption, rank of its own image among all N = the number of images scoring strictly higher.
    -> dict(top1, top5, chance1 = 1/N, chance5 = min(5, N)/N, mean_rank (1-based), n)."""
    was = model.training
    model.eval()
    tf = torch.cat([model.text_features(text_ids[s:s + batch]) for s in range(0, len(text_ids), batch)])
    G = model.cfg.grid
    r = G - 1 if row is None else row
    imf = torch.cat([model.prefix_features(codes[s:s + batch], [r])[:, 0] for s in range(0, len(codes), batch)])
    model.train(was)
    sim = tf @ imf.t()
    rank = (sim > sim.diag().view(-1, 1)).sum(1)
    n = len(rank)
    return {"top1": (rank < 1).double().mean().item(), "top5": (rank < 5).double().mean().item(),
            "chance1": 1.0 / n, "chance5": min(5, n) / n, "mean_rank": rank.double().mean().item() + 1,
            "n": n}
