/* Image prompt input through stb_image and stb_image_resize. See image_in.h. */
#include "cli/image_in.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

dvk_status image_load_rgb(const char *path, uint32_t size, uint8_t **rgb, dvk_error *err) {
  *rgb = NULL;
  int w, h, ch;
  FILE *f = fopen(path, "rb");
  if (!f) {
    dvk_error_note(err, "cannot read image prompt '%s': %s", path, strerror(errno));
    return DVK_ERR_IO;
  }
  unsigned char *rgba = stbi_load_from_file(f, &w, &h, &ch, 4);
  fclose(f);
  if (!rgba) {
    dvk_error_note(err, "cannot read image prompt '%s': not an image stb_image can decode (%s)", path,
             stbi_failure_reason());
    return DVK_ERR_IO;
  }
  const int side = w < h ? w : h, x0 = (w - side) / 2, y0 = (h - side) / 2;
  unsigned char *square = malloc((size_t)side * side * 3);
  if (!square) {
    dvk_error_note(err, "image prompt '%s': out of host memory for %dx%d pixels", path, w, h);
    stbi_image_free(rgba);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  for (int y = 0; y < side; y++)
    for (int x = 0; x < side; x++) {
      const unsigned char *p = rgba + ((size_t)(y0 + y) * w + (x0 + x)) * 4;
      for (int c = 0; c < 3; c++) /* over white: c * a + 255 * (1 - a), rounded */
        square[((size_t)y * side + x) * 3 + c] = (unsigned char)((p[c] * p[3] + 255 * (255 - p[3]) + 127) / 255);
    }
  stbi_image_free(rgba);
  if ((uint32_t)side == size) {
    *rgb = square;
    return DVK_OK;
  }
  unsigned char *out = malloc((size_t)size * size * 3);
  const int ok = out && stbir_resize_uint8(square, side, side, 0, out, (int)size, (int)size, 0, 3) != 0;
  free(square);
  if (!ok) {
    dvk_error_note(err, "image prompt '%s': resizing %dx%d to %ux%u failed", path, side, side, size, size);
    free(out);
    return DVK_ERR_IO;
  }
  *rgb = out;
  return DVK_OK;
}
