/* st_compare: the tests' comparison of two checkpoints' tensors.
 *
 *   st_compare A B PREFIX TOL
 *
 * For every F32 tensor of A whose name starts with PREFIX ("" for all),
 * the same tensor of B must exist with the same shape, and differ by at
 * most TOL relative to the tensor's largest magnitude:
 * max|a - b| <= TOL * max|a|. Prints each tensor's figure; exit 0 when all
 * hold, 1 when one does not, 2 on bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/safetensors.h"

static float *tensor(const st_header *h, const st_entry *e, size_t *count)
{
    cnn_error err = {0};
    *count = (size_t)(e->end - e->begin) / sizeof(float);
    float *v = malloc(*count * sizeof *v + 1);
    if (!v || st_read_f32(h, e, v, *count, &err)) {
        fprintf(stderr, "st_compare: %s: %s\n", e->name, err.msg);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: st_compare A B PREFIX TOL\n");
        return 2;
    }
    st_header a, b;
    cnn_error err = {0};
    if (st_read_header(argv[1], &a, &err) || st_read_header(argv[2], &b, &err)) {
        fprintf(stderr, "st_compare: %s\n", err.msg);
        return 2;
    }
    double tol = atof(argv[4]);
    int bad = 0, seen = 0;
    for (int i = 0; i < a.count; i++) {
        const st_entry *ea = &a.entries[i];
        if (strncmp(ea->name, argv[3], strlen(argv[3])) || strcmp(ea->dtype, "F32"))
            continue;
        const st_entry *eb = st_find(&b, ea->name);
        if (!eb || eb->end - eb->begin != ea->end - ea->begin) {
            printf("%s: missing or of another size in %s\n", ea->name, argv[2]);
            bad = 1;
            continue;
        }
        size_t na, nb;
        float *va = tensor(&a, ea, &na), *vb = tensor(&b, eb, &nb);
        double diff = 0, big = 0;
        for (size_t j = 0; j < na; j++) {
            diff = fmax(diff, fabs((double)va[j] - vb[j]));
            big = fmax(big, fabs((double)va[j]));
        }
        double rel = big > 0 ? diff / big : diff;
        printf("%s: max |a-b| / max |a| = %.3g\n", ea->name, rel);
        bad |= !(rel <= tol);
        seen++;
        free(va);
        free(vb);
    }
    st_header_free(&a);
    st_header_free(&b);
    if (!seen) {
        printf("no tensor starts with '%s'\n", argv[3]);
        return 1;
    }
    return bad;
}
