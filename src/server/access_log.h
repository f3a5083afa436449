/* The access log of `dalle-vk serve`: one line per request on stderr, when the request ends (README.md "Serve"):
 *   2026-12-07T12:00:00Z 127.0.0.1 POST /v1/images/generations 200 job-6a3495f37ac72e64 1.520s
 * start time (ISO 8601, UTC), client address, method, path (no query, non-printable bytes as '?'), the status sent
 * ('-' when none was: the client went away), the job a generation request made, and the seconds it took. No
 * request bodies and no headers (so no API keys). */
#ifndef DVK_SERVER_ACCESS_LOG_H
#define DVK_SERVER_ACCESS_LOG_H

#include <microhttpd.h>
#include <time.h>

typedef struct access_entry {
  struct timespec start, start_wall; /* CLOCK_MONOTONIC, CLOCK_REALTIME */
  char method[16];
  char path[160];
  unsigned status;  /* 0: no response queued */
  char job_id[48];  /* "": the request made no job */
} access_entry;

/* Starts the entry of a request as its headers arrive. */
void access_begin(access_entry *e, const char *method, const char *url);
/* Records the status of the response just queued on c (MHD_queue_response); returns r, for `return access_sent(...)`. */
enum MHD_Result access_sent(access_entry *e, struct MHD_Connection *c, enum MHD_Result r);
/* Prints the request's line on stderr (one write, so lines of concurrent requests do not mix). */
void access_print(const access_entry *e, struct MHD_Connection *c);

#endif
