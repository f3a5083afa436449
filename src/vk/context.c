/* Vulkan context: loader, instance, device choice, queue, error reporting. See context.h. */
#include "vk/context.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/dispatch.h"
#include "vk/memory.h"
#include "vk/pipeline_cache.h"

static const char *VALIDATION_LAYER = "VK_LAYER_KHRONOS_validation";

dvk_status dvk_fail(dvk_device *ctx, dvk_status status, const char *fmt, ...) {
  if (ctx) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
  }
  return status;
}

dvk_status dvk_check_cancel(dvk_device *ctx, const volatile int *cancel) {
  return cancel && *cancel ? dvk_fail(ctx, DVK_ERR_CANCELLED, "cancelled") : DVK_OK;
}

const char *dvk_vk_result_str(VkResult r) {
  switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY) C(VK_ERROR_INITIALIZATION_FAILED)
    C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT)
    C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
    C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_EXTERNAL_HANDLE) C(VK_ERROR_FRAGMENTATION)
    C(VK_ERROR_UNKNOWN)
#undef C
  default: return "VK_ERROR_(unnamed)";
  }
}

dvk_status dvk_vk_fail(dvk_device *ctx, VkResult r, const char *call, const char *file, int line) {
  dvk_status s = DVK_ERR_VULKAN;
  const char *hint = "";
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
    s = DVK_ERR_OUT_OF_DEVICE_MEMORY;
    hint = " (out of device memory)";
  } else if (r == VK_ERROR_OUT_OF_HOST_MEMORY) {
    s = DVK_ERR_OUT_OF_HOST_MEMORY;
    hint = " (out of host memory)";
  } else if (r == VK_ERROR_DEVICE_LOST) {
    s = DVK_ERR_DEVICE_LOST;
    hint = " (the driver reset the device)";
  }
  const char *base = strrchr(file, '/');
  return dvk_fail(ctx, s, "%s failed: %s%s (%s:%d)", call, dvk_vk_result_str(r), hint,
                  base ? base + 1 : file, line);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT types,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                    void *user) {
  dvk_device *ctx = user;
  if (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
    ctx->validation_messages++;
    fprintf(stderr, "dalle-vk: validation %s: %s\n",
            (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning",
            data->pMessage);
  }
  return VK_FALSE;
}

/* Vector registers a CPU driver's JIT (llvmpipe) can allocate on this host: x86 has 16 (SSE / AVX2) or 32
 * (AVX-512, which also gives 256-bit code ymm16-31); other ISAs (AArch64 NEON) 32. */
static uint32_t host_vector_regs(void) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") ? 32 : 16;
#else
  return 32;
#endif
}

static const char *type_name(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
  default: return "other";
  }
}

/* Preference rank for the default choice: higher wins. */
static int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
  default: return 0;
  }
}

static int has_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkLayerProperties *layers = calloc(n, sizeof *layers);
  if (!layers) return 0;
  int found = 0;
  if (vkEnumerateInstanceLayerProperties(&n, layers) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++) found |= strcmp(layers[i].layerName, name) == 0;
  free(layers);
  return found;
}

static int has_instance_ext(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkExtensionProperties *exts = calloc(n, sizeof *exts);
  if (!exts) return 0;
  int found = 0;
  if (vkEnumerateInstanceExtensionProperties(NULL, &n, exts) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++) found |= strcmp(exts[i].extensionName, name) == 0;
  free(exts);
  return found;
}

static int has_device_ext(VkPhysicalDevice phys, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkExtensionProperties *exts = calloc(n, sizeof *exts);
  if (!exts) return 0;
  int found = 0;
  if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, exts) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++) found |= strcmp(exts[i].extensionName, name) == 0;
  free(exts);
  return found;
}

static dvk_status load_loader(dvk_error *err) {
  if (volkInitialize() != VK_SUCCESS) {
    dvk_error_note(err,
               "no Vulkan loader found: install libvulkan1 and a driver "
               "(on Debian: apt-get install libvulkan1 mesa-vulkan-drivers)");
    return DVK_ERR_NO_VULKAN_LOADER;
  }
  return DVK_OK;
}

/* Creates the instance (with validation + debug messenger when asked, portability enumeration when
 * available). */
static dvk_status create_instance(dvk_device *ctx, int validation) {
  const char *layers[1];
  uint32_t n_layers = 0;
  const char *exts[4];
  uint32_t n_exts = 0;
  VkInstanceCreateFlags flags = 0;
  if (validation) {
    if (!has_layer(VALIDATION_LAYER))
      return dvk_fail(ctx, DVK_ERR_UNSUPPORTED,
                      "validation requested but %s is not installed (apt-get install vulkan-validationlayers)",
                      VALIDATION_LAYER);
    layers[n_layers++] = VALIDATION_LAYER;
  }
  int debug_utils = validation && has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (debug_utils) exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  if (has_instance_ext(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) { /* MoltenVK */
    exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  uint32_t api = VK_API_VERSION_1_1;
  if (vkEnumerateInstanceVersion) {
    uint32_t have = 0;
    if (vkEnumerateInstanceVersion(&have) == VK_SUCCESS && have >= VK_API_VERSION_1_2) api = VK_API_VERSION_1_2;
  }
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "dalle-vk",
                           .pEngineName = "dalle-vk",
                           .apiVersion = api};
  VkDebugUtilsMessengerCreateInfoEXT dbg = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
    .pfnUserCallback = on_validation,
    .pUserData = ctx};
  VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                             .pNext = debug_utils ? &dbg : NULL,
                             .flags = flags,
                             .pApplicationInfo = &app,
                             .enabledLayerCount = n_layers,
                             .ppEnabledLayerNames = layers,
                             .enabledExtensionCount = n_exts,
                             .ppEnabledExtensionNames = exts};
  VkResult r = vkCreateInstance(&ci, NULL, &ctx->instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    return dvk_fail(ctx, DVK_ERR_NO_DEVICE,
                    "no Vulkan device: the loader found no driver (install one; CPU fallback: apt-get install "
                    "mesa-vulkan-drivers)");
  if (r != VK_SUCCESS) return dvk_vk_fail(ctx, r, "vkCreateInstance", __FILE__, __LINE__);
  volkLoadInstanceOnly(ctx->instance);
  if (debug_utils) DVK_VK(ctx, vkCreateDebugUtilsMessengerEXT(ctx->instance, &dbg, NULL, &ctx->messenger));
  return DVK_OK;
}

/* Returns the compute queue family of phys, or -1; prefers a compute-only family. */
static int compute_family(VkPhysicalDevice phys) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, NULL);
  VkQueueFamilyProperties fam[32];
  if (n > 32) n = 32;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, fam);
  int best = -1;
  for (uint32_t i = 0; i < n; i++) {
    if (!(fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (best < 0 || !(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
      /* Keep a family with timestamps if the current choice has none. */
      if (best >= 0 && fam[i].timestampValidBits == 0 && fam[best].timestampValidBits != 0) continue;
      best = (int)i;
    }
  }
  return best;
}

/* Why a device cannot be used, or NULL when it can. */
static const char *unusable_reason(VkPhysicalDevice phys) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(phys, &p);
  if (p.apiVersion < VK_API_VERSION_1_1) return "needs Vulkan 1.1";
  if (compute_family(phys) < 0) return "no compute queue";
  if (p.limits.maxComputeSharedMemorySize < 16384) return "less than 16 KiB of shared memory";
  if (p.limits.maxComputeWorkGroupInvocations < 256) return "fewer than 256 invocations per workgroup";
  return NULL;
}

static int icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *h = hay; *h; h++) {
    size_t i = 0;
    while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return 1;
  }
  return n == 0;
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static void describe(VkPhysicalDevice phys, uint32_t index, char *buf, size_t len) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(phys, &p);
  const char *why = unusable_reason(phys);
  snprintf(buf, len, "%u: %s (%s, Vulkan %u.%u.%u)%s%s", index, p.deviceName, type_name(p.deviceType),
           VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion),
           VK_API_VERSION_PATCH(p.apiVersion), why ? " - unusable: " : "", why ? why : "");
}

static dvk_status choose_device(dvk_device *ctx, const char *want) {
  uint32_t n = 0;
  DVK_VK(ctx, vkEnumeratePhysicalDevices(ctx->instance, &n, NULL));
  if (n == 0)
    return dvk_fail(ctx, DVK_ERR_NO_DEVICE,
                    "no Vulkan device found: install a driver (CPU fallback: apt-get install mesa-vulkan-drivers)");
  VkPhysicalDevice devs[16];
  if (n > 16) n = 16;
  VkResult r = vkEnumeratePhysicalDevices(ctx->instance, &n, devs);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return dvk_vk_fail(ctx, r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
  int chosen = -1, best_rank = -1;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devs[i], &p);
    const char *why = unusable_reason(devs[i]);
    int match = !want || (all_digits(want) ? strtoull(want, NULL, 10) == i : icontains(p.deviceName, want));
    if (!match) continue;
    if (why) {
      if (ctx->verbose) fprintf(stderr, "dalle-vk: skipping device %u (%s): %s\n", i, p.deviceName, why);
      continue;
    }
    if (type_rank(p.deviceType) > best_rank) {
      best_rank = type_rank(p.deviceType);
      chosen = (int)i;
    }
  }
  if (chosen < 0) {
    char list[2048] = "", line[512];
    for (uint32_t i = 0; i < n; i++) {
      describe(devs[i], i, line, sizeof line);
      strncat(list, "\n  ", sizeof list - strlen(list) - 1);
      strncat(list, line, sizeof list - strlen(list) - 1);
    }
    if (want)
      return dvk_fail(ctx, DVK_ERR_NO_DEVICE, "no usable Vulkan device matches '%s'; devices:%s", want, list);
    return dvk_fail(ctx, DVK_ERR_NO_DEVICE, "no usable Vulkan device; devices:%s", list);
  }
  ctx->phys = devs[chosen];
  return DVK_OK;
}

static void read_properties(dvk_device *ctx) {
  VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                               .pNext = &sub};
  int have_driver = has_device_ext(ctx->phys, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  if (have_driver) sub.pNext = &drv;
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
  vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
  ctx->props = p2.properties;
  vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->mem_props);
  if (have_driver)
    snprintf(ctx->driver_info, sizeof ctx->driver_info, "%s %s", drv.driverName, drv.driverInfo);
  else
    snprintf(ctx->driver_info, sizeof ctx->driver_info, "driver version 0x%x", ctx->props.driverVersion);
  const VkPhysicalDeviceLimits *l = &ctx->props.limits;
  dvk_device_limits *d = &ctx->limits;
  d->max_storage_range = l->maxStorageBufferRange;
  d->storage_align = l->minStorageBufferOffsetAlignment;
  d->texel_align = l->minTexelBufferOffsetAlignment;
  d->max_texel_elements = l->maxTexelBufferElements;
  d->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : ((VkDeviceSize)1 << 30);
  for (int i = 0; i < 3; i++) d->max_groups[i] = l->maxComputeWorkGroupCount[i];
  d->max_shared = l->maxComputeSharedMemorySize;
  d->max_invocations = l->maxComputeWorkGroupInvocations;
  d->subgroup_size = sub.subgroupSize ? sub.subgroupSize : 1;
  d->subgroup_ops = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sub.supportedOperations : 0;
  d->max_push = l->maxPushConstantsSize;
  d->timestamp_period = l->timestampComputeAndGraphics ? l->timestampPeriod : 0.0f;
  ctx->device_class = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? DVK_CLASS_CPU : DVK_CLASS_GPU;
  ctx->limits.cpu_vector_regs = ctx->device_class == DVK_CLASS_CPU ? host_vector_regs() : 0;
}

static dvk_status create_device(dvk_device *ctx) {
  ctx->queue_family = (uint32_t)compute_family(ctx->phys);
  float prio = 1.0f;
  VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                               .queueFamilyIndex = ctx->queue_family,
                               .queueCount = 1,
                               .pQueuePriorities = &prio};
  const char *exts[2];
  uint32_t n_exts = 0;
  if (has_device_ext(ctx->phys, "VK_KHR_portability_subset")) exts[n_exts++] = "VK_KHR_portability_subset";
  VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                           .queueCreateInfoCount = 1,
                           .pQueueCreateInfos = &q,
                           .enabledExtensionCount = n_exts,
                           .ppEnabledExtensionNames = exts};
  DVK_VK(ctx, vkCreateDevice(ctx->phys, &ci, NULL, &ctx->device));
  volkLoadDevice(ctx->device);
  vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
  return DVK_OK;
}

static int env_flag(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

dvk_status dvk_device_create(const dvk_device_options *opts, dvk_device **out, dvk_error *err) {
  *out = NULL;
  dvk_status s = load_loader(err);
  if (s != DVK_OK) return s;
  dvk_device *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    dvk_error_note(err, "out of host memory creating the Vulkan context");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  dvk_device_options none = {0};
  if (!opts) opts = &none;
  ctx->verbose = opts->verbose;
  ctx->profile = env_flag("DVK_PROFILE");
  const char *want = opts->device ? opts->device : getenv("DVK_DEVICE");
  if (want && !*want) want = NULL;
  s = create_instance(ctx, opts->validation || env_flag("DVK_VALIDATION"));
  if (s == DVK_OK) s = choose_device(ctx, want);
  if (s == DVK_OK) {
    read_properties(ctx);
    s = create_device(ctx);
  }
  if (s == DVK_OK) dvk_pipeline_cache_open(ctx);
  if (s == DVK_OK) s = dvk_recorder_init(ctx);
  if (s == DVK_OK) s = dvk_staging_init(ctx);
  if (s != DVK_OK) {
    dvk_error_note(err, "%s", ctx->error);
    dvk_device_destroy(ctx);
    return s;
  }
  if (ctx->verbose)
    fprintf(stderr, "dalle-vk: device %s (%s), %s, Vulkan %u.%u.%u, subgroup %u, max storage range %llu MiB\n",
            ctx->props.deviceName, type_name(ctx->props.deviceType), ctx->driver_info,
            VK_API_VERSION_MAJOR(ctx->props.apiVersion), VK_API_VERSION_MINOR(ctx->props.apiVersion),
            VK_API_VERSION_PATCH(ctx->props.apiVersion), ctx->limits.subgroup_size,
            (unsigned long long)(ctx->limits.max_storage_range >> 20));
  *out = ctx;
  return DVK_OK;
}

void dvk_device_destroy(dvk_device *ctx) {
  if (!ctx) return;
  if (ctx->device) {
    vkDeviceWaitIdle(ctx->device);
    dvk_staging_destroy(ctx);
    dvk_recorder_destroy(ctx);
    dvk_pipeline_cache_close(ctx);
    vkDestroyDevice(ctx->device, NULL);
  }
  if (ctx->messenger) vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
  if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
  free(ctx);
}

char *dvk_vk_list_devices(dvk_error *err) {
  if (load_loader(err) != DVK_OK) return NULL;
  dvk_device tmp = {0};
  if (create_instance(&tmp, 0) != DVK_OK) {
    dvk_error_note(err, "%s", tmp.error);
    return NULL;
  }
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(tmp.instance, &n, NULL);
  VkPhysicalDevice devs[16];
  if (n > 16) n = 16;
  vkEnumeratePhysicalDevices(tmp.instance, &n, devs);
  size_t cap = 512 * (n + 1);
  char *out = calloc(1, cap);
  if (out) {
    if (n == 0) snprintf(out, cap, "no Vulkan devices\n");
    for (uint32_t i = 0; i < n; i++) {
      char line[512];
      describe(devs[i], i, line, sizeof line);
      strncat(out, line, cap - strlen(out) - 2);
      strcat(out, "\n");
    }
  }
  vkDestroyInstance(tmp.instance, NULL);
  return out;
}
