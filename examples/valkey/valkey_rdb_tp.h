/*
 * LTTng-UST tracepoint provider "valkey_rdb", as Valkey's src/trace/trace_rdb.h
 * defines it (lttng-ust 2.13 API): one class, one field, the measured
 * operation's duration in microseconds (ustime()), traced when it ends.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER valkey_rdb

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./valkey_rdb_tp.h"

#if !defined(VALKEY_RDB_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define VALKEY_RDB_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(valkey_rdb, valkey_rdb_class,
	LTTNG_UST_TP_ARGS(uint64_t, duration),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, duration, duration)
	)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_rdb, valkey_rdb_class, valkey_rdb, fork,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_rdb, valkey_rdb_class, valkey_rdb, rdb_unlink_temp_file,
	LTTNG_UST_TP_ARGS(uint64_t, duration))

#endif

#include <lttng/tracepoint-event.h>
