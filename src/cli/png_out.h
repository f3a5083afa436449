/* PNG output for the CLI: one grid image or separate files, written atomically (temporary file in the
 * same directory, then rename), so a failed or interrupted run never leaves a partial PNG. */
#ifndef DVK_CLI_PNG_OUT_H
#define DVK_CLI_PNG_OUT_H

#include "dallevk.h"
#include "error.h"

/* Checks that `path` can be written before any work is done: its directory exists and a file can be created there,
 * and path is not a directory. Returns DVK_OK, or a failure status with a message in err. */
dvk_status png_check_writable(const char *path, dvk_error *err);

/* Writes all images as one grid PNG (ceil(sqrt(n)) columns, 2-pixel white gutters) to path.
 * Returns DVK_OK, or a failure status with a message in err (nothing is left at path on failure). */
dvk_status png_write_grid(const char *path, const dvk_images *im, dvk_error *err);

/* Writes image i to "<stem>-<i>.png" for path "<stem>.png" (or "<path>-<i>.png"). On failure,
 * files written so far are removed. Returns DVK_OK, or a failure status with a message in err. names receives the
 * written paths, one per line (may be NULL). */
dvk_status png_write_separate(const char *path, const dvk_images *im, char *names, size_t names_len, dvk_error *err);

#endif
