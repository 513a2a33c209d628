/* every_kind.h: the networks that use every kind of the layer table,
 * shared by test_network.c, which checks them on the reference, and the
 * interop suite, which exports them (every_kind.c prints them). */
#ifndef EVERY_KIND_H
#define EVERY_KIND_H

/* EVERY KIND: a network that uses every kind of the layer table at least
 * once, with a ReLU that is not fused (after a pool). A new kind goes in
 * here. Both networks give 4 classes.
 * bn sits where its many values per channel vary in sign before the ReLU: a
 * bias whose every path into bn is an always-active ReLU has a gradient of
 * exactly 0, and Adam's first step would turn its float noise into +-lr. */
#define EVERY_KIND_ARCH \
    "conv5k3s2same-relu-bn-drop0.25-pool3s2-relu-conv3k2same-relu-avgpool2s1-flatten-fc7-relu-" \
    "drop0.5-fc4"
/* gap gives a flat output as flatten does, so it has a network of its own,
 * with the stride-1 'valid' convolution and the 2x2 pool of the reference
 * model. */
#define EVERY_KIND_GAP_ARCH "conv5k3-relu-pool2-conv4k3-relu-avgpool2s1-gap-fc7-relu-fc4"

#endif
