/* dalle-vk public C API: text -> images with a DALL-E-style model on Vulkan.
 *
 *   dvk_context *ctx;  dvk_model *model;  dvk_images *out;
 *   dvk_context_options co = dvk_context_defaults();
 *   char why[256];
 *   if (dvk_context_create(&co, &ctx, why, sizeof why) != DVK_OK) { puts(why); ... }
 *   if (dvk_model_load(ctx, "assets/dalle-emoji.gguf", &model) != DVK_OK) { puts(dvk_last_error(ctx)); ... }
 *   dvk_generate_params p = dvk_generate_defaults();
 *   p.prompt = "red heart"; p.n_images = 4; p.seed = 42; (the best 4 of the model's recommended candidates)
 *   if (dvk_generate(model, &p, &out) == DVK_OK) { ... out->pixels[i] ... dvk_images_free(out); }
 *   dvk_model_free(model); dvk_context_destroy(ctx);
 *
 * Pipeline (docs/design.md §1): prompt -> BPE ids -> transformer prefill and G*G decode steps with a KV
 * cache, all candidates as one batch, seeded sampling -> image codes -> reranking (when the model has a
 * reranker) -> image decoder (dVAE or VQGAN) -> RGB8 pixels. Same prompt + seed + device + model + params ->
 * identical pixels.
 *
 * Errors: every call returns a dvk_status; the message of the last failure on a context is
 * dvk_last_error(ctx); dvk_context_create and dvk_list_devices return theirs through their own argument.
 * Ownership: every object is freed by its matching destroy/free call. Not thread-safe: use one context
 * per thread (contexts share nothing). */
#ifndef DALLEVK_H
#define DALLEVK_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "dallevk_version.h" /* DVK_VERSION, from CMake project() */

/* dvk_generate_params.prune_rows: no pruning, whatever the model recommends. */
#define DVK_PRUNE_OFF (1ull << 63)

/* dvk_generate_params.top_k: sample among every image token, whatever the model recommends. */
#define DVK_TOP_K_OFF UINT32_MAX

/* dvk_generate_params.decoding: how the candidates' image codes are chosen (docs/design.md §4). */
typedef enum dvk_decoding {
  DVK_DECODING_DEFAULT = 0, /* the model's (dvk_model_info.decoding; sampling when the file names none) */
  DVK_DECODING_SAMPLE,      /* each candidate draws its codes from its own stream (temperature, top-k, top-p) */
  DVK_DECODING_BEAM,        /* beam search: the candidates are the likeliest continuations found, by summed log p */
} dvk_decoding;

/* dvk_generate_params.beam_sampled_rows: search from the first code, whatever the model recommends. */
#define DVK_BEAM_SAMPLED_ROWS_NONE UINT32_MAX

/* dvk_generate_params.reranker_pool when left 0 (docs/design.md §4). */
#define DVK_DEFAULT_RERANKER_POOL 0.5f

typedef struct dvk_context dvk_context; /* a Vulkan device and its queue */
typedef struct dvk_model dvk_model;     /* a loaded model: weights on the device, tokenizer, config */

typedef struct dvk_context_options {
  const char *device; /* index ("0") or name substring; NULL: env DVK_DEVICE, else the best (docs/design.md §6) */
  int verbose;        /* 1: print the device choice and timings to stderr */
  int validation;     /* 1: require the Khronos validation layer (debugging) */
} dvk_context_options;

dvk_context_options dvk_context_defaults(void);

/* Creates a context on a Vulkan device (opts NULL: the defaults). Errors: DVK_ERR_NO_VULKAN_LOADER,
 * DVK_ERR_NO_DEVICE, DVK_ERR_UNSUPPORTED, DVK_ERR_OUT_OF_*; the message goes to error [error_len] (NULL: none). */
dvk_status dvk_context_create(const dvk_context_options *opts, dvk_context **out, char *error, size_t error_len);
void dvk_context_destroy(dvk_context *ctx); /* NULL allowed; destroy models first */

/* Human-readable description of the context's device: "llvmpipe (LLVM 15.0.6, 256 bits), Mesa 25.0.7". */
const char *dvk_context_device_name(const dvk_context *ctx);

/* The message of the last failure on ctx ("" before any); valid until the next failing call on ctx. */
const char *dvk_last_error(const dvk_context *ctx);

/* Lists Vulkan devices, one per line ("0: llvmpipe (cpu, Vulkan 1.4.305)"); malloc'ed, caller frees;
 * NULL when there is no loader (the message goes to error [error_len], NULL: none). */
char *dvk_list_devices(char *error, size_t error_len);

/* Loads a model file (GGUF, docs/model-format.md) and uploads its weights. Errors: DVK_ERR_IO (cannot
 * open/read), DVK_ERR_MODEL_FORMAT (malformed: the message names the file and the problem),
 * DVK_ERR_OUT_OF_DEVICE_MEMORY, DVK_ERR_UNSUPPORTED. */
dvk_status dvk_model_load(dvk_context *ctx, const char *path, dvk_model **out);
void dvk_model_free(dvk_model *model); /* NULL allowed */

typedef struct dvk_model_info {
  const char *name, *license;
  uint32_t text_len, text_vocab, grid, image_vocab, d_model, n_heads, n_layers;
  uint32_t image_width, image_height; /* pixels of one generated image */
  int has_reranker;                   /* 1: the file holds a reranker (candidates > n_images, pruning usable) */
  int has_encoder;                    /* 1: the file holds an image encoder (dVAE or VQGAN; image prompts usable) */
  float cond_scale;                   /* recommended guidance scale (1 = none) */
  float temperature, top_p;           /* recommended sampling temperature and top-p (1 = off) */
  uint32_t top_k;                     /* recommended top-k (0 = off) */
  uint64_t prune_rows;                /* recommended pruning rows (bit r = after image row r; 0 = none) */
  uint32_t candidates;                /* recommended candidates per generation (0 without a reranker) */
  dvk_decoding decoding;              /* recommended decoding: DVK_DECODING_SAMPLE or DVK_DECODING_BEAM */
  uint32_t beam_width;                /* recommended candidates with beam search (0: as with sampling) */
  uint32_t beam_sampled_rows;         /* recommended rows sampled before the search */
} dvk_model_info;

void dvk_model_get_info(const dvk_model *model, dvk_model_info *info);

/* Called after the prefill and after every decode step; return non-zero to cancel (generate then
 * returns DVK_ERR_CANCELLED). done/total count image tokens of one candidate (total = G*G). */
typedef int (*dvk_progress_fn)(void *user, uint32_t done, uint32_t total);

/* Called once per image token: step = token index (0 .. G*G-1); logits f32 [candidates, image_vocab], row b the
 * logits candidate b's code was chosen from (guided, before temperature/top-k/top-p); codes int32 [candidates].
 * Valid during the call. */
typedef void (*dvk_step_fn)(void *user, uint32_t step, const float *logits, const int32_t *codes);

/* Called when candidates continue from others: after each pruning, after on_step of the row's last token `step`;
 * in beam search, before on_step of token step + 1 whenever a beam moves. Candidate b continues from candidate
 * src[b]'s codes 0..step (src [candidates]; src[b] == b: kept). Valid during the call (docs/design.md §4). */
typedef void (*dvk_prune_fn)(void *user, uint32_t step, const uint32_t *src);

typedef struct dvk_generate_params {
  const char *prompt;       /* UTF-8 text; "" generates unconditionally */
  uint32_t n_images;        /* images returned; >= 1 */
  uint32_t candidates;      /* sampled as one batch, >= n_images; 0 (default): max(n_images,
                               dvk_model_info.candidates) (docs/design.md §9) */
  int reranker_always;      /* 1: rank with the reranker even when candidates == n_images (best first) */
  uint64_t seed;            /* seeds the sampler; candidate b draws from its own stream (seed, b) */
  float temperature;        /* > 0; 0 (default): the model's (dvk_model_info.temperature) */
  uint32_t top_k;           /* keep the k most likely image tokens, <= image_vocab (= all); 0 (default): the
                               model's (dvk_model_info.top_k); DVK_TOP_K_OFF: all */
  float top_p;              /* nucleus sampling mass, (0, 1]; 0 (default): the model's */
  float cond_scale;         /* classifier-free guidance, > 0, 1 = off; 0 (default): the model's
                               (docs/design.md §9). Doubles the decode batch. */
  float reranker_pool;      /* (0, 1], 1 = plain reranking; 0 (default): DVK_DEFAULT_RERANKER_POOL
                               (docs/design.md §4) */
  uint64_t prune_rows;      /* bit r: prune after image row r (rows 0..G-2); 0 (default): the model's;
                               DVK_PRUNE_OFF: none (docs/design.md §4) */
  dvk_decoding decoding;    /* DVK_DECODING_BEAM: beam search of width `candidates` (<= image_vocab; default:
                               dvk_model_info.beam_width when set) on the guided logits at temperature 1, no
                               pruning; 0 (default): the model's (docs/design.md §4) */
  uint32_t beam_sampled_rows; /* beam search only: image rows 0..K-1 are sampled per candidate as with
                               DVK_DECODING_SAMPLE (so the seed matters), the search goes on from them; 1..G-1;
                               0 (default): the model's; DVK_BEAM_SAMPLED_ROWS_NONE: none */
  const uint8_t *image_prompt; /* RGB8 [R, R, 3], R = dvk_model_info.image_width: its first image_prompt_rows
                               rows of image codes start every candidate (needs has_encoder); NULL: none */
  uint32_t image_prompt_rows;  /* 1..G-1; 0 (default): half the grid */
  const int32_t *image_prefix; /* the same given as codes: the first image_prefix_len codes of every
                               candidate, raster order, in [0, image_vocab); NULL: none (docs/design.md §9) */
  uint32_t image_prefix_len;   /* 0 .. G*G - 1 */
  dvk_progress_fn progress; /* may be NULL */
  void *progress_user;
  const volatile int *cancel; /* may be NULL; when *cancel != 0, generation stops (DVK_ERR_CANCELLED) after the
                               current step, before reranking, or between images and decoder stages */
  dvk_step_fn on_step;      /* may be NULL */
  void *on_step_user;
  dvk_prune_fn on_prune;    /* may be NULL */
  void *on_prune_user;
} dvk_generate_params;

dvk_generate_params dvk_generate_defaults(void);

/* Where a resolved setting came from. */
typedef enum dvk_source {
  DVK_FROM_PARAMS = 0, /* the caller's value */
  DVK_FROM_MODEL,      /* the model file's recommendation */
  DVK_FROM_DEFAULT,    /* the engine's default (the file names none) */
} dvk_source;

/* Why no pruning ran (DVK_PRUNE_RAN: it did). */
typedef enum dvk_prune_state {
  DVK_PRUNE_RAN = 0,
  DVK_PRUNE_OFF_ASKED,         /* prune_rows = DVK_PRUNE_OFF */
  DVK_PRUNE_OFF_NO_RERANKER,   /* the model has no reranker */
  DVK_PRUNE_OFF_MODEL_NONE,    /* prune_rows 0 and the model names no rows */
  DVK_PRUNE_OFF_ONE_CANDIDATE, /* nothing to choose between */
  DVK_PRUNE_OFF_IN_PREFIX,     /* every row lies inside the image prompt */
  DVK_PRUNE_OFF_BEAM,          /* beam search keeps the likeliest candidates itself */
} dvk_prune_state;

/* The settings a generation uses, every default resolved, and where each came from. */
typedef struct dvk_settings {
  uint32_t n_images, candidates;        /* returned, sampled */
  int reranked;                         /* 1: the candidates were scored and the best kept */
  float reranker_pool;                  /* the pool's fraction of the candidates */
  uint32_t reranker_pool_size;          /* candidates in the reranker's pool; 0 when not reranked */
  float temperature, top_p, cond_scale; /* as sampled */
  uint32_t top_k;                       /* 0 = all */
  uint64_t prune_rows;                  /* rows pruned after (0 = none) */
  dvk_prune_state prune_state;          /* why none, when prune_rows is 0 */
  uint32_t image_prefix_len;            /* given codes per candidate (image prompt rows * G) */
  dvk_decoding decoding;                /* DVK_DECODING_SAMPLE or DVK_DECODING_BEAM */
  uint32_t beam_sampled_rows;           /* beam search: rows sampled before the search (0 with sampling) */
  dvk_source candidates_from, temperature_from, top_k_from, top_p_from, cond_scale_from, prune_rows_from;
  dvk_source decoding_from, beam_sampled_rows_from;
  const char *invalid_param; /* after a failed check: the dvk_generate_params field at fault ("top_p"), else NULL */
} dvk_settings;

/* Checks p against the model and resolves every default, without generating; what dvk_generate would use.
 * Errors: those of dvk_generate's parameter checks. */
dvk_status dvk_generate_resolve(dvk_model *model, const dvk_generate_params *p, dvk_settings *out);

/* dvk_generate_resolve that writes its message to msg (msg_len bytes, "" on success) instead of the context's last
 * error. It reads only the model's configuration, so other threads may check parameters (a server's requests)
 * while dvk_generate runs. */
dvk_status dvk_generate_check(const dvk_model *model, const dvk_generate_params *p, dvk_settings *out, char *msg,
                              size_t msg_len);

typedef struct dvk_images {
  uint32_t count;          /* images (n_images) */
  uint32_t width, height;  /* pixels */
  uint32_t stride;         /* bytes between rows (= 3 * width) */
  uint8_t **pixels;        /* count pointers to height * stride bytes, RGB8, top row first */
  dvk_settings settings;   /* what was used and why */
  uint32_t prompt_tokens;  /* text positions the prompt fills: its BPE tokens and the model's prefix/suffix ids */
  uint32_t dropped_tokens; /* of those tokens and ids, the ones dropped because they exceeded text_len */
  double seconds;          /* wall time of the whole generation, of which: */
  double seconds_prefill, seconds_decode, seconds_dvae, seconds_reranker; /* (reranker: 0 when unused) */
  double seconds_callbacks; /* in the caller's progress / on_step / on_prune (e.g. previews); not in seconds_decode */
  float *scores;           /* reranked: count scores, best first (docs/design.md §4); else NULL */
  uint32_t *candidates;    /* reranked: each image's index among the sampled candidates; else NULL */
  float *mean_logprob;     /* count values: mean log p(code) of each image's own codes, nats, <= 0 */
} dvk_images;

/* Generates p->candidates candidates and returns p->n_images of them: the best by the reranker when
 * reranked, else in sampling order. Errors: DVK_ERR_INVALID_ARGUMENT (a parameter out of range: the message
 * names it), DVK_ERR_UNSUPPORTED (reranking, pruning or an image prompt on a model without a reranker or
 * encoder), DVK_ERR_OUT_OF_DEVICE_MEMORY (the message suggests fewer candidates), DVK_ERR_DEVICE_LOST,
 * DVK_ERR_CANCELLED. */
dvk_status dvk_generate(dvk_model *model, const dvk_generate_params *p, dvk_images **out);
void dvk_images_free(dvk_images *images); /* NULL allowed */

/* Encodes one image into the model's image codes with its image encoder (DALL-E's first stage, as its training
 * images were encoded: argmax of the encoder's logits, the lowest code on ties; a VQGAN's logits are minus the
 * squared distance to each codebook row, or its Gumbel projection). rgb: RGB8 [H, W, 3] bytes, top row first,
 * H = W = dvk_model_info.image_width (resize and flatten transparency first); codes: int32 [G, G] out, row-major;
 * logits: NULL, or f32 [image_vocab, G, G] out (the encoder's logits). Errors: DVK_ERR_INVALID_ARGUMENT (NULL
 * rgb or codes), DVK_ERR_UNSUPPORTED (the file has no encoder, dvk_model_info.has_encoder = 0),
 * DVK_ERR_OUT_OF_DEVICE_MEMORY, DVK_ERR_DEVICE_LOST. */
dvk_status dvk_encode_image(dvk_model *model, const uint8_t *rgb, int32_t *codes, float *logits);

/* Decodes image codes to pixels with the model's image decoder (dVAE or VQGAN), e.g. the codes sampled so far for a preview while
 * dvk_generate runs (safe from its on_step / on_prune / progress callbacks: the device is idle between steps and this
 * call uses scratch of its own; the generation's result is unchanged). codes: int32 [n, G, G], row-major, each in
 * [0, image_vocab) or negative = not sampled yet: those decode as the image's most frequent sampled code (the
 * lowest of equals; the background on emoji; code 0 when none is sampled) and their (R/G x R/G)-pixel cells are
 * painted gray (128, 128, 128). *out: n RGB8 images (scores, candidates, mean_logprob NULL, timings 0), freed with dvk_images_free.
 * Errors: DVK_ERR_INVALID_ARGUMENT (NULL codes, n = 0, a code >= image_vocab), DVK_ERR_OUT_OF_*, DVK_ERR_DEVICE_LOST.
 * (docs/design.md §10) */
dvk_status dvk_decode_codes(dvk_model *model, const int32_t *codes, uint32_t n, dvk_images **out);

/* The prompt rule of dvk_generate: 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points
 * > U+10FFFF); otherwise 0 and *bad_offset (if non-NULL) = the offset of the first bad byte. */
int dvk_utf8_valid(const char *s, size_t len, size_t *bad_offset);

#ifdef __cplusplus
}
#endif
#endif
