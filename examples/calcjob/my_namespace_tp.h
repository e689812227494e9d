/*
 * LTTng-UST tracepoint provider "my_namespace": the minimal instrumentation
 * of the calcjob lesson (shared/seeds/003_*), in the lttng-ust 2.13 API:
 * one event, one int field.  calcjob emits it with the id of each job it
 * finishes.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER my_namespace

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./my_namespace_tp.h"

#if !defined(MY_NAMESPACE_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define MY_NAMESPACE_TP_H

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(my_namespace, my_event,
	LTTNG_UST_TP_ARGS(int, value),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, my_value, value)
	)
)

#endif

#include <lttng/tracepoint-event.h>
