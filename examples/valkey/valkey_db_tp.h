/*
 * LTTng-UST tracepoint provider "valkey_db", as Valkey's src/trace/trace_db.h
 * defines it (lttng-ust 2.13 API): one class, one field, the measured
 * operation's duration in microseconds (ustime()), traced when it ends.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER valkey_db

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./valkey_db_tp.h"

#if !defined(VALKEY_DB_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define VALKEY_DB_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(valkey_db, valkey_db_class,
	LTTNG_UST_TP_ARGS(uint64_t, duration),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, duration, duration)
	)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, expire_del,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, active_defrag_cycle,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, eviction_del,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, eviction_lazyfree,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, eviction_cycle,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, expire_cycle,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, expire_cycle_keys,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_db, valkey_db_class, valkey_db, expire_cycle_fields,
	LTTNG_UST_TP_ARGS(uint64_t, duration))

#endif

#include <lttng/tracepoint-event.h>
