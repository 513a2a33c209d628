/* clock: seconds on the monotonic clock, for timing steps and epochs (a
 * wall clock that jumps would make durations wrong). */
#ifndef CLOCK_H
#define CLOCK_H

double clock_seconds(void);

#endif
