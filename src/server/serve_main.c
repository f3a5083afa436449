/* `dalle-vk serve`: options, the address checks, model loading, then serving until SIGINT / SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

typedef struct serve_options {
  const char *host, *model, *device, *api_key, *cors;
  unsigned port;
  uint32_t queue, max_n, max_candidates, preview_rows;
  int verbose, quiet;
} serve_options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: dalle-vk serve [options]\n"
          "Load the model once and serve a web page (http://HOST:PORT/) and an OpenAI-shaped JSON API\n"
          "(POST /v1/images/generations, GET /v1/models, jobs with live previews under /v1/jobs, GET /health).\n\n"
          "      --host ADDR        address to listen on (default 127.0.0.1); any address other than a\n"
          "                         loopback one needs --api-key\n"
          "      --port N           TCP port (default 8080; 0: any free port, printed)\n"
          "      --api-key KEY      require Authorization: Bearer KEY on /v1/ (also env DVK_API_KEY)\n"
          "      --model PATH       model file (default: as the dalle-vk command)\n"
          "      --device X         Vulkan device index or name substring (also env DVK_DEVICE)\n"
          "      --queue N          jobs that may wait behind the running one (default 16); more get 429\n"
          "      --max-n N          most images per request (default 10)\n"
          "      --max-candidates M most candidates per request (default 64)\n"
          "      --preview-rows K   job previews every K image rows unless the job says (default 4; 0: none)\n"
          "      --cors ORIGIN      allow browser pages from ORIGIN to call the API (default: none)\n"
          "  -v, --verbose          print device and model details\n"
          "  -q, --quiet            print no line per request (by default: time, client, method, path,\n"
          "                         status, job id and seconds on stderr)\n"
          "  -h, --help             this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "dalle-vk serve: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'dalle-vk serve --help'.\n");
  return EXIT_USAGE;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, uint32_t *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-') return -1;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Returns -1 to continue, else an exit code. */
static int parse_args(int argc, char **argv, serve_options *o) {
  enum { OPT_HOST = 256, OPT_PORT, OPT_KEY, OPT_MODEL, OPT_DEVICE, OPT_QUEUE, OPT_MAXN, OPT_MAXC, OPT_PREVIEW, OPT_CORS };
  static const struct option longs[] = {
    {"host", required_argument, 0, OPT_HOST},     {"port", required_argument, 0, OPT_PORT},
    {"api-key", required_argument, 0, OPT_KEY},   {"model", required_argument, 0, OPT_MODEL},
    {"device", required_argument, 0, OPT_DEVICE}, {"queue", required_argument, 0, OPT_QUEUE},
    {"max-n", required_argument, 0, OPT_MAXN},    {"max-candidates", required_argument, 0, OPT_MAXC},
    {"preview-rows", required_argument, 0, OPT_PREVIEW}, {"cors", required_argument, 0, OPT_CORS},
    {"verbose", no_argument, 0, 'v'},             {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};
  *o = (serve_options){.host = "127.0.0.1", .port = 8080, .queue = 16, .max_n = 10, .max_candidates = 64,
                       .preview_rows = 4, .api_key = getenv("DVK_API_KEY")};
  if (o->api_key && !*o->api_key) o->api_key = NULL;
  optind = 1;
  opterr = 0;
  int c;
  uint32_t v;
  while ((c = getopt_long(argc, argv, ":vqh", longs, NULL)) != -1) {
    switch (c) {
    case OPT_HOST: o->host = optarg; break;
    case OPT_PORT:
      if (parse_uint(optarg, 0, 65535, &v)) return usage_error("--port must be from 0 to 65535, got '%s'", optarg);
      o->port = v;
      break;
    case OPT_KEY:
      if (!*optarg) return usage_error("%s", "--api-key must not be empty");
      o->api_key = optarg;
      break;
    case OPT_MODEL: o->model = optarg; break;
    case OPT_DEVICE: o->device = optarg; break;
    case OPT_QUEUE:
      if (parse_uint(optarg, 0, 10000, &o->queue)) return usage_error("--queue must be from 0 to 10000, got '%s'", optarg);
      break;
    case OPT_MAXN:
      if (parse_uint(optarg, 1, 4096, &o->max_n)) return usage_error("--max-n must be from 1 to 4096, got '%s'", optarg);
      break;
    case OPT_MAXC:
      if (parse_uint(optarg, 1, 4096, &o->max_candidates))
        return usage_error("--max-candidates must be from 1 to 4096, got '%s'", optarg);
      break;
    case OPT_PREVIEW:
      if (parse_uint(optarg, 0, 255, &o->preview_rows)) return usage_error("--preview-rows must be from 0 to 255, got '%s'", optarg);
      break;
    case OPT_CORS: o->cors = optarg; break;
    case 'v': o->verbose = 1; break;
    case 'q': o->quiet = 1; break;
    case 'h': usage(stdout); return 0;
    case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument '%s' (serve takes options only)", argv[optind]);
  if (o->max_candidates < o->max_n) return usage_error("%s", "--max-candidates must be at least --max-n");
  return -1;
}

/* Resolves host to a numeric address with the port; *loopback: 127.0.0.0/8 or ::1. Returns 0, or -1. */
static int resolve(const char *host, unsigned port, struct sockaddr_storage *out, int *loopback) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "dalle-vk serve: --host '%s': %s\n", host, gai_strerror(rc));
    return -1;
  }
  memset(out, 0, sizeof *out);
  memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (out->ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_port = htons((uint16_t)port);
    *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_port = htons((uint16_t)port);
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  return 0;
}

int serve_main(int argc, char **argv, const char *default_model) {
  serve_options o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  struct sockaddr_storage addr;
  int loopback = 0;
  if (resolve(o.host, o.port, &addr, &loopback) != 0) return EXIT_USAGE;
  if (!loopback && !o.api_key)
    return usage_error("--host %s is not a loopback address: anyone who can reach it could use this machine; "
                       "give --api-key KEY (or env DVK_API_KEY) too", o.host);
  /* Block the stop signals in every thread; the main thread takes them with sigwait. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  const char *model_path = o.model ? o.model : default_model;
  dvk_context_options co = dvk_context_defaults();
  co.device = o.device;
  co.verbose = o.verbose;
  static server srv; /* static: zeroed, and alive while the daemon's threads run */
  dvk_context *ctx = NULL;
  dvk_model *model = NULL;
  char why[512];
  if (dvk_context_create(&co, &ctx, why, sizeof why) != DVK_OK) {
    fprintf(stderr, "dalle-vk serve: %s\n", why);
    return EXIT_RUNTIME;
  }
  if (dvk_model_load(ctx, model_path, &model) != DVK_OK) {
    fprintf(stderr, "dalle-vk serve: %s\n", dvk_last_error(ctx));
    dvk_context_destroy(ctx);
    return EXIT_RUNTIME;
  }
  job_server *js = &srv.jobs;
  js->ctx = ctx;
  js->model = model;
  js->max_queue = o.queue;
  dvk_model_get_info(model, &js->rules.info);
  js->rules.model_id = js->rules.info.name && *js->rules.info.name ? js->rules.info.name : "dalle-vk";
  js->rules.max_n = o.max_n;
  js->rules.max_candidates = o.max_candidates;
  js->rules.default_preview_rows = o.preview_rows;
  js->rules.model = model;
  if (request_defaults(&js->rules, &js->rules.defaults, why, sizeof why)) {
    fprintf(stderr, "dalle-vk serve: %s: the model's default settings fail its checks: %s\n", model_path, why);
    rc = EXIT_RUNTIME;
    goto done_model;
  }
  srv.api_key = o.api_key;
  srv.cors_origin = o.cors;
  srv.loopback = loopback;
  srv.quiet = o.quiet;
  rc = EXIT_RUNTIME;
  if (jobs_start(js) != 0) {
    fprintf(stderr, "dalle-vk serve: cannot start the worker thread\n");
    goto done_model;
  }
  if (http_start(&srv, (const struct sockaddr *)&addr) != 0) goto done_jobs;
  char shown[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, shown, sizeof shown);
  else inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, shown, sizeof shown);
  const dvk_model_info *mi = &js->rules.info;
  fprintf(stderr, "dalle-vk serve: model %s (%ux%u px) on %s\n", js->rules.model_id, mi->image_width, mi->image_height,
          dvk_context_device_name(ctx));
  fprintf(stderr, "dalle-vk serve: listening on http://%s%s%s:%u/%s (Ctrl-C stops)\n", addr.ss_family == AF_INET6 ? "[" : "",
          shown, addr.ss_family == AF_INET6 ? "]" : "", http_port(&srv), o.api_key ? " (API key required)" : "");
  int sig = 0;
  sigwait(&stop, &sig);
  fprintf(stderr, "dalle-vk serve: stopping\n");
  rc = 0;
  jobs_shutdown(js); /* waiting handlers get their cancelled jobs, then the daemon can stop */
  http_stop(&srv);
done_jobs:
  jobs_stop(js);
done_model:
  dvk_model_free(model);
  dvk_context_destroy(ctx);
  return rc;
}
