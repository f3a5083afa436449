"""The DALL-E decoder-only transformer (docs/design.md §3), PyTorch reference.

Sequence, positions (I0 = cfg.image0 = T + 1 with a start-of-image token, T without):
  0..T-1        text: text_emb[id] + text_pos_emb[j]; id = caption token, or Vt + j
                where the caption has ended (per-position pad token; see pad_text())
  T             start of image (image_start=True only): image_start (no position embedding)
  I0+i          image input i = 0..G*G-2: image_emb[code_i] + image_row_emb[i // G]
                + image_col_emb[i % G] (image_pos "axial") or + image_pos_emb[i] ("linear")
Outputs: position I0-1+i (i = 0..G*G-1) -> logits of image token i (image_logits head,
with bias); text position j (0..T-2) -> logits of caption token j+1 (text_logits head,
training only, no bias). Without a start token the last text position gives image token 0.

Block, norm "pre": x += attn(ln1(x)); x += mlp(ln2(x)); norm "sandwich" (CogView):
x += attn.post_ln(attn(ln1(x))); x += mlp.post_ln(mlp(ln2(x))). mlp = fc2(gelu(fc1(.))),
gelu "erf" (exact) or "tanh"; attn_out_clamp c > 0 clamps the output projection (after its
bias) to [-c, c]. Final ln_f, then ln_f2 when final_norms == 2. Attention: scale 1/sqrt(d_head),
one softmax over all allowed keys, masked scores set to MASKED = -FLT_MAX/2 (never -inf).
qkv.w rows are [q | k | v], each d_model rows; head h uses rows h*dh..(h+1)*dh-1 of each part.

Mask (query position p, key position q <= p), M = cfg.mask0 (mask_image0, default I0):
positions >= M are image indices p - M; keys q < M are visible to every later query (plain
causal); image query i sees image key j (j <= i) iff
  full: always;  row: i - j <= G;  col: (i - j) % G == 0;
  conv: j == i or (r_j, c_j) inside the k x k window centred on (r_i, c_i), r = idx // G,
        c = idx % G; conv_wrap=True measures row/col distance modulo G (torus),
        conv_wrap=False uses plain distance (keys outside the grid do not exist).

Parameter names (state_dict keys; Linear weights are [out, in], y = x W^T + b):
  text_emb [Vt+T, d], text_pos_emb [T, d], image_start [d] (image_start=True), image_emb [Vi, d],
  image_row_emb [G, d], image_col_emb [G, d] (axial) or image_pos_emb [G*G, d] (linear),
  layers.<l>.ln1.w/b [d], layers.<l>.attn.qkv.w [3d, d], .qkv.b [3d],
  layers.<l>.attn.out.w [d, d], .out.b [d], (sandwich: layers.<l>.attn.post_ln.w/b [d]),
  layers.<l>.ln2.w/b [d],
  layers.<l>.mlp.fc1.w [d_ff, d], .fc1.b [d_ff], layers.<l>.mlp.fc2.w [d, d_ff], .fc2.b [d],
  (sandwich: layers.<l>.mlp.post_ln.w/b [d]),
  ln_f.w/b [d], (final_norms 2: ln_f2.w/b [d]), text_logits.w [Vt, d], image_logits.w [Vi, d],
  image_logits.b [Vi].
"""
import math
from dataclasses import asdict, dataclass, field
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

MASKED = -3.4028234663852886e38 / 2  # -FLT_MAX / 2
ATTN_TYPES = ("full", "row", "col", "conv")
IMAGE_POS = ("axial", "linear")
NORMS = ("pre", "sandwich")
GELUS = ("erf", "tanh")


def paper_schedule(n_layers):
    """Paper / ruDALL-E schedule: last layer conv; layer i col if (i-1) % 4 == 0, else row."""
    out = []
    for i in range(n_layers):
        if i == n_layers - 1:
            out.append("conv")
        elif (i - 1) % 4 == 0:
            out.append("col")
        else:
            out.append("row")
    return out


@dataclass
class DalleConfig:
    text_len: int = 32
    text_vocab: int = 1024
    grid: int = 16
    image_vocab: int = 512
    d_model: int = 256
    n_heads: int = 8
    n_layers: int = 8
    d_ff: int = 1024
    attn_types: List[str] = field(default_factory=list)
    conv_kernel: int = 5
    conv_wrap: bool = False
    ln_eps: float = 1e-5
    # options of docs/model-format.md §2 (defaults: the emoji model's architecture)
    image_start: bool = True      # a start-of-image token at position T
    image_pos: str = "axial"      # IMAGE_POS
    norm: str = "pre"             # NORMS
    gelu: str = "erf"             # GELUS
    final_norms: int = 1          # 1: ln_f; 2: ln_f then ln_f2
    attn_out_clamp: float = 0.0   # > 0: clamp the attention output projection to [-c, c]; 0: none
    mask_image0: int = 0          # > 0: position the masks take as image index 0; 0: image0

    def __post_init__(self):
        if not self.attn_types:
            self.attn_types = paper_schedule(self.n_layers)
        assert len(self.attn_types) == self.n_layers
        assert all(t in ATTN_TYPES for t in self.attn_types)
        assert self.d_model % self.n_heads == 0 and self.conv_kernel % 2 == 1
        assert self.image_pos in IMAGE_POS and self.norm in NORMS and self.gelu in GELUS
        assert self.final_norms in (1, 2) and self.attn_out_clamp >= 0
        assert self.mask_image0 == 0 or self.image0 - 1 <= self.mask_image0 <= self.seq_len

    @property
    def seq_len(self):
        return self.text_len + self.grid * self.grid

    @property
    def image0(self):
        """Position of image token 0: T + 1 after a start-of-image token, else T."""
        return self.text_len + (1 if self.image_start else 0)

    @property
    def mask0(self):
        """Position the attention masks take as image index 0 (mask_image0, default image0)."""
        return self.mask_image0 or self.image0

    @property
    def d_head(self):
        return self.d_model // self.n_heads

    def to_dict(self):
        d = asdict(self)
        d["attn_types"] = list(self.attn_types)
        return d


def image_key_allowed(i, j, attn_type, grid, kernel=11, wrap=False):
    """Whether image query index i may attend image key index j (both raster indices)."""
    if j > i:
        return False
    if attn_type == "full":
        return True
    if attn_type == "row":
        return i - j <= grid
    if attn_type == "col":
        return (i - j) % grid == 0
    if attn_type == "conv":
        if i == j:
            return True
        dr, dc = abs(i // grid - j // grid), abs(i % grid - j % grid)
        if wrap:
            dr, dc = min(dr, grid - dr), min(dc, grid - dc)
        return dr <= kernel // 2 and dc <= kernel // 2
    raise ValueError(attn_type)


def build_mask(text_len, grid, attn_type, kernel=11, wrap=False, image0=None):
    """bool [S, S] (S = text_len + grid^2): mask[p, q] = query p may attend key q. Positions p >= image0
    (default text_len + 1, after a start-of-image token) are image index p - image0; keys before image0
    are plain causal."""
    T, n_img = text_len, grid * grid
    S = T + n_img
    I0 = T + 1 if image0 is None else image0
    m = torch.tril(torch.ones(S, S, dtype=torch.bool))
    idx = torch.arange(S - I0)
    i, j = idx.view(-1, 1), idx.view(1, -1)
    if attn_type == "full":
        img = j <= i
    elif attn_type == "row":
        img = (j <= i) & (i - j <= grid)
    elif attn_type == "col":
        img = (j <= i) & ((i - j) % grid == 0)
    elif attn_type == "conv":
        dr = (i // grid - j // grid).abs()
        dc = (i % grid - j % grid).abs()
        if wrap:
            dr, dc = torch.minimum(dr, grid - dr), torch.minimum(dc, grid - dc)
        h = kernel // 2
        img = (j == i) | ((j < i) & (dr <= h) & (dc <= h))
    else:
        raise ValueError(attn_type)
    m[I0:, I0:] = img
    return m


def pad_text(ids, text_len, text_vocab):
    """Caption ids (list) -> int64 [T]: truncated to T, position j past the end = Vt + j."""
    ids = list(ids)[:text_len]
    return torch.tensor(ids + [text_vocab + j for j in range(len(ids), text_len)],
                        dtype=torch.long)


class Linear(nn.Module):
    def __init__(self, n_in, n_out, bias=True, std=0.02):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, n_in) * std)
        self.b = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x):
        return F.linear(x, self.w, self.b)


class LayerNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.w, self.b, self.eps)


class Attention(nn.Module):
    def __init__(self, cfg, out_std):
        super().__init__()
        self.h, self.dh = cfg.n_heads, cfg.d_head
        self.clamp = getattr(cfg, "attn_out_clamp", 0.0)  # (the reranker passes a config without options)
        self.qkv = Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = Linear(cfg.d_model, cfg.d_model, std=out_std)
        self.post_ln = LayerNorm(cfg.d_model, cfg.ln_eps) if getattr(cfg, "norm", "pre") == "sandwich" else None

    def project(self, x):
        """x [B, N, d] -> q, k, v each [B, H, N, dh]."""
        B, N, _ = x.shape
        q, k, v = self.qkv(x).split(self.h * self.dh, dim=-1)
        return [t.view(B, N, self.h, self.dh).transpose(1, 2) for t in (q, k, v)]

    def attend(self, q, k, v, mask):
        """q [B,H,Nq,dh], k/v [B,H,Nk,dh], mask bool [Nq, Nk] -> [B, Nq, d]."""
        s = torch.matmul(q * (1.0 / math.sqrt(self.dh)), k.transpose(-1, -2))
        s = s.masked_fill(~mask, MASKED)
        a = torch.softmax(s, dim=-1)
        o = torch.matmul(a, v)
        B, H, Nq, dh = o.shape
        y = self.out(o.transpose(1, 2).reshape(B, Nq, H * dh))
        if self.clamp > 0:
            y = y.clamp(-self.clamp, self.clamp)
        return y if self.post_ln is None else self.post_ln(y)


class MLP(nn.Module):
    def __init__(self, cfg, out_std):
        super().__init__()
        self.fc1 = Linear(cfg.d_model, cfg.d_ff)
        self.fc2 = Linear(cfg.d_ff, cfg.d_model, std=out_std)
        self.approximate = "tanh" if getattr(cfg, "gelu", "erf") == "tanh" else "none"
        self.post_ln = LayerNorm(cfg.d_model, cfg.ln_eps) if getattr(cfg, "norm", "pre") == "sandwich" else None

    def forward(self, x):
        y = self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))
        return y if self.post_ln is None else self.post_ln(y)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        out_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        self.ln1 = LayerNorm(cfg.d_model, cfg.ln_eps)
        self.attn = Attention(cfg, out_std)
        self.ln2 = LayerNorm(cfg.d_model, cfg.ln_eps)
        self.mlp = MLP(cfg, out_std)


class Dalle(nn.Module):
    """Text-to-image-token transformer. All integer inputs are int64."""

    def __init__(self, cfg: DalleConfig):
        super().__init__()
        self.cfg = cfg
        d, T, G = cfg.d_model, cfg.text_len, cfg.grid
        self.text_emb = nn.Parameter(torch.randn(cfg.text_vocab + T, d) * 0.02)
        self.text_pos_emb = nn.Parameter(torch.randn(T, d) * 0.02)
        self.image_start = nn.Parameter(torch.randn(d) * 0.02) if cfg.image_start else None
        self.image_emb = nn.Parameter(torch.randn(cfg.image_vocab, d) * 0.02)
        if cfg.image_pos == "axial":
            self.image_row_emb = nn.Parameter(torch.randn(G, d) * 0.02)
            self.image_col_emb = nn.Parameter(torch.randn(G, d) * 0.02)
        else:
            self.image_pos_emb = nn.Parameter(torch.randn(G * G, d) * 0.02)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = LayerNorm(d, cfg.ln_eps)
        self.ln_f2 = LayerNorm(d, cfg.ln_eps) if cfg.final_norms == 2 else None
        self.text_logits = Linear(d, cfg.text_vocab, bias=False)
        self.image_logits = Linear(d, cfg.image_vocab)
        for t in sorted(set(cfg.attn_types)):
            self.register_buffer("mask_" + t, build_mask(T, G, t, cfg.conv_kernel, cfg.conv_wrap, cfg.mask0),
                                 persistent=False)

    def mask(self, attn_type):
        return getattr(self, "mask_" + attn_type)

    def final_norm(self, x):
        """ln_f, then ln_f2 when the model has two final norms."""
        x = self.ln_f(x)
        return x if self.ln_f2 is None else self.ln_f2(x)

    # ---- embeddings -------------------------------------------------------------------
    def embed_text(self, text_ids):
        """text_ids [B, T] -> [B, T, d]."""
        return self.text_emb[text_ids] + self.text_pos_emb

    def embed_image(self, codes, start):
        """codes [B, N] at image indices start..start+N-1 -> [B, N, d]."""
        G = self.cfg.grid
        idx = torch.arange(start, start + codes.shape[1], device=codes.device)
        if self.cfg.image_pos == "linear":
            return self.image_emb[codes] + self.image_pos_emb[idx]
        return self.image_emb[codes] + self.image_row_emb[idx // G] + self.image_col_emb[idx % G]

    def embed_prompt(self, text_ids):
        """[B, T] -> the states before image token 0 [B, image0, d]: text, then the start of image (if any)."""
        x = self.embed_text(text_ids)
        if self.image_start is None:
            return x
        return torch.cat([x, self.image_start.view(1, 1, -1).expand(x.shape[0], 1, -1)], dim=1)

    def embed(self, text_ids, image_codes):
        """[B, T], [B, G*G] -> input states [B, image0 + G*G - 1, d] (the last image code is not input)."""
        parts = [self.embed_prompt(text_ids)]
        if image_codes.shape[1] > 1:
            parts.append(self.embed_image(image_codes[:, :-1], 0))
        return torch.cat(parts, dim=1)

    # ---- full sequence --------------------------------------------------------------
    def forward(self, text_ids, image_codes):
        """text_ids [B, T], image_codes [B, G*G] -> (text_logits [B, T-1, Vt],
        image_logits [B, G*G, Vi]); text_logits[:, j] predicts caption token j+1."""
        T = self.cfg.text_len
        x = self.embed(text_ids, image_codes)
        S = x.shape[1]
        for blk, t in zip(self.layers, self.cfg.attn_types):
            q, k, v = blk.attn.project(blk.ln1(x))
            x = x + blk.attn.attend(q, k, v, self.mask(t)[:S, :S])
            x = x + blk.mlp(blk.ln2(x))
        x = self.final_norm(x)
        return self.text_logits(x[:, :T - 1]), self.image_logits(x[:, self.cfg.image0 - 1:])

    def loss(self, text_ids, image_codes, text_weight=1.0 / 8, input_codes=None, per_sample=False, focal_gamma=0.0):
        """Paper loss: text CE (targets that are pad ids >= Vt are ignored) * 1/8 + image
        CE * 7/8, each averaged over its own tokens. input_codes [B, G*G] (default image_codes): the
        codes fed as input, e.g. a corrupted copy, while image_codes stay the targets.
        focal_gamma > 0: the image term is instead a weighted mean of the token CEs, token weight (1 - p)^gamma
        (p the target's probability, no gradient through the weight; focal loss, Lin et al. 2017), so the few
        tokens the model still gets wrong, where one image parts from another, dominate.
        Returns (loss, text_ce, image_ce); image_ce is always the plain CE; per_sample: image_ce is [B] (each
        image's mean over its tokens)."""
        tl, il = self.forward(text_ids, image_codes if input_codes is None else input_codes)
        tgt = text_ids[:, 1:].clone()
        tgt[tgt >= self.cfg.text_vocab] = -100
        if (tgt >= 0).any():
            text_ce = F.cross_entropy(tl.reshape(-1, tl.shape[-1]), tgt.reshape(-1),
                                      ignore_index=-100)
        else:
            text_ce = tl.sum() * 0
        token_ce = F.cross_entropy(il.reshape(-1, il.shape[-1]), image_codes.reshape(-1),
                                   reduction="none").view(image_codes.shape)
        image_ce = token_ce.mean(1)
        image_term = image_ce.mean()
        if focal_gamma > 0:
            w = (1 - torch.exp(-token_ce.detach())).pow(focal_gamma)
            image_term = (w * token_ce).sum() / w.sum().clamp_min(1e-6)
        loss = text_weight * text_ce + (1 - text_weight) * image_term
        return loss, text_ce, (image_ce if per_sample else image_ce.mean())

    # ---- KV cache -------------------------------------------------------------------
    def _run_cached(self, x, cache):
        """Append states x [B, N, d] at positions cache['n'].. ; returns final hidden."""
        n0, N = cache["n"], x.shape[1]
        for li, (blk, t) in enumerate(zip(self.layers, self.cfg.attn_types)):
            q, k, v = blk.attn.project(blk.ln1(x))
            cache["k"][li][:, :, n0:n0 + N] = k
            cache["v"][li][:, :, n0:n0 + N] = v
            K = cache["k"][li][:, :, :n0 + N]
            V = cache["v"][li][:, :, :n0 + N]
            x = x + blk.attn.attend(q, K, V, self.mask(t)[n0:n0 + N, :n0 + N])
            x = x + blk.mlp(blk.ln2(x))
        cache["n"] = n0 + N
        return self.final_norm(x)

    def prefill(self, text_ids):
        """text_ids [B, T] -> (logits of image token 0 [B, Vi], cache)."""
        B = text_ids.shape[0]
        cfg = self.cfg
        shape = (B, cfg.n_heads, cfg.seq_len, cfg.d_head)
        dt, dev = self.text_emb.dtype, self.text_emb.device
        cache = {"n": 0,
                 "k": [torch.zeros(shape, dtype=dt, device=dev) for _ in range(cfg.n_layers)],
                 "v": [torch.zeros(shape, dtype=dt, device=dev) for _ in range(cfg.n_layers)]}
        h = self._run_cached(self.embed_prompt(text_ids), cache)
        return self.image_logits(h[:, -1]), cache

    def decode_step(self, cache, code):
        """code [B] = image token i (i = cache['n'] - image0) -> logits of token i+1 [B, Vi]."""
        i = cache["n"] - self.cfg.image0
        assert 0 <= i < self.cfg.grid ** 2 - 1, "image already complete"
        h = self._run_cached(self.embed_image(code.view(-1, 1), i), cache)
        return self.image_logits(h[:, -1])

    @torch.no_grad()
    def generate(self, text_ids, n=1, seed=0, temperature=1.0, top_k=0, top_p=1.0, cond_scale=1.0, on_row=None,
                 beam_from=None):
        """text_ids [T] or [B, T] -> codes [B*n, G*G] sampled with the KV cache. cond_scale != 1:
        classifier-free guidance (guide_logits) against the empty caption, run as extra sequences.
        on_row(row, codes [B*n, (row+1)*G]) is called when image row `row` < G-1 is complete; it may return
        src (int list [B*n]): sequence b then continues from sequence src[b]'s codes and cache (pruning,
        clip.Pruner). beam_from (one prompt only, no on_row): codes from this index on come from beam search of
        width n over the summed log p of the guided logits at temperature 1 (the engine's DVK_DECODING_BEAM with
        beam_sampled_rows = beam_from / G); at its first step only the first of equal beams extends (beam_pick).
        The rows come best first."""
        if text_ids.dim() == 1:
            text_ids = text_ids.view(1, -1)
        if beam_from is not None and (text_ids.shape[0] != 1 or on_row is not None):
            raise ValueError("beam search takes one prompt and no on_row (pruning)")
        text_ids = text_ids.repeat_interleave(n, dim=0)
        B, guided = text_ids.shape[0], cond_scale != 1.0
        if guided:
            null = pad_text([], self.cfg.text_len, self.cfg.text_vocab).to(text_ids.device)
            text_ids = torch.cat([text_ids, null.view(1, -1).expand(B, -1)])
        gen = torch.Generator(device="cpu").manual_seed(seed)
        logits, cache = self.prefill(text_ids)
        out, sums = [], torch.zeros(B, dtype=torch.float64)
        for i in range(self.cfg.grid ** 2):
            lg = guide_logits(logits, cond_scale) if guided else logits
            if beam_from is not None and i >= beam_from:
                scores = sums[:, None] + torch.log_softmax(lg.double(), -1)
                if i == beam_from:  # beams that repeat an earlier one do not extend
                    prev = torch.stack(out, 1) if out else torch.zeros(B, 0, dtype=torch.long)
                    for b in range(1, B):
                        if (prev[:b] == prev[b]).all(1).any():
                            scores[b] = -float("inf")
                src, code, sums = beam_pick(scores, B)
                out = list(torch.stack(out, 1)[src].unbind(1)) if out else []
                full = torch.cat([src, src + B]) if guided else src
                for li in range(self.cfg.n_layers):
                    cache["k"][li], cache["v"][li] = cache["k"][li][full], cache["v"][li][full]
            else:
                code = sample_logits(lg, gen, temperature, top_k, top_p)
                sums += torch.log_softmax(lg.double(), -1).gather(1, code[:, None])[:, 0]
            out.append(code)
            G = self.cfg.grid
            if on_row is not None and (i + 1) % G == 0 and i + 1 < G * G:
                src = on_row(i // G, torch.stack(out, dim=1))
                if src is not None:
                    src = torch.as_tensor(list(src), dtype=torch.long)
                    out = list(torch.stack(out, dim=1)[src].unbind(1))
                    code = out[-1]
                    full = torch.cat([src, src + B]) if guided else src
                    for li in range(self.cfg.n_layers):
                        cache["k"][li] = cache["k"][li][full]
                        cache["v"][li] = cache["v"][li][full]
            if i + 1 < self.cfg.grid ** 2:
                logits = self.decode_step(cache, torch.cat([code, code]) if guided else code)
        return torch.stack(out, dim=1)


def beam_pick(scores, width):
    """The beam search rule (the engine's dvk_beam_select): scores [B, V] float64, each beam's summed log p plus
    log p(code) (-inf: not extended) -> (src [width], code [width], score [width]), the width best, best first;
    ties: the lower beam, then the lower code (a stable sort of the flattened scores)."""
    flat = scores.reshape(-1)
    order = torch.sort(flat, descending=True, stable=True).indices[:width]
    return order // scores.shape[1], order % scores.shape[1], flat[order]


@torch.no_grad()
def beam_search(model, text_ids, width):
    """Beam search over the image codes under one prompt, a diagnostic of search against model errors
    (tools/caption_gap.py --beam): text_ids [T], width W -> (codes [k, G*G] int64, log_prob float64 [k]), k <= W,
    best first. Each step extends every kept prefix by every code and keeps the W extensions of highest summed
    log p(code) (temperature 1, no truncation, no guidance). Exact (the k most likely images) when W >= V^(G*G-1)."""
    G2 = model.cfg.grid ** 2
    logits, cache = model.prefill(text_ids.view(1, -1))
    codes = torch.zeros(1, 0, dtype=torch.long)
    total = torch.zeros(1, dtype=torch.float64)
    for i in range(G2):
        lp = torch.log_softmax(logits.double(), -1)
        src, code, total = beam_pick(total[:, None] + lp, min(width, lp.numel()))
        codes = torch.cat([codes[src], code[:, None]], 1)
        if i + 1 < G2:
            for li in range(model.cfg.n_layers):
                cache["k"][li], cache["v"][li] = cache["k"][li][src], cache["v"][li][src]
            logits = model.decode_step(cache, code)
    return codes, total


@torch.no_grad()
def mean_logprob(model, text_ids, codes, cond_scale=1.0):
    """How likely the transformer finds each image (the reranker's pool, clip.rerank_pool; the engine's
    dvk_images.mean_logprob): text_ids [T] (one prompt), codes [N, G*G] -> float64 [N], each image's mean over its
    codes of log p(code) under the teacher-forced logits at temperature 1, guided as in generate when
    cond_scale != 1 (guide_logits against the empty caption)."""
    N = codes.shape[0]
    _, il = model.forward(text_ids.view(1, -1).expand(N, -1), codes)
    il = il.double()
    if cond_scale != 1.0:
        null = pad_text([], model.cfg.text_len, model.cfg.text_vocab).to(codes.device)
        _, nl = model.forward(null.view(1, -1).expand(N, -1), codes)
        il = nl.double() + cond_scale * (il - nl.double())
    return torch.log_softmax(il, -1).gather(-1, codes.unsqueeze(-1)).squeeze(-1).mean(1)


@torch.no_grad()
def caption_token_ce(model, tok, captions, codes, device="cpu", batch=32):
    """Teacher-forced CE (nats) of every image token of each (caption, image) pair: captions n strings
    (BPE-encoded with tok, padded as pad_text), codes [n, G, G] or [n, G*G] integer array -> (float64 numpy
    [n, G*G], bool numpy [n, G*G]: the code is the logits' argmax). The model runs in eval mode and is put back
    in the mode it was in."""
    import numpy as np
    cfg, was_training = model.cfg, model.training
    model.eval()
    codes = np.asarray(codes).reshape(len(captions), -1).astype(np.int64)
    ce, top = [np.zeros((0, codes.shape[1]))], [np.zeros((0, codes.shape[1]), dtype=bool)]
    for s in range(0, len(captions), batch):
        t = torch.stack([pad_text(tok.encode(c), cfg.text_len, cfg.text_vocab) for c in captions[s:s + batch]])
        c = torch.from_numpy(codes[s:s + batch]).to(device)
        il = model.forward(t.to(device), c)[1].float()
        ce.append(F.cross_entropy(il.transpose(1, 2), c, reduction="none").double().cpu().numpy())
        top.append((il.argmax(-1) == c).cpu().numpy())
    model.train(was_training)
    return np.concatenate(ce), np.concatenate(top)


def caption_image_ce(model, tok, captions, codes, device="cpu", batch=32):
    """Teacher-forced image-token CE (nats/token) of each (caption, image) pair (caption_token_ce's mean over
    the tokens) -> float64 numpy [n]."""
    return caption_token_ce(model, tok, captions, codes, device, batch)[0].mean(1)


def guide_logits(logits, cond_scale):
    """Classifier-free guidance (DALLE-pytorch's cond_scale, dalle-mini's super-conditioning): logits
    [2B, V], rows 0..B-1 given the prompt, rows B..2B-1 given the empty caption ->
    null + cond_scale * (cond - null), [B, V]."""
    B = logits.shape[0] // 2
    cond, null = logits[:B], logits[B:]
    return null + cond_scale * (cond - null)


def sample_logits(logits, gen, temperature=1.0, top_k=0, top_p=1.0):
    """logits [B, V] -> sampled ids [B] (temperature, then top-k, then nucleus top-p)."""
    logits = logits.float().cpu() / max(temperature, 1e-6)
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        srt, order = torch.sort(logits, dim=-1, descending=True)
        cum = torch.softmax(srt, dim=-1).cumsum(-1)
        drop = cum - torch.softmax(srt, dim=-1) > top_p
        srt = srt.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, srt)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=gen).view(-1)
