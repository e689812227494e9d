/*
 * LTTng-UST tracepoint provider "calcjob" (lttng-ust 2.13 API): the lesson's
 * "your own tracepoints to correlate key functions" (shared/seeds/003_*):
 * a job's life and the job mutex's, so that a rule can pair them.
 *
 *   job_submit    {job}          the manager queued job `job`
 *   job_start     {job, worker}  worker `worker` took it
 *   job_end       {job, result}  the worker recorded its result
 *   lock_request  {lock}         about to lock mutex `lock`
 *   lock_acquired {lock}         got it
 *   lock_release  {lock}         about to unlock it
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER calcjob

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./calcjob_tp.h"

#if !defined(CALCJOB_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define CALCJOB_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(calcjob, job_submit,
	LTTNG_UST_TP_ARGS(int, job),
	LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int, job, job)))

LTTNG_UST_TRACEPOINT_EVENT(calcjob, job_start,
	LTTNG_UST_TP_ARGS(int, job, int, worker),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, job, job)
		lttng_ust_field_integer(int, worker, worker)))

LTTNG_UST_TRACEPOINT_EVENT(calcjob, job_end,
	LTTNG_UST_TP_ARGS(int, job, int64_t, result),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, job, job)
		lttng_ust_field_integer(int64_t, result, result)))

LTTNG_UST_TRACEPOINT_EVENT_CLASS(calcjob, lock_class,
	LTTNG_UST_TP_ARGS(const char *, lock),
	LTTNG_UST_TP_FIELDS(lttng_ust_field_string(lock, lock)))

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(calcjob, lock_class, calcjob, lock_request,
	LTTNG_UST_TP_ARGS(const char *, lock))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(calcjob, lock_class, calcjob, lock_acquired,
	LTTNG_UST_TP_ARGS(const char *, lock))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(calcjob, lock_class, calcjob, lock_release,
	LTTNG_UST_TP_ARGS(const char *, lock))

#endif

#include <lttng/tracepoint-event.h>
