"""The engine's sampler (src/model/sample.c) in Python, operation for operation, to replay its draws.

Given the same logits (float32) and stream state it returns the same token as the C code on the same
machine: the generator is xoshiro256** seeded through splitmix64 (exact 64-bit integer arithmetic);
probabilities use double precision and libm's exp (Python's math.exp) in the same order of operations
and summation; the sort is by logit descending, ties by the lower index (the C comparator's order).

    rng = Xoshiro256ss(candidate_seed(seed, b))   # stream of candidate b (src/api_model.c)
    token = sample(logits_f32, rng, temperature=1.0, top_k=0, top_p=1.0)
"""
import math

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def candidate_seed(seed, b):
    """Seed of candidate b's stream: seed * 0x9e3779b97f4a7c15 + b (mod 2^64), as dvk_generate."""
    return (seed * GOLDEN_GAMMA + b) & MASK64


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro256ss:
    """xoshiro256** (Blackman & Vigna), state from four splitmix64 outputs (dvk_rng_seed)."""

    def __init__(self, seed):
        x, self.s = seed & MASK64, []
        for _ in range(4):
            x = (x + GOLDEN_GAMMA) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self):
        """[0, 1) from the top 53 bits (dvk_rng_uniform)."""
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)


def sample(logits, rng, temperature=1.0, top_k=0, top_p=1.0):
    """One token from logits (1-D, float32 values) as dvk_sample: p_i ~ exp(logit_i / temperature) over
    the top_k most likely tokens (0 = all), then the smallest most-likely prefix reaching top_p.
    temperature and top_p are rounded to float32 first, as the C parameters are floats."""
    logits = np.asarray(logits, dtype=np.float32)
    n = logits.shape[0]
    order = np.lexsort((np.arange(n), -logits))  # by logit descending, ties by the lower index
    keep = top_k if 0 < top_k < n else n
    inv_t = 1.0 / float(np.float32(temperature))
    vals = [float(logits[i]) for i in order[:keep]]
    top = vals[0] * inv_t
    prob, total = [], 0.0
    for v in vals:
        p = math.exp(v * inv_t - top)
        prob.append(p)
        total += p
    top_p = float(np.float32(top_p))
    if top_p < 1.0:
        cum = 0.0
        for i in range(keep):
            cum += prob[i]
            if cum >= top_p * total:
                keep, total = i + 1, cum
                break
    u, cum = rng.uniform() * total, 0.0
    for i in range(keep):
        cum += prob[i]
        if u < cum:
            return int(order[i])
    return int(order[keep - 1])
