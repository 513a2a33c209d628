/* every_kind.c: prints the every-kind networks of every_kind.h, one per
 * line, for the shell tests: EVERY_KIND_ARCH, then EVERY_KIND_GAP_ARCH. */
#include <stdio.h>

#include "every_kind.h"

int main(void)
{
    puts(EVERY_KIND_ARCH);
    puts(EVERY_KIND_GAP_ARCH);
    return 0;
}
