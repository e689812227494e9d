/*
 * requests: serves COUNT requests one after another, each PERIOD_MS apart;
 * every SLOW_EVERY-th takes SLOW_MS, every LOST_EVERY-th never ends (no
 * "end" event: a timeout for a live reader).  The others take 1 ms.
 *
 *   requests COUNT PERIOD_MS SLOW_EVERY SLOW_MS LOST_EVERY
 *
 * Waits for a line on stdin first when given "--wait" as its only argument
 * before them, so that a test can start it before tracing starts.
 */
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "requests_tp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

int main(int argc, char **argv)
{
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "--wait") == 0) {
		char line[16];
		first = 2;
		if (!fgets(line, sizeof line, stdin))
			return 1;
	}
	if (argc - first != 5) {
		fprintf(stderr, "usage: %s [--wait] COUNT PERIOD_MS SLOW_EVERY SLOW_MS LOST_EVERY\n",
			argv[0]);
		return 2;
	}
	long count = atol(argv[first]), period = atol(argv[first + 1]);
	long slow_every = atol(argv[first + 2]), slow_ms = atol(argv[first + 3]);
	long lost_every = atol(argv[first + 4]);
	for (long id = 1; id <= count; id++) {
		lttng_ust_tracepoint(requests, begin, (uint64_t) id);
		if (lost_every > 0 && id % lost_every == 0) {
			/* never ends */
		} else {
			sleep_ms(slow_every > 0 && id % slow_every == 0 ? slow_ms : 1);
			lttng_ust_tracepoint(requests, end, (uint64_t) id);
		}
		sleep_ms(period);
	}
	printf("served %ld requests\n", count);
	return 0;
}
