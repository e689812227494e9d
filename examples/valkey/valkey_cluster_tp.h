/*
 * LTTng-UST tracepoint provider "valkey_cluster", as Valkey's src/trace/trace_cluster.h
 * defines it (lttng-ust 2.13 API): one class, one field, the measured
 * operation's duration in microseconds (ustime()), traced when it ends.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER valkey_cluster

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./valkey_cluster_tp.h"

#if !defined(VALKEY_CLUSTER_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define VALKEY_CLUSTER_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(valkey_cluster, valkey_cluster_class,
	LTTNG_UST_TP_ARGS(uint64_t, duration),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, duration, duration)
	)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_open,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_write,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_fsync,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_rename,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_dir_fsync,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_close,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, cluster_config_unlink,
	LTTNG_UST_TP_ARGS(uint64_t, duration))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(valkey_cluster, valkey_cluster_class, valkey_cluster, fork,
	LTTNG_UST_TP_ARGS(uint64_t, duration))

#endif

#include <lttng/tracepoint-event.h>
