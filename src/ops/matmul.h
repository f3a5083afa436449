/* Matmul, the engine's hottest op: Y[M, N] (+)= epilogue(X[M, K] . W[N, K]^T + b[N]).
 *
 * Dtypes: X, Y, b are f32; W is f32, f16 (IEEE half) or q8_0 (ggml's 8-bit blocks: 32 int8 and one f16
 * scale per block, value = d * q, dequantised in the kernel); accumulation is always fp32 (DESIGN §5).
 * All matrices are row-major (the last index is fastest): X[m, k] at x[m * ldx + k], Y[m, n] at
 * y[m * ldy + n], W[n, k] in the device layout below.
 *
 * Weight device layout ("matmul layout"): N rows of kw = round_up(K, 16) elements, row n at element
 * n * kw, the kw - K padding elements are zero. f32: 4 bytes per element. f16: 2 bytes per element,
 * two halves per little-endian uint32 (element 2i in the low 16 bits, as GLSL unpackHalf2x16 reads
 * them). q8_0 (K a multiple of 32): N rows of shaders/q8_shared.h's layout, the row's K int8 values then its
 * K / 32 f16 scales, padded to 16 bytes. So every row is a whole number of 16-byte texels in each dtype:
 * kernels fetch 4 floats, 8 halves or 16 int8 per load and never need a K-tail on W. Build it with
 * dvk_matmul_weight_prepare (host memory) or dvk_matmul_weight_upload (arena + upload).
 *
 * Epilogue, per output element, in this order: + b[n] (when a bias is given), GELU erf form
 * 0.5 v (1 + erf(v / sqrt 2)) (DVK_MATMUL_GELU; erf of shaders/gelu.glsl, |error| <= 1.5e-7) or tanh form
 * 0.5 v (1 + tanh(0.7978845608028654 (v + 0.044715 v^3))) (DVK_MATMUL_GELU_TANH), clamp to [-c, c]
 * (DVK_MATMUL_CLAMP, c = dvk_matmul_desc.clamp > 0), then + the old Y[m, n] (DVK_MATMUL_ACCUMULATE, e.g.
 * out-projection + residual) or * the old Y[m, n] (DVK_MATMUL_MULTIPLY, a GLU: Y holds the other branch;
 * not both). A QKV projection may
 * also store its K and V columns into a KV cache (dvk_matmul_kv): the append without a dispatch of its own.
 *
 * Large operands: W may exceed maxStorageBufferRange (128 MiB on lavapipe); the op then splits N
 * into chunks of whole rows whose byte range fits, at offsets aligned for storage and texel
 * bindings, one dispatch each. X and Y must each fit maxStorageBufferRange as bound (m rows of
 * their stride). X and Y may start at any 4-byte offset inside their buffers (sub-blocks: the op
 * binds from an aligned offset and passes the element shift); a bias must start at a multiple of
 * minStorageBufferOffsetAlignment (arena tensors do).
 *
 * Kernels by device class (ctx->device_class), all with fp32 accumulation:
 * - CPU (lavapipe): shaders/matmul_cpu.comp. Register tiles of 8 (or fewer, when M is small) X rows
 *   x 2 W rows per lane, no shared memory and no barriers, X and W read through texel buffers, X
 *   shared between the lanes of a subgroup by subgroupShuffle (needs subgroups of >= 8 lanes with
 *   the shuffle operations; a CPU device without them gets the GPU kernels).
 * - GPU: shaders/matmul_gpu.comp (64 x 64 shared-memory tiles) for M > 8, shaders/matmul_vec.comp
 *   (one workgroup per W row, shared-memory reduction) for M <= 8. No subgroup width is assumed.
 * docs/benchmarks.md (## matmul) has the measurements behind these choices. */
#ifndef DVK_OPS_MATMUL_H
#define DVK_OPS_MATMUL_H

#include "ops/attention.h"
#include "vk/dispatch.h"

typedef enum dvk_matmul_wtype { DVK_MATMUL_F32 = 0, DVK_MATMUL_F16 = 1, DVK_MATMUL_Q8_0 = 2 } dvk_matmul_wtype;

/* Epilogue flags (bit set). */
#define DVK_MATMUL_GELU 2u
#define DVK_MATMUL_ACCUMULATE 4u
#define DVK_MATMUL_GELU_TANH 16u
#define DVK_MATMUL_CLAMP 32u
#define DVK_MATMUL_MULTIPLY 64u

/* W rows are padded to a multiple of this many elements. */
#define DVK_MATMUL_K_ALIGN 16u

/* A weight matrix W[n, k] in the matmul device layout. t holds at least
 * dvk_matmul_weight_bytes(type, n, k) bytes. */
typedef struct dvk_matmul_weight {
  dvk_tensor t;
  dvk_matmul_wtype type;
  uint32_t n, k;
} dvk_matmul_weight;

/* Row stride of the f32 / f16 device layout in elements: k rounded up to DVK_MATMUL_K_ALIGN. */
uint32_t dvk_matmul_row_stride(uint32_t k);

/* Bytes of one device row of k values: row_stride(k) * 4 or * 2, q8_0 dvk_q8_row_bytes(k). */
VkDeviceSize dvk_matmul_row_bytes(dvk_matmul_wtype type, uint32_t k);

/* Bytes of the device layout of a [n, k] weight of the given type (n * dvk_matmul_row_bytes). */
VkDeviceSize dvk_matmul_weight_bytes(dvk_matmul_wtype type, uint32_t n, uint32_t k);

/* Converts a host row-major [n, k] matrix (src, dense: row stride k; f32 = float, f16 = uint16_t IEEE
 * half bits, q8_0 = ggml blocks as in the file) of type src_type into the device layout of `type` at dst
 * (dvk_matmul_weight_bytes bytes, written fully, padding zeroed). f32 -> f16 rounds to nearest even
 * (overflow -> inf); f16 -> f32 is exact; q8_0 is only repacked (src_type and type both q8_0, k a
 * multiple of 32; other pairings with q8_0 are a programming error). Pure host function, no errors. */
void dvk_matmul_weight_prepare(dvk_matmul_wtype type, uint32_t n, uint32_t k, const void *src,
                               dvk_matmul_wtype src_type, void *dst);

/* Allocates the device layout from arena, converts src (as dvk_matmul_weight_prepare) and uploads it
 * (blocking). Fills *out. Errors: DVK_ERR_INVALID_ARGUMENT (n or k zero; q8_0 with k not a multiple of
 * 32, or paired with another type), DVK_ERR_OUT_OF_HOST_MEMORY,
 * DVK_ERR_OUT_OF_DEVICE_MEMORY, DVK_ERR_* from Vulkan. */
dvk_status dvk_matmul_weight_upload(dvk_device *ctx, dvk_arena *arena, dvk_matmul_wtype type, uint32_t n,
                                    uint32_t k, const void *src, dvk_matmul_wtype src_type,
                                    dvk_matmul_weight *out);

/* Kernel choice; AUTO picks by ctx->device_class (tests force the others to cover every kernel on
 * any device). */
typedef enum dvk_matmul_kernel {
  DVK_MATMUL_AUTO = 0,
  DVK_MATMUL_KERNEL_CPU,       /* matmul_cpu: register tiles, W via texel buffer */
  DVK_MATMUL_KERNEL_GPU_TILED, /* matmul_gpu: 64 x 64 shared-memory tiles */
  DVK_MATMUL_KERNEL_GPU_VEC,   /* matmul_vec: one workgroup per W row, M <= 8 only */
} dvk_matmul_kernel;

/* A QKV projection's KV-cache append: Y is [batch * nq, 3d] (q | k | v, d = cache->n_heads * d_head, dense
 * rows), row b * nq + t being sequence b's position p0 + t; its columns d..3d-1 also go to the cache, exactly
 * as dvk_op_kv_append(cache, Y, batch, nq, p0) writes them: from the epilogue when the cache's first `batch`
 * sequences fit one binding, else by that op recorded after the matmul. */
typedef struct dvk_matmul_kv {
  const dvk_kv_cache *cache;
  uint32_t batch, nq, p0;
} dvk_matmul_kv;

/* Full description of one matmul. Zero-initialise, then set what you need. */
typedef struct dvk_matmul_desc {
  uint32_t m;                  /* rows of X and Y (>= 1); n and k come from w */
  dvk_tensor x;                /* f32 X[m, k], row stride ldx */
  uint32_t ldx;                /* floats; 0 means k */
  const dvk_matmul_weight *w;  /* W[n, k] */
  const dvk_tensor *bias;      /* f32 b[n], or NULL */
  dvk_tensor y;                /* f32 Y[m, n], row stride ldy; must not overlap X or W */
  uint32_t ldy;                /* floats; 0 means n */
  uint32_t flags;              /* DVK_MATMUL_GELU or _GELU_TANH | DVK_MATMUL_CLAMP | DVK_MATMUL_ACCUMULATE or
                                  _MULTIPLY */
  float clamp;                 /* DVK_MATMUL_CLAMP: the bound c > 0 */
  const dvk_matmul_kv *kv;     /* NULL, or the KV-cache append of a QKV projection (above) */
  dvk_matmul_kernel kernel;    /* AUTO unless testing */
  uint32_t tune[4];            /* CPU kernel: lanes per workgroup (= subgroup size), X rows per
                                  workgroup, W rows per lane, K steps of 8 per loop iteration (1 or 2);
                                  0 = the tuned default (benchmark sweeps only) */
} dvk_matmul_desc;

/* Records Y (+)= epilogue(X . W^T + b) as described above (one dispatch per W chunk; no flush).
 * Errors (with a message on ctx): DVK_ERR_INVALID_ARGUMENT for m == 0, both GELU flags, ACCUMULATE with
 * MULTIPLY, a clamp bound not > 0, a stride smaller than its
 * row, a tensor smaller than its shape needs, misaligned offsets (see above), X or Y over
 * maxStorageBufferRange, GPU_VEC with m > 8, a q8_0 W with k not a multiple of 32, a kv whose shapes do not
 * match Y (or as dvk_op_kv_append);
 * DVK_ERR_UNSUPPORTED when the CPU kernel is forced on a
 * device that cannot run it; DVK_ERR_* from Vulkan. */
dvk_status dvk_op_matmul_ex(dvk_device *ctx, const dvk_matmul_desc *d);

/* Shorthand for contiguous operands: Y[m, w->n] (+)= epilogue(X[m, w->k] . W^T + b), bias may be NULL,
 * flags DVK_MATMUL_GELU or _GELU_TANH | DVK_MATMUL_ACCUMULATE or _MULTIPLY (no clamp). Same errors as dvk_op_matmul_ex. */
dvk_status dvk_op_matmul(dvk_device *ctx, dvk_tensor y, dvk_tensor x, const dvk_matmul_weight *w,
                         const dvk_tensor *bias, uint32_t m, uint32_t flags);

#endif
