/* tools/tg.c — placeholder until the command lands. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "tg: not implemented yet\n");
    return 1;
}
