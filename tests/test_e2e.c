/* End-to-end recorder: runs the PUBLIC API (dvk_generate) on a model and writes what it did, for
 * tools/check_e2e.py to compare with the PyTorch reference (tests/test_e2e.sh runs both).
 *
 * Usage: test_e2e MODEL OUTDIR [--prompt P] [--seed S] [-n N] [--top-k K] [--temperature T] [--top-p P]
 *                              [--cond-scale S] [--prune-rows MASK] [--decoding sample|beam]
 *                              [--beam-sampled-rows K]
 * Writes into OUTDIR (which must exist):
 *   run.txt     "key value" lines: model, device, prompt, seed, n_images, top_k, temperature, top_p,
 *               cond_scale (the values used: the model's when an option is absent),
 *               grid, image_vocab, steps, width, height, prompt_tokens, dropped_tokens, prune_rows (used),
 *               image_prefix_len, decoding (sample or beam), beam_sampled_rows
 *   logits.f32  [steps, n, image_vocab] float32 LE: the logits of every step as on_step saw them
 *   codes.i32   [steps, n] int32 LE: the codes sampled at every step
 *   prune.i32   [prunes, 1 + n] int32 LE: each on_prune's step and src (pruning's, or beam search's moves); candidate
 *               b's final codes are its history rewritten by these (check_e2e.py reconstructs them)
 *   pixels.u8   [n, height, width, 3] RGB8 from dvk_images
 *   logprob.f32 [n] float32 LE: dvk_images.mean_logprob
 * and, when the model has a reranker, a second generation with the same parameters reranked (rerank = 1: every
 * candidate scored and kept, best first):
 *   rerank_scores.f32      [n] float32 LE: dvk_images.scores
 *   rerank_candidates.i32  [n] int32 LE: dvk_images.candidates
 *   rerank_pixels.u8       [n, height, width, 3]
 *   rerank_logprob.f32     [n] float32 LE: dvk_images.mean_logprob (in the reranked order)
 *   rerank.txt             "rerank_pool_size N": dvk_images.settings.reranker_pool_size
 * and, when the model has a dVAE encoder (an image prompt, DALL-E's image completion):
 *   enc_pixels.u8   [height, width, 3]: the first image above, the encoder's input
 *   enc_codes.i32   [grid, grid] int32 LE: dvk_encode_image's codes of it
 *   enc_logits.f32  [image_vocab, grid, grid] float32 LE: the encoder's logits
 *   image_prompt/   a whole run as above (run.txt with image_prefix_len) with the same parameters and
 *                   image_prefix = the first grid/2 rows of enc_codes
 * Exit 0 when generation succeeded, every step was reported once in order and the validation layer
 * stayed silent; 1 otherwise (the reason on stderr); 2 on bad usage. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_internal.h" /* only to read the validation-message count of the context */
#include "dallevk.h"

typedef struct recorder {
  uint32_t n, vi, steps;
  uint32_t next_step; /* the step expected next; on_step must come in order, once each */
  int out_of_order;
  float *logits;      /* [steps, n, vi] */
  int32_t *codes;     /* [steps, n] */
  int32_t *prunes;    /* [n_prunes, 1 + n]: step, src[0..n-1] of each on_prune */
  uint32_t n_prunes, bad_prune;
} recorder;

static void on_step(void *user, uint32_t step, const float *logits, const int32_t *codes) {
  recorder *r = user;
  if (step != r->next_step || step >= r->steps) {
    r->out_of_order = 1;
    return;
  }
  memcpy(r->logits + (size_t)step * r->n * r->vi, logits, (size_t)r->n * r->vi * sizeof *logits);
  memcpy(r->codes + (size_t)step * r->n, codes, r->n * sizeof *codes);
  r->next_step++;
}

static void on_prune(void *user, uint32_t step, const uint32_t *src) {
  recorder *r = user;
  if (r->n_prunes >= r->steps || step + 1 != r->next_step) { /* after on_step of `step`, before that of step + 1 */
    r->bad_prune = 1;
    return;
  }
  int32_t *e = r->prunes + (size_t)r->n_prunes++ * (1 + r->n);
  e[0] = (int32_t)step;
  for (uint32_t b = 0; b < r->n; b++) e[1 + b] = (int32_t)src[b];
}

/* Writes n bytes to DIR/NAME; returns 0 on success. */
static int write_file(const char *dir, const char *name, const void *data, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(data, 1, n, f) == n;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) fprintf(stderr, "test_e2e: cannot write %s\n", path);
  return ok ? 0 : 1;
}

static int write_run(const char *dir, const char *model, const char *device, const dvk_generate_params *p,
                     const dvk_model_info *info, const dvk_images *im) {
  char text[8192];
  int len = snprintf(text, sizeof text,
                     "model %s\ndevice %s\nprompt %s\nseed %llu\nn_images %u\ntop_k %u\ntemperature %.9g\ntop_p %.9g\n"
                     "cond_scale %.9g\ngrid %u\nimage_vocab %u\nsteps %u\nwidth %u\nheight %u\nprompt_tokens %u\n"
                     "dropped_tokens %u\nprune_rows %llu\nimage_prefix_len %u\ndecoding %s\nbeam_sampled_rows %u\n",
                     model, device, p->prompt, (unsigned long long)p->seed, p->n_images, p->top_k,
                     (double)im->settings.temperature, (double)im->settings.top_p, (double)im->settings.cond_scale, info->grid,
                     info->image_vocab, info->grid * info->grid, im->width, im->height, im->prompt_tokens,
                     im->dropped_tokens, (unsigned long long)im->settings.prune_rows,
                     p->image_prefix_len, im->settings.decoding == DVK_DECODING_BEAM ? "beam" : "sample",
                     im->settings.beam_sampled_rows);
  if (len < 0 || (size_t)len >= sizeof text) return 1;
  return write_file(dir, "run.txt", text, (size_t)len);
}

static int usage(void) {
  fprintf(stderr, "usage: test_e2e MODEL OUTDIR [--prompt P] [--seed S] [-n N] [--top-k K] [--temperature T] "
                  "[--top-p P] [--cond-scale S] [--prune-rows MASK] [--decoding sample|beam] [--beam-sampled-rows K]\n");
  return 2;
}

/* Fills p from the options after MODEL OUTDIR; returns 0, or 2 on a bad option. */
static int parse(int argc, char **argv, dvk_generate_params *p) {
  for (int i = 3; i < argc; i += 2) {
    if (i + 1 >= argc) return usage();
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--prompt")) p->prompt = v;
    else if (!strcmp(k, "--seed")) p->seed = strtoull(v, NULL, 10);
    else if (!strcmp(k, "-n")) p->n_images = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--top-k")) p->top_k = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--temperature")) p->temperature = strtof(v, NULL);
    else if (!strcmp(k, "--top-p")) p->top_p = strtof(v, NULL);
    else if (!strcmp(k, "--cond-scale")) p->cond_scale = strtof(v, NULL);
    else if (!strcmp(k, "--prune-rows")) p->prune_rows = strtoull(v, NULL, 0); /* bit mask, 0 = the model's */
    else if (!strcmp(k, "--decoding") && (!strcmp(v, "sample") || !strcmp(v, "beam")))
      p->decoding = strcmp(v, "beam") ? DVK_DECODING_SAMPLE : DVK_DECODING_BEAM;
    else if (!strcmp(k, "--beam-sampled-rows")) p->beam_sampled_rows = (uint32_t)strtoul(v, NULL, 10);
    else return usage();
  }
  return strchr(p->prompt, '\n') ? usage() : 0; /* run.txt holds the prompt on one line */
}

/* Writes the images of im (count x height x stride bytes) to DIR/NAME. */
static int write_pixels(const char *dir, const char *name, const dvk_images *im) {
  const size_t img_bytes = (size_t)im->height * im->stride;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  int rc = 0;
  for (uint32_t i = 0; f && i < im->count; i++)
    if (fwrite(im->pixels[i], 1, img_bytes, f) != img_bytes) rc = 1;
  if (!f || fclose(f) != 0) rc = 1;
  if (rc) fprintf(stderr, "test_e2e: cannot write %s\n", path);
  return rc;
}

/* The same generation reranked (every candidate kept, best first): scores, candidate order and pixels. */
static int record_rerank(dvk_context *ctx, dvk_model *model, const char *dir, dvk_generate_params p) {
  p.on_step = NULL;
  p.reranker_always = 1;
  dvk_images *im = NULL;
  dvk_status s = dvk_generate(model, &p, &im);
  if (s != DVK_OK || im->count != p.n_images || !im->scores || !im->candidates) {
    fprintf(stderr, "test_e2e: reranked dvk_generate: %s: %s\n", dvk_status_str(s), dvk_last_error(ctx));
    dvk_images_free(im);
    return 1;
  }
  int rc = write_file(dir, "rerank_scores.f32", im->scores, im->count * sizeof *im->scores);
  rc |= write_file(dir, "rerank_candidates.i32", im->candidates, im->count * sizeof *im->candidates);
  rc |= write_pixels(dir, "rerank_pixels.u8", im);
  rc |= write_file(dir, "rerank_logprob.f32", im->mean_logprob, im->count * sizeof *im->mean_logprob);
  char text[64];
  const int len = snprintf(text, sizeof text, "rerank_pool_size %u\n", im->settings.reranker_pool_size);
  rc |= write_file(dir, "rerank.txt", text, (size_t)len);
  fprintf(stderr, "test_e2e: reranked %u candidates in %.3fs, best #%u (score %.4f)\n", im->count,
          im->seconds_reranker, im->candidates[0], im->scores[0]);
  dvk_images_free(im);
  return rc;
}

static int record(dvk_context *ctx, dvk_model *model, const char *model_path, const char *dir, dvk_generate_params *p);

/* Encodes image 0 of im with the model's dVAE encoder, writes enc_*, then records a generation with the same
 * parameters whose images start from the first grid/2 rows of those codes into DIR/image_prompt. */
static int record_image_prompt(dvk_context *ctx, dvk_model *model, const char *model_path, const char *dir,
                               dvk_generate_params p, const dvk_images *im, const dvk_model_info *info) {
  const uint32_t G = info->grid, V = info->image_vocab;
  int32_t *codes = malloc((size_t)G * G * sizeof *codes);
  float *logits = malloc((size_t)V * G * G * sizeof *logits);
  int rc = 1;
  if (!codes || !logits) {
    fprintf(stderr, "test_e2e: out of host memory\n");
    goto out;
  }
  dvk_status s = dvk_encode_image(model, im->pixels[0], codes, logits);
  if (s != DVK_OK) {
    fprintf(stderr, "test_e2e: dvk_encode_image: %s: %s\n", dvk_status_str(s), dvk_last_error(ctx));
    goto out;
  }
  rc = write_file(dir, "enc_pixels.u8", im->pixels[0], (size_t)im->height * im->stride);
  rc |= write_file(dir, "enc_codes.i32", codes, (size_t)G * G * sizeof *codes);
  rc |= write_file(dir, "enc_logits.f32", logits, (size_t)V * G * G * sizeof *logits);
  char sub[4096];
  snprintf(sub, sizeof sub, "%s/image_prompt", dir);
  if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "test_e2e: cannot create %s\n", sub);
    rc = 1;
  }
  p.image_prefix = codes;
  p.image_prefix_len = G / 2 * G;
  if (rc == 0) rc = record(ctx, model, model_path, sub, &p);
out:
  free(codes);
  free(logits);
  return rc;
}

static int record(dvk_context *ctx, dvk_model *model, const char *model_path, const char *dir, dvk_generate_params *p) {
  dvk_model_info info;
  dvk_model_get_info(model, &info);
  recorder r = {.n = p->n_images, .vi = info.image_vocab, .steps = info.grid * info.grid};
  r.logits = malloc((size_t)r.steps * r.n * r.vi * sizeof *r.logits);
  r.codes = malloc((size_t)r.steps * r.n * sizeof *r.codes);
  r.prunes = malloc((size_t)r.steps * (1 + r.n) * sizeof *r.prunes);
  dvk_images *im = NULL;
  int rc = 1;
  if (!r.logits || !r.codes || !r.prunes) {
    fprintf(stderr, "test_e2e: out of host memory\n");
    goto out;
  }
  p->on_step = on_step;
  p->on_step_user = &r;
  p->on_prune = on_prune;
  p->on_prune_user = &r;
  dvk_status s = dvk_generate(model, p, &im);
  if (s != DVK_OK) {
    fprintf(stderr, "test_e2e: dvk_generate: %s: %s\n", dvk_status_str(s), dvk_last_error(ctx));
    goto out;
  }
  if (r.out_of_order || r.bad_prune || r.next_step != r.steps) {
    fprintf(stderr, "test_e2e: on_step reported %u of %u steps%s%s\n", r.next_step, r.steps,
            r.out_of_order ? " (out of order or repeated)" : "", r.bad_prune ? " (on_prune out of place)" : "");
    goto out;
  }
  if (im->count != p->n_images || im->stride != 3 * im->width) {
    fprintf(stderr, "test_e2e: dvk_images has %u images, stride %u (want %u, %u)\n", im->count, im->stride,
            p->n_images, 3 * im->width);
    goto out;
  }
  rc = write_run(dir, model_path, dvk_context_device_name(ctx), p, &info, im);
  rc |= write_file(dir, "logits.f32", r.logits, (size_t)r.steps * r.n * r.vi * sizeof *r.logits);
  rc |= write_file(dir, "codes.i32", r.codes, (size_t)r.steps * r.n * sizeof *r.codes);
  rc |= write_pixels(dir, "pixels.u8", im);
  rc |= write_file(dir, "logprob.f32", im->mean_logprob, im->count * sizeof *im->mean_logprob);
  rc |= write_file(dir, "prune.i32", r.prunes, (size_t)r.n_prunes * (1 + r.n) * sizeof *r.prunes);
  if (info.has_reranker) rc |= record_rerank(ctx, model, dir, *p);
  if (info.has_encoder && p->image_prefix_len == 0 && rc == 0)
    rc |= record_image_prompt(ctx, model, model_path, dir, *p, im, &info);
  fprintf(stderr, "test_e2e: %u x %u steps, %u images of %ux%u in %.2fs on %s -> %s\n", r.n, r.steps, im->count,
          im->width, im->height, im->seconds, dvk_context_device_name(ctx), dir);
out:
  dvk_images_free(im);
  free(r.logits);
  free(r.codes);
  free(r.prunes);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.seed = 1;
  p.n_images = 2;
  int rc = parse(argc, argv, &p);
  if (rc) return rc;
  p.candidates = p.n_images; /* every candidate returned, in sampling order (the reference replays them all) */
  dvk_context_options co = dvk_context_defaults(); /* validation: env DVK_VALIDATION=1 (ctest sets it) */
  dvk_context *ctx = NULL;
  dvk_model *model = NULL;
  char why[512];
  if (dvk_context_create(&co, &ctx, why, sizeof why) != DVK_OK) {
    fprintf(stderr, "test_e2e: %s\n", why);
    return 1;
  }
  rc = 1;
  if (dvk_model_load(ctx, argv[1], &model) != DVK_OK) fprintf(stderr, "test_e2e: %s\n", dvk_last_error(ctx));
  else rc = record(ctx, model, argv[1], argv[2], &p);
  dvk_model_free(model);
  const unsigned msgs = ctx->vk->validation_messages;
  dvk_context_destroy(ctx);
  if (msgs) {
    fprintf(stderr, "test_e2e: the validation layer reported %u warning(s)/error(s)\n", msgs);
    rc = 1;
  }
  return rc;
}
