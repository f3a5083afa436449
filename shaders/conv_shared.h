/* Push-constant layouts of the dVAE ops (conv2d, ReLU, upsample, max-pool, output map, code gather),
 * shared by their host files (src/ops/conv.c, src/ops/image.c) and their shaders. Same conventions as
 * dvk_shared.h: 32-bit scalar members only, sizes checked on the C side.
 *
 * Every f32 operand is bound as a window of its tensor (src/ops/window.h) that starts at an aligned byte
 * offset; the `*_off` members give the element offset of the dispatch's first element in that window. */
#ifndef DVK_CONV_SHARED_H
#define DVK_CONV_SHARED_H

#include "dvk_shared.h"

/* conv2d.comp: y = conv(relu?(x), w) + b, or y = r + gain * (conv + b); see src/ops/conv.h.
 * One dispatch covers nb images, output channels [co0, co0 + nco) and input channels [ci0, ci0 + nci). */
#define DVK_CONV_MODE_PLAIN 0u    /* y = acc (+ bias) */
#define DVK_CONV_MODE_RESIDUAL 1u /* y = r + gain * (acc (+ bias)) */
DVK_STRUCT(dvk_pc_conv2d) {
  DVK_U32 h, w;          /* image height and width (same for x and y) */
  DVK_U32 nci, nco;      /* input / output channels handled by this dispatch */
  DVK_U32 w_off;         /* weight window: element offset of input channel ci0's first weight */
  DVK_U32 co0;           /* first output channel (indexes the weights and bias) */
  DVK_U32 cout;          /* total output channels (the weight row length) */
  DVK_U32 x_off, x_img;  /* x window: element offset of (b0, ci0, 0, 0); elements per image */
  DVK_U32 y_off, y_img;  /* y window: element offset of (b0, co0, 0, 0); elements per image */
  DVK_U32 r_off;         /* r window: element offset of (b0, co0, 0, 0) (same image stride as y) */
  DVK_U32 mode;          /* DVK_CONV_MODE_* */
  DVK_U32 add_bias;      /* 1: add bias[co] */
  DVK_U32 relu;          /* 1: read x through ReLU */
  DVK_F32 gain;          /* residual gain (mode RESIDUAL) */
  DVK_U32 n_pgroups;     /* workgroups per (image, channel tile) along the pixels */
  DVK_U32 n_ctiles;      /* channel tiles (TC output channels each) */
  DVK_U32 n_groups;      /* total workgroups = n_pgroups * n_ctiles * nb */
};
DVK_PUSH_CHECK(dvk_pc_conv2d, 19)

/* upsample2x.comp / maxpool2x2.comp: per plane (one channel of one image), output [oh, ow] from input
 * [ih, iw]; planes n_planes. */
DVK_STRUCT(dvk_pc_plane2x) {
  DVK_U32 ih, iw, oh, ow;
  DVK_U32 n_planes;
  DVK_U32 x_off, y_off;
};
DVK_PUSH_CHECK(dvk_pc_plane2x, 7)

/* dvae_map.comp: decoder output [nb, channels, h, w] -> pixels (planar f32 or interleaved RGB8); the dVAE
 * variants read 6 channels through sigmoid, the linear ones (VQGAN) map [lo, lo + range] to [0, 1]. */
DVK_STRUCT(dvk_pc_dvae_map) {
  DVK_U32 nb, hw;        /* images, pixels per image */
  DVK_U32 x_off, y_off;  /* element offsets (y_off in 32-bit words for RGB8) */
  DVK_U32 channels;      /* linear variants: channels of x (>= 3) */
  DVK_F32 lo, range;     /* linear variants: v = clamp((x - lo) / range, 0, 1) */
};
DVK_PUSH_CHECK(dvk_pc_dvae_map, 7)

/* dvae_gather.comp: h[b, c, p] = wt[code[b, p], c] + bias[c]. */
DVK_STRUCT(dvk_pc_dvae_gather) {
  DVK_U32 nb, hw;        /* images, code positions per image (G*G) */
  DVK_U32 n_init;        /* output channels */
  DVK_U32 vocab;         /* codes outside [0, vocab) produce NaN */
  DVK_U32 y_off;
};
DVK_PUSH_CHECK(dvk_pc_dvae_gather, 5)

#endif
