/* Cancelling a generation (dvk_generate_params.cancel) after its last sampled token, on a model with a dVAE (g6)
 * and one with a VQGAN (g7 VQGAN), the same checks for both:
 * - the flag set from the progress callback at the last token: DVK_ERR_CANCELLED, no images; the next generation
 *   on the same model is byte-identical to one that was never cancelled;
 * - the image decoder (dvk_image_codec_decode) with the flag already set: DVK_ERR_CANCELLED before the first image,
 *   the output untouched; with the flag clear: the pixels of dvk_decode_codes;
 * - the flag turning non-zero while the decoder runs (it lies inside the first image's output, which that image's
 *   decode fills): the first image decoded, the others untouched, DVK_ERR_CANCELLED.
 * Codes are seeded random (DVK_TEST_SEED, else the time; printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "harness.h"

#define N_IMAGES 3
#define UNTOUCHED 0xAB /* the output's bytes before a decode */

typedef struct stopper {
  volatile int flag;
} stopper;

/* Sets the cancel flag once every token is sampled, and lets the generation go on (returns 0). */
static int set_flag_at_end(void *user, uint32_t done, uint32_t total) {
  if (done == total) ((stopper *)user)->flag = 1;
  return 0;
}

static dvk_status generate(dvk_model *m, uint64_t seed, stopper *stop, dvk_images **out) {
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.n_images = p.candidates = N_IMAGES;
  p.seed = seed;
  if (stop) {
    p.progress = set_flag_at_end;
    p.progress_user = stop;
    p.cancel = &stop->flag;
  }
  return dvk_generate(m, &p, out);
}

static int untouched(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != UNTOUCHED) return 0;
  return 1;
}

static void check_generate(dvk_model *m, uint64_t seed) {
  stopper stop = {0};
  dvk_images *im = NULL, *again = NULL, *plain = NULL;
  dvk_status s = generate(m, seed, &stop, &im);
  TH_CHECK(s == DVK_ERR_CANCELLED && !im && strstr(dvk_last_error(m->ctx), "cancelled"),
        "flag set after the last token: status %d (want DVK_ERR_CANCELLED), images %p, message '%s'", (int)s,
        (void *)im, dvk_last_error(m->ctx));
  s = generate(m, seed, NULL, &again);
  TH_CHECK(s == DVK_OK, "generation after a cancel: %s", dvk_last_error(m->ctx));
  s = generate(m, seed, NULL, &plain);
  TH_CHECK(s == DVK_OK, "generation: %s", dvk_last_error(m->ctx));
  const size_t bytes = (size_t)N_IMAGES * (again ? again->height * again->stride : 0);
  TH_CHECK(again && plain && !memcmp(again->pixels[0], plain->pixels[0], bytes),
        "the generation after a cancel differs from a plain one");
  dvk_images_free(im);
  dvk_images_free(again);
  dvk_images_free(plain);
}

static void check_decoder(dvk_model *m, th_rng *rng) {
  dvk_device *vk = m->ctx->vk;
  const uint32_t G = m->cfg.dalle.grid, R = m->codec.image_size, V = m->cfg.dalle.image_vocab;
  const size_t gg = (size_t)G * G, img = (size_t)R * R * 3, bytes = N_IMAGES * img;
  int32_t *codes = malloc(N_IMAGES * gg * sizeof *codes);
  uint8_t *rgb = malloc(bytes);
  dvk_arena *arena = NULL;
  dvk_images *ref = NULL;
  TH_CHECK(codes && rgb && dvk_arena_create(vk, 0, &arena) == DVK_OK, "setup");
  if (!codes || !rgb || !arena) goto done;
  for (size_t i = 0; i < N_IMAGES * gg; i++) codes[i] = (int32_t)(th_rng_u64(rng) % V);
  dvk_status s = dvk_decode_codes(m, codes, N_IMAGES, &ref);
  TH_CHECK(s == DVK_OK, "reference decode: %s", dvk_last_error(m->ctx));
  if (s != DVK_OK) goto done;

  int flag = 1;
  memset(rgb, UNTOUCHED, bytes);
  s = dvk_image_codec_decode(vk, arena, &m->codec, codes, N_IMAGES, rgb, NULL, &flag);
  if (s != DVK_OK) dvk_discard(vk);
  TH_CHECK(s == DVK_ERR_CANCELLED && untouched(rgb, bytes), "flag set before the decode: status %d, output %s", (int)s,
        untouched(rgb, bytes) ? "untouched" : "written");

  flag = 0;
  s = dvk_image_codec_decode(vk, arena, &m->codec, codes, N_IMAGES, rgb, NULL, &flag);
  TH_CHECK(s == DVK_OK && !memcmp(rgb, ref->pixels[0], bytes), "flag clear: status %d, pixels %s", (int)s,
        s == DVK_OK ? "differ from dvk_decode_codes" : dvk_last_error(m->ctx));

  /* the flag: 4 bytes of the first image's output that its decode makes non-zero */
  size_t at = 0;
  while (at + sizeof(int) <= img && !memcmp(ref->pixels[0] + at, "\0\0\0\0", sizeof(int))) at += sizeof(int);
  TH_CHECK(at + sizeof(int) <= img, "the first reference image is black");
  if (at + sizeof(int) > img) goto done;
  memset(rgb, 0, img);
  memset(rgb + img, UNTOUCHED, bytes - img);
  s = dvk_image_codec_decode(vk, arena, &m->codec, codes, N_IMAGES, rgb, NULL, (const volatile int *)(rgb + at));
  if (s != DVK_OK) dvk_discard(vk);
  TH_CHECK(s == DVK_ERR_CANCELLED && !memcmp(rgb, ref->pixels[0], img) && untouched(rgb + img, bytes - img),
        "flag set by the first image: status %d (want DVK_ERR_CANCELLED), first image %s, the others %s", (int)s,
        memcmp(rgb, ref->pixels[0], img) ? "wrong" : "decoded", untouched(rgb + img, bytes - img) ? "untouched" : "written");
done:
  dvk_images_free(ref);
  dvk_arena_destroy(arena);
  free(codes);
  free(rgb);
}

int main(void) {
  const char *env = getenv("DVK_TEST_SEED");
  const uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
  printf("seed %llu (DVK_TEST_SEED=%llu reproduces)\n", (unsigned long long)seed, (unsigned long long)seed);
  const char *files[] = {"g6-full-convclamp-f32.gguf", "g7-paper-schedule-vqgan-f16.gguf"};
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    dvk_context *ctx = NULL;
    dvk_model *m = NULL;
    if (th_open_model(files[f], &ctx, &m) != 0) return 1;
    const int before = th_check_failures;
    th_rng rng = {seed * 0x9e3779b97f4a7c15ull + f};
    check_generate(m, seed);
    check_decoder(m, &rng);
    printf("%s %s (%s)\n", th_check_failures == before ? "PASS" : "FAIL", files[f], dvk_image_codec_name(m->codec.kind));
    dvk_model_free(m);
    dvk_context_destroy(ctx);
  }
  if (th_check_failures) printf("seed %llu\n", (unsigned long long)seed);
  return th_check_failures ? 1 : 0;
}
