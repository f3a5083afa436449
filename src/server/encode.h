/* Images for HTTP: RGB8 -> PNG (stb_image_write, the same encoder and settings as the CLI's files, so the bytes
 * match) -> base64 text. */
#ifndef DVK_SERVER_ENCODE_H
#define DVK_SERVER_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/* Image i of w x h RGB8 pixels (stride bytes per row) as a NUL-terminated base64 string of its PNG bytes
 * (malloc'ed; caller frees); NULL when out of memory or the encoder fails. */
char *png_base64(const uint8_t *rgb, uint32_t w, uint32_t h, uint32_t stride);

#endif
