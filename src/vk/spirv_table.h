/* The SPIR-V modules embedded at build time (cmake/shaders.cmake generates the table). */
#ifndef DVK_SPIRV_TABLE_H
#define DVK_SPIRV_TABLE_H
#include <stddef.h>
#include <stdint.h>

typedef struct dvk_spirv_module {
  const char *name;     /* "<shader file>" or "<shader file>_<variant>", e.g. "matmul_f16" */
  const uint32_t *code; /* SPIR-V words */
  size_t size;          /* bytes */
} dvk_spirv_module;

/* Terminated by an entry whose name is NULL. */
extern const dvk_spirv_module dvk_spirv_table[];

#endif
