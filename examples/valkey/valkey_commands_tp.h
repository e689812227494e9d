/*
 * LTTng-UST tracepoint provider "valkey_commands", as Valkey's
 * src/trace/trace_commands.h defines it (lttng-ust 2.13 API): one event per
 * command call, traced when it returns, with the connection type (an enum),
 * the client's and the local address, the command's name and its duration
 * in microseconds.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER valkey_commands

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./valkey_commands_tp.h"

#if !defined(VALKEY_COMMANDS_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define VALKEY_COMMANDS_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_ENUM(valkey_commands, valkey_conn_type_enum,
	LTTNG_UST_TP_ENUM_VALUES(
		lttng_ust_field_enum_value("SOCKET", 1)
		lttng_ust_field_enum_value("UNIX", 2)
		lttng_ust_field_enum_value("TLS", 3)
		lttng_ust_field_enum_value("RDMA", 4)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(valkey_commands, command_call,
	LTTNG_UST_TP_ARGS(int, prot, const char *, addr, const char *, laddr,
		const char *, name, uint64_t, duration),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_enum(valkey_commands, valkey_conn_type_enum, int, enum_field, prot)
		lttng_ust_field_string(addr, addr)
		lttng_ust_field_string(laddr, laddr)
		lttng_ust_field_string(name, name)
		lttng_ust_field_integer(uint64_t, duration, duration)
	)
)

#endif

#include <lttng/tracepoint-event.h>
