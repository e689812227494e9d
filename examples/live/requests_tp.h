/*
 * LTTng-UST tracepoints of the live example (lttng-ust 2.13 API):
 * a request's begin and end, keyed by its id.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER requests

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./requests_tp.h"

#if !defined(REQUESTS_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define REQUESTS_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(requests, begin,
	LTTNG_UST_TP_ARGS(uint64_t, id),
	LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(uint64_t, id, id))
)

LTTNG_UST_TRACEPOINT_EVENT(requests, end,
	LTTNG_UST_TP_ARGS(uint64_t, id),
	LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(uint64_t, id, id))
)

#endif /* REQUESTS_TP_H */

#include <lttng/tracepoint-event.h>
