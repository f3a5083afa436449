/* Public API: contexts and device listing (include/dallevk.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* Copies msg to the caller's error [len] (NULL or 0: not wanted). */
static void give(char *error, size_t len, const char *msg) {
  if (error && len) snprintf(error, len, "%s", msg);
}

dvk_context_options dvk_context_defaults(void) {
  dvk_context_options o = {0};
  return o;
}

dvk_status dvk_context_create(const dvk_context_options *opts, dvk_context **out, char *error, size_t error_len) {
  *out = NULL;
  give(error, error_len, "");
  dvk_context_options defaults = dvk_context_defaults();
  if (!opts) opts = &defaults;
  dvk_context *c = calloc(1, sizeof *c);
  if (!c) {
    give(error, error_len, "out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  dvk_device_options o = {.device = opts->device, .validation = opts->validation, .verbose = opts->verbose};
  dvk_error why = {""};
  dvk_status s = dvk_device_create(&o, &c->vk, &why);
  if (s != DVK_OK) {
    give(error, error_len, why.msg);
    free(c);
    return s;
  }
  c->verbose = opts->verbose;
  snprintf(c->device_name, sizeof c->device_name, "%s, %s", c->vk->props.deviceName, c->vk->driver_info);
  *out = c;
  return DVK_OK;
}

void dvk_context_destroy(dvk_context *ctx) {
  if (!ctx) return;
  dvk_device_destroy(ctx->vk);
  free(ctx);
}

const char *dvk_context_device_name(const dvk_context *ctx) { return ctx->device_name; }

const char *dvk_last_error(const dvk_context *ctx) { return ctx->vk->error; }

char *dvk_list_devices(char *error, size_t error_len) {
  dvk_error why = {""};
  char *list = dvk_vk_list_devices(&why);
  if (!list) give(error, error_len, why.msg);
  return list;
}
