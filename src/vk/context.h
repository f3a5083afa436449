/* Vulkan context: loader (volk), instance, the chosen physical device, one compute queue, and the
 * per-context error message. Everything else in src/vk/ hangs off a dvk_device.
 *
 * Device choice (dvk_device_create): discrete > integrated > virtual > CPU, first of equal rank wins;
 * opts->device (or env DVK_DEVICE when opts->device is NULL) selects by index ("1") or by a
 * case-insensitive name substring ("llvmpipe", "nvidia"). Devices lacking Vulkan 1.1 or a compute
 * queue are skipped, with the reason printed when verbose. */
#ifndef DVK_VK_CONTEXT_H
#define DVK_VK_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <volk.h>

#include "dallevk_status.h"
#include "error.h"

typedef struct dvk_device_options {
  const char *device; /* index or name substring; NULL: env DVK_DEVICE, else the best device */
  int validation;     /* 1: require VK_LAYER_KHRONOS_validation (also env DVK_VALIDATION=1) */
  int verbose;        /* 1: print device choice and skip reasons to stderr */
} dvk_device_options;

/* What the engine needs to know about the chosen device; filled at creation. */
typedef struct dvk_device_limits {
  VkDeviceSize max_storage_range;     /* maxStorageBufferRange, bytes (128 MiB on lavapipe) */
  VkDeviceSize storage_align;         /* minStorageBufferOffsetAlignment, bytes */
  VkDeviceSize texel_align;           /* minTexelBufferOffsetAlignment, bytes */
  uint32_t max_texel_elements;        /* maxTexelBufferElements */
  VkDeviceSize max_alloc;             /* maxMemoryAllocationSize, bytes */
  uint32_t max_groups[3];             /* maxComputeWorkGroupCount */
  uint32_t max_shared;                /* maxComputeSharedMemorySize, bytes */
  uint32_t max_invocations;           /* maxComputeWorkGroupInvocations */
  uint32_t subgroup_size;             /* VkPhysicalDeviceSubgroupProperties::subgroupSize */
  uint32_t subgroup_ops;              /* supportedOperations (VK_SUBGROUP_FEATURE_*_BIT) in compute shaders;
                                         0 when subgroups are not usable in compute */
  uint32_t max_push;                  /* maxPushConstantsSize, bytes */
  float timestamp_period;             /* ns per timestamp tick; 0 when timestamps are unsupported */
  uint32_t cpu_vector_regs;           /* CPU devices: vector registers of this host's ISA that a driver's
                                         JIT may use (x86: 32 with AVX-512, else 16; 32 elsewhere);
                                         0 on GPUs. Register-tile sizes of the CPU kernels follow it. */
} dvk_device_limits;

/* Device classes whose fast kernels differ (choose shader variants by this). */
typedef enum dvk_device_class { DVK_CLASS_GPU = 0, DVK_CLASS_CPU = 1 } dvk_device_class;

typedef struct dvk_pipeline dvk_pipeline; /* dispatch.c */
typedef struct dvk_recorder dvk_recorder; /* dispatch.c */

typedef struct dvk_device {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice phys;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem_props;
  char driver_info[600];              /* e.g. "Mesa 25.0.7 (LLVM 15.0.6)" */
  dvk_device_limits limits;
  dvk_device_class device_class;
  int verbose;
  int profile;                        /* env DVK_PROFILE=1: per-op GPU times from timestamps */
  unsigned validation_messages;       /* warnings + errors reported by the validation layer */
  char error[1024];                   /* message of the last failure */
  dvk_pipeline *pipelines;            /* cache, linked list (dispatch.c) */
  VkPipelineCache pipeline_cache;     /* persistent driver cache (pipeline_cache.c); VK_NULL_HANDLE: none */
  char *pipeline_cache_path;          /* its file, malloc'ed; NULL: not saved */
  uint32_t pipelines_created;         /* pipelines this context created (none: the file is not rewritten) */
  uint64_t pipeline_cache_hash;       /* hash of the payload read from the file (0: none); unchanged: not rewritten */
  dvk_recorder *rec;                  /* command recording state (dispatch.c) */
  struct dvk_staging *staging;        /* host-visible staging buffer (memory.c) */
} dvk_device;

/* Creates a context. On failure returns the status, writes a message to err (if non-NULL) and sets
 * *out = NULL. Errors: DVK_ERR_NO_VULKAN_LOADER ("no Vulkan loader found: install libvulkan1 ..."),
 * DVK_ERR_NO_DEVICE (with the list of devices seen), DVK_ERR_UNSUPPORTED (validation layer required
 * but missing), DVK_ERR_OUT_OF_*, DVK_ERR_VULKAN. */
dvk_status dvk_device_create(const dvk_device_options *opts, dvk_device **out, dvk_error *err);

/* Waits for the device to go idle and destroys every object the context owns. NULL is allowed. */
void dvk_device_destroy(dvk_device *ctx);

/* Lists the Vulkan devices ("0: NVIDIA H200 (discrete, NVIDIA 550.1, Vulkan 1.3)") into a
 * malloc'ed string the caller frees; NULL with a message in err when there is no loader. */
char *dvk_vk_list_devices(dvk_error *err);

/* Records a failure message on ctx (printf-style) and returns status, for `return dvk_fail(...)`. */
dvk_status dvk_fail(dvk_device *ctx, dvk_status status, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* DVK_ERR_CANCELLED (message "cancelled") when the caller's cancel flag is set, else DVK_OK; cancel may be NULL
 * (never set). Long work calls it at its natural boundaries (a decode step, an image, a decoder stage); the caller
 * then discards what was recorded (dvk_discard). */
dvk_status dvk_check_cancel(dvk_device *ctx, const volatile int *cancel);

/* Maps a failed VkResult to a status, records "<call> failed: VK_ERROR_... (file:line)". */
dvk_status dvk_vk_fail(dvk_device *ctx, VkResult r, const char *call, const char *file, int line);

/* Name of a VkResult, e.g. "VK_ERROR_DEVICE_LOST". */
const char *dvk_vk_result_str(VkResult r);

/* Checks a Vulkan call; on failure records the error on ctx and returns its status from the caller. */
#define DVK_VK(ctx, call)                                                     \
  do {                                                                        \
    VkResult dvk_r_ = (call);                                                 \
    if (dvk_r_ != VK_SUCCESS) return dvk_vk_fail((ctx), dvk_r_, #call, __FILE__, __LINE__); \
  } while (0)

/* Propagates a non-OK status from the caller. */
#define DVK_TRY(expr)                         \
  do {                                        \
    dvk_status dvk_s_ = (expr);               \
    if (dvk_s_ != DVK_OK) return dvk_s_;      \
  } while (0)

#endif
