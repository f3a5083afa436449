// Workgroup reductions for one-workgroup-per-row kernels (groupnorm.comp, softmax_rows.comp).
// The includer declares `layout(constant_id = 0) const uint WG` and the local size WG. With
// SUBGROUP_REDUCE the workgroup is one subgroup (WG = subgroup size): subgroupAdd / subgroupMax, no
// barriers (costly on lavapipe); otherwise a shared-memory tree (WG a power of two). Every invocation
// gets the result. The includer enables GL_KHR_shader_subgroup_arithmetic under SUBGROUP_REDUCE (extension
// directives must come before any declaration).
#ifdef SUBGROUP_REDUCE
float wg_sum(float v) { return subgroupAdd(v); }
float wg_max(float v) { return subgroupMax(v); }
#else
shared float red_[WG];

float wg_reduce_(float v, bool is_max) {
  uint t = gl_LocalInvocationID.x;
  red_[t] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (t < s) red_[t] = is_max ? max(red_[t], red_[t + s]) : red_[t] + red_[t + s];
    barrier();
  }
  float r = red_[0];
  barrier();
  return r;
}
float wg_sum(float v) { return wg_reduce_(v, false); }
float wg_max(float v) { return wg_reduce_(v, true); }
#endif
