/* order_dump.c: prints cnn-cl's order and augmentation draws for
 * test_data_order.sh to hold tools/data_order.py against.
 *
 *   order_dump SEED EPOCH N PAD H W
 *
 * One line per position i < N: i, the sample at position i, then the draws
 * of sample i for the list "flip,crop:PAD,cutout:S" on H x W images (step
 * 0 flips, step 1 crops, step 2 cuts out; S does not change the draws):
 * the flip, dy, dx, cy and cx. */
#include <stdio.h>
#include <stdlib.h>

#include "data/augment.h"
#include "data/shuffle.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: order_dump SEED EPOCH N PAD H W\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[1], NULL, 10), epoch = strtoull(argv[2], NULL, 10);
    uint64_t n = strtoull(argv[3], NULL, 10);
    int pad = atoi(argv[4]), h = atoi(argv[5]), w = atoi(argv[6]);
    shuffle s;
    shuffle_init(&s, seed, epoch, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t key = augment_key(seed, epoch, i);
        int dy, dx, cy, cx;
        augment_draw_crop(key, 1, pad, &dy, &dx);
        augment_draw_cutout(key, 2, h, w, &cy, &cx);
        printf("%llu %llu %d %d %d %d %d\n", (unsigned long long)i,
               (unsigned long long)shuffle_at(&s, i), augment_draw_flip(key, 0), dy, dx, cy, cx);
    }
    return 0;
}
