/* dalle-vk public C API: text -> images with a DALL-E-style model on Vulkan.
 *
 *   dvk_context *ctx;  dvk_model *model;  dvk_images *out;
 *   dvk_context_options co = dvk_context_defaults();
 *   if (dvk_context_create(&co, &ctx) != DVK_OK) { puts(dvk_last_error(NULL)); ... }
 *   if (dvk_model_load(ctx, "assets/dalle-emoji.gguf", &model) != DVK_OK) { puts(dvk_last_error(ctx)); ... }
 *   dvk_generate_params p = dvk_generate_defaults();
 *   p.prompt = "red heart"; p.n_images = 4; p.seed = 42;
 *   if (dvk_generate(model, &p, &out) == DVK_OK) { ... out->pixels[i] ... dvk_images_free(out); }
 *   dvk_model_free(model); dvk_context_destroy(ctx);
 *
 * Pipeline: prompt -> BPE ids (truncated/padded to text_len) -> transformer prefill (text + start-of-image)
 * -> G*G decode steps with a KV cache, all n_images candidates as one batch, sampling with temperature /
 * top-k / top-p (optionally on classifier-free-guided logits) from a seeded generator -> image codes [n, G, G] -> (optionally: reranking, DALL-E's
 * third stage: a contrastive model stored in the file scores every candidate against the prompt and the
 * best `keep` are kept; optionally also during sampling: after chosen image rows, the lower-scoring half of the
 * candidates is replaced by copies of the higher-scoring half, see prune_rows) -> dVAE decoder -> RGB8 pixels.
 * Same prompt + seed + device + model (+ keep) -> identical pixels.
 *
 * Errors: every call returns a dvk_status; the message of the last failure on a context is
 * dvk_last_error(ctx) (dvk_last_error(NULL) for dvk_context_create failures). Ownership: every object
 * is freed by its matching destroy/free call; nothing else needs freeing. Not thread-safe: use one
 * context per thread. */
#ifndef DALLEVK_H
#define DALLEVK_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DVK_VERSION "0.1.0"

/* dvk_generate_params.prune_rows: no pruning, whatever the model recommends. */
#define DVK_PRUNE_OFF (1ull << 63)

/* dvk_generate_params.rerank_pool when left 0: the reranker chooses among the more likely half of the
 * candidates (measured on the default model: this removes the broken shapes the reranker alone put first for
 * "red heart", docs/design.md §4). */
#define DVK_DEFAULT_RERANK_POOL 0.5f

typedef struct dvk_context dvk_context; /* a Vulkan device and its queue */
typedef struct dvk_model dvk_model;     /* a loaded model: weights on the device, tokenizer, config */

typedef struct dvk_context_options {
  const char *device; /* device index ("0") or case-insensitive name substring; NULL: env DVK_DEVICE,
                         else the best device (discrete > integrated > virtual > CPU) */
  int verbose;        /* 1: print the device choice and timings to stderr */
  int validation;     /* 1: require the Khronos validation layer (debugging) */
} dvk_context_options;

dvk_context_options dvk_context_defaults(void);

/* Creates a context on a Vulkan device. Errors: DVK_ERR_NO_VULKAN_LOADER, DVK_ERR_NO_DEVICE,
 * DVK_ERR_UNSUPPORTED, DVK_ERR_OUT_OF_*; message via dvk_last_error(NULL). */
dvk_status dvk_context_create(const dvk_context_options *opts, dvk_context **out);
void dvk_context_destroy(dvk_context *ctx); /* NULL allowed; destroy models first */

/* Human-readable description of the context's device: "llvmpipe (LLVM 15.0.6, 256 bits), Mesa 25.0.7". */
const char *dvk_context_device_name(const dvk_context *ctx);

/* The message of the last failure on ctx (or of the last dvk_context_create when ctx is NULL). */
const char *dvk_last_error(const dvk_context *ctx);

/* Lists Vulkan devices, one per line ("0: llvmpipe (cpu, Vulkan 1.4.305)"); malloc'ed, caller frees;
 * NULL when there is no loader (message via dvk_last_error(NULL)). */
char *dvk_list_devices(void);

/* Loads a model file (GGUF, docs/model-format.md) and uploads its weights. Errors: DVK_ERR_IO (cannot
 * open/read), DVK_ERR_MODEL_FORMAT (malformed: the message names the file and the problem),
 * DVK_ERR_OUT_OF_DEVICE_MEMORY, DVK_ERR_UNSUPPORTED. */
dvk_status dvk_model_load(dvk_context *ctx, const char *path, dvk_model **out);
void dvk_model_free(dvk_model *model); /* NULL allowed */

typedef struct dvk_model_info {
  const char *name, *license;
  uint32_t text_len, text_vocab, grid, image_vocab, d_model, n_heads, n_layers;
  uint32_t image_width, image_height; /* pixels of one generated image */
  int has_reranker;                   /* 1: the file holds a reranker (dvk_generate_params.keep usable) */
  int has_encoder;                    /* 1: the file holds the dVAE encoder (dvk_encode_image usable) */
  float cond_scale;                   /* the model's recommended guidance scale (1 = none) */
  float temperature, top_p;           /* the model's recommended sampling temperature and top-p (1 = off) */
  uint64_t prune_rows;                /* the model's recommended pruning rows (bit r = after image row r; 0 = none) */
} dvk_model_info;

void dvk_model_get_info(const dvk_model *model, dvk_model_info *info);

/* Called after the prefill and after every decode step; return non-zero to cancel (generate then
 * returns DVK_ERR_CANCELLED). done/total count image tokens of one candidate (total = G*G). */
typedef int (*dvk_progress_fn)(void *user, uint32_t done, uint32_t total);

/* Called once per image token with the logits it was sampled from and the sampled codes, for inspection
 * and testing: step = image token index (0 .. G*G-1); logits f32 [n_images, image_vocab] (raw, before
 * temperature/top-k/top-p); codes int32 [n_images]. Pointers are valid during the call only. */
typedef void (*dvk_step_fn)(void *user, uint32_t step, const float *logits, const int32_t *codes);
/* (with guidance, logits are the guided ones the codes were sampled from) */

/* Called after each pruning (prune_rows), right after on_step of the row's last token `step`: from now on
 * candidate b continues from candidate src[b]'s codes 0..step and state (src[b] == b: kept as it was);
 * src [n_images] candidate indices, valid during the call only. Each candidate keeps its own sampler stream. */
typedef void (*dvk_prune_fn)(void *user, uint32_t step, const uint32_t *src);

typedef struct dvk_generate_params {
  const char *prompt;       /* UTF-8 text; "" generates unconditionally */
  uint32_t n_images;        /* candidates generated together as one batch; >= 1 */
  uint64_t seed;            /* seeds the sampler */
  float temperature;        /* > 0: logits are divided by it; 0 (default) = the model's recommended value
                               (dvk_model_info.temperature, 1 when the file names none) */
  uint32_t top_k;           /* keep the k most likely image tokens; 0 = all (default 0) */
  float top_p;              /* nucleus sampling: keep the smallest set with probability >= top_p; (0, 1];
                               0 (default) = the model's recommended value (dvk_model_info.top_p, 1 = off
                               when the file names none) */
  float cond_scale;         /* classifier-free guidance: logits = null + cond_scale * (cond - null), where
                               null are the logits given the empty caption (DALLE-pytorch's cond_scale,
                               dalle-mini's super-conditioning; meaningful for models trained with empty
                               captions). 1 = off; 0 (default) = the model's recommended value
                               (dvk_model_info.cond_scale); otherwise > 0. Doubles the decode batch. */
  uint32_t keep;            /* 0 (default): return all n_images candidates in sampling order; 1..n_images:
                               score every candidate with the model's reranker and return the `keep`
                               best, best first, with distinct images first: a candidate whose codes equal
                               a better one's comes only after every distinct candidate (needs
                               dvk_model_info.has_reranker) */
  float rerank_pool;        /* with keep: the reranker picks first among this fraction of the candidates, those the
                               transformer itself finds most likely (highest mean log-probability of their own
                               codes, dvk_images.mean_logprob), and takes the others only when the pool runs out;
                               this keeps the reranker from preferring broken images it scores highly (this
                               engine's addition, docs/design.md §4). Pool = ceil(rerank_pool * n_images)
                               candidates. (0, 1]; 1 = plain reranking; 0 (default) = DVK_DEFAULT_RERANK_POOL */
  dvk_progress_fn progress; /* may be NULL */
  void *progress_user;
  const volatile int *cancel; /* may be NULL; generation stops between steps when *cancel != 0 */
  dvk_step_fn on_step;      /* may be NULL */
  void *on_step_user;
  uint64_t prune_rows;      /* pruning during sampling (this engine's extension of DALL-E's reranking): bit r set =
                               once image row r (0-based) of every candidate is sampled, the reranker scores each
                               candidate's rows 0..r against the prompt, and the lower-scoring half of the
                               candidates (the worst first) continue as copies of the higher-scoring half (the
                               best first), each with its own sampler stream, so a few rows decide which
                               beginnings get the sampling budget. Only rows 0 .. G-2; needs a reranker and
                               n_images >= 2 (with 1 candidate nothing is pruned). 0 (default) = the model's
                               recommended rows (dvk_model_info.prune_rows); DVK_PRUNE_OFF = none. */
  dvk_prune_fn on_prune;    /* may be NULL */
  void *on_prune_user;
  const int32_t *image_prefix; /* image prompt (DALL-E's image completion): the first image_prefix_len image codes of
                               every candidate, in raster order (row 0 first), given instead of sampled, e.g. the
                               first rows of dvk_encode_image's codes; the transformer continues the image from
                               them. Codes in [0, image_vocab). Pruning skips the rows they fill (all candidates
                               alike there). NULL / 0 (default): none */
  uint32_t image_prefix_len;   /* 0 .. G*G - 1 */
} dvk_generate_params;

dvk_generate_params dvk_generate_defaults(void);

typedef struct dvk_images {
  uint32_t count;          /* number of images (n_images, or keep when reranked) */
  uint32_t width, height;  /* pixels */
  uint32_t stride;         /* bytes between rows (= 3 * width) */
  uint8_t **pixels;        /* count pointers to height * stride bytes, RGB8, top row first */
  uint32_t prompt_tokens;  /* BPE tokens used from the prompt */
  uint32_t dropped_tokens; /* BPE tokens dropped because the prompt exceeded text_len */
  double seconds;          /* wall time of the whole generation */
  double seconds_prefill;  /* of which: text + start-of-image through the transformer */
  double seconds_decode;   /* G*G - 1 decode steps with sampling */
  double seconds_dvae;     /* codes -> pixels */
  double seconds_rerank;   /* scoring the candidates (0 when not reranked) */
  float temperature, top_p, cond_scale; /* the sampling settings used (the model's where the params left 0) */
  uint64_t prune_rows;     /* the pruning rows used (0 = none) */
  uint32_t rerank_pool_size; /* candidates in the reranker's pool (rerank_pool); 0 when not reranked */
  float *scores;           /* reranked: count scores, best first among the distinct images, then any
                              duplicates best first (logit_scale * cosine similarity of the
                              prompt's and the image's features; higher = closer); else NULL */
  uint32_t *candidates;    /* reranked: index of each image among the n_images sampled candidates (the
                              candidate's sampler stream); else NULL */
  float *mean_logprob;     /* count values: each image's mean over its G*G codes of log p(code), nats per code,
                              under the logits it was sampled from (after guidance, at temperature 1, before
                              top-k / top-p): how likely the transformer finds its own image; <= 0 */
} dvk_images;

/* Generates p->n_images candidates and returns them all, or the p->keep best by the reranker.
 * Errors: DVK_ERR_INVALID_ARGUMENT (bad UTF-8, n_images = 0, temperature < 0, top_p outside [0, 1],
 * cond_scale < 0 or not finite, keep > n_images, prune_rows naming a row past G-2: the message names the parameter),
 * DVK_ERR_UNSUPPORTED (keep > 0 or prune_rows set on a model without a reranker), DVK_ERR_OUT_OF_DEVICE_MEMORY (the
 * message suggests a smaller n_images), DVK_ERR_DEVICE_LOST, DVK_ERR_CANCELLED. */
dvk_status dvk_generate(dvk_model *model, const dvk_generate_params *p, dvk_images **out);
void dvk_images_free(dvk_images *images); /* NULL allowed */

/* Encodes one image into the model's image codes with its dVAE encoder (DALL-E's first stage, as its training images
 * were encoded: argmax of the encoder's logits, the lowest code on ties). rgb: RGB8 [H, W, 3] bytes, top row first,
 * H = W = dvk_model_info.image_width (resize and flatten transparency first); codes: int32 [G, G] out, row-major;
 * logits: NULL, or f32 [image_vocab, G, G] out (the encoder's logits). Errors: DVK_ERR_INVALID_ARGUMENT (NULL
 * rgb or codes), DVK_ERR_UNSUPPORTED (the file has no encoder, dvk_model_info.has_encoder = 0),
 * DVK_ERR_OUT_OF_DEVICE_MEMORY, DVK_ERR_DEVICE_LOST. */
dvk_status dvk_encode_image(dvk_model *model, const uint8_t *rgb, int32_t *codes, float *logits);

/* Decodes image codes to pixels with the model's dVAE decoder, e.g. the codes sampled so far for a preview while
 * dvk_generate runs (safe from its on_step / on_prune / progress callbacks: the device is idle between steps and this
 * call uses scratch of its own; the generation's result is unchanged). codes: int32 [n, G, G], row-major, each in
 * [0, image_vocab) or negative = not sampled yet: those decode as the image's most frequent sampled code (the
 * lowest of equals; the background on emoji; code 0 when none is sampled) and their (R/G x R/G)-pixel cells are
 * painted gray (128, 128, 128). *out: n RGB8 images (scores, candidates, mean_logprob NULL, timings 0), freed with dvk_images_free.
 * Errors: DVK_ERR_INVALID_ARGUMENT (NULL codes, n = 0, a code >= image_vocab), DVK_ERR_OUT_OF_*, DVK_ERR_DEVICE_LOST.
 * (docs/design.md §10) */
dvk_status dvk_decode_codes(dvk_model *model, const int32_t *codes, uint32_t n, dvk_images **out);

#ifdef __cplusplus
}
#endif
#endif
