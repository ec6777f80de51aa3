/* A producer's pattern on one window, for callgrind: every 5 ms, take up
 * to 20 records of 200 bytes, then ask when the next one fits. Measure
 * with `valgrind --tool=callgrind build/tools/throttle_cost [legacy]` and
 * divide sp_window_take's inclusive cost by its calls (or by the records
 * taken, printed). "legacy": the older pacing (a tenth of the second per
 * 25 ms slot) at the full share from the start, the pattern the figures
 * before lazy expiry were taken with. */
#include <stdio.h>
#include <string.h>

#include "shardpipe/throttle.h"

int main(int argc, char **argv)
{
    sp_throttle_cfg c;
    sp_throttle_cfg_default(&c);
    c.start = 1.0;
    if (argc > 1 && strcmp(argv[1], "legacy") == 0)
        c.pace_ms = 0;
    sp_window b;
    sp_window_init(&b, &c, 0);
    b.hold_ms = 40;
    unsigned long taken = 0, calls = 0, waits = 0;
    for (uint64_t t = 0; t < 200000; t += 5) {
        int k = 0;
        while (k < 20) {
            calls++;
            if (!sp_window_take(&b, &c, t, 200))
                break;
            k++;
            taken++;
        }
        if (k < 20) {
            waits++;
            (void)sp_window_wait_ms(&b, &c, t, 200);
        }
    }
    printf("records taken %lu, take calls %lu, wait calls %lu\n", taken, calls, waits);
    return 0;
}
