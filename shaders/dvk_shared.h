/* Layouts shared by the C host and the GLSL shaders: push-constant blocks and constants.
 * Included by C (the op files in src/ops) and by GLSL (the .comp files, via GL_GOOGLE_include_directive), so the
 * two sides cannot drift. Members are 32-bit scalars only, which lay out identically in C and in
 * std430 push-constant blocks; C checks sizes with _Static_assert (DVK_PUSH_CHECK).
 *
 * Usage, GLSL:  layout(push_constant) uniform PC { dvk_pc_layernorm p; };
 *        C:     dvk_pc_layernorm pc = {.rows = rows, .d = d, .eps = eps};
 *               ... desc.push = &pc; desc.push_size = sizeof pc; */
#ifndef DVK_SHARED_H
#define DVK_SHARED_H

#ifdef __STDC__ /* C */
#include <stdint.h>
#define DVK_U32 uint32_t
#define DVK_I32 int32_t
#define DVK_F32 float
#define DVK_STRUCT(name) typedef struct name name; struct name
#define DVK_PUSH_CHECK(name, words) \
  _Static_assert(sizeof(name) == 4 * (words), #name " must be " #words " 32-bit words"); \
  _Static_assert(sizeof(name) <= 128, #name " must fit the 128-byte push-constant minimum");
#else /* GLSL */
#define DVK_U32 uint
#define DVK_I32 int
#define DVK_F32 float
#define DVK_STRUCT(name) struct name
#define DVK_PUSH_CHECK(name, words)
#endif

/* Linear workgroup index for dispatches spread over x and y (dvk_groups_1d). */
#ifndef __STDC__
#define DVK_GROUP_INDEX (gl_WorkGroupID.x + gl_NumWorkGroups.x * gl_WorkGroupID.y)
#endif

#endif
