/* Pipeline cache, descriptor sets, command recording, submission and timestamp profiling.
 * See dispatch.h. */
#define _POSIX_C_SOURCE 200809L
#include "vk/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vk/spirv_table.h"

#define POOL_SETS 1024
#define MAX_PROFILE_LABELS 128

struct dvk_pipeline {
  struct dvk_pipeline *next;
  char shader[64];
  uint32_t n_bindings;
  VkFormat formats[DVK_MAX_BINDINGS]; /* UNDEFINED = storage buffer */
  uint32_t n_spec, spec[DVK_MAX_SPEC];
  uint32_t push_size;
  VkDescriptorSetLayout dsl;
  VkPipelineLayout layout;
  VkPipeline pipeline;
};

typedef struct profile_entry {
  char label[64];
  double ns;
  uint64_t calls;
} profile_entry;

struct dvk_recorder {
  VkCommandPool pool;
  VkCommandBuffer cmd;
  VkFence fence;
  VkDescriptorPool desc_pool;
  uint32_t sets_used;
  int recording;
  uint32_t n_dispatches;
  VkBufferView *views; /* texel views of this recording, destroyed after the flush */
  uint32_t n_views, cap_views;
  VkQueryPool queries;   /* 2 timestamps per dispatch when profiling */
  const char *labels[DVK_MAX_DISPATCHES_PER_SUBMIT];
  profile_entry profile[MAX_PROFILE_LABELS];
  uint32_t n_profile;
};

dvk_status dvk_recorder_init(dvk_device *ctx) {
  dvk_recorder *r = calloc(1, sizeof *r);
  if (!r) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  ctx->rec = r;
  VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = ctx->queue_family};
  DVK_VK(ctx, vkCreateCommandPool(ctx->device, &pci, NULL, &r->pool));
  VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                     .commandPool = r->pool,
                                     .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                     .commandBufferCount = 1};
  DVK_VK(ctx, vkAllocateCommandBuffers(ctx->device, &cai, &r->cmd));
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  DVK_VK(ctx, vkCreateFence(ctx->device, &fci, NULL, &r->fence));
  VkDescriptorPoolSize sizes[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, POOL_SETS * DVK_MAX_BINDINGS},
                                   {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, POOL_SETS * 4}};
  VkDescriptorPoolCreateInfo dpci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = POOL_SETS,
                                     .poolSizeCount = 2,
                                     .pPoolSizes = sizes};
  DVK_VK(ctx, vkCreateDescriptorPool(ctx->device, &dpci, NULL, &r->desc_pool));
  if (ctx->profile && ctx->limits.timestamp_period > 0) {
    VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                 .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = 2 * DVK_MAX_DISPATCHES_PER_SUBMIT};
    DVK_VK(ctx, vkCreateQueryPool(ctx->device, &qci, NULL, &r->queries));
  } else if (ctx->profile) {
    fprintf(stderr, "dalle-vk: DVK_PROFILE: this device has no compute timestamps\n");
  }
  return DVK_OK;
}

static void destroy_views(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  for (uint32_t i = 0; i < r->n_views; i++) vkDestroyBufferView(ctx->device, r->views[i], NULL);
  r->n_views = 0;
}

void dvk_recorder_destroy(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  if (!r) return;
  if (ctx->profile) dvk_profile_report(ctx);
  destroy_views(ctx);
  free(r->views);
  for (dvk_pipeline *p = ctx->pipelines, *next; p; p = next) {
    next = p->next;
    if (p->pipeline) vkDestroyPipeline(ctx->device, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
    if (p->dsl) vkDestroyDescriptorSetLayout(ctx->device, p->dsl, NULL);
    free(p);
  }
  ctx->pipelines = NULL;
  if (r->queries) vkDestroyQueryPool(ctx->device, r->queries, NULL);
  if (r->desc_pool) vkDestroyDescriptorPool(ctx->device, r->desc_pool, NULL);
  if (r->fence) vkDestroyFence(ctx->device, r->fence, NULL);
  if (r->pool) vkDestroyCommandPool(ctx->device, r->pool, NULL);
  free(r);
  ctx->rec = NULL;
}

static const dvk_spirv_module *find_module(const char *name) {
  for (const dvk_spirv_module *m = dvk_spirv_table; m->name; m++)
    if (strcmp(m->name, name) == 0) return m;
  return NULL;
}

static int same_key(const dvk_pipeline *p, const dvk_dispatch_desc *d) {
  if (strcmp(p->shader, d->shader) != 0 || p->n_bindings != d->n_bindings || p->n_spec != d->n_spec) return 0;
  for (uint32_t i = 0; i < d->n_bindings; i++)
    if ((p->formats[i] == VK_FORMAT_UNDEFINED) != (d->bindings[i].format == VK_FORMAT_UNDEFINED)) return 0;
  return memcmp(p->spec, d->spec, d->n_spec * sizeof(uint32_t)) == 0;
}

static dvk_status create_pipeline(dvk_device *ctx, const dvk_dispatch_desc *d, dvk_pipeline **out) {
  *out = NULL;
  const dvk_spirv_module *m = find_module(d->shader);
  if (!m) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "unknown shader '%s'", d->shader);
  dvk_pipeline *p = calloc(1, sizeof *p);
  if (!p) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  p->next = ctx->pipelines; /* linked first so that dvk_recorder_destroy frees it on any failure below */
  ctx->pipelines = p;
  snprintf(p->shader, sizeof p->shader, "%s", d->shader);
  p->n_bindings = d->n_bindings;
  p->n_spec = d->n_spec;
  p->push_size = d->push_size;
  memcpy(p->spec, d->spec, sizeof p->spec);
  VkDescriptorSetLayoutBinding b[DVK_MAX_BINDINGS];
  for (uint32_t i = 0; i < d->n_bindings; i++) {
    p->formats[i] = d->bindings[i].format;
    b[i] = (VkDescriptorSetLayoutBinding){
      .binding = i,
      .descriptorType = d->bindings[i].format == VK_FORMAT_UNDEFINED ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                                                      : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  }
  VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                         .bindingCount = d->n_bindings,
                                         .pBindings = b};
  DVK_VK(ctx, vkCreateDescriptorSetLayout(ctx->device, &dci, NULL, &p->dsl));
  VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = d->push_size};
  VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                    .setLayoutCount = 1,
                                    .pSetLayouts = &p->dsl,
                                    .pushConstantRangeCount = d->push_size ? 1 : 0,
                                    .pPushConstantRanges = &pcr};
  DVK_VK(ctx, vkCreatePipelineLayout(ctx->device, &lci, NULL, &p->layout));
  VkShaderModuleCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                  .codeSize = m->size,
                                  .pCode = m->code};
  VkShaderModule module;
  DVK_VK(ctx, vkCreateShaderModule(ctx->device, &sci, NULL, &module));
  VkSpecializationMapEntry entries[DVK_MAX_SPEC];
  for (uint32_t i = 0; i < d->n_spec; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
  VkSpecializationInfo spec = {.mapEntryCount = d->n_spec,
                               .pMapEntries = entries,
                               .dataSize = d->n_spec * 4,
                               .pData = p->spec};
  VkComputePipelineCreateInfo cpi = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
              .stage = VK_SHADER_STAGE_COMPUTE_BIT,
              .module = module,
              .pName = "main",
              .pSpecializationInfo = d->n_spec ? &spec : NULL},
    .layout = p->layout};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  VkResult r = vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &cpi, NULL, &p->pipeline);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ctx->pipelines_created++;
  if (ctx->profile) /* cold starts are pipeline compiles: say which ones cost what */
    fprintf(stderr, "dalle-vk: DVK_PROFILE: pipeline %s (%u spec constants) created in %.3f s\n", d->shader, d->n_spec,
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  vkDestroyShaderModule(ctx->device, module, NULL);
  if (r != VK_SUCCESS) return dvk_vk_fail(ctx, r, "vkCreateComputePipelines", __FILE__, __LINE__);
  *out = p;
  return DVK_OK;
}

static dvk_status get_pipeline(dvk_device *ctx, const dvk_dispatch_desc *d, dvk_pipeline **out) {
  *out = NULL;
  for (dvk_pipeline *p = ctx->pipelines; p; p = p->next)
    if (p->pipeline && same_key(p, d)) {
      if (p->push_size != d->push_size)
        return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': push constant size %u, pipeline has %u",
                        d->shader, d->push_size, p->push_size);
      *out = p;
      return DVK_OK;
    }
  return create_pipeline(ctx, d, out);
}

static dvk_status begin_if_needed(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  if (r->recording) return DVK_OK;
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  DVK_VK(ctx, vkBeginCommandBuffer(r->cmd, &bi));
  if (r->queries) vkCmdResetQueryPool(r->cmd, r->queries, 0, 2 * DVK_MAX_DISPATCHES_PER_SUBMIT);
  r->recording = 1;
  r->n_dispatches = 0;
  return DVK_OK;
}

static void add_profile(dvk_recorder *r, const char *label, double ns) {
  for (uint32_t i = 0; i < r->n_profile; i++)
    if (strcmp(r->profile[i].label, label) == 0) {
      r->profile[i].ns += ns;
      r->profile[i].calls++;
      return;
    }
  if (r->n_profile == MAX_PROFILE_LABELS) return;
  profile_entry *e = &r->profile[r->n_profile++];
  snprintf(e->label, sizeof e->label, "%s", label);
  e->ns = ns;
  e->calls = 1;
}

static dvk_status collect_timestamps(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  if (!r->queries || r->n_dispatches == 0) return DVK_OK;
  uint64_t *ts = malloc(2 * r->n_dispatches * sizeof *ts);
  if (!ts) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  VkResult res = vkGetQueryPoolResults(ctx->device, r->queries, 0, 2 * r->n_dispatches,
                                       2 * r->n_dispatches * sizeof *ts, ts, sizeof *ts,
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (res == VK_SUCCESS)
    for (uint32_t i = 0; i < r->n_dispatches; i++)
      add_profile(r, r->labels[i], (double)(ts[2 * i + 1] - ts[2 * i]) * ctx->limits.timestamp_period);
  free(ts);
  if (res != VK_SUCCESS) return dvk_vk_fail(ctx, res, "vkGetQueryPoolResults", __FILE__, __LINE__);
  return DVK_OK;
}

/* Makes the recording's shader and transfer writes available to the host (mapped memory read after the
 * fence: a fence alone does not do that) and to every later submission's shaders and copies. */
static void end_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       0, 1, &mb, 0, NULL, 0, NULL);
}

dvk_status dvk_flush(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  if (!r->recording) return DVK_OK;
  r->recording = 0;
  end_barrier(r->cmd);
  DVK_VK(ctx, vkEndCommandBuffer(r->cmd));
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &r->cmd};
  DVK_VK(ctx, vkQueueSubmit(ctx->queue, 1, &si, r->fence));
  DVK_VK(ctx, vkWaitForFences(ctx->device, 1, &r->fence, VK_TRUE, UINT64_MAX));
  DVK_VK(ctx, vkResetFences(ctx->device, 1, &r->fence));
  DVK_TRY(collect_timestamps(ctx));
  DVK_VK(ctx, vkResetCommandBuffer(r->cmd, 0));
  DVK_VK(ctx, vkResetDescriptorPool(ctx->device, r->desc_pool, 0));
  r->sets_used = 0;
  destroy_views(ctx);
  return DVK_OK;
}

void dvk_discard(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  if (!r || !r->recording) return;
  r->recording = 0;
  r->n_dispatches = 0;
  vkResetCommandBuffer(r->cmd, 0); /* allowed in the recording state; fails only when out of memory */
  vkResetDescriptorPool(ctx->device, r->desc_pool, 0);
  r->sets_used = 0;
  destroy_views(ctx);
}

static dvk_status check_binding(dvk_device *ctx, const dvk_dispatch_desc *d, uint32_t i) {
  const dvk_binding *b = &d->bindings[i];
  if (!b->t.buffer || b->t.size == 0)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': binding %u is empty", d->shader, i);
  if (b->format == VK_FORMAT_UNDEFINED) {
    if (b->t.size > ctx->limits.max_storage_range)
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT,
                      "shader '%s': binding %u spans %llu bytes, over maxStorageBufferRange (%llu)", d->shader, i,
                      (unsigned long long)b->t.size, (unsigned long long)ctx->limits.max_storage_range);
    if (b->t.offset % ctx->limits.storage_align)
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': binding %u offset %llu is not aligned to %llu",
                      d->shader, i, (unsigned long long)b->t.offset, (unsigned long long)ctx->limits.storage_align);
  } else if (b->t.offset % ctx->limits.texel_align) {
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': texel binding %u offset %llu is not aligned to %llu",
                    d->shader, i, (unsigned long long)b->t.offset, (unsigned long long)ctx->limits.texel_align);
  }
  return DVK_OK;
}

static dvk_status make_view(dvk_device *ctx, const dvk_binding *b, VkBufferView *out) {
  dvk_recorder *r = ctx->rec;
  if (r->n_views == r->cap_views) {
    uint32_t cap = r->cap_views ? 2 * r->cap_views : 64;
    VkBufferView *v = realloc(r->views, cap * sizeof *v);
    if (!v) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    r->views = v;
    r->cap_views = cap;
  }
  VkBufferViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                               .buffer = b->t.buffer,
                               .format = b->format,
                               .offset = b->t.offset,
                               .range = b->t.size};
  DVK_VK(ctx, vkCreateBufferView(ctx->device, &vi, NULL, out));
  r->views[r->n_views++] = *out;
  return DVK_OK;
}

dvk_status dvk_dispatch(dvk_device *ctx, const dvk_dispatch_desc *d) {
  dvk_recorder *r = ctx->rec;
  if (d->n_bindings > DVK_MAX_BINDINGS || d->n_spec > DVK_MAX_SPEC)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': too many bindings or constants", d->shader);
  if (d->push_size > ctx->limits.max_push || d->push_size % 4)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': push constants of %u bytes", d->shader, d->push_size);
  for (int i = 0; i < 3; i++)
    if (d->groups[i] == 0 || d->groups[i] > ctx->limits.max_groups[i])
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "shader '%s': %u workgroups in dimension %d (limit %u)",
                      d->shader, d->groups[i], i, ctx->limits.max_groups[i]);
  for (uint32_t i = 0; i < d->n_bindings; i++) DVK_TRY(check_binding(ctx, d, i));
  dvk_pipeline *p = NULL;
  DVK_TRY(get_pipeline(ctx, d, &p));
  if (r->n_dispatches == DVK_MAX_DISPATCHES_PER_SUBMIT || r->sets_used == POOL_SETS ||
      r->n_views + d->n_bindings > POOL_SETS * 4)
    DVK_TRY(dvk_flush(ctx));
  DVK_TRY(begin_if_needed(ctx));

  VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                    .descriptorPool = r->desc_pool,
                                    .descriptorSetCount = 1,
                                    .pSetLayouts = &p->dsl};
  VkDescriptorSet set;
  DVK_VK(ctx, vkAllocateDescriptorSets(ctx->device, &ai, &set));
  r->sets_used++;
  VkWriteDescriptorSet w[DVK_MAX_BINDINGS];
  VkDescriptorBufferInfo bi[DVK_MAX_BINDINGS];
  VkBufferView views[DVK_MAX_BINDINGS];
  for (uint32_t i = 0; i < d->n_bindings; i++) {
    const dvk_binding *b = &d->bindings[i];
    w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                  .dstSet = set,
                                  .dstBinding = i,
                                  .descriptorCount = 1};
    if (b->format == VK_FORMAT_UNDEFINED) {
      bi[i] = (VkDescriptorBufferInfo){b->t.buffer, b->t.offset, b->t.size};
      w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w[i].pBufferInfo = &bi[i];
    } else {
      DVK_TRY(make_view(ctx, b, &views[i]));
      w[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      w[i].pTexelBufferView = &views[i];
    }
  }
  vkUpdateDescriptorSets(ctx->device, d->n_bindings, w, 0, NULL);

  VkCommandBuffer cmd = r->cmd;
  if (r->queries)
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, r->queries, 2 * r->n_dispatches);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
  if (d->push_size) vkCmdPushConstants(cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d->push_size, d->push);
  vkCmdDispatch(cmd, d->groups[0], d->groups[1], d->groups[2]);
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb,
                       0, NULL, 0, NULL);
  if (r->queries)
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, r->queries, 2 * r->n_dispatches + 1);
  r->labels[r->n_dispatches] = d->label ? d->label : p->shader;
  r->n_dispatches++;
  return DVK_OK;
}

void dvk_groups_1d(const dvk_device *ctx, uint64_t n, uint32_t groups[3]) {
  uint64_t maxx = ctx->limits.max_groups[0] < 65535 ? ctx->limits.max_groups[0] : 65535;
  if (n == 0) n = 1;
  uint64_t x = n < maxx ? n : maxx;
  uint64_t y = (n + x - 1) / x;
  groups[0] = (uint32_t)x;
  groups[1] = (uint32_t)y;
  groups[2] = 1;
}

static dvk_status transfer_begin(dvk_device *ctx) {
  DVK_TRY(dvk_flush(ctx));
  return begin_if_needed(ctx);
}

dvk_status dvk_transfer_copy(dvk_device *ctx, VkBuffer src, VkBuffer dst, VkBufferCopy region) {
  return dvk_transfer_copy_n(ctx, src, dst, 1, &region);
}

dvk_status dvk_transfer_copy_n(dvk_device *ctx, VkBuffer src, VkBuffer dst, uint32_t n, const VkBufferCopy *regions) {
  DVK_TRY(transfer_begin(ctx));
  if (n) vkCmdCopyBuffer(ctx->rec->cmd, src, dst, n, regions);
  return dvk_flush(ctx);
}

dvk_status dvk_record_copy_n(dvk_device *ctx, VkBuffer src, VkBuffer dst, uint32_t n, const VkBufferCopy *regions) {
  if (n == 0) return DVK_OK;
  DVK_TRY(begin_if_needed(ctx));
  VkCommandBuffer cmd = ctx->rec->cmd;
  /* earlier shaders' and copies' writes visible to this copy (and their reads done before it overwrites) */
  VkMemoryBarrier before = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                            .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                            .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL, 0, NULL);
  vkCmdCopyBuffer(cmd, src, dst, n, regions);
  /* the copy's writes visible to later shaders (and its reads done before they overwrite the source) */
  VkMemoryBarrier after = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &after, 0,
                       NULL, 0, NULL);
  return DVK_OK;
}

dvk_status dvk_transfer_fill(dvk_device *ctx, dvk_tensor dst, uint32_t pattern, VkDeviceSize bytes) {
  DVK_TRY(transfer_begin(ctx));
  vkCmdFillBuffer(ctx->rec->cmd, dst.buffer, dst.offset, bytes, pattern);
  return dvk_flush(ctx);
}

void dvk_profile_report(dvk_device *ctx) {
  dvk_recorder *r = ctx->rec;
  if (!r || r->n_profile == 0) return;
  double total = 0;
  for (uint32_t i = 0; i < r->n_profile; i++) total += r->profile[i].ns;
  fprintf(stderr, "dalle-vk profile (GPU time per op, DVK_PROFILE=1):\n");
  fprintf(stderr, "  %-32s %10s %8s %10s %6s\n", "op", "total ms", "calls", "avg us", "share");
  for (uint32_t i = 0; i < r->n_profile; i++) {
    const profile_entry *e = &r->profile[i];
    fprintf(stderr, "  %-32s %10.3f %8llu %10.2f %5.1f%%\n", e->label, e->ns * 1e-6, (unsigned long long)e->calls,
            e->ns * 1e-3 / (double)e->calls, total > 0 ? 100.0 * e->ns / total : 0.0);
  }
  r->n_profile = 0;
}
