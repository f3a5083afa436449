/* KV cache and masked attention. See attention.h. */
#include "ops/attention.h"

#include <math.h>
#include <stdlib.h>

#include "ops/util.h"
#include "ops/window.h"

#define MAX_D_HEAD 256
#define ACC_FLOATS 4096 /* shared floats for merging the invocations' accumulators (16 KiB) */

static dvk_status check_cache(dvk_device *ctx, const char *op, const dvk_kv_cache *c, uint32_t batch) {
  if (c->n_heads == 0 || c->d_head == 0 || c->d_head % 4 || c->d_head > MAX_D_HEAD || c->s_max == 0 ||
      batch == 0 || batch > c->batch)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT,
                    "%s: cache [%u, %u, %u, %u] (d_head must be a multiple of 4, <= %u) with batch %u", op, c->batch,
                    c->n_heads, c->s_max, c->d_head, MAX_D_HEAD, batch);
  VkDeviceSize bytes = (VkDeviceSize)c->batch * c->n_heads * c->s_max * c->d_head * 4;
  DVK_TRY(dvk_need_bytes(ctx, op, "cache.k", c->k, bytes));
  DVK_TRY(dvk_need_bytes(ctx, op, "cache.v", c->v, bytes));
  return DVK_OK;
}

static VkDeviceSize seq_bytes(const dvk_kv_cache *c) { return (VkDeviceSize)c->n_heads * c->s_max * c->d_head * 4; }

/* Sequences per dispatch so that every per-sequence operand (row_bytes[i] bytes per sequence) fits one
 * binding at an aligned offset; 0 when one sequence does not fit. */
static uint32_t batch_chunk(dvk_device *ctx, const VkDeviceSize *row_bytes, int n, uint32_t batch) {
  uint32_t chunk = batch, step = 1;
  for (int i = 0; i < n; i++) {
    uint32_t c = dvk_window_rows(ctx, row_bytes[i], batch, ctx->limits.max_storage_range);
    uint32_t s = dvk_window_row_step(ctx, row_bytes[i]);
    if (c < chunk) chunk = c;
    if (s > step) step = s;
  }
  if (chunk < batch) chunk = chunk / step * step;
  return chunk;
}

/* The window over sequences [b0, b0 + n) of t (per_seq bytes each, a multiple of 4). */
static dvk_status seqs(dvk_device *ctx, const char *name, dvk_tensor t, VkDeviceSize per_seq, uint32_t b0, uint32_t n,
                       dvk_tensor *out) {
  return dvk_window_exact(ctx, "attention", name, t, per_seq / 4 * b0, per_seq / 4 * n, 4, out);
}

static dvk_status check_append(dvk_device *ctx, const dvk_kv_cache *cache, uint32_t batch, uint32_t n, uint32_t p0) {
  DVK_TRY(check_cache(ctx, "kv_append", cache, batch));
  if (n == 0 || (uint64_t)p0 + n > cache->s_max)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "kv_append: positions %u + %u past s_max %u", p0, n,
                    cache->s_max);
  return DVK_OK;
}

dvk_status dvk_kv_append_window(dvk_device *ctx, const dvk_kv_cache *cache, uint32_t batch, uint32_t n, uint32_t p0,
                                dvk_tensor *k, dvk_tensor *v) {
  *k = *v = (dvk_tensor){0};
  DVK_TRY(check_append(ctx, cache, batch, n, p0));
  VkDeviceSize kv_seq = seq_bytes(cache);
  if (batch_chunk(ctx, &kv_seq, 1, batch) < batch) return DVK_OK;
  DVK_TRY(seqs(ctx, "k", cache->k, kv_seq, 0, batch, k));
  return seqs(ctx, "v", cache->v, kv_seq, 0, batch, v);
}

dvk_status dvk_op_kv_append(dvk_device *ctx, const dvk_kv_cache *cache, dvk_tensor qkv, uint32_t batch, uint32_t n,
                            uint32_t p0) {
  DVK_TRY(check_append(ctx, cache, batch, n, p0));
  uint32_t d = cache->n_heads * cache->d_head;
  VkDeviceSize qkv_seq = (VkDeviceSize)n * 3 * d * 4, kv_seq = seq_bytes(cache);
  DVK_TRY(dvk_need_bytes(ctx, "kv_append", "qkv", qkv, qkv_seq * batch));
  VkDeviceSize per[2] = {qkv_seq, kv_seq};
  uint32_t chunk = batch_chunk(ctx, per, 2, batch);
  if (chunk == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "kv_append: one sequence exceeds the binding range");
  for (uint32_t b0 = 0; b0 < batch; b0 += chunk) {
    uint32_t nb = batch - b0 < chunk ? batch - b0 : chunk;
    dvk_pc_kv_append pc = {.batch = nb, .n = n, .p0 = p0, .n_heads = cache->n_heads, .d_head = cache->d_head,
                           .s_max = cache->s_max};
    dvk_dispatch_desc desc = {.shader = "kv_append", .n_bindings = 3, .push = &pc, .push_size = sizeof pc};
    DVK_TRY(seqs(ctx, "qkv", qkv, qkv_seq, b0, nb, &desc.bindings[0].t));
    DVK_TRY(seqs(ctx, "k", cache->k, kv_seq, b0, nb, &desc.bindings[1].t));
    DVK_TRY(seqs(ctx, "v", cache->v, kv_seq, b0, nb, &desc.bindings[2].t));
    dvk_groups_1d(ctx, dvk_div_up(nb * n * d, 256), desc.groups);
    DVK_TRY(dvk_dispatch(ctx, &desc));
  }
  return DVK_OK;
}

dvk_status dvk_op_kv_broadcast(dvk_device *ctx, const dvk_kv_cache *cache, uint32_t batch, uint32_t n) {
  DVK_TRY(check_cache(ctx, "kv_broadcast", cache, batch));
  if (n > cache->s_max)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "kv_broadcast: %u positions past s_max %u", n, cache->s_max);
  if (batch < 2 || n == 0) return DVK_OK;
  VkDeviceSize kv_seq = seq_bytes(cache);
  uint32_t chunk = batch_chunk(ctx, &kv_seq, 1, batch);
  if (chunk == 0)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "kv_broadcast: one sequence exceeds the binding range");
  for (uint32_t b0 = 0; b0 < batch; b0 += chunk) {
    uint32_t nb = batch - b0 < chunk ? batch - b0 : chunk;
    dvk_pc_kv_broadcast pc = {.batch = nb, .first = b0 == 0, .n = n, .n_heads = cache->n_heads,
                              .d_head = cache->d_head, .s_max = cache->s_max};
    if (pc.first >= nb) continue;
    dvk_dispatch_desc desc = {.shader = "kv_broadcast", .n_bindings = 4, .push = &pc, .push_size = sizeof pc};
    DVK_TRY(seqs(ctx, "k", cache->k, kv_seq, 0, 1, &desc.bindings[0].t));
    DVK_TRY(seqs(ctx, "k", cache->k, kv_seq, b0, nb, &desc.bindings[1].t));
    DVK_TRY(seqs(ctx, "v", cache->v, kv_seq, 0, 1, &desc.bindings[2].t));
    DVK_TRY(seqs(ctx, "v", cache->v, kv_seq, b0, nb, &desc.bindings[3].t));
    dvk_groups_1d(ctx, dvk_div_up((nb - pc.first) * cache->n_heads * n * cache->d_head, 256), desc.groups);
    DVK_TRY(dvk_dispatch(ctx, &desc));
  }
  return DVK_OK;
}

dvk_status dvk_op_kv_copy(dvk_device *ctx, const dvk_kv_cache *cache, const uint32_t *src, uint32_t batch, uint32_t n) {
  DVK_TRY(check_cache(ctx, "kv_copy", cache, batch));
  if (n > cache->s_max) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "kv_copy: %u positions past s_max %u", n, cache->s_max);
  uint32_t moved = 0;
  for (uint32_t b = 0; b < batch; b++) {
    if (src[b] >= batch || src[src[b]] != src[b])
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "kv_copy: sequence %u <- %u (a source must keep its own state)", b,
                      src[b]);
    moved += src[b] != b;
  }
  if (moved == 0 || n == 0) return DVK_OK;
  VkBufferCopy *k = malloc((size_t)moved * cache->n_heads * sizeof *k), *v = malloc((size_t)moved * cache->n_heads * sizeof *v);
  dvk_status s = k && v ? DVK_OK : dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  const VkDeviceSize head = (VkDeviceSize)cache->s_max * cache->d_head * 4, len = (VkDeviceSize)n * cache->d_head * 4;
  uint32_t r = 0;
  for (uint32_t b = 0; s == DVK_OK && b < batch; b++)
    for (uint32_t h = 0; src[b] != b && h < cache->n_heads; h++, r++) {
      const VkDeviceSize from = ((VkDeviceSize)src[b] * cache->n_heads + h) * head, to = ((VkDeviceSize)b * cache->n_heads + h) * head;
      k[r] = (VkBufferCopy){.srcOffset = cache->k.offset + from, .dstOffset = cache->k.offset + to, .size = len};
      v[r] = (VkBufferCopy){.srcOffset = cache->v.offset + from, .dstOffset = cache->v.offset + to, .size = len};
    }
  if (s == DVK_OK) s = dvk_record_copy_n(ctx, cache->k.buffer, cache->k.buffer, r, k);
  if (s == DVK_OK) s = dvk_record_copy_n(ctx, cache->v.buffer, cache->v.buffer, r, v);
  free(k);
  free(v);
  return s;
}

static dvk_status check_mask(dvk_device *ctx, const dvk_attn_mask *m, uint32_t end) {
  if (m->grid == 0 || (unsigned)m->type > DVK_MASK_CONV || (m->type == DVK_MASK_CONV && m->conv_k % 2 == 0))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: mask type %d, grid %u, conv k %u", (int)m->type,
                    m->grid, m->conv_k);
  if ((uint64_t)end > (uint64_t)m->image0 + (uint64_t)m->grid * m->grid)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: position %u past the last image token (image0 %u + G*G %u)",
                    end - 1, m->image0, m->grid * m->grid);
  return DVK_OK;
}

/* The keys mask: *n_seq = the cache sequences that `batch` query sequences read (b / q_per_kv), each with
 * key_len in 1..s_max. */
static dvk_status check_keys(dvk_device *ctx, const dvk_attn_mask *m, const dvk_kv_cache *c, uint32_t batch,
                             uint32_t *n_seq) {
  const uint32_t per = m->q_per_kv ? m->q_per_kv : 1;
  *n_seq = (uint32_t)dvk_div_up(batch, per);
  if (!m->key_len)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: the keys mask needs key_len (one length per cache sequence)");
  if (*n_seq > c->batch)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT,
                    "attention: %u query sequences at q_per_kv %u read %u cache sequences, the cache holds %u", batch,
                    per, *n_seq, c->batch);
  for (uint32_t i = 0; i < *n_seq; i++)
    if (m->key_len[i] == 0 || m->key_len[i] > c->s_max)
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: key_len[%u] = %u, must be in 1..s_max %u", i,
                      m->key_len[i], c->s_max);
  return DVK_OK;
}

/* attn.comp's invocations per workgroup: a power of two, at most 64, with WG * d_head <= ACC_FLOATS. */
static uint32_t attn_workgroup(uint32_t d_head) {
  uint32_t wg = 64;
  while (wg * d_head > ACC_FLOATS) wg /= 2;
  return wg;
}

/* Whether to run attn_lanes (CPUs: a subgroup per query, lanes splitting d_head, the cache through RGBA32F
 * texel buffers; docs/performance-notes.md) rather than attn (storage buffers, a workgroup of lanes per
 * query merged through shared memory): on CPU devices whose compute subgroups have arithmetic operations and
 * 4..128 lanes (a workgroup of subgroup-size invocations is then one subgroup), when every sequence offset
 * meets the texel alignment and a cache binding (at most `bound` bytes) the texel-buffer size limit. */
static int use_lanes(const dvk_device *ctx, VkDeviceSize kv_seq, VkDeviceSize bound) {
  return ctx->device_class == DVK_CLASS_CPU && ctx->limits.subgroup_size >= 4 && ctx->limits.subgroup_size <= 128 &&
         (ctx->limits.subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) && kv_seq % ctx->limits.texel_align == 0 &&
         bound / 16 <= ctx->limits.max_texel_elements;
}

/* The window over sequences [b0, b0 + n) of t (per_seq bytes each, a multiple of 16) and the vec4 index of
 * sequence b0 inside it. */
static dvk_status seq_window(dvk_device *ctx, const char *name, dvk_tensor t, VkDeviceSize per_seq, uint32_t b0,
                             uint32_t n, dvk_tensor *out, uint32_t *off) {
  dvk_window w = {0};
  DVK_TRY(dvk_window_of(ctx, "attention", name, t, per_seq / 16 * b0, per_seq / 16 * n, 16, &w));
  *out = w.t, *off = w.off;
  return DVK_OK;
}

/* Records one attention dispatch: pc.batch query sequences from q0 against the cache sequences from c0 (nc
 * of them: pc.batch, or 1 with pc.kv_shared). */
static dvk_status attn_dispatch(dvk_device *ctx, dvk_tensor out, dvk_tensor qkv, const dvk_kv_cache *cache,
                                dvk_pc_attn pc, uint32_t q0, uint32_t c0, uint32_t nc, int lanes) {
  const uint32_t d = cache->n_heads * cache->d_head;
  const VkDeviceSize qkv_seq = (VkDeviceSize)pc.nq * 3 * d * 4, out_seq = (VkDeviceSize)pc.nq * d * 4;
  dvk_dispatch_desc desc = {.shader = lanes ? "attn_lanes" : "attn", .n_bindings = 4, .push = &pc,
                            .push_size = sizeof pc, .n_spec = 2,
                            .spec = {lanes ? ctx->limits.subgroup_size : attn_workgroup(cache->d_head), cache->d_head}};
  DVK_TRY(seq_window(ctx, "qkv", qkv, qkv_seq, q0, pc.batch, &desc.bindings[0].t, &pc.q_off));
  DVK_TRY(seq_window(ctx, "k", cache->k, seq_bytes(cache), c0, nc, &desc.bindings[1].t, &pc.k_off));
  DVK_TRY(seq_window(ctx, "v", cache->v, seq_bytes(cache), c0, nc, &desc.bindings[2].t, &pc.v_off));
  DVK_TRY(seq_window(ctx, "out", out, out_seq, q0, pc.batch, &desc.bindings[3].t, &pc.o_off));
  if (lanes) desc.bindings[1].format = desc.bindings[2].format = VK_FORMAT_R32G32B32A32_SFLOAT;
  dvk_groups_1d(ctx, (uint64_t)pc.batch * cache->n_heads * pc.nq, desc.groups);
  return dvk_dispatch(ctx, &desc);
}

/* The keys mask: one dispatch per cache sequence c (more when its query sequences exceed a binding) over
 * the query sequences that read it, c * q_per_kv .. (c + 1) * q_per_kv - 1, binding that sequence alone. */
static dvk_status attention_keys(dvk_device *ctx, dvk_tensor out, dvk_tensor qkv, const dvk_kv_cache *cache,
                                 const dvk_attn_mask *mask, uint32_t batch, uint32_t n_seq, dvk_pc_attn pc) {
  const uint32_t d = cache->n_heads * cache->d_head, per = mask->q_per_kv ? mask->q_per_kv : 1;
  const VkDeviceSize qkv_seq = (VkDeviceSize)pc.nq * 3 * d * 4, kv_seq = seq_bytes(cache);
  const VkDeviceSize room = ctx->limits.max_storage_range - dvk_window_align(ctx); /* from any start */
  const uint64_t q_chunk = room / qkv_seq; /* qkv rows are the widest per-sequence query operand */
  if (q_chunk == 0 || kv_seq > room)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: one sequence exceeds the binding range");
  const int lanes = use_lanes(ctx, kv_seq, kv_seq + dvk_window_align(ctx));
  pc.kv_shared = 1;
  pc.grid = 1; /* unused; keeps the shader's image arithmetic defined */
  for (uint32_t c = 0; c < n_seq; c++) {
    const uint32_t end = (uint64_t)(c + 1) * per < batch ? (c + 1) * per : batch;
    pc.n_keys = mask->key_len[c];
    for (uint32_t q0 = c * per; q0 < end; q0 += pc.batch) {
      pc.batch = end - q0 < q_chunk ? end - q0 : (uint32_t)q_chunk;
      DVK_TRY(attn_dispatch(ctx, out, qkv, cache, pc, q0, c, 1, lanes));
    }
  }
  return DVK_OK;
}

dvk_status dvk_op_attention(dvk_device *ctx, dvk_tensor out, dvk_tensor qkv, const dvk_kv_cache *cache,
                            const dvk_attn_mask *mask, uint32_t batch, uint32_t nq, uint32_t p0) {
  const int keys = mask->type == DVK_MASK_KEYS;
  uint32_t n_seq = batch; /* cache sequences read */
  if (keys && batch) DVK_TRY(check_keys(ctx, mask, cache, batch, &n_seq));
  DVK_TRY(check_cache(ctx, "attention", cache, n_seq));
  if (nq == 0 || (!keys && (uint64_t)p0 + nq > cache->s_max))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: queries %u + %u past s_max %u", p0, nq,
                    cache->s_max);
  if (!keys) DVK_TRY(check_mask(ctx, mask, p0 + nq));
  uint32_t d = cache->n_heads * cache->d_head;
  VkDeviceSize qkv_seq = (VkDeviceSize)nq * 3 * d * 4, out_seq = (VkDeviceSize)nq * d * 4, kv_seq = seq_bytes(cache);
  DVK_TRY(dvk_need_bytes(ctx, "attention", "qkv", qkv, qkv_seq * batch));
  DVK_TRY(dvk_need_bytes(ctx, "attention", "out", out, out_seq * batch));
  dvk_pc_attn pc = {.nq = nq, .p0 = p0, .n_heads = cache->n_heads, .s_max = cache->s_max,
                    .image0 = mask->image0, .grid = mask->grid, .mask = (uint32_t)mask->type,
                    .conv_half = mask->conv_k / 2, .conv_wrap = mask->conv_wrap != 0,
                    .scale = 1.0f / sqrtf((float)cache->d_head)};
  if (keys) return attention_keys(ctx, out, qkv, cache, mask, batch, n_seq, pc);
  VkDeviceSize per[3] = {qkv_seq, out_seq, kv_seq};
  uint32_t chunk = batch_chunk(ctx, per, 3, batch);
  if (chunk == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "attention: one sequence exceeds the binding range");
  int lanes = use_lanes(ctx, kv_seq, kv_seq * chunk);
  for (uint32_t b0 = 0; b0 < batch; b0 += chunk) {
    pc.batch = batch - b0 < chunk ? batch - b0 : chunk;
    DVK_TRY(attn_dispatch(ctx, out, qkv, cache, pc, b0, b0, pc.batch, lanes));
  }
  return DVK_OK;
}

dvk_status dvk_op_attention_cached(dvk_device *ctx, dvk_tensor out, dvk_tensor qkv, const dvk_kv_cache *cache,
                                   const dvk_attn_mask *mask, uint32_t batch, uint32_t nq, uint32_t p0) {
  DVK_TRY(dvk_op_kv_append(ctx, cache, qkv, batch, nq, p0));
  return dvk_op_attention(ctx, out, qkv, cache, mask, batch, nq, p0);
}
