/*
 * LTTng-UST tracepoint provider "valkey_aof", as Valkey's src/trace/trace_aof.h
 * defines it (lttng-ust 2.13 API): one class, one field, the measured
 * operation's duration in microseconds (ustime()), traced when it ends.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER valkey_aof

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./valkey_aof_tp.h"

#if !defined(VALKEY_AOF_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define VALKEY_AOF_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(valkey_aof, valkey_aof_class,
	LTTNG_UST_TP_ARGS(uint64_t, duration),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, duration, duration)
	)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, fork,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_write_pending_fsync,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_write_active_child,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_write_alone,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_write,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_fsync_always,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_fstat,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_rename,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_aof, valkey_aof_class, valkey_aof, aof_flush,
	LTTNG_UST_TP_ARGS(uint64_t, duration))

#endif

#include <lttng/tracepoint-event.h>
