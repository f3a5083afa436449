/* Progress bar. See progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, int enabled, uint32_t batch, const volatile int *cancel) {
  p->enabled = enabled;
  p->tty = isatty(STDERR_FILENO);
  p->batch = batch;
  p->start = progress_now();
  p->last_decile = -1;
  p->decoding = 0;
  p->cancel = cancel;
}

int progress_update(void *user, uint32_t done, uint32_t total) {
  progress *p = user;
  if (p->enabled && total > 0) {
    double el = progress_now() - p->start;
    double rate = el > 0 ? (double)done * p->batch / el : 0; /* tokens/s over all candidates */
    double eta = done > 0 ? el * (double)(total - done) / (double)done : 0;
    if (p->tty) {
      enum { WIDTH = 30 };
      int fill = (int)((double)WIDTH * done / total);
      char bar[WIDTH + 1];
      for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
      bar[WIDTH] = 0;
      fprintf(stderr, "\r[%s] %u/%u tokens x %u candidate%s  %.1f tok/s  ETA %.0fs ", bar, done, total, p->batch,
              p->batch == 1 ? "" : "s", rate, eta);
    } else {
      int decile = (int)(10.0 * done / total);
      if (decile != p->last_decile) {
        p->last_decile = decile;
        fprintf(stderr, "progress: %u/%u tokens x %u candidate%s, %.1f tok/s, ETA %.0fs\n", done, total, p->batch,
                p->batch == 1 ? "" : "s", rate, eta);
      }
    }
    if (done == total && !p->decoding) {
      p->decoding = 1;
      fprintf(stderr, "%sprogress: all image tokens chosen; decoding the images\n", p->tty ? "\n" : "");
    }
    fflush(stderr);
  }
  return p->cancel && *p->cancel;
}

void progress_finish(progress *p) {
  if (p->enabled && p->tty && !p->decoding) fprintf(stderr, "\n");
}
