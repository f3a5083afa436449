/* Shared by the dalle-vk-bench subcommands: timing, the Vulkan context, the table of benches. */
#ifndef DVK_BENCH_H
#define DVK_BENCH_H

#include "vk/context.h"

/* Monotonic wall clock in seconds. */
double bench_now(void);

/* CPU seconds used by this process, all threads (the driver's and OpenBLAS's workers included). */
double bench_cpu_now(void);

/* One subcommand: argv[0] is its name; returns the process exit code. ctx is a fresh context on the
 * default device (DVK_DEVICE selects another). */
typedef int (*bench_fn)(dvk_device *ctx, int argc, char **argv);

int bench_matmul(dvk_device *ctx, int argc, char **argv);
int bench_decode(dvk_device *ctx, int argc, char **argv);

#endif
