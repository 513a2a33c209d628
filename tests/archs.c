/* archs.c: prints the networks of archs.h, one a line as NAME=SPEC, for
 * the shell tests. */
#include <stdio.h>

#include "archs.h"

int main(void)
{
    printf("EVERY_KIND_ARCH=%s\n", EVERY_KIND_ARCH);
    printf("EVERY_KIND_GAP_ARCH=%s\n", EVERY_KIND_GAP_ARCH);
    printf("PAD_ARCH=%s\n", PAD_ARCH);
    return 0;
}
