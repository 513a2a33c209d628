/* test_shuffle.c: the epoch order is a permutation, reproducible from
 * (seed, epoch), different between epochs and seeds, and well mixed. */
#include <stdlib.h>
#include <string.h>

#include "data/shuffle.h"
#include "testutil.h"

static int is_permutation(const shuffle *s, uint64_t n)
{
    unsigned char *seen = calloc(n, 1);
    ck_assert_ptr_nonnull(seen);
    int ok = 1;
    for (uint64_t i = 0; i < n && ok; i++) {
        uint64_t x = shuffle_at(s, i);
        ok = x < n && !seen[x];
        if (ok)
            seen[x] = 1;
    }
    free(seen);
    return ok;
}

START_TEST(permutation_for_awkward_sizes)
{
    const uint64_t sizes[] = {1, 2, 3, 5, 17, 255, 256, 257, 1000, 60000, 65537};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (uint64_t epoch = 0; epoch < 3; epoch++) {
            shuffle s;
            shuffle_init(&s, 42, epoch, sizes[k]);
            ck_assert_msg(is_permutation(&s, sizes[k]),
                          "n=%llu epoch=%llu is not a permutation",
                          (unsigned long long)sizes[k], (unsigned long long)epoch);
        }
}
END_TEST

START_TEST(reproducible_and_distinct)
{
    const uint64_t n = 60000;
    shuffle a, b, c, d;
    shuffle_init(&a, 1, 0, n);
    shuffle_init(&b, 1, 0, n);
    shuffle_init(&c, 1, 1, n);
    shuffle_init(&d, 2, 0, n);
    uint64_t same_c = 0, same_d = 0;
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_uint_eq(shuffle_at(&a, i), shuffle_at(&b, i));
        same_c += shuffle_at(&a, i) == shuffle_at(&c, i);
        same_d += shuffle_at(&a, i) == shuffle_at(&d, i);
    }
    /* Independent permutations agree at about one position in expectation. */
    ck_assert_uint_lt(same_c, 10);
    ck_assert_uint_lt(same_d, 10);
}
END_TEST

START_TEST(well_mixed)
{
    /* The first batch of an epoch should draw from the whole data set, not
     * from one region: its mean index is near n/2 and consecutive positions
     * are rarely neighbours. */
    const uint64_t n = 60000;
    shuffle s;
    shuffle_init(&s, 7, 3, n);
    double mean = 0;
    int neighbours = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t x = shuffle_at(&s, i), y = shuffle_at(&s, i + 1);
        mean += (double)x / 1000;
        neighbours += (x > y ? x - y : y - x) < 100;
    }
    ck_assert_double_gt(mean, n * 0.45);
    ck_assert_double_lt(mean, n * 0.55);
    ck_assert_int_lt(neighbours, 15);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shuffle");
    TCase *tc = tcase_create("shuffle");
    tcase_add_test(tc, permutation_for_awkward_sizes);
    tcase_add_test(tc, reproducible_and_distinct);
    tcase_add_test(tc, well_mixed);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
