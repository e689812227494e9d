/*
 * LTTng-UST tracepoint provider "llserver" (lttng-ust 2.13 API).
 *
 * The event list and field names follow shared/seeds/000_*.txt, the
 * llserver tracing document that started the corr project.
 *
 * Integer codes:
 *   logging_io.op               0 file_write, 1 net_send, 2 flush, 3 rotate
 *   backlog_trigger.reason_code 0 size_threshold, 1 growth_rate, 2 manual
 *   thread_heartbeat.thread_role 0 producer, 1 consumer, 2 logging, 3 monitor
 *   item_dropped.cause          0 queue_full
 */

#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER llserver

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./llserver_tp.h"

#if !defined(LLSERVER_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define LLSERVER_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

/* Producer enqueued packet `seqno`; queue_size is the size after enqueue. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, packet_received,
	LTTNG_UST_TP_ARGS(uint64_t, seqno, uint32_t, queue_size,
		uint64_t, t_produced_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seqno, seqno)
		lttng_ust_field_integer(uint32_t, queue_size, queue_size)
		lttng_ust_field_integer(uint64_t, t_produced_ns, t_produced_ns)
	)
)

/* Consumer dequeued `seqno` after it waited queue_delay_ns in the queue;
 * queue_size is the size after dequeue. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, process_start,
	LTTNG_UST_TP_ARGS(uint64_t, seqno, uint64_t, queue_delay_ns,
		uint32_t, queue_size),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seqno, seqno)
		lttng_ust_field_integer(uint64_t, queue_delay_ns, queue_delay_ns)
		lttng_ust_field_integer(uint32_t, queue_size, queue_size)
	)
)

/* Consumer finished `seqno` (CPU work + logging) in processing_ns. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, process_end,
	LTTNG_UST_TP_ARGS(uint64_t, seqno, uint64_t, processing_ns,
		uint8_t, success),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seqno, seqno)
		lttng_ust_field_integer(uint64_t, processing_ns, processing_ns)
		lttng_ust_field_integer(uint8_t, success, success)
	)
)

/* Time spent in pthread_mutex_lock() before the mutex was acquired. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, lock_wait,
	LTTNG_UST_TP_ARGS(const char *, mutex_name, uint64_t, wait_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(mutex_name, mutex_name)
		lttng_ust_field_integer(uint64_t, wait_ns, wait_ns)
	)
)

/* Time the mutex was held (emitted right after unlock). */
LTTNG_UST_TRACEPOINT_EVENT(llserver, lock_hold,
	LTTNG_UST_TP_ARGS(const char *, mutex_name, uint64_t, hold_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(mutex_name, mutex_name)
		lttng_ust_field_integer(uint64_t, hold_ns, hold_ns)
	)
)

/* A blocking logging I/O operation (emitted when it completes). */
LTTNG_UST_TRACEPOINT_EVENT(llserver, logging_io,
	LTTNG_UST_TP_ARGS(uint64_t, bytes, uint64_t, io_ns, uint8_t, op),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, bytes, bytes)
		lttng_ust_field_integer(uint64_t, io_ns, io_ns)
		lttng_ust_field_integer(uint8_t, op, op)
	)
)

/* Periodic queue status from the monitor thread. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, queue_snapshot,
	LTTNG_UST_TP_ARGS(uint32_t, queue_size, uint64_t, produced_total,
		uint64_t, consumed_total),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, queue_size, queue_size)
		lttng_ust_field_integer(uint64_t, produced_total, produced_total)
		lttng_ust_field_integer(uint64_t, consumed_total, consumed_total)
	)
)

/* The monitor detected a backlog (one event per spike). growth_rate_per_sec
 * is the queue growth, in items per second, over the last monitor period. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, backlog_trigger,
	LTTNG_UST_TP_ARGS(uint32_t, queue_size, int64_t, growth_rate_per_sec,
		uint8_t, reason_code),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, queue_size, queue_size)
		lttng_ust_field_integer(int64_t, growth_rate_per_sec,
			growth_rate_per_sec)
		lttng_ust_field_integer(uint8_t, reason_code, reason_code)
	)
)

/* The producer could not enqueue `seqno`. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, item_dropped,
	LTTNG_UST_TP_ARGS(uint64_t, seqno, uint32_t, queue_size, uint8_t, cause),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seqno, seqno)
		lttng_ust_field_integer(uint32_t, queue_size, queue_size)
		lttng_ust_field_integer(uint8_t, cause, cause)
	)
)

/* Liveness beat of one thread, about every 100 ms. */
LTTNG_UST_TRACEPOINT_EVENT(llserver, thread_heartbeat,
	LTTNG_UST_TP_ARGS(uint8_t, thread_role, uint64_t, t_beat_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint8_t, thread_role, thread_role)
		lttng_ust_field_integer(uint64_t, t_beat_ns, t_beat_ns)
	)
)

#endif /* LLSERVER_TP_H */

#include <lttng/tracepoint-event.h>
