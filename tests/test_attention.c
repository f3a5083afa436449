/* KV cache and masked attention against a plain C reference: every mask (full, row, col, conv k with
 * wrap and clamp, k < G and k > G) on a grid that is not a power of two, prefill (whole, partial and
 * chunked), decode steps through every position, the cache broadcast used by generation, the sequence layouts
 * without a start token (image0 = T) and with the masks' image origin one position early (image0 = T - 1,
 * ruDALL-E v2), the DALL-E paper's decode shape (d = 3968, 62 heads of 64, T = 256, G = 32), and the keys
 * mask of encoder-decoder models (encoder self-attention over each prompt's first key_len positions,
 * cross-attention of q_per_kv query sequences to one cache sequence; the cache past key_len holds NaN). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/attention.h"

/* The device class the attention op believes it runs on picks its shader variant (texel-buffer cache
 * reads and 32 invocations on CPUs; storage buffers and 64 on GPUs): the small cases run under both. */
static const char *variant = "";

typedef struct shape {
  uint32_t B, h, dh, s_max; /* sequences, heads, d_head, cache positions per sequence */
} shape;

static const char *mask_name(const dvk_attn_mask *m, char *buf, size_t n) {
  static const char *names[] = {"full", "row", "col", "conv", "keys"};
  if (m->type == DVK_MASK_CONV) snprintf(buf, n, "conv%u-%s", m->conv_k, m->conv_wrap ? "wrap" : "clamp");
  else snprintf(buf, n, "%s", names[m->type]);
  return buf;
}

/* The mask as written in the model description, one (query, key) pair at a time. */
static int ref_allowed(const dvk_attn_mask *m, uint32_t qp, uint32_t kp) {
  uint32_t I0 = m->image0, G = m->grid;
  if (kp > qp) return 0;
  if (qp < I0 || kp < I0) return 1; /* causal text (and start-of-image), and every image query sees them */
  uint32_t i = qp - I0, j = kp - I0;
  switch (m->type) {
  case DVK_MASK_FULL: return 1;
  case DVK_MASK_ROW: return i - j <= G;
  case DVK_MASK_COL: return (i - j) % G == 0;
  case DVK_MASK_CONV: {
    if (i == j) return 1;
    int dr = abs((int)(i / G) - (int)(j / G)), dc = abs((int)(i % G) - (int)(j % G)), h = (int)m->conv_k / 2;
    if (m->conv_wrap) {
      if ((int)G - dr < dr) dr = (int)G - dr;
      if ((int)G - dc < dc) dc = (int)G - dc;
    }
    return dr <= h && dc <= h;
  }
  case DVK_MASK_KEYS: return 0; /* no position rule: ref_attention takes keys 0 .. key_len - 1 */
  }
  return 0;
}

/* Whether query position qp of sequence b sees key kp of its cache sequence. */
static int ref_sees(const dvk_attn_mask *m, uint32_t c, uint32_t qp, uint32_t kp) {
  return m->type == DVK_MASK_KEYS ? kp < m->key_len[c] : ref_allowed(m, qp, kp);
}

/* out[d] for the query q[d] at position qp of sequence b, keys/values from caches [B, h, s_max, dh]: those of
 * sequence b, or with the keys mask of sequence b / q_per_kv. */
static void ref_attention(float *out, const float *q, const float *kc, const float *vc, uint32_t b, uint32_t qp,
                          const dvk_attn_mask *m, const shape *sh) {
  const int keys = m->type == DVK_MASK_KEYS;
  const uint32_t c = keys ? b / (m->q_per_kv ? m->q_per_kv : 1) : b, n = keys ? sh->s_max : qp + 1;
  double *sc = malloc(n * sizeof *sc), scale = 1.0 / sqrt((double)sh->dh);
  for (uint32_t hh = 0; hh < sh->h; hh++) {
    const float *qh = q + hh * sh->dh;
    size_t head = ((size_t)c * sh->h + hh) * sh->s_max;
    double mx = -INFINITY, sum = 0;
    for (uint32_t k = 0; k < n; k++) {
      if (!ref_sees(m, c, qp, k)) continue;
      double s = 0;
      for (uint32_t x = 0; x < sh->dh; x++) s += (double)qh[x] * kc[(head + k) * sh->dh + x];
      sc[k] = s * scale;
      if (sc[k] > mx) mx = sc[k];
    }
    for (uint32_t k = 0; k < n; k++)
      if (ref_sees(m, c, qp, k)) sum += exp(sc[k] - mx);
    for (uint32_t x = 0; x < sh->dh; x++) {
      double acc = 0;
      for (uint32_t k = 0; k < n; k++)
        if (ref_sees(m, c, qp, k)) acc += exp(sc[k] - mx) * vc[(head + k) * sh->dh + x];
      out[hh * sh->dh + x] = (float)(acc / sum);
    }
  }
  free(sc);
}

/* Host copy of what kv_append writes: rows [p0, p0+n) of caches from qkv [B, n, 3d]. */
static void host_append(float *kc, float *vc, const float *qkv, uint32_t B, uint32_t n, uint32_t p0,
                        const shape *sh) {
  uint32_t d = sh->h * sh->dh;
  for (uint32_t b = 0; b < B; b++)
    for (uint32_t t = 0; t < n; t++)
      for (uint32_t c = 0; c < d; c++) {
        size_t dst = (((size_t)b * sh->h + c / sh->dh) * sh->s_max + p0 + t) * sh->dh + c % sh->dh;
        const float *row = qkv + ((size_t)b * n + t) * 3 * d;
        kc[dst] = row[d + c];
        vc[dst] = row[2 * d + c];
      }
}

/* Rows [r0, r0+n) of each sequence of x [B, S, w] as a new [B, n, w] array. */
static float *rows_of(const float *x, uint32_t B, uint32_t S, uint32_t w, uint32_t r0, uint32_t n) {
  float *y = malloc((size_t)B * n * w * 4);
  for (uint32_t b = 0; b < B; b++) memcpy(y + (size_t)b * n * w, x + ((size_t)b * S + r0) * w, (size_t)n * w * 4);
  return y;
}

typedef struct fixture {
  shape sh;
  uint32_t d;
  float *kc, *vc;     /* host mirror of the cache (NaN = never written) */
  th_buf dk, dv;      /* device cache */
  dvk_kv_cache cache;
} fixture;

static dvk_status fixture_init(th_ctx *t, fixture *f, shape sh) {
  memset(f, 0, sizeof *f);
  f->sh = sh;
  f->d = sh.h * sh.dh;
  size_t n = (size_t)sh.B * sh.h * sh.s_max * sh.dh;
  f->kc = malloc(n * 4);
  f->vc = malloc(n * 4);
  for (size_t i = 0; i < n; i++) f->kc[i] = f->vc[i] = NAN;
  DVK_TRY(th_alloc(t, n * 4, NULL, &f->dk));
  DVK_TRY(th_alloc(t, n * 4, NULL, &f->dv));
  f->cache = (dvk_kv_cache){.k = f->dk.t, .v = f->dv.t, .batch = sh.B, .n_heads = sh.h, .s_max = sh.s_max,
                            .d_head = sh.dh};
  return DVK_OK;
}

static void fixture_free(fixture *f) { free(f->kc), free(f->vc); }

/* Runs attention_cached for positions [p0, p0+nq), whose rows are rows [p0 - r0, p0 - r0 + nq) of qkv_all
 * [B, S, 3d] (row 0 of qkv_all is position r0; sequences 0..B-1), and returns the
 * max relative error against the reference over those rows (INFINITY on NaN); -1 on a failed call. */
static double run_rows(th_ctx *t, fixture *f, const float *qkv_all, uint32_t S, uint32_t r0, uint32_t B,
                       uint32_t p0, uint32_t nq, const dvk_attn_mask *m) {
  uint32_t d = f->d;
  float *rows = rows_of(qkv_all, B, S, 3 * d, p0 - r0, nq), *out = malloc((size_t)B * nq * d * 4),
        *ref = malloc((size_t)B * nq * d * 4);
  host_append(f->kc, f->vc, rows, B, nq, p0, &f->sh);
  th_buf dq, dout;
  dvk_status s = th_alloc(t, (size_t)B * nq * 3 * d * 4, rows, &dq);
  if (s == DVK_OK) s = th_alloc(t, (size_t)B * nq * d * 4, NULL, &dout);
  if (s == DVK_OK) s = dvk_op_attention_cached(t->ctx, dout.t, dq.t, &f->cache, m, B, nq, p0);
  if (s == DVK_OK) s = th_read(t, &dout, out);
  double err = -1;
  if (s != DVK_OK) {
    th_case_error(t, "attention", s);
  } else {
    for (uint32_t b = 0; b < B; b++)
      for (uint32_t r = 0; r < nq; r++)
        ref_attention(ref + ((size_t)b * nq + r) * d, rows + ((size_t)b * nq + r) * 3 * d, f->kc, f->vc, b, p0 + r,
                      m, &f->sh);
    err = th_rel_err(out, ref, (size_t)B * nq * d);
    if (!th_guard_ok(t, &dout)) err = INFINITY;
  }
  free(rows), free(out), free(ref);
  return err;
}

/* The device cache must equal the host mirror wherever the mirror was written, and keep the sentinel
 * elsewhere; and both guard regions must be intact. */
static int cache_ok(th_ctx *t, fixture *f) {
  size_t n = (size_t)f->sh.B * f->sh.h * f->sh.s_max * f->sh.dh;
  uint32_t *k = malloc(n * 4), *v = malloc(n * 4);
  int ok = th_read(t, &f->dk, k) == DVK_OK && th_read(t, &f->dv, v) == DVK_OK && th_guard_ok(t, &f->dk) &&
           th_guard_ok(t, &f->dv);
  for (size_t i = 0; ok && i < n; i++) {
    uint32_t ek = TH_SENTINEL, ev = TH_SENTINEL;
    if (!isnan(f->kc[i])) memcpy(&ek, &f->kc[i], 4), memcpy(&ev, &f->vc[i], 4);
    if (k[i] != ek || v[i] != ev) {
      printf("     cache element %zu differs\n", i);
      ok = 0;
    }
  }
  free(k), free(v);
  return ok;
}

static float *random_qkv(th_ctx *t, uint32_t B, uint32_t S, uint32_t d) {
  float *x = malloc((size_t)B * S * 3 * d * 4);
  th_fill_uniform(&t->rng, x, (size_t)B * S * 3 * d, -2, 2);
  return x;
}

#define TOL 1e-5

/* Prefill of S rows (in chunks of `chunk` rows) with s_max = S + 2 (unwritten positions hold NaN). */
static void test_prefill(th_ctx *t, dvk_attn_mask m, uint32_t B, uint32_t h, uint32_t dh, uint32_t S,
                         uint32_t chunk) {
  char mn[32];
  if (!th_case(t, "prefill%s %s I0=%u G=%u B=%u h=%u dh=%u S=%u chunk=%u", variant, mask_name(&m, mn, sizeof mn),
               m.image0, m.grid, B, h, dh, S, chunk))
    return;
  fixture f;
  float *qkv = random_qkv(t, B, S, h * dh);
  dvk_status s = fixture_init(t, &f, (shape){B, h, dh, S + 2});
  double err = 0;
  if (s != DVK_OK) {
    th_case_error(t, "alloc", s);
  } else {
    for (uint32_t p0 = 0; p0 < S && err >= 0; p0 += chunk) {
      double e = run_rows(t, &f, qkv, S, 0, B, p0, S - p0 < chunk ? S - p0 : chunk, &m);
      err = e < 0 ? -1 : fmax(err, e);
    }
    if (err >= 0) th_case_done(t, err <= TOL && cache_ok(t, &f), err, TOL);
  }
  fixture_free(&f);
  free(qkv);
}

/* Prefill P rows, then decode one position at a time up to the end of the sequence. bcast: prefill
 * sequence 0 only and broadcast its cache to all B (the sequences share rows < P). */
static void test_decode(th_ctx *t, dvk_attn_mask m, uint32_t B, uint32_t h, uint32_t dh, uint32_t P, int bcast) {
  char mn[32];
  uint32_t S = m.image0 - 1 + m.grid * m.grid; /* positions fed: the last image token is never input */
  if (!th_case(t, "decode%s%s %s I0=%u G=%u B=%u h=%u dh=%u P=%u..%u", variant, bcast ? "+broadcast" : "",
               mask_name(&m, mn, sizeof mn), m.image0, m.grid, B, h, dh, P, S - 1))
    return;
  fixture f;
  uint32_t d = h * dh;
  float *qkv = random_qkv(t, B, S, d);
  if (bcast) /* shared prompt */
    for (uint32_t b = 1; b < B; b++) memcpy(qkv + (size_t)b * S * 3 * d, qkv, (size_t)P * 3 * d * 4);
  dvk_status s = fixture_init(t, &f, (shape){B, h, dh, S});
  double err = s == DVK_OK ? 0 : -1;
  if (s != DVK_OK) th_case_error(t, "alloc", s);
  if (err >= 0) err = run_rows(t, &f, qkv, S, 0, bcast ? 1 : B, 0, P, &m);
  if (err >= 0 && bcast) {
    s = dvk_op_kv_broadcast(t->ctx, &f.cache, B, P);
    if (s != DVK_OK) th_case_error(t, "kv_broadcast", s), err = -1;
    for (uint32_t b = 1; b < B; b++) { /* the mirror: sequence 0's cache copied to b */
      memcpy(f.kc + (size_t)b * h * S * dh, f.kc, (size_t)h * S * dh * 4);
      memcpy(f.vc + (size_t)b * h * S * dh, f.vc, (size_t)h * S * dh * 4);
    }
  }
  for (uint32_t p = P; p < S && err >= 0; p++) {
    double e = run_rows(t, &f, qkv, S, 0, B, p, 1, &m);
    err = e < 0 ? -1 : fmax(err, e);
  }
  if (err >= 0) th_case_done(t, err <= TOL && cache_ok(t, &f), err, TOL);
  fixture_free(&f);
  free(qkv);
}

/* One decode step at position p with a random cache already filled for positions < p. */
static void test_decode_big(th_ctx *t, dvk_attn_mask m, uint32_t B, uint32_t h, uint32_t dh, uint32_t p) {
  char mn[32];
  uint32_t S = m.image0 - 1 + m.grid * m.grid;
  if (!th_case(t, "decode-step %s I0=%u G=%u B=%u h=%u dh=%u p=%u", mask_name(&m, mn, sizeof mn), m.image0, m.grid, B,
               h, dh, p))
    return;
  fixture f;
  uint32_t d = h * dh;
  float *row = random_qkv(t, B, 1, d);
  dvk_status s = fixture_init(t, &f, (shape){B, h, dh, S});
  double err = -1;
  if (s == DVK_OK) {
    for (size_t bh = 0; bh < (size_t)B * h; bh++) {
      th_fill_uniform(&t->rng, f.kc + bh * S * dh, (size_t)p * dh, -2, 2);
      th_fill_uniform(&t->rng, f.vc + bh * S * dh, (size_t)p * dh, -2, 2);
    }
    s = dvk_upload(t->ctx, f.dk.t, f.kc, f.dk.bytes);
    if (s == DVK_OK) s = dvk_upload(t->ctx, f.dv.t, f.vc, f.dv.bytes);
  }
  if (s != DVK_OK) th_case_error(t, "setup", s);
  else err = run_rows(t, &f, row, 1, p, B, p, 1, &m);
  if (err >= 0) th_case_done(t, err <= TOL, err, TOL);
  fixture_free(&f);
  free(row);
}

/* dvk_op_kv_copy (pruning): B sequences of random k/v; a random half of them (each a source-free slot)
 * continue from a random kept one, positions 0..n-1; the rest of every sequence must stay as it was. Also
 * the refusal of a chained src (a destination used as a source). */
static void test_kv_copy(th_ctx *t, uint32_t B, uint32_t h, uint32_t dh, uint32_t s_max, uint32_t n) {
  if (!th_case(t, "kv_copy B=%u h=%u dh=%u s_max=%u n=%u", B, h, dh, s_max, n)) return;
  const size_t per = (size_t)h * s_max * dh, total = (size_t)B * per;
  float *k0 = malloc(total * sizeof *k0), *v0 = malloc(total * sizeof *v0);
  float *kr = malloc(total * sizeof *kr), *vr = malloc(total * sizeof *vr), *out = malloc(2 * total * sizeof *out);
  uint32_t *src = malloc(B * sizeof *src);
  th_buf kb = {0}, vb = {0};
  dvk_status s = k0 && v0 && kr && vr && out && src ? DVK_OK : DVK_ERR_OUT_OF_HOST_MEMORY;
  if (s == DVK_OK) {
    th_fill_uniform(&t->rng, k0, total, -1, 1);
    th_fill_uniform(&t->rng, v0, total, -1, 1);
    for (uint32_t b = 0; b < B; b++) src[b] = b;
    for (uint32_t b = 0; b < B; b++) /* a destination must not be a source: pick among untouched slots */
      if (src[b] == b && th_rng_u64(&t->rng) % 2) {
        uint32_t a = (uint32_t)(th_rng_u64(&t->rng) % B);
        int used_as_src = 0;
        for (uint32_t c = 0; c < B; c++) used_as_src |= src[c] == b && c != b;
        if (a != b && src[a] == a && !used_as_src) src[b] = a;
      }
    uint32_t moved = 0;
    for (uint32_t b = 0; b < B; b++) moved += src[b] != b;
    if (!moved) src[B - 1] = 0; /* always copy something */
    memcpy(kr, k0, total * sizeof *kr);
    memcpy(vr, v0, total * sizeof *vr);
    for (uint32_t b = 0; b < B; b++)
      for (uint32_t hh = 0; b != src[b] && hh < h; hh++) {
        memcpy(kr + (b * h + hh) * (size_t)s_max * dh, k0 + (src[b] * h + hh) * (size_t)s_max * dh, (size_t)n * dh * 4);
        memcpy(vr + (b * h + hh) * (size_t)s_max * dh, v0 + (src[b] * h + hh) * (size_t)s_max * dh, (size_t)n * dh * 4);
      }
    s = th_alloc(t, total * 4, k0, &kb);
  }
  if (s == DVK_OK) s = th_alloc(t, total * 4, v0, &vb);
  dvk_kv_cache c = {.k = kb.t, .v = vb.t, .batch = B, .n_heads = h, .s_max = s_max, .d_head = dh};
  if (s == DVK_OK) s = dvk_op_kv_copy(t->ctx, &c, src, B, n);
  if (s == DVK_OK) s = th_read(t, &kb, out);
  if (s == DVK_OK) s = th_read(t, &vb, out + total);
  if (s != DVK_OK) {
    th_case_error(t, "kv_copy", s);
  } else {
    int ok = th_guard_ok(t, &kb) && th_guard_ok(t, &vb) && !memcmp(out, kr, total * 4) && !memcmp(out + total, vr, total * 4);
    /* a chained src (b <- a while a <- c) is refused and changes nothing */
    uint32_t chained[3] = {0, 0, 1};
    dvk_kv_cache c3 = c;
    c3.batch = 3;
    ok &= B < 3 || dvk_op_kv_copy(t->ctx, &c3, chained, 3, n) == DVK_ERR_INVALID_ARGUMENT;
    th_case_done(t, ok, ok ? 0.0 : 1.0, 0.0);
  }
  free(k0), free(v0), free(kr), free(vr), free(out), free(src);
}

/* The keys mask (dvk_op_attention): B query sequences of nq queries at positions p0.. (which play no part; p0
 * may lie past s_max, as a decoder position does in cross-attention), q_per_kv of them per cache sequence c,
 * each seeing keys 0 .. key_len[c] - 1 (given, or NULL: drawn in 1..s_max). The cache (cache_seqs sequences,
 * s_max positions) is random below key_len and NaN everywhere else, so reading a masked key fails the case. */
static void test_keys(th_ctx *t, uint32_t B, uint32_t nq, uint32_t q_per_kv, const uint32_t *given_len,
                      uint32_t cache_seqs, uint32_t h, uint32_t dh, uint32_t s_max, uint32_t p0) {
  const uint32_t n_seq = (B + q_per_kv - 1) / q_per_kv;
  char lens[64] = "random";
  for (uint32_t c = 0, o = 0; given_len && c < n_seq && o < sizeof lens - 12; c++)
    o += (uint32_t)snprintf(lens + o, sizeof lens - o, "%s%u", c ? "," : "", given_len[c]);
  if (!th_case(t, "keys%s B=%u nq=%u q_per_kv=%u key_len={%s} cache=%u h=%u dh=%u s_max=%u p0=%u", variant, B, nq,
               q_per_kv, lens, cache_seqs, h, dh, s_max, p0))
    return;
  uint32_t *key_len = malloc(n_seq * sizeof *key_len);
  for (uint32_t c = 0; c < n_seq; c++) key_len[c] = given_len ? given_len[c] : 1 + (uint32_t)(th_rng_u64(&t->rng) % s_max);
  fixture f;
  const uint32_t d = h * dh;
  const dvk_attn_mask m = {.type = DVK_MASK_KEYS, .key_len = key_len, .q_per_kv = q_per_kv};
  float *qkv = random_qkv(t, B, nq, d), *out = malloc((size_t)B * nq * d * 4), *ref = malloc((size_t)B * nq * d * 4);
  dvk_status s = fixture_init(t, &f, (shape){cache_seqs, h, dh, s_max});
  if (s == DVK_OK) {
    for (size_t c = 0; c < n_seq; c++)
      for (size_t hh = 0; hh < h; hh++) {
        const size_t at = (c * h + hh) * s_max * dh;
        th_fill_uniform(&t->rng, f.kc + at, (size_t)key_len[c] * dh, -2, 2);
        th_fill_uniform(&t->rng, f.vc + at, (size_t)key_len[c] * dh, -2, 2);
      }
    s = dvk_upload(t->ctx, f.dk.t, f.kc, f.dk.bytes);
    if (s == DVK_OK) s = dvk_upload(t->ctx, f.dv.t, f.vc, f.dv.bytes);
  }
  th_buf dq, dout;
  if (s == DVK_OK) s = th_alloc(t, (size_t)B * nq * 3 * d * 4, qkv, &dq);
  if (s == DVK_OK) s = th_alloc(t, (size_t)B * nq * d * 4, NULL, &dout);
  if (s == DVK_OK) s = dvk_op_attention(t->ctx, dout.t, dq.t, &f.cache, &m, B, nq, p0);
  if (s == DVK_OK) s = th_read(t, &dout, out);
  if (s != DVK_OK) {
    th_case_error(t, "attention keys", s);
  } else {
    for (uint32_t b = 0; b < B; b++)
      for (uint32_t r = 0; r < nq; r++)
        ref_attention(ref + ((size_t)b * nq + r) * d, qkv + ((size_t)b * nq + r) * 3 * d, f.kc, f.vc, b, p0 + r, &m,
                      &f.sh);
    double err = th_rel_err(out, ref, (size_t)B * nq * d);
    if (!th_guard_ok(t, &dout)) err = INFINITY;
    th_case_done(t, err <= TOL, err, TOL);
  }
  fixture_free(&f);
  free(qkv), free(out), free(ref), free(key_len);
}

/* The encoder's use of the keys mask: dvk_op_attention_cached appends all S rows of each prompt (pads
 * included) and attends over the first key_len[b]; the cache positions past S hold NaN. */
static void test_keys_prefill(th_ctx *t, uint32_t B, uint32_t h, uint32_t dh, uint32_t S, const uint32_t *key_len) {
  const dvk_attn_mask m = {.type = DVK_MASK_KEYS, .key_len = key_len, .q_per_kv = 1};
  if (!th_case(t, "prefill%s keys B=%u h=%u dh=%u S=%u key_len[0..1]={%u,%u}", variant, B, h, dh, S, key_len[0],
               key_len[1]))
    return;
  fixture f;
  float *qkv = random_qkv(t, B, S, h * dh);
  dvk_status s = fixture_init(t, &f, (shape){B, h, dh, S + 2});
  if (s != DVK_OK) {
    th_case_error(t, "alloc", s);
  } else {
    double err = run_rows(t, &f, qkv, S, 0, B, 0, S, &m);
    if (err >= 0) th_case_done(t, err <= TOL && cache_ok(t, &f), err, TOL);
  }
  fixture_free(&f);
  free(qkv);
}

/* The keys mask's bad inputs, each refused with a message: no key_len, a key_len of 0 or past s_max, more
 * cache sequences needed than the cache holds. */
static void test_keys_errors(th_ctx *t) {
  if (!th_case(t, "keys errors")) return;
  fixture f;
  th_buf dq, dout;
  dvk_status s = fixture_init(t, &f, (shape){2, 2, 8, 10});
  if (s == DVK_OK) s = th_alloc(t, (size_t)6 * 3 * 16 * 4, NULL, &dq);
  if (s == DVK_OK) s = th_alloc(t, (size_t)6 * 16 * 4, NULL, &dout);
  if (s != DVK_OK) {
    th_case_error(t, "setup", s);
    fixture_free(&f);
    return;
  }
  const uint32_t ok_len[3] = {10, 1, 1}, zero[2] = {3, 0}, long_len[2] = {3, 11};
  dvk_attn_mask m = {.type = DVK_MASK_KEYS, .q_per_kv = 3};
  int ok = dvk_op_attention(t->ctx, dout.t, dq.t, &f.cache, &m, 6, 1, 0) == DVK_ERR_INVALID_ARGUMENT; /* no key_len */
  m.key_len = zero;
  ok &= dvk_op_attention(t->ctx, dout.t, dq.t, &f.cache, &m, 6, 1, 0) == DVK_ERR_INVALID_ARGUMENT;
  m.key_len = long_len;
  ok &= dvk_op_attention(t->ctx, dout.t, dq.t, &f.cache, &m, 6, 1, 0) == DVK_ERR_INVALID_ARGUMENT;
  m.key_len = ok_len, m.q_per_kv = 2; /* 6 query sequences need 3 cache sequences */
  ok &= dvk_op_attention(t->ctx, dout.t, dq.t, &f.cache, &m, 6, 1, 0) == DVK_ERR_INVALID_ARGUMENT;
  m.q_per_kv = 3; /* and the valid call, at a decoder position past s_max */
  ok &= dvk_op_attention(t->ctx, dout.t, dq.t, &f.cache, &m, 6, 1, 40) == DVK_OK;
  th_case_done(t, ok, ok ? 0.0 : 1.0, 0.0);
  fixture_free(&f);
}

/* A mask for T text positions and a start-of-image token (image index 0 at position T + 1). */
static dvk_attn_mask mk(dvk_attn_mask_type type, uint32_t T, uint32_t G, uint32_t k, int wrap) {
  return (dvk_attn_mask){.type = type, .image0 = T + 1, .grid = G, .conv_k = k, .conv_wrap = wrap};
}

/* The same with image index 0 at position image0 (no start token: T; ruDALL-E v2's offset: T - 1). */
static dvk_attn_mask mk_at(dvk_attn_mask_type type, uint32_t image0, uint32_t G, uint32_t k, int wrap) {
  dvk_attn_mask m = mk(type, 0, G, k, wrap);
  m.image0 = image0;
  return m;
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  const uint32_t T = 7, G = 5, S = T + G * G;
  dvk_attn_mask masks[] = {
    mk(DVK_MASK_FULL, T, G, 0, 0),  mk(DVK_MASK_ROW, T, G, 0, 0),  mk(DVK_MASK_COL, T, G, 0, 0),
    mk(DVK_MASK_CONV, T, G, 3, 1),  mk(DVK_MASK_CONV, T, G, 3, 0), mk(DVK_MASK_CONV, T, G, 5, 1),
    mk(DVK_MASK_CONV, T, G, 5, 0),  mk(DVK_MASK_CONV, T, G, 11, 1), mk(DVK_MASK_CONV, T, G, 11, 0),
    mk(DVK_MASK_CONV, T, G, 1, 1),
  };
  size_t nm = sizeof masks / sizeof *masks;
  dvk_device_class native = t.ctx->device_class;
  for (int pass = 0; pass < 2; pass++) {
    t.ctx->device_class = pass ? (native == DVK_CLASS_CPU ? DVK_CLASS_GPU : DVK_CLASS_CPU) : native;
    variant = t.ctx->device_class == DVK_CLASS_CPU ? "[cpu-variant]" : "[gpu-variant]";
    for (size_t i = 0; i < nm; i++) test_prefill(&t, masks[i], 2, 3, 8, S, S);
    /* partial sequences (prompt only; a few image tokens), chunked prefill, other grids */
    test_prefill(&t, masks[1], 2, 3, 8, T + 1, T + 1);
    test_prefill(&t, masks[3], 1, 2, 8, T + 1 + 7, 5);
    test_prefill(&t, mk(DVK_MASK_CONV, 3, 4, 3, 1), 2, 2, 8, 3 + 16, 6);
    test_prefill(&t, mk(DVK_MASK_CONV, 2, 6, 5, 0), 3, 2, 8, 2 + 36, 38);
    for (size_t i = 0; i < nm; i++) test_decode(&t, masks[i], 2, 3, 8, T + 1, 0);
    test_decode(&t, masks[5], 3, 2, 8, T + 1 + 4, 1);
    /* keys mask: encoder-like (2 prompts of 64, one mostly pads), cross-like (3 candidates per prompt) */
    const uint32_t enc_len[2] = {64, 2}, cross_len[2] = {17, 2};
    test_keys(&t, 2, 64, 1, enc_len, 2, 3, 8, 64, 0);
    test_keys(&t, 6, 1, 3, cross_len, 2, 3, 8, 19, 40);
    test_keys(&t, 5, 3, 3, cross_len, 3, 2, 16, 17, 7); /* a partial last group; a cache sequence unused */
    test_keys_prefill(&t, 2, 3, 8, 64, enc_len);
  }
  t.ctx->device_class = native;
  variant = "";
  /* other head sizes (each d_head is a pipeline to compile: a few seconds each on a cold lavapipe) */
  test_prefill(&t, mk(DVK_MASK_CONV, 2, 6, 5, 1), 1, 1, 32, 2 + 36, 38);
  test_prefill(&t, mk(DVK_MASK_COL, 0, 3, 0, 0), 1, 2, 256, 9, 9);
  test_prefill(&t, mk(DVK_MASK_ROW, 2, 4, 0, 0), 2, 2, 80, 18, 18); /* d_head / 4 = 20: attn_lanes' last slot partly idle */
  test_decode(&t, masks[1], 4, 1, 4, T + 1, 1);
  /* no start token (image0 = T: the last text query gives image token 0) and the v2 offset (image0 = T - 1) */
  for (uint32_t off = 1; off <= 2; off++) {
    const uint32_t I0 = T + 1 - off;
    dvk_attn_mask shifted[] = {mk_at(DVK_MASK_ROW, I0, G, 0, 0), mk_at(DVK_MASK_COL, I0, G, 0, 0),
                               mk_at(DVK_MASK_CONV, I0, G, 3, 0), mk_at(DVK_MASK_CONV, I0, G, 3, 1),
                               mk_at(DVK_MASK_FULL, I0, G, 0, 0)};
    for (size_t i = 0; i < sizeof shifted / sizeof *shifted; i++) {
      test_prefill(&t, shifted[i], 2, 2, 8, I0 - 1 + G * G, 9);
      test_decode(&t, shifted[i], 2, 2, 8, T, 1);
    }
  }
  test_kv_copy(&t, 6, 3, 8, S, T + 1 + 11);
  test_kv_copy(&t, 9, 4, 4, 20, 20);
  /* the paper's decode shape, B = 1: first image position, middle, last */
  const uint32_t PT = 256, PG = 32, PS = PT + PG * PG;
  dvk_attn_mask paper[] = {mk(DVK_MASK_ROW, PT, PG, 0, 0), mk(DVK_MASK_COL, PT, PG, 0, 0),
                           mk(DVK_MASK_CONV, PT, PG, 11, 1), mk(DVK_MASK_CONV, PT, PG, 11, 0),
                           mk(DVK_MASK_FULL, PT, PG, 0, 0)};
  for (size_t i = 0; i < sizeof paper / sizeof *paper; i++) test_decode_big(&t, paper[i], 1, 62, 64, PS - 1);
  test_decode_big(&t, paper[2], 1, 62, 64, PT + 1);
  test_decode_big(&t, paper[0], 1, 62, 64, PT + 1 + 1000);
  /* a cache over maxStorageBufferRange (7 x 20 MB per tensor): bound in chunks of sequences */
  test_decode_big(&t, paper[1], 7, 62, 64, PS - 5);
  /* the keys mask over the same cache size: 13 query sequences, 2 per cache sequence, random lengths */
  test_keys(&t, 13, 1, 2, NULL, 7, 62, 64, PS, 300);
  test_keys_errors(&t);
  return th_finish(&t);
}
