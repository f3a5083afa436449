/* `dalle-vk serve`: the model loaded once, a web page and a JSON API over HTTP (libmicrohttpd), generation jobs
 * on one worker thread (jobs.h). Endpoints and their rules: README.md "Serve"; http.c routes them. */
#ifndef DVK_SERVER_SERVER_H
#define DVK_SERVER_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "server/jobs.h"

#define SERVER_MAX_BODY (64 * 1024) /* request bodies larger than this get 413 */

typedef struct server {
  job_server jobs;
  const char *api_key;     /* NULL: none (loopback only) */
  const char *cors_origin; /* NULL: no CORS headers */
  int loopback;            /* bound to a loopback address: Host headers must name one (DNS rebinding) */
  int quiet;               /* no access log (--quiet; server/access_log.h) */
  struct MHD_Daemon *daemon;
} server;

/* `dalle-vk serve [options]` (argv[0] = "serve"); default_model: the CLI's default model path. Returns the exit
 * code. */
int serve_main(int argc, char **argv, const char *default_model);

/* Starts serving on addr (threads of its own). Returns 0, or -1 with a message on stderr. */
int http_start(server *srv, const struct sockaddr *addr);
/* The port it listens on (useful with port 0). */
unsigned http_port(const server *srv);
void http_stop(server *srv);

/* The page (web/index.html), embedded at build time. */
extern const unsigned char dvk_page_html[];
extern const size_t dvk_page_html_len;

#endif
