/* dalle-vk status codes, shared by every layer (public API, Vulkan core, model loader, CLI).
 * Every fallible function returns one of these; the accompanying human-readable message is
 * stored by the object that failed (context, model) or written into a caller's buffer. */
#ifndef DALLEVK_STATUS_H
#define DALLEVK_STATUS_H

typedef enum dvk_status {
  DVK_OK = 0,
  DVK_ERR_INVALID_ARGUMENT,     /* a parameter is out of range or inconsistent */
  DVK_ERR_NO_VULKAN_LOADER,     /* libvulkan.so.1 could not be loaded */
  DVK_ERR_NO_DEVICE,            /* no usable Vulkan device (or none matches the requested one) */
  DVK_ERR_OUT_OF_DEVICE_MEMORY, /* VK_ERROR_OUT_OF_DEVICE_MEMORY or a tensor larger than the device allows */
  DVK_ERR_OUT_OF_HOST_MEMORY,   /* malloc or VK_ERROR_OUT_OF_HOST_MEMORY */
  DVK_ERR_DEVICE_LOST,          /* VK_ERROR_DEVICE_LOST: the driver reset the device */
  DVK_ERR_VULKAN,               /* any other Vulkan failure */
  DVK_ERR_IO,                   /* a file could not be opened, read or written */
  DVK_ERR_MODEL_FORMAT,         /* a model file is malformed or unsupported */
  DVK_ERR_CANCELLED,            /* the caller's cancel flag was set */
  DVK_ERR_UNSUPPORTED,          /* the device or model lacks a needed feature */
} dvk_status;

/* Short constant name of a status ("out of device memory"); never NULL. */
const char *dvk_status_str(dvk_status s);

#endif
