/* Atomic PNG writing through stb_image_write. See png_out.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli/png_out.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

static void dir_of(const char *path, char *dir, size_t len) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, len, ".");
  else if (slash == path) snprintf(dir, len, "/");
  else snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* Creates and opens a new temporary file in dir (named into tmp); returns its descriptor, or -1 with errno. */
static int make_temp(const char *dir, char *tmp, size_t len) {
  snprintf(tmp, len, "%s/.dalle-vk-XXXXXX", dir);
  return mkstemp(tmp);
}

dvk_status png_check_writable(const char *path, dvk_error *err) {
  struct stat st;
  if (!*path) {
    dvk_error_note(err, "output path is empty");
    return DVK_ERR_IO;
  }
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    dvk_error_note(err, "output path '%s' is a directory; give a file name such as %s/out.png", path, path);
    return DVK_ERR_IO;
  }
  char dir[4096];
  dir_of(path, dir, sizeof dir);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    dvk_error_note(err, "cannot write '%s': directory '%s' does not exist", path, dir);
    return DVK_ERR_IO;
  }
  if (access(dir, W_OK) != 0) {
    dvk_error_note(err, "cannot write '%s': directory '%s' is not writable", path, dir);
    return DVK_ERR_IO;
  }
  /* access() says yes to root everywhere, and nothing about read-only mounts or /proc: create and remove
   * the temporary file that write_png_atomic would make, so such a path fails before any work is done. */
  char tmp[4200];
  int fd = make_temp(dir, tmp, sizeof tmp);
  if (fd < 0) {
    dvk_error_note(err, "cannot write '%s': no file can be created in '%s': %s", path, dir, strerror(errno));
    return DVK_ERR_IO;
  }
  close(fd);
  unlink(tmp);
  return DVK_OK;
}

typedef struct sink {
  FILE *f;
  int failed; /* a short write happened (disk full, I/O error) */
} sink;

static void write_to_sink(void *ctx, void *data, int size) {
  sink *s = ctx;
  if (!s->failed && fwrite(data, 1, (size_t)size, s->f) != (size_t)size) s->failed = 1;
}

/* Encodes w x h RGB8 pixels to path via a temporary file + rename. */
static dvk_status write_png_atomic(const char *path, const uint8_t *rgb, uint32_t w, uint32_t h, uint32_t stride,
                                   dvk_error *err) {
  /* stb_image_write sizes its buffers with int arithmetic ((3w + 1) * h filtered bytes, then the deflate
   * output, which may be ~1.1x that): stay well inside INT_MAX, or it overflows and writes out of bounds. */
  if ((uint64_t)(3ull * w + 1) * h > ((uint64_t)1 << 30)) {
    dvk_error_note(err, "a %ux%u image is too large for the PNG writer; use --separate or a smaller -n", w, h);
    return DVK_ERR_IO;
  }
  char tmp[4200];
  char dir[4096];
  dir_of(path, dir, sizeof dir);
  int fd = make_temp(dir, tmp, sizeof tmp);
  if (fd < 0) {
    dvk_error_note(err, "cannot create a temporary file in '%s': %s", dir, strerror(errno));
    return DVK_ERR_IO;
  }
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    dvk_error_note(err, "cannot write '%s': %s", tmp, strerror(errno));
    return DVK_ERR_IO;
  }
  sink out = {f, 0};
  errno = 0;
  int ok = stbi_write_png_to_func(write_to_sink, &out, (int)w, (int)h, 3, rgb, (int)stride) != 0;
  ok = ok && !out.failed && fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
  ok = (fclose(f) == 0) && ok;
  if (!ok) {
    dvk_error_note(err, "writing '%s' failed: %s", path, errno ? strerror(errno) : "PNG encoder error");
    unlink(tmp);
    return DVK_ERR_IO;
  }
  chmod(tmp, 0644); /* mkstemp creates 0600; a PNG is ordinary user data */
  if (rename(tmp, path) != 0) {
    dvk_error_note(err, "cannot rename the temporary file to '%s': %s", path, strerror(errno));
    unlink(tmp);
    return DVK_ERR_IO;
  }
  return DVK_OK;
}

dvk_status png_write_grid(const char *path, const dvk_images *im, dvk_error *err) {
  const uint32_t gutter = im->count > 1 ? 2 : 0;
  uint32_t cols = (uint32_t)ceil(sqrt((double)im->count));
  uint32_t rows = (im->count + cols - 1) / cols;
  uint32_t W = cols * im->width + (cols - 1) * gutter, H = rows * im->height + (rows - 1) * gutter;
  uint8_t *grid = malloc((size_t)W * H * 3);
  if (!grid) {
    dvk_error_note(err, "out of host memory for a %ux%u grid", W, H);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  memset(grid, 255, (size_t)W * H * 3);
  for (uint32_t i = 0; i < im->count; i++) {
    uint32_t x0 = (i % cols) * (im->width + gutter), y0 = (i / cols) * (im->height + gutter);
    for (uint32_t y = 0; y < im->height; y++)
      memcpy(grid + ((size_t)(y0 + y) * W + x0) * 3, im->pixels[i] + (size_t)y * im->stride, (size_t)im->width * 3);
  }
  dvk_status rc = write_png_atomic(path, grid, W, H, W * 3, err);
  free(grid);
  return rc;
}

static void numbered(const char *path, uint32_t i, char *out, size_t len) {
  size_t n = strlen(path);
  if (n > 4 && strcmp(path + n - 4, ".png") == 0) snprintf(out, len, "%.*s-%u.png", (int)(n - 4), path, i);
  else snprintf(out, len, "%s-%u.png", path, i);
}

dvk_status png_write_separate(const char *path, const dvk_images *im, char *names, size_t names_len, dvk_error *err) {
  char name[4200];
  if (names && names_len) names[0] = 0;
  for (uint32_t i = 0; i < im->count; i++) {
    numbered(path, i, name, sizeof name);
    if (write_png_atomic(name, im->pixels[i], im->width, im->height, im->stride, err) != DVK_OK) {
      for (uint32_t j = 0; j < i; j++) { /* leave nothing half-done */
        numbered(path, j, name, sizeof name);
        unlink(name);
      }
      return DVK_ERR_IO;
    }
    if (names) {
      strncat(names, name, names_len - strlen(names) - 1);
      strncat(names, "\n", names_len - strlen(names) - 1);
    }
  }
  return DVK_OK;
}
