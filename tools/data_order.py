"""data_order.py: cnn-cl's training order and augmentation draws, computed
in numpy, so a peer trainer (torch-train.py) can feed the same images in
the same order with the same flips, crops and cutouts.

The definitions are cnn-cl's own: kernels/rng.cl (splitmix64 streams),
src/data/shuffle.c (a keyed Feistel permutation per epoch) and
src/data/augment.c (a key per (seed, epoch, sample), a sub-stream per
step of the list). tests/test_data_order.sh holds these against the C
code. Epochs count from 0 here, as in cnn-cl's loader.
"""
import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_AUGMENT_TAG = 0x4155474D454E54  # "AUGMENT"


def rng_mix(x):
    """splitmix64's mix of uint64 values (an array or a Python int)."""
    if isinstance(x, int):
        return int(rng_mix(np.array([x & _MASK], dtype=np.uint64))[0])
    with np.errstate(over="ignore"):
        x = x + np.uint64(_GOLDEN)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def rng_key(parent, field):
    """The sub-stream of `parent` told apart by `field`."""
    return rng_mix(parent ^ rng_mix(field))


def rng_bits(key, counter):
    """Output `counter` (an int) of stream `key`."""
    with np.errstate(over="ignore"):
        return rng_mix(key + np.uint64((counter * _GOLDEN) & _MASK))


def permutation(seed, epoch, n):
    """Epoch `epoch`'s order of n samples: position i takes sample
    permutation(...)[i]."""
    bits = 2
    while bits < 64 and (1 << bits) < n:
        bits += 1
    bits += bits & 1
    half = bits // 2
    keys, k = [], rng_mix(rng_mix(seed) ^ epoch)
    for r in range(6):
        k = rng_mix((k + r) & _MASK)
        keys.append(np.uint64(k))
    mask, h = np.uint64((1 << half) - 1), np.uint64(half)

    def feistel(x):
        left, right = x >> h, x & mask
        for key in keys:
            left, right = right, left ^ (rng_mix(right ^ key) & mask)
        return left << h | right

    # Cycle-walking: re-apply the network until the value lands below n.
    x = feistel(np.arange(n, dtype=np.uint64))
    outside = x >= np.uint64(n)
    while outside.any():
        x[outside] = feistel(x[outside])
        outside = x >= np.uint64(n)
    return x.astype(np.int64)


def augment_keys(seed, epoch, samples):
    """The augmentation key of each sample index in `samples`."""
    epoch_key = rng_key(rng_key(seed, _AUGMENT_TAG), epoch)
    return rng_key(np.uint64(epoch_key), np.asarray(samples, dtype=np.uint64))


def flip_draws(keys, step):
    """Whether step `step` (a flip) mirrors each image of `keys`."""
    return (rng_bits(rng_key(keys, np.uint64(step)), 0) >> np.uint64(63)).astype(bool)


def _place_draws(keys, step, ny, nx):
    """Step `step`'s place (y, x) in [0, ny) x [0, nx) for each image of
    `keys` (augment.c's draw_place)."""
    k = rng_key(keys, np.uint64(step))
    return ((rng_bits(k, 0) % np.uint64(ny)).astype(np.int64),
            (rng_bits(k, 1) % np.uint64(nx)).astype(np.int64))


def crop_draws(keys, step, pad):
    """Step `step`'s (a crop:pad) offsets (dy, dx) in [0, 2 pad] for each
    image of `keys`: output pixel (y, x) is input (y + dy - pad, x + dx - pad)."""
    return _place_draws(keys, step, 2 * pad + 1, 2 * pad + 1)


def cutout_draws(keys, step, h, w):
    """Step `step`'s (a cutout) square centres (cy, cx), cy in [0, h) and cx
    in [0, w), for each image of `keys` of h x w pixels."""
    return _place_draws(keys, step, h, w)
