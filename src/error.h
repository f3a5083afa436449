/* Where a failure message goes when there is no context yet (loading a file, creating the context, the CLI's
 * file helpers): the caller's dvk_error, the same role as dvk_device.error once a context exists. A NULL
 * dvk_error * drops the message. */
#ifndef DVK_ERROR_H
#define DVK_ERROR_H

#include <stdarg.h>
#include <stdio.h>

#include "dallevk_status.h"

typedef struct dvk_error {
  char msg[1024]; /* "" until a failure */
} dvk_error;

/* Sets e's message (printf-style) and returns status, for `return dvk_error_set(e, DVK_ERR_..., ...)`. */
static inline dvk_status dvk_error_vset(dvk_error *e, dvk_status status, const char *fmt, va_list ap) {
  if (e) vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  return status;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline dvk_status dvk_error_set(dvk_error *e, dvk_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dvk_error_vset(e, status, fmt, ap);
  va_end(ap);
  return status;
}

/* Sets e's message (printf-style) where the status is returned separately. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void dvk_error_note(dvk_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dvk_error_vset(e, DVK_OK, fmt, ap);
  va_end(ap);
}

#endif
