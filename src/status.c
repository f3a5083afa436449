/* Names of dvk_status values. */
#include "dallevk_status.h"

const char *dvk_status_str(dvk_status s) {
  switch (s) {
  case DVK_OK: return "ok";
  case DVK_ERR_INVALID_ARGUMENT: return "invalid argument";
  case DVK_ERR_NO_VULKAN_LOADER: return "no Vulkan loader";
  case DVK_ERR_NO_DEVICE: return "no Vulkan device";
  case DVK_ERR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
  case DVK_ERR_OUT_OF_HOST_MEMORY: return "out of host memory";
  case DVK_ERR_DEVICE_LOST: return "device lost";
  case DVK_ERR_VULKAN: return "Vulkan error";
  case DVK_ERR_IO: return "I/O error";
  case DVK_ERR_MODEL_FORMAT: return "malformed model file";
  case DVK_ERR_CANCELLED: return "cancelled";
  case DVK_ERR_UNSUPPORTED: return "unsupported";
  }
  return "unknown status";
}
