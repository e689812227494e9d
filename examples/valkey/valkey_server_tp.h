/*
 * LTTng-UST tracepoint provider "valkey_server", as Valkey's src/trace/trace_server.h
 * defines it (lttng-ust 2.13 API): one class, one field, the measured
 * operation's duration in microseconds (ustime()), traced when it ends.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER valkey_server

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./valkey_server_tp.h"

#if !defined(VALKEY_SERVER_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define VALKEY_SERVER_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(valkey_server, valkey_server_class,
	LTTNG_UST_TP_ARGS(uint64_t, duration),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, duration, duration)
	)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, command_unblocking,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, while_blocked_cron,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, eventloop,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, eventloop_cron,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, module_acquire_gil,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, command,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_server, valkey_server_class, valkey_server, fast_command,
	LTTNG_UST_TP_ARGS(uint64_t, duration))

#endif

#include <lttng/tracepoint-event.h>
