/* archs.h: networks shared by test_network.c, which checks them on the
 * reference, and the interop suite, which exports them (archs.c prints
 * them). Each gives 4 classes. */
#ifndef ARCHS_H
#define ARCHS_H

/* EVERY KIND: a network that uses every kind of the layer table at least
 * once, with a ReLU that is not fused (after a pool). A new kind goes in
 * here.
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
/* PADDED: PyTorch's padding=P (p<P> tokens) at strides 1, 2 and 3, P 1
 * and 2, K 3 and 5, in a block as torchvision's ResNets stride it (the
 * chain's s2 p<P> matches its 1x1 projection at stride 2): 13x11 gives
 * 7x6, 4x3 in the block, then 2x1. */
#define PAD_ARCH \
    "conv8k3s2p1-relu-res[bn-conv8k3p1-relu-conv6k5s2p2]-relu-conv4k3s3p1-relu-flatten-fc4"

#endif
