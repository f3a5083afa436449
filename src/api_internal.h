/* Definitions behind the public API's opaque handles. */
#ifndef DVK_API_INTERNAL_H
#define DVK_API_INTERNAL_H

#include "dallevk.h"
#include "vk/context.h"

struct dvk_context {
  dvk_ctx *vk;            /* device, queue, error message */
  int verbose;
  char device_name[1024];
};

#endif
