/* Generation progress on stderr: a redrawn bar (tokens done/total, tokens/s, ETA) on a terminal,
 * plain lines every 10% otherwise. */
#ifndef DVK_CLI_PROGRESS_H
#define DVK_CLI_PROGRESS_H

#include <stdint.h>

typedef struct progress {
  int enabled;     /* 0: print nothing (--quiet) */
  int tty;         /* stderr is a terminal */
  uint32_t batch;  /* candidates decoded together (tokens/s counts all of them) */
  double start;    /* seconds, monotonic */
  int last_decile; /* last plain line printed */
  int decoding;    /* the "decoding" line is out (all tokens sampled) */
  const volatile int *cancel;
} progress;

void progress_init(progress *p, int enabled, uint32_t batch, const volatile int *cancel);

/* dvk_progress_fn: returns non-zero when the user asked to stop (Ctrl-C). Once every token is sampled it says
 * that the images are being decoded (a VQGAN decode takes a while on a CPU). */
int progress_update(void *user, uint32_t done, uint32_t total);

/* Ends the bar line (terminal only). */
void progress_finish(progress *p);

double progress_now(void); /* monotonic seconds */

#endif
