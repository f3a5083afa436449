/* libFuzzer harness for the tokenizer loader and encoders (src/model/text_tokenizer.c and the four
 * tokenizers): each input is a GGUF file opened from memory; when its tokenizer.* keys load, a few
 * fixed prompts are encoded and wrapped, and the unconditional row is made. Seeds:
 * tests/data/tokenizer/{yttm,charbpe,bart}/tokenizer.gguf. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/text_tokenizer.h"

static volatile unsigned g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const prompts[] = {"", "a red heart", "  КРАСИВЫЙ пейзаж ΣΟΦΟΣ  ", "猫和狗 😀[PAD]x[UNK]",
                                        "\xc4\xb0stanbul caf\xc3\xa9\t\x01\xe2\x96\x81",
                                        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 \xe2\x9d\xa4\xef\xb8\x8f\xe2\x84\xaa"};
  dvk_error err = {""};
  gguf_file *f;
  if (gguf_open_memory(data, size, "fuzz.gguf", &f, &err) != DVK_OK) return 0;
  dvk_tokenizer *t;
  if (dvk_tokenizer_load(f, 1u << 15, 64, &t, &err) == DVK_OK) {
    for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
      int32_t ids[64], null_ids[64];
      uint32_t used, dropped;
      if (dvk_tokenizer_text_ids(t, prompts[i], strlen(prompts[i]), ids, &used, &dropped, &err) != DVK_OK)
        __builtin_trap(); /* valid UTF-8 always encodes */
      dvk_tokenizer_null_ids(t, ids, used, null_ids);
      for (uint32_t j = 0; j < 64; j++)
        if (ids[j] < 0 || (uint32_t)ids[j] >= (1u << 15) + 64 || null_ids[j] < 0 ||
            (uint32_t)null_ids[j] >= (1u << 15) + 64)
          __builtin_trap(); /* every id fits the table */
      g_sink += used + dropped;
    }
    dvk_tokenizer_destroy(t);
  } else if (!strstr(err.msg, "tokenizer")) {
    __builtin_trap(); /* a refusal names the tokenizer key */
  }
  gguf_close(f);
  return 0;
}
