/* dalle-vk: text in, PNG out.
 *   dalle-vk "a red heart" -o heart.png [-n 4] [--seed 1] [--temperature 1] [--top-k 0] [--top-p 1]
 * Exit codes: 0 success, 1 runtime error (model, device, I/O), 2 usage error. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/image_in.h"
#include "cli/png_out.h"
#include "cli/preview.h"
#include "cli/progress.h"
#include "dallevk.h"
#include "server/server.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define DEFAULT_MODEL "dalle-emoji.gguf"
#define PREVIEW_EVERY_ROWS 4   /* --preview: a preview after every this many image rows */

typedef struct cli_options {
  const char *prompt, *output, *model, *device;
  const char *image_prompt; /* --image-prompt PATH, or NULL */
  const char *preview;      /* --preview PATH, or NULL */
  uint32_t prompt_rows;     /* --prompt-rows K; 0: half the grid */
  uint32_t count, candidates; /* candidates 0: the default (see usage) */
  uint64_t seed;
  int seed_given, separate, verbose, quiet;
  float temperature, top_p, cond_scale; /* 0: the model's recommended value */
  float reranker_pool;                  /* 0: DVK_DEFAULT_RERANKER_POOL */
  uint32_t top_k;                       /* 0: the model's recommended value; DVK_TOP_K_OFF: all */
  uint64_t prune_rows; /* 0: the model's recommended rows; DVK_PRUNE_OFF: none */
  dvk_decoding decoding;     /* --decoding; 0: the model's */
  uint32_t beam_sampled_rows; /* --beam-sampled-rows K; 0: the model's; DVK_BEAM_SAMPLED_ROWS_NONE: none */
} cli_options;

/* Set by the SIGINT/SIGTERM handler; sig_atomic_t is int on the platforms we build for, which is what the
 * API's cancel flag (const volatile int *) reads. */
static volatile sig_atomic_t g_cancel;
_Static_assert(sizeof(sig_atomic_t) == sizeof(int), "the cancel flag is read as an int");

static void on_sigint(int sig) {
  (void)sig;
  if (g_cancel) _exit(130); /* second Ctrl-C: stop now (nothing has been written yet) */
  g_cancel = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: dalle-vk [options] \"PROMPT\"\n"
          "       dalle-vk serve [options]   (a web page and an HTTP API: dalle-vk serve --help)\n"
          "Generate images from text with a DALL-E-style model on Vulkan (GPU, or CPU through lavapipe).\n"
          "An empty PROMPT (\"\") generates unconditionally.\n\n"
          "  -o, --output PATH      PNG to write (default: dalle-vk.png)\n"
          "  -n, --count N          images to write (default 1, at most 4096)\n"
          "      --candidates M     candidates sampled together as one batch, of which the model's reranker\n"
          "                         keeps the N best (DALL-E's CLIP reranking); default: max(N, the\n"
          "                         model's count (with beam search its beam width), 32 when it names\n"
          "                         none) when the model has a reranker, else N; M = N turns the final\n"
          "                         reranking off (pruning still applies)\n"
          "      --separate         write PATH-0.png, PATH-1.png, ... instead of one grid\n"
          "      --preview PATH     while sampling, rewrite PATH (a PNG grid of every candidate, rows\n"
          "                         not yet sampled gray) after every %u image rows and at the end\n"
          "      --seed N           sampler seed (default: random, printed); same prompt + seed + device +\n"
          "                         model -> the same PNG bytes\n"
          "      --temperature T    > 0, lower is more conservative (default: the model's recommended\n"
          "                         value, 1.0 when it names none)\n"
          "      --top-k K          sample among the K most likely image tokens, K <= the model's image\n"
          "                         codes, 0 = all (default: the model's recommended value, all when it\n"
          "                         names none)\n"
          "      --top-p P          nucleus sampling, 0 < P <= 1, 1 = off (default: the model's\n"
          "                         recommended value, 1.0 when it names none)\n"
          "      --cond-scale S     classifier-free guidance: logits = empty-caption logits + S * (prompt\n"
          "                         logits - empty-caption logits); S > 0, 1 = off, higher follows the\n"
          "                         prompt more closely (default: the model's recommended value);\n"
          "                         for DALL-E Mini / Mega the super-conditioning factor (16), the same\n"
          "                         formula with min-dalle's <s> </s> row as the empty caption\n"
          "      --prune-rows LIST  with --decoding sample: rows after which the reranker prunes the\n"
          "                         candidates while they are sampled: comma-separated image rows,\n"
          "                         0-based, 0..G-2 for a G x G grid (0..14 for the default model;\n"
          "                         e.g. 2,5), or 'none';\n"
          "                         each time the lower-scoring half continue as copies of the better\n"
          "                         half (default: the model's recommended rows)\n"
          "      --decoding MODE    how the candidates' codes are chosen; default: the model's recommended\n"
          "                         mode, 'sample' when it names none.\n"
          "                         'sample': each candidate draws its own codes (pruning applies).\n"
          "                         'beam': beam search; the M = --candidates likeliest images found,\n"
          "                         by the summed log-probability of their codes (M <= the model's\n"
          "                         image codes; default M: the model's beam width); no pruning.\n"
          "      --beam-sampled-rows K\n"
          "                         with beam search: sample the first K image rows per candidate\n"
          "                         (temperature, top-k, top-p, seed as with 'sample'), then search on\n"
          "                         from them; with K = 0 every seed gives the same images; 0..G-1\n"
          "                         (default: the model's recommended rows, 0 when it names none)\n"
          "      --rerank-pool F    the reranker picks among the fraction F of the candidates that the\n"
          "                         transformer finds most likely (highest mean log-probability of their\n"
          "                         own codes), 0 < F <= 1, 1 = plain reranking (default %g)\n"
          "      --image-prompt PATH\n"
          "                         start every image from this image's top rows (DALL-E's image\n"
          "                         completion): the model's dVAE encodes PATH (PNG, JPEG, ...; cropped to\n"
          "                         a square, resized to the model's size, transparency on white) and\n"
          "                         the transformer continues below its first rows (pruning skips rows\n"
          "                         inside them: with the default rows 1,3,5,7 and 8 given rows, none)\n"
          "      --prompt-rows K    image rows (of the G x G codes) taken from --image-prompt, 1..G-1\n"
          "                         (default: half, 8 for the default model)\n"
          "      --model PATH       model file (default: %s in ../assets or assets/ next to the program,\n"
          "                         the install prefix's share/dalle-vk, or env DVK_MODEL)\n"
          "      --device X         Vulkan device index or name substring (also env DVK_DEVICE)\n"
          "      --list-devices     list Vulkan devices and exit\n"
          "  -v, --verbose          print device, model and timings\n"
          "  -q, --quiet            print nothing but errors\n"
          "      --version          print the version and exit\n"
          "  -h, --help             this help\n",
          PREVIEW_EVERY_ROWS, (double)DVK_DEFAULT_RERANKER_POOL, DEFAULT_MODEL);
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "dalle-vk: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'dalle-vk --help'.\n");
  return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_float(const char *s, float *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || !*s || *end || !isfinite(v) || fabs(v) > FLT_MAX) return -1; /* (float)v must be defined */
  *out = (float)v;
  return 0;
}

/* "none" -> DVK_PRUNE_OFF; "2,5" -> bits 2 and 5 (each row once, 0..62; dvk_generate checks them against the
 * model's grid). Returns 0, or -1 when s is neither. */
static int parse_rows(const char *s, uint64_t *mask) {
  if (strcmp(s, "none") == 0) {
    *mask = DVK_PRUNE_OFF;
    return 0;
  }
  *mask = 0;
  char buf[256];
  if (!*s || strlen(s) >= sizeof buf) return -1;
  strcpy(buf, s);
  for (char *item = buf, *comma; item; item = comma ? comma + 1 : NULL) {
    comma = strchr(item, ',');
    if (comma) *comma = '\0';
    uint64_t r;
    if (parse_u64(item, 62, &r) || (*mask >> r & 1)) return -1; /* empty, not a number, or repeated */
    *mask |= 1ull << r;
  }
  return 0;
}

/* Returns -1 to continue, else an exit code. */
static int parse_args(int argc, char **argv, cli_options *o) {
  enum { OPT_SEED = 256, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_MODEL, OPT_DEVICE, OPT_LIST, OPT_VERSION, OPT_SEPARATE,
         OPT_CANDIDATES, OPT_COND, OPT_PRUNE, OPT_POOL, OPT_IMAGE, OPT_ROWS, OPT_PREVIEW, OPT_DECODING,
         OPT_BEAM_ROWS };
  static const struct option longs[] = {
    {"output", required_argument, 0, 'o'},       {"count", required_argument, 0, 'n'},
    {"separate", no_argument, 0, OPT_SEPARATE},   {"seed", required_argument, 0, OPT_SEED},
    {"candidates", required_argument, 0, OPT_CANDIDATES}, {"cond-scale", required_argument, 0, OPT_COND},
    {"temperature", required_argument, 0, OPT_TEMP}, {"top-k", required_argument, 0, OPT_TOPK},
    {"top-p", required_argument, 0, OPT_TOPP},    {"model", required_argument, 0, OPT_MODEL},
    {"device", required_argument, 0, OPT_DEVICE}, {"list-devices", no_argument, 0, OPT_LIST},
    {"verbose", no_argument, 0, 'v'},             {"quiet", no_argument, 0, 'q'},
    {"version", no_argument, 0, OPT_VERSION},     {"help", no_argument, 0, 'h'},
    {"prune-rows", required_argument, 0, OPT_PRUNE}, {"rerank-pool", required_argument, 0, OPT_POOL},
    {"image-prompt", required_argument, 0, OPT_IMAGE}, {"prompt-rows", required_argument, 0, OPT_ROWS},
    {"preview", required_argument, 0, OPT_PREVIEW}, {"decoding", required_argument, 0, OPT_DECODING},
    {"beam-sampled-rows", required_argument, 0, OPT_BEAM_ROWS},
    {0, 0, 0, 0}};
  *o = (cli_options){.output = "dalle-vk.png", .count = 1};
  opterr = 0;
  int c;
  uint64_t v;
  while ((c = getopt_long(argc, argv, ":o:n:vqh", longs, NULL)) != -1) {
    switch (c) {
    case 'o': o->output = optarg; break;
    case 'n':
      if (parse_u64(optarg, 4096, &v) || v == 0) return usage_error("--count must be an integer from 1 to 4096, got '%s'", optarg);
      o->count = (uint32_t)v;
      break;
    case OPT_SEPARATE: o->separate = 1; break;
    case OPT_CANDIDATES:
      if (parse_u64(optarg, 4096, &v) || v == 0)
        return usage_error("--candidates must be an integer from 1 to 4096, got '%s'", optarg);
      o->candidates = (uint32_t)v;
      break;
    case OPT_SEED:
      if (parse_u64(optarg, UINT64_MAX, &o->seed)) return usage_error("--seed must be a non-negative integer, got '%s'", optarg);
      o->seed_given = 1;
      break;
    case OPT_TEMP:
      if (parse_float(optarg, &o->temperature) || !(o->temperature > 0))
        return usage_error("--temperature must be a number > 0, got '%s'", optarg);
      break;
    case OPT_TOPK:
      if (parse_u64(optarg, UINT32_MAX, &v)) return usage_error("--top-k must be a non-negative integer, got '%s'", optarg);
      o->top_k = v ? (uint32_t)v : DVK_TOP_K_OFF;
      break;
    case OPT_TOPP:
      if (parse_float(optarg, &o->top_p) || !(o->top_p > 0 && o->top_p <= 1))
        return usage_error("--top-p must be in (0, 1], got '%s'", optarg);
      break;
    case OPT_COND:
      if (parse_float(optarg, &o->cond_scale) || !(o->cond_scale > 0 && o->cond_scale <= 100))
        return usage_error("--cond-scale must be a number in (0, 100], got '%s'", optarg);
      break;
    case OPT_PRUNE:
      if (parse_rows(optarg, &o->prune_rows))
        return usage_error("--prune-rows must be 'none' or distinct comma-separated row numbers (0 = the first "
                           "image row), got '%s'", optarg);
      break;
    case OPT_POOL:
      if (parse_float(optarg, &o->reranker_pool) || !(o->reranker_pool > 0 && o->reranker_pool <= 1))
        return usage_error("--rerank-pool must be a number in (0, 1], got '%s'", optarg);
      break;
    case OPT_DECODING:
      if (strcmp(optarg, "sample") && strcmp(optarg, "beam"))
        return usage_error("--decoding must be 'sample' or 'beam', got '%s'", optarg);
      o->decoding = strcmp(optarg, "beam") ? DVK_DECODING_SAMPLE : DVK_DECODING_BEAM;
      break;
    case OPT_BEAM_ROWS:
      if (parse_u64(optarg, 255, &v))
        return usage_error("--beam-sampled-rows must be an integer from 0 to G-1 for a G x G grid (15 for the default "
                           "model), got '%s'", optarg);
      o->beam_sampled_rows = v ? (uint32_t)v : DVK_BEAM_SAMPLED_ROWS_NONE;
      break;
    case OPT_IMAGE: o->image_prompt = optarg; break;
    case OPT_PREVIEW: o->preview = optarg; break;
    case OPT_ROWS:
      if (parse_u64(optarg, 255, &v) || v == 0) return usage_error("--prompt-rows must be a positive integer, at most G-1 for a G x G grid (15 for the default model), got '%s'", optarg);
      o->prompt_rows = (uint32_t)v;
      break;
    case OPT_MODEL: o->model = optarg; break;
    case OPT_DEVICE: o->device = optarg; break;
    case OPT_LIST: {
      char why[512];
      char *list = dvk_list_devices(why, sizeof why);
      if (!list) {
        fprintf(stderr, "dalle-vk: %s\n", why);
        return EXIT_RUNTIME;
      }
      fputs(list, stdout);
      free(list);
      return 0;
    }
    case 'v': o->verbose = 1; break;
    case 'q': o->quiet = 1; break;
    case OPT_VERSION: printf("dalle-vk %s\n", DVK_VERSION); return 0;
    case 'h': usage(stdout); return 0;
    case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind == argc) return usage_error("%s", "missing PROMPT (use \"\" for an unconditional image)");
  if (optind + 1 < argc) return usage_error("one PROMPT expected; quote it: dalle-vk \"%s ...\"", argv[optind]);
  o->prompt = argv[optind];
  if (o->verbose && o->quiet) o->verbose = 0;
  return -1;
}

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

/* Finds the default model: env DVK_MODEL, then next to the executable (../assets, assets/,
 * ../share/dalle-vk), then the install data dir, then ./assets. */
static const char *default_model(char *buf, size_t len) {
  const char *env = getenv("DVK_MODEL");
  if (env && *env) return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    const char *rel[] = {"../assets", "assets", "../share/dalle-vk"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
      snprintf(buf, len, "%s/%s/%s", exe, rel[i], DEFAULT_MODEL);
      if (file_exists(buf)) return buf;
    }
  }
#ifdef DVK_INSTALL_DATADIR
  snprintf(buf, len, "%s/%s", DVK_INSTALL_DATADIR, DEFAULT_MODEL);
  if (file_exists(buf)) return buf;
#endif
  snprintf(buf, len, "assets/%s", DEFAULT_MODEL);
  return buf;
}

/* The verbose report of what the generation used and why (dvk_images.settings). */
static void print_settings(const dvk_settings *s, const char *image_prompt, uint32_t grid) {
  static const char *const from[] = {[DVK_FROM_PARAMS] = "", [DVK_FROM_MODEL] = " (the model's)",
                                     [DVK_FROM_DEFAULT] = " (the default)"};
  const int dflt = s->temperature_from != DVK_FROM_PARAMS || s->top_k_from != DVK_FROM_PARAMS ||
                   s->top_p_from != DVK_FROM_PARAMS || s->cond_scale_from != DVK_FROM_PARAMS;
  fprintf(stderr, "dalle-vk: candidates: %u %s%s, %u kept%s\n", s->candidates,
          s->decoding == DVK_DECODING_BEAM ? "searched" : "sampled", from[s->candidates_from],
          s->n_images, s->reranked ? " by the reranker" : "");
  if (image_prompt)
    fprintf(stderr, "dalle-vk: image prompt %s: its first %u of %u rows of codes start every image\n", image_prompt,
            s->image_prefix_len / grid, grid);
  if (s->decoding == DVK_DECODING_BEAM)
    fprintf(stderr, "dalle-vk: beam search%s of width %u, cond-scale %g, sampled rows first: %u%s\n",
            from[s->decoding_from], s->candidates, (double)s->cond_scale, s->beam_sampled_rows,
            from[s->beam_sampled_rows_from]);
  if (s->decoding != DVK_DECODING_BEAM || s->beam_sampled_rows)
    fprintf(stderr, "dalle-vk: sampling%s: temperature %g, top-k %u, top-p %g, cond-scale %g%s\n",
            s->beam_sampled_rows ? " (the first rows)" : "", (double)s->temperature, s->top_k, (double)s->top_p,
            (double)s->cond_scale, dflt ? " (unset values: the model's defaults)" : "");
  if (s->prune_rows) {
    fprintf(stderr, "dalle-vk: pruned the candidates after image rows");
    for (uint32_t r = 0; r < 63; r++)
      if (s->prune_rows >> r & 1) fprintf(stderr, " %u", r);
    fprintf(stderr, "%s\n", s->prune_rows_from == DVK_FROM_PARAMS ? "" : " (the model's default)");
    return;
  }
  static const char *const why[] = {[DVK_PRUNE_RAN] = "", [DVK_PRUNE_OFF_ASKED] = " (--prune-rows none)",
                                    [DVK_PRUNE_OFF_NO_RERANKER] = " (the model has no reranker)",
                                    [DVK_PRUNE_OFF_MODEL_NONE] = " (the model names no rows)",
                                    [DVK_PRUNE_OFF_ONE_CANDIDATE] = " (one candidate)",
                                    [DVK_PRUNE_OFF_IN_PREFIX] = " (every pruning row lies inside the image prompt)",
                                    [DVK_PRUNE_OFF_BEAM] = " (beam search)"};
  fprintf(stderr, "dalle-vk: pruning: off%s\n", why[s->prune_state]);
}

/* --preview: each preview replaces the file (atomically); a failed write is reported once and previews go on. */
static void write_preview(void *user, const dvk_images *im, uint32_t rows_done) {
  const cli_options *o = user;
  dvk_error err = {""};
  static int warned;
  (void)rows_done;
  if (png_write_grid(o->preview, im, &err) != DVK_OK && !warned++) fprintf(stderr, "dalle-vk: --preview: %s\n", err.msg);
}

/* The command-line flag that sets a dvk_generate_params field (dvk_settings.invalid_param), or NULL. */
static const char *flag_of_param(const char *param) {
  static const char *const flags[][2] = {
    {"n_images", "-n"},          {"candidates", "--candidates"},       {"temperature", "--temperature"},
    {"top_k", "--top-k"},        {"top_p", "--top-p"},                 {"cond_scale", "--cond-scale"},
    {"reranker_pool", "--rerank-pool"},
    {"prune_rows", "--prune-rows"}, {"image_prompt", "--image-prompt"}, {"image_prompt_rows", "--prompt-rows"},
    {"decoding", "--decoding"}, {"beam_sampled_rows", "--beam-sampled-rows"}, {"prompt", "PROMPT"}};
  for (size_t i = 0; param && i < sizeof flags / sizeof flags[0]; i++)
    if (strcmp(param, flags[i][0]) == 0) return flags[i][1];
  return NULL;
}

static int run(const cli_options *o) {
  dvk_error err = {""};
  if (png_check_writable(o->output, &err) != DVK_OK ||
      (o->preview && png_check_writable(o->preview, &err) != DVK_OK)) {
    fprintf(stderr, "dalle-vk: %s\n", err.msg);
    return EXIT_RUNTIME;
  }
  char model_buf[PATH_MAX + 64];
  const char *model_path = o->model ? o->model : default_model(model_buf, sizeof model_buf);
  dvk_context_options co = dvk_context_defaults();
  co.device = o->device;
  co.verbose = o->verbose;
  dvk_context *ctx = NULL;
  dvk_model *model = NULL;
  dvk_images *im = NULL;
  uint8_t *image_rgb = NULL;
  int rc = EXIT_RUNTIME;
  if (dvk_context_create(&co, &ctx, err.msg, sizeof err.msg) != DVK_OK) {
    fprintf(stderr, "dalle-vk: %s\n", err.msg);
    return EXIT_RUNTIME;
  }
  double t0 = progress_now();
  if (dvk_model_load(ctx, model_path, &model) != DVK_OK) {
    fprintf(stderr, "dalle-vk: %s\n", dvk_last_error(ctx));
    goto done;
  }
  dvk_model_info info;
  dvk_model_get_info(model, &info);
  if (o->verbose)
    fprintf(stderr, "dalle-vk: model %s (%s): d_model %u, %u layers, %u heads, text_len %u, %ux%u codes, %ux%u px%s; "
            "loaded in %.2fs\n", model_path, info.name, info.d_model, info.n_layers, info.n_heads, info.text_len,
            info.grid, info.grid, info.image_width, info.image_height, info.has_reranker ? ", reranker" : "",
            progress_now() - t0);
  if (!*o->prompt && !o->quiet) fprintf(stderr, "dalle-vk: empty prompt: generating unconditionally\n");
  if (o->image_prompt && image_load_rgb(o->image_prompt, info.image_width, &image_rgb, &err) != DVK_OK) {
    fprintf(stderr, "dalle-vk: %s\n", err.msg);
    goto done;
  }
  const uint64_t seed = o->seed_given ? o->seed : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20)) % 1000000;
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = o->prompt;
  p.n_images = o->count;
  p.candidates = o->candidates;
  p.seed = seed;
  p.temperature = o->temperature;
  p.top_k = o->top_k;
  p.top_p = o->top_p;
  p.cond_scale = o->cond_scale;
  p.prune_rows = o->prune_rows;
  p.reranker_pool = o->reranker_pool;
  p.decoding = o->decoding;
  p.beam_sampled_rows = o->beam_sampled_rows;
  p.image_prompt = image_rgb;
  p.image_prompt_rows = o->prompt_rows;
  dvk_settings set;
  dvk_status s = dvk_generate_resolve(model, &p, &set);
  if (s != DVK_OK) { /* a flag's value out of range for this model is a usage error */
    const char *flag = flag_of_param(set.invalid_param);
    fprintf(stderr, "dalle-vk: %s%s%s\n%s", flag ? flag : "", flag ? ": " : "", dvk_last_error(ctx),
            s == DVK_ERR_INVALID_ARGUMENT ? "Try 'dalle-vk --help'.\n" : "");
    rc = s == DVK_ERR_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_RUNTIME;
    goto done;
  }
  progress prog;
  progress_init(&prog, !o->quiet, set.candidates, (const volatile int *)&g_cancel);
  preview pv = {0};
  if (o->preview && preview_attach(&pv, model, &p, set.candidates, PREVIEW_EVERY_ROWS, write_preview, (void *)o) != DVK_OK) {
    fprintf(stderr, "dalle-vk: out of host memory for --preview\n");
    goto done;
  }
  p.progress = progress_update;
  p.progress_user = &prog;
  p.cancel = (const volatile int *)&g_cancel;
  s = dvk_generate(model, &p, &im);
  progress_finish(&prog);
  preview_free(&pv);
  if (s == DVK_ERR_CANCELLED) {
    fprintf(stderr, "dalle-vk: interrupted; nothing written\n");
    rc = 130;
    goto done;
  }
  if (s != DVK_OK) {
    fprintf(stderr, "dalle-vk: %s\n", dvk_last_error(ctx));
    goto done;
  }
  if (im->dropped_tokens && !o->quiet)
    fprintf(stderr, "dalle-vk: warning: the prompt is longer than the model's %u text tokens; %u tokens were dropped\n",
            info.text_len, im->dropped_tokens);
  char names[8192];
  dvk_status ws = o->separate ? png_write_separate(o->output, im, names, sizeof names, &err)
                               : png_write_grid(o->output, im, &err);
  if (ws != DVK_OK) {
    fprintf(stderr, "dalle-vk: %s\n", err.msg);
    goto done;
  }
  if (o->verbose) {
    const dvk_settings *u = &im->settings;
    const double tokens = (double)info.grid * info.grid * u->candidates;
    char previews[64] = ""; /* their decodes ran in the API's callbacks, outside the decode time */
    if (o->preview) snprintf(previews, sizeof previews, ", previews %.2fs", im->seconds_callbacks);
    print_settings(u, o->image_prompt, info.grid);
    fprintf(stderr,
            "dalle-vk: prefill %.3fs, decode %.2fs (%.1f ms/step, %.0f tokens/s over %u candidate%s), image "
            "decoder %.2fs%s\n",
            im->seconds_prefill, im->seconds_decode, 1e3 * im->seconds_decode / (info.grid * info.grid - 1 + 1e-9),
            tokens / (im->seconds_prefill + im->seconds_decode), u->candidates, u->candidates == 1 ? "" : "s",
            im->seconds_dvae, previews);
    if (im->scores) {
      fprintf(stderr, "dalle-vk: reranked %u candidates in %.2fs (pool: the %u most likely), kept %u:", u->candidates,
              im->seconds_reranker, u->reranker_pool_size, im->count);
      for (uint32_t i = 0; i < im->count && i < 16; i++)
        fprintf(stderr, " #%u (score %.2f, log-prob %.3f)", im->candidates[i], im->scores[i], im->mean_logprob[i]);
      fprintf(stderr, "%s\n", im->count > 16 ? " ..." : "");
    }
  }
  if (!o->quiet) {
    if (o->separate) fputs(names, stdout);
    else printf("%s\n", o->output);
    fprintf(stderr, "dalle-vk: %u image%s of %ux%u in %.1fs (seed %llu)\n", im->count, im->count > 1 ? "s" : "",
            im->width, im->height, im->seconds, (unsigned long long)seed);
  }
  rc = 0;
done:
  free(image_rgb);
  dvk_images_free(im);
  dvk_model_free(model);
  dvk_context_destroy(ctx);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "serve") == 0) {
    char model_buf[PATH_MAX + 64];
    return serve_main(argc - 1, argv + 1, default_model(model_buf, sizeof model_buf));
  }
  cli_options o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  struct sigaction sa = {0};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return run(&o);
}
