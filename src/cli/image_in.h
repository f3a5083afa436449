/* Image input for the CLI's image prompts (--image-prompt): any file stb_image reads (PNG, JPEG, BMP, GIF, ...). */
#ifndef DVK_CLI_IMAGE_IN_H
#define DVK_CLI_IMAGE_IN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Reads the image at path as RGB8 [size, size, 3] (malloc'ed into *rgb, caller frees): transparency composited
 * onto white (as the default model's training emoji were), a non-square image center-cropped to a square, then
 * resized to size x size (stb_image_resize's default filter) when it is not that size already.
 * Returns DVK_OK, or a failure status with a message naming the file and the problem in err (*rgb = NULL). */
dvk_status image_load_rgb(const char *path, uint32_t size, uint8_t **rgb, dvk_error *err);

#endif
