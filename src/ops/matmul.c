/* Matmul host side: weight layout, kernel choice, W chunking, dispatch. See matmul.h. */
#include "ops/matmul.h"

#include <stdlib.h>
#include <string.h>

#include "matmul_shared.h"
#include "ops/half.h"
#include "ops/q8_0.h"
#include "ops/util.h"
#include "ops/window.h"

_Static_assert(DVK_MATMUL_GELU == DVK_MM_GELU && DVK_MATMUL_ACCUMULATE == DVK_MM_ACCUMULATE &&
                 DVK_MATMUL_GELU_TANH == DVK_MM_GELU_TANH && DVK_MATMUL_CLAMP == DVK_MM_CLAMP &&
                 DVK_MATMUL_MULTIPLY == DVK_MM_MULTIPLY,
               "public matmul flags must match the shader flags");
#define EPILOGUE_FLAGS (DVK_MM_GELU | DVK_MM_GELU_TANH | DVK_MM_CLAMP | DVK_MM_ACCUMULATE | DVK_MM_MULTIPLY)
_Static_assert(DVK_MATMUL_K_ALIGN == DVK_MM_K_ALIGN, "W row padding must match the shaders");

#define VEC_MAX_M 8u   /* matmul_vec.comp MR */
#define GPU_TILE 64u   /* matmul_gpu.comp BM = BN */

uint32_t dvk_matmul_row_stride(uint32_t k) { return (k + DVK_MATMUL_K_ALIGN - 1) / DVK_MATMUL_K_ALIGN * DVK_MATMUL_K_ALIGN; }

VkDeviceSize dvk_matmul_row_bytes(dvk_matmul_wtype type, uint32_t k) {
  if (type == DVK_MATMUL_Q8_0) return dvk_q8_row_bytes(k);
  return (VkDeviceSize)dvk_matmul_row_stride(k) * (type == DVK_MATMUL_F16 ? 2 : 4);
}

VkDeviceSize dvk_matmul_weight_bytes(dvk_matmul_wtype type, uint32_t n, uint32_t k) {
  return (VkDeviceSize)n * dvk_matmul_row_bytes(type, k);
}

void dvk_matmul_weight_prepare(dvk_matmul_wtype type, uint32_t n, uint32_t k, const void *src,
                               dvk_matmul_wtype src_type, void *dst) {
  if (type == DVK_MATMUL_Q8_0 || src_type == DVK_MATMUL_Q8_0) { /* repack only (the upload checks the pairing) */
    dvk_q8_pack(n, k, src, dst);
    return;
  }
  const uint32_t kw = dvk_matmul_row_stride(k);
  memset(dst, 0, (size_t)dvk_matmul_weight_bytes(type, n, k));
  for (uint32_t r = 0; r < n; r++) {
    const size_t in = (size_t)r * k, out = (size_t)r * kw;
    if (type == DVK_MATMUL_F32) {
      float *d = (float *)dst + out;
      if (src_type == DVK_MATMUL_F32) memcpy(d, (const float *)src + in, (size_t)k * 4);
      else
        for (uint32_t i = 0; i < k; i++) d[i] = dvk_f16_to_f32(((const uint16_t *)src)[in + i]);
    } else {
      uint16_t *d = (uint16_t *)dst + out; /* little-endian: element 2i lands in the low half */
      if (src_type == DVK_MATMUL_F16) memcpy(d, (const uint16_t *)src + in, (size_t)k * 2);
      else
        for (uint32_t i = 0; i < k; i++) d[i] = dvk_f32_to_f16(((const float *)src)[in + i]);
    }
  }
}

dvk_status dvk_matmul_weight_upload(dvk_device *ctx, dvk_arena *arena, dvk_matmul_wtype type, uint32_t n,
                                    uint32_t k, const void *src, dvk_matmul_wtype src_type,
                                    dvk_matmul_weight *out) {
  memset(out, 0, sizeof *out);
  if (n == 0 || k == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul weight: empty shape [%u, %u]", n, k);
  if ((type == DVK_MATMUL_Q8_0) != (src_type == DVK_MATMUL_Q8_0) || (type == DVK_MATMUL_Q8_0 && k % DVK_Q8_BLOCK))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT,
                    "matmul weight: q8_0 needs a q8_0 source and k a multiple of %u (types %d <- %d, k %u)",
                    DVK_Q8_BLOCK, (int)type, (int)src_type, k);
  const VkDeviceSize bytes = dvk_matmul_weight_bytes(type, n, k);
  dvk_tensor t;
  DVK_TRY(dvk_arena_alloc(arena, bytes, &t));
  if (t.host) { /* unified memory (lavapipe): convert in place, no staging copy */
    dvk_matmul_weight_prepare(type, n, k, src, src_type, t.host);
  } else {
    void *tmp = malloc((size_t)bytes);
    if (!tmp) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory (%llu bytes)", (unsigned long long)bytes);
    dvk_matmul_weight_prepare(type, n, k, src, src_type, tmp);
    dvk_status s = dvk_upload(ctx, t, tmp, bytes);
    free(tmp);
    DVK_TRY(s);
  }
  *out = (dvk_matmul_weight){.t = t, .type = type, .n = n, .k = k};
  return DVK_OK;
}

/* ---- dispatch ---- */

/* Every kernel variant and what the host must know to bind and dispatch it. */
typedef struct variant {
  dvk_matmul_kernel kernel;
  dvk_matmul_wtype wtype;
  int x_scalar;       /* CPU kernel: X fetched 1 float per texel (k, ldx or the X offset not multiples of 4) */
  const char *shader; /* SPIR-V module */
  VkFormat x_format;  /* X's texel view; VK_FORMAT_UNDEFINED: a storage buffer */
  VkFormat w_format;  /* W's texel view (f16 pairs as uints); VK_FORMAT_UNDEFINED: a storage buffer */
  uint32_t tile_m, tile_n; /* X rows x W rows per workgroup; 0: the CPU kernel's shape (cpu_shape) */
} variant;

static const variant variants[] = {
  {DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_F32, 0, "matmul_cpu_f32", VK_FORMAT_R32G32B32A32_SFLOAT,
   VK_FORMAT_R32G32B32A32_SFLOAT, 0, 0},
  {DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_F16, 0, "matmul_cpu_f16", VK_FORMAT_R32G32B32A32_SFLOAT,
   VK_FORMAT_R32G32B32A32_UINT, 0, 0},
  {DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_F32, 1, "matmul_cpu_f32_x1", VK_FORMAT_R32_SFLOAT, VK_FORMAT_R32G32B32A32_SFLOAT,
   0, 0},
  {DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_F16, 1, "matmul_cpu_f16_x1", VK_FORMAT_R32_SFLOAT, VK_FORMAT_R32G32B32A32_UINT,
   0, 0},
  {DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_Q8_0, 0, "matmul_cpu_q8_0", VK_FORMAT_R32G32B32A32_SFLOAT,
   VK_FORMAT_R32G32B32A32_UINT, 0, 0},
  {DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_Q8_0, 1, "matmul_cpu_q8_0_x1", VK_FORMAT_R32_SFLOAT, VK_FORMAT_R32G32B32A32_UINT,
   0, 0},
  {DVK_MATMUL_KERNEL_GPU_TILED, DVK_MATMUL_F32, 0, "matmul_gpu_f32", VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED,
   GPU_TILE, GPU_TILE},
  {DVK_MATMUL_KERNEL_GPU_TILED, DVK_MATMUL_F16, 0, "matmul_gpu_f16", VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED,
   GPU_TILE, GPU_TILE},
  {DVK_MATMUL_KERNEL_GPU_TILED, DVK_MATMUL_Q8_0, 0, "matmul_gpu_q8_0", VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED,
   GPU_TILE, GPU_TILE},
  {DVK_MATMUL_KERNEL_GPU_VEC, DVK_MATMUL_F32, 0, "matmul_vec_f32", VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED,
   VEC_MAX_M, 1},
  {DVK_MATMUL_KERNEL_GPU_VEC, DVK_MATMUL_F16, 0, "matmul_vec_f16", VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED,
   VEC_MAX_M, 1},
  {DVK_MATMUL_KERNEL_GPU_VEC, DVK_MATMUL_Q8_0, 0, "matmul_vec_q8_0", VK_FORMAT_UNDEFINED, VK_FORMAT_UNDEFINED,
   VEC_MAX_M, 1},
};

static const variant *find_variant(dvk_matmul_kernel kernel, dvk_matmul_wtype wtype, int x_scalar) {
  for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
    if (variants[i].kernel == kernel && variants[i].wtype == wtype && variants[i].x_scalar == x_scalar)
      return &variants[i];
  return NULL;
}

typedef struct plan {
  dvk_matmul_kernel kernel;
  uint32_t wg, rows, cols, kunroll; /* CPU kernel: lanes, X rows per workgroup, W rows per lane, K unroll */
  uint64_t max_w_bytes;             /* most W bytes one binding may span */
} plan;

/* CPU devices get the CPU kernel when they can run it (subgroups of >= 8 lanes with shuffles in compute
 * shaders, X within one texel view); everything else, and CPU devices that cannot, the GPU kernels. */
static dvk_matmul_kernel pick_kernel(const dvk_device *ctx, const dvk_matmul_desc *d, VkDeviceSize x_bytes) {
  if (d->kernel != DVK_MATMUL_AUTO) return d->kernel;
  if (ctx->device_class == DVK_CLASS_CPU && ctx->limits.subgroup_size >= 8 &&
      (ctx->limits.subgroup_ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) &&
      x_bytes / 4 + 64 <= ctx->limits.max_texel_elements)
    return DVK_MATMUL_KERNEL_CPU;
  return d->m <= VEC_MAX_M ? DVK_MATMUL_KERNEL_GPU_VEC : DVK_MATMUL_KERNEL_GPU_TILED;
}

/* CPU kernel shape. Defaults from the sweep in docs/benchmarks.md (## matmul): 8 rows x 2 columns
 * per lane is the best register tile for large M; fewer rows only when M is small. Row counts are
 * kept to 1, 2, 4, 8 so that few pipelines get compiled (llvmpipe takes ~1-3 s per pipeline). */
static void cpu_shape(const dvk_device *ctx, const dvk_matmul_desc *d, plan *p) {
  p->wg = d->tune[0] ? d->tune[0] : ctx->limits.subgroup_size; /* must equal it (make_plan checks) */
  if (d->tune[1]) p->rows = d->tune[1];
  else for (p->rows = 1; p->rows < 8 && p->rows < d->m;) p->rows *= 2;
  p->cols = d->tune[2] ? d->tune[2] : 2;
  p->kunroll = d->tune[3] ? d->tune[3] : (p->rows <= 2 ? 2 : 1);
}

static dvk_status make_plan(dvk_device *ctx, const dvk_matmul_desc *d, VkDeviceSize x_bytes, plan *p) {
  memset(p, 0, sizeof *p);
  p->max_w_bytes = ctx->limits.max_storage_range;
  p->kernel = pick_kernel(ctx, d, x_bytes);
  switch (p->kernel) {
  case DVK_MATMUL_KERNEL_CPU:
    cpu_shape(ctx, d, p);
    if (p->kunroll < 1 || p->kunroll > DVK_MATMUL_K_ALIGN / 8)
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: K unroll %u out of range", p->kunroll);
    if (p->wg != ctx->limits.subgroup_size || p->wg < 8)
      return dvk_fail(ctx, DVK_ERR_UNSUPPORTED,
                      "matmul: the CPU kernel needs workgroup = subgroup size >= 8 (workgroup %u, subgroup %u)", p->wg,
                      ctx->limits.subgroup_size);
    if (x_bytes / 4 + 64 > ctx->limits.max_texel_elements)
      return dvk_fail(ctx, DVK_ERR_UNSUPPORTED, "matmul: X (%llu bytes) exceeds maxTexelBufferElements for the CPU kernel",
                      (unsigned long long)x_bytes);
    if ((uint64_t)ctx->limits.max_texel_elements * 16 < p->max_w_bytes)
      p->max_w_bytes = (uint64_t)ctx->limits.max_texel_elements * 16;
    break;
  case DVK_MATMUL_KERNEL_GPU_TILED:
    break;
  case DVK_MATMUL_KERNEL_GPU_VEC:
    if (d->m > VEC_MAX_M)
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: the matrix-vector kernel takes m <= %u, got %u",
                      VEC_MAX_M, d->m);
    break;
  default:
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: unknown kernel %d", (int)d->kernel);
  }
  return DVK_OK;
}

/* Operand bindings of one dispatch: X, W chunk, bias, Y, and the KV cache's k and v (Y when unused). */
typedef struct operands {
  dvk_tensor x, w, b, y, k, v;
} operands;

static dvk_status dispatch_chunk(dvk_device *ctx, const variant *v, const plan *p, dvk_pc_matmul pc, const operands *o) {
  dvk_dispatch_desc dd = {.shader = v->shader, .label = "matmul", .n_bindings = 6, .push = &pc, .push_size = sizeof pc};
  dd.bindings[0].t = o->x;
  dd.bindings[0].format = v->x_format;
  dd.bindings[1].t = o->w;
  dd.bindings[1].format = v->w_format;
  dd.bindings[2].t = o->b;
  dd.bindings[3].t = o->y;
  dd.bindings[4].t = o->k;
  dd.bindings[5].t = o->v;
  uint32_t tile_m = v->tile_m, tile_n = v->tile_n;
  if (!tile_m) { /* the CPU kernel: its register-tile shape as specialization constants */
    tile_m = p->rows, tile_n = p->wg * p->cols;
    dd.n_spec = 4;
    dd.spec[0] = p->wg, dd.spec[1] = p->rows, dd.spec[2] = p->cols, dd.spec[3] = p->kunroll;
  }
  pc.m_tiles = dvk_div_up(pc.m, tile_m);
  uint64_t groups = (uint64_t)pc.m_tiles * dvk_div_up(pc.n, tile_n);
  pc.n_groups = (uint32_t)groups;
  dvk_groups_1d(ctx, groups, dd.groups);
  return dvk_dispatch(ctx, &dd);
}

/* d->kv: checks its shapes against Y and, when the cache fits one binding, sets DVK_MM_KV with the cache
 * layout in pc and the k and v bindings in o. */
static dvk_status kv_epilogue(dvk_device *ctx, const dvk_matmul_desc *d, dvk_pc_matmul *pc, operands *o) {
  const dvk_matmul_kv *kv = d->kv;
  if (!kv) return DVK_OK;
  const dvk_kv_cache *c = kv->cache;
  const uint32_t dm = c ? c->n_heads * c->d_head : 0;
  if (!c || dm == 0 || d->w->n != 3 * dm || kv->nq == 0 || (uint64_t)kv->batch * kv->nq != d->m ||
      (d->ldy && d->ldy != d->w->n))
    return dvk_fail(
      ctx, DVK_ERR_INVALID_ARGUMENT,
      "matmul: KV append needs Y [batch %u * nq %u, 3 d] dense with d = n_heads * d_head = %u (Y is [%u, %u])",
      kv->batch, kv->nq, dm, d->m, d->w->n);
  dvk_tensor kb, vb;
  DVK_TRY(dvk_kv_append_window(ctx, c, kv->batch, kv->nq, kv->p0, &kb, &vb));
  if (!kb.buffer) return DVK_OK;
  pc->flags |= DVK_MM_KV;
  pc->kv_d = dm, pc->kv_dh = c->d_head, pc->kv_heads = c->n_heads, pc->kv_smax = c->s_max;
  pc->kv_p0 = kv->p0, pc->kv_nq = kv->nq;
  o->k = kb, o->v = vb;
  return DVK_OK;
}

dvk_status dvk_op_matmul_ex(dvk_device *ctx, const dvk_matmul_desc *d) {
  const dvk_matmul_weight *w = d->w;
  if (!w || d->m == 0 || w->n == 0 || w->k == 0)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: empty shape (m %u, w %s)", d->m, w ? "given" : "NULL");
  const uint32_t m = d->m, n = w->n, k = w->k;
  if (w->type == DVK_MATMUL_Q8_0 && k % DVK_Q8_BLOCK)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: a q8_0 weight needs k a multiple of %u, got %u", DVK_Q8_BLOCK, k);
  const uint32_t ldx = d->ldx ? d->ldx : k, ldy = d->ldy ? d->ldy : n;
  if (ldx < k || ldy < n)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: row strides ldx %u / ldy %u below k %u / n %u", ldx, ldy, k, n);
  const VkDeviceSize x_bytes = ((VkDeviceSize)(m - 1) * ldx + k) * 4, y_bytes = ((VkDeviceSize)(m - 1) * ldy + n) * 4;
  DVK_TRY(dvk_need_bytes(ctx, "matmul", "x", d->x, x_bytes));
  DVK_TRY(dvk_need_bytes(ctx, "matmul", "y", d->y, y_bytes));
  DVK_TRY(dvk_need_bytes(ctx, "matmul", "w", w->t, dvk_matmul_weight_bytes(w->type, n, k)));
  if (d->bias) DVK_TRY(dvk_need_bytes(ctx, "matmul", "bias", *d->bias, (VkDeviceSize)n * 4));
  if (x_bytes + 256 > ctx->limits.max_storage_range || y_bytes + 256 > ctx->limits.max_storage_range)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: X (%llu bytes) or Y (%llu bytes) exceeds maxStorageBufferRange",
                    (unsigned long long)x_bytes, (unsigned long long)y_bytes);
  if ((d->flags & DVK_MM_GELU) && (d->flags & DVK_MM_GELU_TANH))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: GELU erf and tanh flags together");
  if ((d->flags & DVK_MM_ACCUMULATE) && (d->flags & DVK_MM_MULTIPLY))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: ACCUMULATE and MULTIPLY flags together (Y is either added to or multiplied by)");
  if ((d->flags & DVK_MM_CLAMP) && !(d->clamp > 0))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: clamp bound %g must be > 0", (double)d->clamp);
  plan p;
  DVK_TRY(make_plan(ctx, d, x_bytes, &p));

  if (d->x.offset % 4 || d->y.offset % 4 || (d->bias && d->bias->offset % ctx->limits.storage_align))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT,
                    "matmul: X and Y offsets must be multiples of 4 bytes, the bias offset of %llu",
                    (unsigned long long)ctx->limits.storage_align);
  /* X and Y may start anywhere (sub-blocks): windows pass the element offset of X[0, 0] and Y[0, 0] */
  dvk_window xw = {0}, yw = {0};
  DVK_TRY(dvk_window_of(ctx, "matmul", "x", d->x, 0, x_bytes / 4, 4, &xw));
  DVK_TRY(dvk_window_of(ctx, "matmul", "y", d->y, 0, y_bytes / 4, 4, &yw));
  /* the CPU kernel reads X 4 floats per fetch when rows and k are whole 16-byte texels */
  const int x_scalar = p.kernel == DVK_MATMUL_KERNEL_CPU && (k % 4 || ldx % 4 || xw.off % 4);
  const variant *v = find_variant(p.kernel, w->type, x_scalar);
  if (!v) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: no kernel variant for weight type %d", (int)w->type);
  const dvk_tensor bb = d->bias ? dvk_bind_range(*d->bias, (VkDeviceSize)n * 4) : yw.t; /* unread when no bias */
  /* W is bound in units of its element (a float, a half, or a q8_0 word); kw is the row stride in them */
  const uint32_t unit = w->type == DVK_MATMUL_F16 ? 2 : 4;
  const VkDeviceSize row_bytes = dvk_matmul_row_bytes(w->type, k);
  const uint32_t kw = (uint32_t)(row_bytes / unit);
  const uint32_t rows = dvk_window_rows(ctx, row_bytes, n, p.max_w_bytes);
  if (rows == 0)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "matmul: one W row of %llu bytes does not fit a binding",
                    (unsigned long long)row_bytes);
  dvk_pc_matmul pc = {.m = m, .k = k, .kw = kw, .ldx = ldx, .ldy = ldy, .x0 = xw.off, .y0 = yw.off,
                      .flags = (d->flags & EPILOGUE_FLAGS) | (d->bias ? DVK_MM_BIAS : 0u), .clamp_c = d->clamp};
  operands o = {.x = xw.t, .b = bb, .y = yw.t, .k = yw.t, .v = yw.t};
  DVK_TRY(kv_epilogue(ctx, d, &pc, &o));
  for (uint32_t n0 = 0; n0 < n; n0 += rows) {
    pc.n0 = n0;
    pc.n = n - n0 < rows ? n - n0 : rows;
    DVK_TRY(dvk_window_exact(ctx, "matmul", "w", w->t, (uint64_t)n0 * kw, (uint64_t)pc.n * kw,
                             unit, &o.w));
    DVK_TRY(dispatch_chunk(ctx, v, &p, pc, &o));
  }
  if (d->kv && !(pc.flags & DVK_MM_KV)) /* the cache does not fit one binding: append by its own op */
    DVK_TRY(dvk_op_kv_append(ctx, d->kv->cache, d->y, d->kv->batch, d->kv->nq, d->kv->p0));
  return DVK_OK;
}

dvk_status dvk_op_matmul(dvk_device *ctx, dvk_tensor y, dvk_tensor x, const dvk_matmul_weight *w,
                         const dvk_tensor *bias, uint32_t m, uint32_t flags) {
  dvk_matmul_desc d = {.m = m, .x = x, .w = w, .bias = bias, .y = y, .flags = flags};
  return dvk_op_matmul_ex(ctx, &d);
}
