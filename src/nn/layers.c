/* layers.c: the table of layer kinds (see layer.h), and the small helpers
 * the kinds' parsers share. */
#include "layer.h"

#include <errno.h>
#include <stdlib.h>

long layer_parse_number(const char **p)
{
    if (**p < '0' || **p > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    *p = end;
    return errno || v < 1 || v > 1 << 20 ? -1 : v;
}

cnn_status layer_bad_token(const arch_layer *l, cnn_error *err)
{
    return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' is not %s", l->token,
                    l->kind->syntax);
}
