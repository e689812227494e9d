/*
 * LTTng-UST tracepoint provider "monkey", as Monkey's mk_linuxtrace.h defines
 * it (shared/seeds/002_*), in the lttng-ust 2.13 API: three events, each an
 * fd (int) and what happened to it (a string: "REGISTERED", "EPOLLIN",
 * "FORCED CLOSE", "DELETE_CLIENT", ...).  epoll_state takes the epoll mode
 * too, as Monkey's does, and records only fd and event.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER monkey

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./monkey_tp.h"

#if !defined(MONKEY_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define MONKEY_TP_H

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(monkey, epoll,
	LTTNG_UST_TP_ARGS(int, fd, const char *, text),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, fd, fd)
		lttng_ust_field_string(event, text)))

LTTNG_UST_TRACEPOINT_EVENT(monkey, epoll_state,
	LTTNG_UST_TP_ARGS(int, fd, int, mode, const char *, text),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, fd, fd)
		lttng_ust_field_string(event, text)))

LTTNG_UST_TRACEPOINT_EVENT(monkey, scheduler,
	LTTNG_UST_TP_ARGS(int, fd, const char *, text),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, fd, fd)
		lttng_ust_field_string(event, text)))

#endif

#include <lttng/tracepoint-event.h>
