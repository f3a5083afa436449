/* Minimal use of the dalle-vk C API: one prompt -> n images -> PPM files.
 * Build against an installed libdallevk (cmake --install build --prefix PREFIX):
 *   cc -std=c11 examples/generate.c $(pkg-config --cflags --libs dallevk) -o generate
 * (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig if PREFIX is not a system one), or in CMake with
 * find_package(dallevk) and dallevk::dallevk; the build tree also builds it as build/example_generate.
 * Run: ./generate assets/dalle-emoji.gguf "red heart" 4 */
#include <stdio.h>
#include <stdlib.h>

#include "dallevk.h"

static int on_progress(void *user, uint32_t done, uint32_t total) {
  (void)user;
  fprintf(stderr, "\r%u/%u", done, total);
  return 0; /* non-zero would cancel */
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N]\n", argv[0]);
    return 2;
  }
  dvk_context_options co = dvk_context_defaults();
  dvk_context *ctx;
  char why[512];
  if (dvk_context_create(&co, &ctx, why, sizeof why) != DVK_OK) {
    fprintf(stderr, "%s\n", why);
    return 1;
  }
  dvk_model *model;
  if (dvk_model_load(ctx, argv[1], &model) != DVK_OK) {
    fprintf(stderr, "%s\n", dvk_last_error(ctx));
    dvk_context_destroy(ctx);
    return 1;
  }
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = argv[2];
  p.n_images = argc > 3 ? (uint32_t)atoi(argv[3]) : 1; /* the best N of the model's recommended candidates */
  p.seed = 42;
  p.top_k = 64;
  p.progress = on_progress;
  dvk_images *im;
  dvk_status s = dvk_generate(model, &p, &im);
  if (s == DVK_OK) {
    for (uint32_t i = 0; i < im->count; i++) { /* binary PPM: no image library needed */
      char name[64];
      snprintf(name, sizeof name, "image-%u.ppm", i);
      FILE *f = fopen(name, "wb");
      if (!f) continue;
      fprintf(f, "P6\n%u %u\n255\n", im->width, im->height);
      for (uint32_t y = 0; y < im->height; y++) fwrite(im->pixels[i] + (size_t)y * im->stride, 3, im->width, f);
      fclose(f);
    }
    fprintf(stderr, "\n%u images (of %u candidates) in %.1fs\n", im->count, im->settings.candidates, im->seconds);
    dvk_images_free(im);
  } else {
    fprintf(stderr, "\n%s: %s\n", dvk_status_str(s), dvk_last_error(ctx));
  }
  dvk_model_free(model);
  dvk_context_destroy(ctx);
  return s == DVK_OK ? 0 : 1;
}
