/* Loading a large model and planning device memory, on a random-weight file of real size (written by
 * tools/bench_public_sizes.py; tests/test_load_memory.sh):
 * - host memory: loading adds at most the file's size + 64 MiB (+ a quarter of the file under ASan) to the
 *   process's resident memory (VmRSS of /proc/self/status, sampled every millisecond by a thread while loading;
 *   the kernel's VmHWM is not updated reliably enough): the weights are streamed from the mapped file to the device, whose copy on lavapipe is
 *   host memory too, without a second full copy;
 * - weights larger than the usable device memory (DVK_DEVICE_MEMORY_MB): DVK_ERR_OUT_OF_DEVICE_MEMORY before
 *   anything is uploaded, the message giving the MiB needed (at least the file's tensors) and usable, and the
 *   q8_0 advice; a batch of candidates that does not fit: the same status from dvk_generate before it allocates,
 *   naming how many fit and --candidates. Run under ASan (scripts/sanitize.sh) for leaks.
 * Usage: test_load_memory MODEL.gguf */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dallevk.h"
#include "harness.h"

/* Under AddressSanitizer the device copy (lavapipe's host allocation) also gets shadow memory (1/8 of it), and
 * freed upload buffers wait in the quarantine instead of being reused: a quarter of the file more is allowed
 * (measured +318 MiB for a 226 MiB file against +257 MiB without it). A second full copy still fails. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_EXTRA 0.25
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_EXTRA 0.25
#endif
#endif
#ifndef ASAN_EXTRA
#define ASAN_EXTRA 0.0
#endif

/* A /proc/self/status field in bytes (kB in the file); -1 when unreadable. */
static long long status_bytes(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long long kb = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') kb = atoll(line + n + 1);
  if (f) fclose(f);
  return kb < 0 ? -1 : kb << 10;
}

/* The largest VmRSS seen until *stop. */
typedef struct sampler {
  volatile int stop;
  long long peak;
} sampler;

static void *sample_rss(void *arg) {
  sampler *s = arg;
  const struct timespec ms = {0, 1000000};
  while (!s->stop) {
    long long r = status_bytes("VmRSS");
    if (r > s->peak) s->peak = r;
    nanosleep(&ms, NULL);
  }
  return NULL;
}

/* The number before " MiB" that follows `after` in msg; -1 when absent. */
static double mib_after(const char *msg, const char *after) {
  const char *p = strstr(msg, after);
  return p ? atof(p + strlen(after)) : -1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_load_memory MODEL.gguf\n");
    return 2;
  }
  struct stat st;
  if (stat(argv[1], &st) != 0) {
    printf("cannot stat %s\n", argv[1]);
    return 1;
  }
  const double file_mib = (double)st.st_size / (1 << 20);
  dvk_context *ctx = NULL;
  char why[512];
  if (dvk_context_create(NULL, &ctx, why, sizeof why) != DVK_OK) {
    printf("cannot create a context: %s\n", why);
    return 1;
  }
  dvk_model *m = NULL;

  /* weights too large: refused before uploading, with the numbers and the advice */
  setenv("DVK_DEVICE_MEMORY_MB", "100", 1);
  dvk_status s = dvk_model_load(ctx, argv[1], &m);
  const char *msg = dvk_last_error(ctx);
  TH_CHECK(s == DVK_ERR_OUT_OF_DEVICE_MEMORY && m == NULL, "load on a 100 MiB device: status %d", (int)s);
  const double need = mib_after(msg, "the weights need "), usable = mib_after(msg, " MiB and ");
  TH_CHECK(need >= file_mib * 0.95 && need <= file_mib * 1.05 && usable == 80 && strstr(msg, "--type q8_0"),
        "load message (file %.0f MiB): '%s'", file_mib, msg);
  unsetenv("DVK_DEVICE_MEMORY_MB");

  /* host memory while loading */
  const long long before = status_bytes("VmRSS");
  TH_CHECK(before > 0, "cannot read this process's resident memory");
  sampler smp = {0, before};
  pthread_t th;
  const int sampling = pthread_create(&th, NULL, sample_rss, &smp) == 0;
  TH_CHECK(sampling, "cannot start the sampling thread");
  s = dvk_model_load(ctx, argv[1], &m);
  smp.stop = 1;
  if (sampling) pthread_join(th, NULL);
  const long long peak = smp.peak;
  TH_CHECK(s == DVK_OK, "load: %s", dvk_last_error(ctx));
  const double grew = (double)(peak - before) / (1 << 20);
  printf("file %.0f MiB; resident before the load %.0f MiB, peak while loading %.0f MiB (+%.0f MiB)\n", file_mib,
         (double)before / (1 << 20), (double)peak / (1 << 20), grew);
  TH_CHECK(grew <= file_mib + 64 + ASAN_EXTRA * file_mib,
           "loading grew the peak resident memory by %.0f MiB for a %.0f MiB file", grew, file_mib);

  /* a batch that does not fit: refused before allocating, naming how many fit */
  if (m) {
    char mb[32];
    snprintf(mb, sizeof mb, "%.0f", (file_mib + 256) / 0.8);
    setenv("DVK_DEVICE_MEMORY_MB", mb, 1);
    dvk_generate_params p = dvk_generate_defaults();
    p.prompt = "red heart";
    p.n_images = 4000;
    dvk_images *im = NULL;
    s = dvk_generate(m, &p, &im);
    msg = dvk_last_error(ctx);
    TH_CHECK(s == DVK_ERR_OUT_OF_DEVICE_MEMORY && im == NULL && strstr(msg, "4000 candidates need") &&
              strstr(msg, "candidates fit (--candidates") && strstr(msg, "--type q8_0"),
          "4000 candidates on a %s MiB device: status %d, '%s'", mb, (int)s, msg);
    unsetenv("DVK_DEVICE_MEMORY_MB");
    dvk_images_free(im);
  }
  dvk_model_free(m);
  dvk_context_destroy(ctx);
  printf("test_load_memory: %s\n", th_check_failures ? "FAILED" : "passed");
  return th_check_failures ? 1 : 0;
}
