/* The beam search rule (docs/design.md §4): which (beam, code) extensions continue after a step, and in which
 * slot of the decode batch each one lives. Pure host functions, no device; reference:
 * tools/dallevk/transformer.py beam_search; tested by tests/test_beam.c. */
#ifndef DVK_MODEL_BEAM_H
#define DVK_MODEL_BEAM_H

#include <stdint.h>

#include "dallevk_status.h"

/* One step: logits f32 [n, vi] (row b: beam b's next-code logits, guided where guidance is on), sums f64 [n]
 * (each beam's summed log p of its codes so far, nats), active u8 [n] (0: the beam repeats an earlier one and is
 * not extended) -> the w best extensions by sums[b] + log p(code | beam b) (dvk_log_probs), best first; ties:
 * the lower beam, then the lower code. parent [w], code [w], score f64 [w] (the extension's summed log p).
 * w must be at most (active beams) * vi. Returns DVK_OK, DVK_ERR_INVALID_ARGUMENT (w too large or 0), or
 * DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_beam_select(const float *logits, const double *sums, const uint8_t *active, uint32_t n, uint32_t vi,
                           uint32_t w, uint32_t *parent, int32_t *code, double *score);

/* Slots for the w picks of dvk_beam_select (parent [w], best first; every parent < w): each parent with a pick keeps
 * its own slot for its best pick; the other picks take the slots of parents without picks, in increasing order.
 * -> slot [w] (pick j lives in slot[j]) and src [w] (slot s continues from beam src[s]). Every source keeps its own
 * slot (src[src[s]] == src[s]), so the transformer state can be copied in place (dvk_transformer_copy_sequences).
 * Returns DVK_OK, or DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_beam_slots(const uint32_t *parent, uint32_t w, uint32_t *slot, uint32_t *src);

#endif
