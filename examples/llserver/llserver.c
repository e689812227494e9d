/*
 * llserver — a small producer/consumer server instrumented with LTTng-UST
 * tracepoints (provider "llserver", see llserver_tp.h), whose queue backs up
 * in short, deterministic spikes with three distinct causes:
 *
 *   lock  The logger thread periodically rotates its log while holding
 *         log_mutex across synchronous write+fdatasync rounds.  The consumer
 *         needs log_mutex to log each item, so it blocks on the futex.
 *   io    The consumer periodically flushes its journal itself: synchronous
 *         write+fdatasync rounds in the consumer's own path (blocked in I/O).
 *   hog   A SCHED_FIFO "cpuhog" thread pinned to the consumer's CPU spins for
 *         a few ms, so the consumer is runnable but preempted.
 *
 * The consumer and cpuhog are pinned to --consumer-cpu (default 0); the
 * producer, logger and monitor to --producer-cpu (default: the last CPU), so
 * that only the consumer suffers from the hog.
 *
 * Each cause fires every --*-every ms starting at --*-offset ms after start,
 * and lasts about --*-ms ms.  With the defaults (1.5 s, 600 packets/s,
 * period 500 ms, offsets 100/250/400 ms, 30 ms each) a run has 3 spikes of
 * each cause, each backing the queue up by ~18 packets, at
 * +100, +250, +400, +600, +750, +900, +1100, +1250, +1400 ms.
 *
 * Every timestamp field (t_produced_ns, t_beat_ns) is CLOCK_MONOTONIC in ns,
 * the clock of both LTTng-UST and `perf record -k CLOCK_MONOTONIC`.
 *
 * Build: gcc -O2 -Wall -I. -o llserver llserver.c -llttng-ust -ldl -lpthread
 */
#define _GNU_SOURCE

#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "llserver_tp.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ULL
#define NEVER UINT64_MAX

enum { OP_FILE_WRITE = 0, OP_NET_SEND = 1, OP_FLUSH = 2, OP_ROTATE = 3 };
enum { REASON_SIZE = 0, REASON_GROWTH = 1, REASON_MANUAL = 2 };
enum { ROLE_PRODUCER = 0, ROLE_CONSUMER = 1, ROLE_LOGGING = 2, ROLE_MONITOR = 3 };
enum { DROP_QUEUE_FULL = 0 };

static const char LOG_MUTEX_NAME[] = "log_mutex";

/* ------------------------------------------------------------------ config */

static struct config {
	unsigned duration_ms;
	unsigned rate;              /* packets per second */
	unsigned work_us;           /* CPU work per packet */
	unsigned queue_cap;
	unsigned threshold;         /* backlog_trigger when queue_size >= this */
	unsigned growth_threshold;  /* items/s; 0 = 4/5 of the rate */
	unsigned monitor_ms;
	unsigned log_ms;            /* logger batch period */
	unsigned fsync_ms;          /* logger fsync period */
	unsigned heartbeat_ms;
	unsigned lock_every, lock_offset, lock_ms;
	unsigned io_every, io_offset, io_ms;
	unsigned hog_every, hog_offset, hog_ms;
	int consumer_cpu;           /* -1: not pinned */
	int producer_cpu;           /* -1: not pinned */
	const char *log_file;
	bool keep_log;
	bool quiet;
	bool dry_run;               /* check the arguments and exit */
} cfg = {
	.duration_ms = 1500,
	.rate = 600,
	.work_us = 200,
	.queue_cap = 4096,
	.threshold = 10,
	.growth_threshold = 0,
	.monitor_ms = 5,
	.log_ms = 10,
	.fsync_ms = 100,
	.heartbeat_ms = 100,
	.lock_every = 500, .lock_offset = 100, .lock_ms = 30,
	.io_every = 500, .io_offset = 250, .io_ms = 30,
	.hog_every = 500, .hog_offset = 400, .hog_ms = 30,
	.consumer_cpu = -2,         /* -2: default (CPU 0) */
	.producer_cpu = -2,         /* -2: default (last CPU if >1 CPU) */
	.log_file = NULL,
	.keep_log = false,
	.quiet = false,
};

/* ------------------------------------------------------------------- utils */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = (time_t) (t / 1000000000ULL),
		.tv_nsec = (long) (t % 1000000000ULL),
	};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static pid_t gettid_(void)
{
	return (pid_t) syscall(SYS_gettid);
}

static void die(const char *what)
{
	fprintf(stderr, "llserver: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin_self(int cpu, const char *who)
{
	cpu_set_t set;
	int err;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		fprintf(stderr, "llserver: warning: cannot pin %s to CPU %d: %s\n",
			who, cpu, strerror(err));
}

/* Shared start time, set by main just before releasing the threads. */
static uint64_t t0, t_end;
static pthread_barrier_t start_barrier;
static volatile int stop_flag;

static struct tids {
	pid_t producer, consumer, logger, monitor, cpuhog;
} tids;

/* Cause windows actually observed, for the summary (ns since t0). */
#define MAX_WINDOWS 64
struct window { uint64_t start, end; };
static struct window lock_win[MAX_WINDOWS], io_win[MAX_WINDOWS], hog_win[MAX_WINDOWS];
static unsigned n_lock_win, n_io_win, n_hog_win;

static void add_window(struct window *w, unsigned *n, uint64_t a, uint64_t b)
{
	if (*n < MAX_WINDOWS) {
		w[*n].start = a - t0;
		w[*n].end = b - t0;
		(*n)++;
	}
}

static uint64_t first_at(unsigned every, unsigned offset)
{
	return every ? t0 + (uint64_t) offset * NS_PER_MS : NEVER;
}

/* ------------------------------------------------------------------- queue */

struct item {
	uint64_t seqno;
	uint64_t t_produced;
};

static struct queue {
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	struct item *buf;
	uint32_t cap, head, count, max_count;
	uint64_t produced, consumed, dropped;
	bool done;
} q = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.nonempty = PTHREAD_COND_INITIALIZER,
};

/* ---------------------------------------------------------------- log data */

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
#define LOG_BUF_CAP (256 * 1024)
static char *log_buf, *log_spare;   /* consumer appends to log_buf */
static size_t log_len;
static uint64_t log_lines_lost;
static int log_fd = -1, journal_fd = -1;
static char log_path[4096], log_old_path[4200], journal_path[4200];
static char io_block[64 * 1024];    /* one synchronous-I/O round */

/*
 * Synchronous I/O rounds: write a 64 KiB block then fdatasync, until at least
 * min_ns have passed.  Real blocking disk I/O of a deterministic duration.
 */
static uint64_t sync_io_rounds(int fd, uint64_t min_ns)
{
	uint64_t start = now_ns(), bytes = 0;
	unsigned rounds = 0;

	do {
		ssize_t n = write(fd, io_block, sizeof(io_block));
		if (n > 0)
			bytes += (uint64_t) n;
		fdatasync(fd);
		rounds++;
	} while (now_ns() - start < min_ns && rounds < 100000);
	return bytes;
}

static uint64_t write_all(int fd, const char *p, size_t n)
{
	uint64_t done = 0;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += w;
		n -= (size_t) w;
		done += (uint64_t) w;
	}
	return done;
}

/* Lock log_mutex, emitting lock_wait at the moment it is acquired.
 * Returns the acquisition time. */
static uint64_t log_lock(void)
{
	uint64_t a = now_ns(), b;

	pthread_mutex_lock(&log_mutex);
	b = now_ns();
	lttng_ust_tracepoint(llserver, lock_wait, LOG_MUTEX_NAME, b - a);
	return b;
}

/* Unlock log_mutex acquired at `acquired`, emitting lock_hold. */
static void log_unlock(uint64_t acquired)
{
	uint64_t c = now_ns();

	pthread_mutex_unlock(&log_mutex);
	lttng_ust_tracepoint(llserver, lock_hold, LOG_MUTEX_NAME, c - acquired);
}

/* Swap the consumer's buffer out under log_mutex; caller holds the lock. */
static size_t take_log_locked(char **out)
{
	size_t n = log_len;
	char *tmp = log_buf;

	log_buf = log_spare;
	log_spare = tmp;
	log_len = 0;
	*out = tmp;
	return n;
}

/* --------------------------------------------------------------- heartbeat */

static void heartbeat(uint8_t role, uint64_t *next)
{
	uint64_t t = now_ns();

	if (t >= *next) {
		lttng_ust_tracepoint(llserver, thread_heartbeat, role, t);
		while (*next <= t)
			*next += (uint64_t) cfg.heartbeat_ms * NS_PER_MS;
	}
}

/* ---------------------------------------------------------------- producer */

static void *producer_main(void *arg)
{
	uint64_t period = 1000000000ULL / cfg.rate, next, beat, seqno = 0;

	(void) arg;
	pthread_setname_np(pthread_self(), "producer");
	tids.producer = gettid_();
	pin_self(cfg.producer_cpu, "producer");
	pthread_barrier_wait(&start_barrier);
	next = t0;
	beat = t0;

	while (next < t_end) {
		uint64_t t;
		uint32_t size;
		bool dropped = false;

		sleep_until(next);
		t = now_ns();
		seqno++;
		pthread_mutex_lock(&q.mu);
		if (q.count == q.cap) {
			dropped = true;
			q.dropped++;
		} else {
			struct item *it = &q.buf[(q.head + q.count) % q.cap];
			it->seqno = seqno;
			it->t_produced = t;
			q.count++;
			q.produced++;
			if (q.count > q.max_count)
				q.max_count = q.count;
			/* Recorded before the consumer can take it: after the unlock, a
			 * producer preempted there let the consumer's process_start come
			 * first in the trace. */
			lttng_ust_tracepoint(llserver, packet_received, seqno, q.count, t);
			pthread_cond_signal(&q.nonempty);
		}
		size = q.count;
		pthread_mutex_unlock(&q.mu);
		if (dropped)
			lttng_ust_tracepoint(llserver, item_dropped, seqno, size,
				DROP_QUEUE_FULL);
		heartbeat(ROLE_PRODUCER, &beat);
		next += period;
	}
	return NULL;
}

/* ---------------------------------------------------------------- consumer */

static unsigned long work_iters;
static volatile uint64_t work_sink;

/* A fixed amount of CPU work (it takes longer when preempted). */
static void cpu_work(unsigned long iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (unsigned long i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	work_sink = x;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void calibrate_work(void)
{
	const unsigned long probe = 200000;
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t a = thread_cpu_ns(), d;
		cpu_work(probe);
		d = thread_cpu_ns() - a;
		if (d < best)
			best = d;
	}
	if (best == 0)
		best = 1;
	work_iters = (unsigned long) ((double) probe * cfg.work_us * 1000.0 / (double) best);
}

static void *consumer_main(void *arg)
{
	uint64_t beat, next_io;

	(void) arg;
	pthread_setname_np(pthread_self(), "consumer");
	tids.consumer = gettid_();
	pin_self(cfg.consumer_cpu, "consumer");
	pthread_barrier_wait(&start_barrier);
	beat = t0;
	next_io = first_at(cfg.io_every, cfg.io_offset);

	for (;;) {
		struct item it;
		uint32_t size;
		uint64_t ts, te, acq;

		pthread_mutex_lock(&q.mu);
		while (q.count == 0 && !q.done)
			pthread_cond_wait(&q.nonempty, &q.mu);
		if (q.count == 0 && q.done) {
			pthread_mutex_unlock(&q.mu);
			break;
		}
		it = q.buf[q.head];
		q.head = (q.head + 1) % q.cap;
		q.count--;
		q.consumed++;
		size = q.count;
		pthread_mutex_unlock(&q.mu);

		ts = now_ns();
		lttng_ust_tracepoint(llserver, process_start, it.seqno,
			ts - it.t_produced, size);

		cpu_work(work_iters);

		/* Log the item: needs log_mutex (contended during rotation). */
		acq = log_lock();
		if (log_len + 128 < LOG_BUF_CAP)
			log_len += (size_t) snprintf(log_buf + log_len, 128,
				"seq=%llu delay_us=%llu queue=%u\n",
				(unsigned long long) it.seqno,
				(unsigned long long) ((ts - it.t_produced) / 1000),
				size);
		else
			log_lines_lost++;
		log_unlock(acq);

		/* Periodic synchronous journal flush in the consumer's path. */
		if (now_ns() >= next_io) {
			uint64_t a = now_ns(), bytes, b;
			bytes = sync_io_rounds(journal_fd, (uint64_t) cfg.io_ms * NS_PER_MS);
			b = now_ns();
			lttng_ust_tracepoint(llserver, logging_io, bytes, b - a, OP_FLUSH);
			add_window(io_win, &n_io_win, a, b);
			while (next_io <= b)
				next_io += (uint64_t) cfg.io_every * NS_PER_MS;
		}

		te = now_ns();
		lttng_ust_tracepoint(llserver, process_end, it.seqno, te - ts, 1);
		heartbeat(ROLE_CONSUMER, &beat);
	}
	return NULL;
}

/* ------------------------------------------------------------------ logger */

static void rotate_locked(uint64_t hold_ns, uint64_t *bytes)
{
	int fd;

	/* Rotate: the current file becomes .1, a fresh one is opened. */
	fdatasync(log_fd);
	rename(log_path, log_old_path);
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (fd >= 0) {
		close(log_fd);
		log_fd = fd;
	}
	*bytes += write_all(log_fd, "# rotated\n", 10);
	/* ...and its header is written synchronously, still under the lock. */
	*bytes += sync_io_rounds(log_fd, hold_ns);
}

static void *logger_main(void *arg)
{
	uint64_t beat, next_batch, next_fsync, next_lock;

	(void) arg;
	pthread_setname_np(pthread_self(), "logger");
	tids.logger = gettid_();
	pin_self(cfg.producer_cpu, "logger");
	pthread_barrier_wait(&start_barrier);
	beat = t0;
	next_batch = t0 + (uint64_t) cfg.log_ms * NS_PER_MS;
	next_fsync = t0 + (uint64_t) cfg.fsync_ms * NS_PER_MS;
	next_lock = first_at(cfg.lock_every, cfg.lock_offset);

	for (;;) {
		uint64_t wake = next_batch < next_lock ? next_batch : next_lock;
		int last = stop_flag;
		char *data;
		size_t n;
		uint64_t acq, a, b, bytes;

		if (!last)
			sleep_until(wake);
		last = last || stop_flag;

		if (!last && now_ns() >= next_lock) {
			/* Rotation while holding log_mutex: the lock cause. */
			acq = log_lock();
			a = now_ns();
			bytes = 0;
			rotate_locked((uint64_t) cfg.lock_ms * NS_PER_MS, &bytes);
			n = take_log_locked(&data);
			bytes += write_all(log_fd, data, n);
			b = now_ns();
			log_unlock(acq);
			lttng_ust_tracepoint(llserver, logging_io, bytes, b - a, OP_ROTATE);
			add_window(lock_win, &n_lock_win, acq, b);
			while (next_lock <= b)
				next_lock += (uint64_t) cfg.lock_every * NS_PER_MS;
		} else {
			/* Regular batch: swap the buffer under the lock, write outside. */
			acq = log_lock();
			n = take_log_locked(&data);
			log_unlock(acq);
			if (n > 0) {
				a = now_ns();
				bytes = write_all(log_fd, data, n);
				b = now_ns();
				lttng_ust_tracepoint(llserver, logging_io, bytes, b - a,
					OP_FILE_WRITE);
			}
			if (last || now_ns() >= next_fsync) {
				a = now_ns();
				fsync(log_fd);
				b = now_ns();
				lttng_ust_tracepoint(llserver, logging_io, 0, b - a, OP_FLUSH);
				while (next_fsync <= b)
					next_fsync += (uint64_t) cfg.fsync_ms * NS_PER_MS;
			}
		}
		while (next_batch <= now_ns())
			next_batch += (uint64_t) cfg.log_ms * NS_PER_MS;
		heartbeat(ROLE_LOGGING, &beat);
		if (last)
			break;
	}
	return NULL;
}

/* ----------------------------------------------------------------- monitor */

static uint64_t n_triggers;

static void *monitor_main(void *arg)
{
	uint64_t beat, next, prev_t;
	uint32_t prev_size = 0;
	bool armed = true;
	uint64_t growth_thr = cfg.growth_threshold ? cfg.growth_threshold
		: (uint64_t) cfg.rate * 4 / 5;

	(void) arg;
	pthread_setname_np(pthread_self(), "monitor");
	tids.monitor = gettid_();
	pin_self(cfg.producer_cpu, "monitor");
	pthread_barrier_wait(&start_barrier);
	beat = t0;
	prev_t = t0;
	next = t0 + (uint64_t) cfg.monitor_ms * NS_PER_MS;

	while (!stop_flag) {
		uint32_t size;
		uint64_t produced, consumed, t;
		int64_t growth;

		sleep_until(next);
		next += (uint64_t) cfg.monitor_ms * NS_PER_MS;
		pthread_mutex_lock(&q.mu);
		size = q.count;
		produced = q.produced;
		consumed = q.consumed;
		pthread_mutex_unlock(&q.mu);
		t = now_ns();
		lttng_ust_tracepoint(llserver, queue_snapshot, size, produced, consumed);

		growth = (int64_t) (((double) size - (double) prev_size) * 1e9
			/ (double) (t - prev_t));
		if (armed && size >= cfg.threshold) {
			lttng_ust_tracepoint(llserver, backlog_trigger, size, growth,
				REASON_SIZE);
			armed = false;
			n_triggers++;
		} else if (armed && growth >= (int64_t) growth_thr
				&& size >= cfg.threshold / 2) {
			lttng_ust_tracepoint(llserver, backlog_trigger, size, growth,
				REASON_GROWTH);
			armed = false;
			n_triggers++;
		} else if (!armed && size <= cfg.threshold / 4) {
			armed = true;
		}
		prev_size = size;
		prev_t = t;
		heartbeat(ROLE_MONITOR, &beat);
	}
	return NULL;
}

/* ------------------------------------------------------------------ cpuhog */

static const char *hog_policy = "none";

static void *cpuhog_main(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	uint64_t next;

	(void) arg;
	pthread_setname_np(pthread_self(), "cpuhog");
	tids.cpuhog = gettid_();
	pin_self(cfg.consumer_cpu, "cpuhog");
	/* Real-time priority: it preempts the consumer as soon as it wakes. */
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0)
		hog_policy = "SCHED_FIFO 1";
	else if (setpriority(PRIO_PROCESS, (id_t) tids.cpuhog, -20) == 0)
		hog_policy = "nice -20";
	else
		hog_policy = "nice 0 (no privilege: weak hog)";
	pthread_barrier_wait(&start_barrier);
	next = first_at(cfg.hog_every, cfg.hog_offset);

	while (next < t_end) {
		uint64_t a, until;

		sleep_until(next);
		if (stop_flag)
			break;
		a = now_ns();
		until = a + (uint64_t) cfg.hog_ms * NS_PER_MS;
		while (now_ns() < until)
			cpu_work(1000);
		add_window(hog_win, &n_hog_win, a, now_ns());
		next += (uint64_t) cfg.hog_every * NS_PER_MS;
	}
	return NULL;
}

/* -------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
"usage: llserver [options]\n"
"\n"
"A producer/consumer server with LTTng-UST tracepoints (provider llserver)\n"
"and deterministic backlog spikes.  Times are in ms unless stated.\n"
"\n"
"  -d, --duration-ms N       run for N ms (default %u)\n"
"  -r, --rate N              packets per second (default %u)\n"
"  -w, --work-us N           CPU work per packet, in us (default %u)\n"
"  -q, --queue-cap N         queue capacity; full queue drops (default %u)\n"
"  -t, --threshold N         backlog_trigger at this queue size (default %u)\n"
"      --growth-threshold N  ...or at this growth (items/s) with half the\n"
"                            size (default 4/5 of the rate)\n"
"      --monitor-ms N        queue_snapshot period (default %u)\n"
"      --log-ms N            logger batch period (default %u)\n"
"      --fsync-ms N          logger fsync period (default %u)\n"
"  lock cause: logger rotates its log holding log_mutex across sync I/O\n"
"      --lock-every N        period, 0 = off (default %u)\n"
"      --lock-offset N       first at this time (default %u)\n"
"      --lock-ms N           hold time (default %u)\n"
"      --no-lock             same as --lock-every 0\n"
"  io cause: consumer flushes its journal synchronously (write+fdatasync)\n"
"      --io-every N          period, 0 = off (default %u)\n"
"      --io-offset N         first at this time (default %u)\n"
"      --io-ms N             I/O time (default %u)\n"
"      --no-io               same as --io-every 0\n"
"  hog cause: SCHED_FIFO cpuhog thread spins on the consumer's CPU\n"
"      --hog-every N         period, 0 = off (default %u)\n"
"      --hog-offset N        first at this time (default %u)\n"
"      --hog-ms N            spin time (default %u)\n"
"      --no-hog              same as --hog-every 0\n"
"      --consumer-cpu N      pin consumer and cpuhog to CPU N, -1 = no\n"
"                            pinning (default 0)\n"
"      --producer-cpu N      pin producer, logger and monitor to CPU N,\n"
"                            -1 = no pinning\n"
"                            (default: the last CPU when there are 2+)\n"
"      --log-file PATH       log file (default /var/tmp/llserver.PID.log);\n"
"                            PATH.1 and PATH.journal are also written\n"
"      --keep-log            do not delete the log files at exit\n"
"      --quiet               print only the summary line\n"
"      --dry-run             check the arguments and exit\n"
"  -h, --help\n",
		cfg.duration_ms, cfg.rate, cfg.work_us, cfg.queue_cap, cfg.threshold,
		cfg.monitor_ms, cfg.log_ms, cfg.fsync_ms,
		cfg.lock_every, cfg.lock_offset, cfg.lock_ms,
		cfg.io_every, cfg.io_offset, cfg.io_ms,
		cfg.hog_every, cfg.hog_offset, cfg.hog_ms);
}

static unsigned parse_uint(const char *opt, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || *s == '-' || v > 100000000UL) {
		fprintf(stderr, "llserver: invalid value for %s: '%s'\n", opt, s);
		exit(2);
	}
	return (unsigned) v;
}

static int parse_cpu(const char *opt, const char *s)
{
	if (strcmp(s, "-1") == 0)
		return -1;
	return (int) parse_uint(opt, s);
}

enum {
	OPT_GROWTH = 256, OPT_MONITOR, OPT_LOGMS, OPT_FSYNC,
	OPT_LOCK_EVERY, OPT_LOCK_OFFSET, OPT_LOCK_MS, OPT_NO_LOCK,
	OPT_IO_EVERY, OPT_IO_OFFSET, OPT_IO_MS, OPT_NO_IO,
	OPT_HOG_EVERY, OPT_HOG_OFFSET, OPT_HOG_MS, OPT_NO_HOG,
	OPT_CONSUMER_CPU, OPT_PRODUCER_CPU, OPT_LOG_FILE, OPT_KEEP_LOG, OPT_QUIET,
	OPT_DRY_RUN,
};

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "duration-ms", required_argument, 0, 'd' },
		{ "rate", required_argument, 0, 'r' },
		{ "work-us", required_argument, 0, 'w' },
		{ "queue-cap", required_argument, 0, 'q' },
		{ "threshold", required_argument, 0, 't' },
		{ "growth-threshold", required_argument, 0, OPT_GROWTH },
		{ "monitor-ms", required_argument, 0, OPT_MONITOR },
		{ "log-ms", required_argument, 0, OPT_LOGMS },
		{ "fsync-ms", required_argument, 0, OPT_FSYNC },
		{ "lock-every", required_argument, 0, OPT_LOCK_EVERY },
		{ "lock-offset", required_argument, 0, OPT_LOCK_OFFSET },
		{ "lock-ms", required_argument, 0, OPT_LOCK_MS },
		{ "no-lock", no_argument, 0, OPT_NO_LOCK },
		{ "io-every", required_argument, 0, OPT_IO_EVERY },
		{ "io-offset", required_argument, 0, OPT_IO_OFFSET },
		{ "io-ms", required_argument, 0, OPT_IO_MS },
		{ "no-io", no_argument, 0, OPT_NO_IO },
		{ "hog-every", required_argument, 0, OPT_HOG_EVERY },
		{ "hog-offset", required_argument, 0, OPT_HOG_OFFSET },
		{ "hog-ms", required_argument, 0, OPT_HOG_MS },
		{ "no-hog", no_argument, 0, OPT_NO_HOG },
		{ "consumer-cpu", required_argument, 0, OPT_CONSUMER_CPU },
		{ "producer-cpu", required_argument, 0, OPT_PRODUCER_CPU },
		{ "log-file", required_argument, 0, OPT_LOG_FILE },
		{ "keep-log", no_argument, 0, OPT_KEEP_LOG },
		{ "quiet", no_argument, 0, OPT_QUIET },
		{ "dry-run", no_argument, 0, OPT_DRY_RUN },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "d:r:w:q:t:h", opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *o = opts; o->name; o++)
			if (o->val == c)
				name = o->name;
		switch (c) {
		case 'd': cfg.duration_ms = parse_uint(name, optarg); break;
		case 'r': cfg.rate = parse_uint(name, optarg); break;
		case 'w': cfg.work_us = parse_uint(name, optarg); break;
		case 'q': cfg.queue_cap = parse_uint(name, optarg); break;
		case 't': cfg.threshold = parse_uint(name, optarg); break;
		case OPT_GROWTH: cfg.growth_threshold = parse_uint(name, optarg); break;
		case OPT_MONITOR: cfg.monitor_ms = parse_uint(name, optarg); break;
		case OPT_LOGMS: cfg.log_ms = parse_uint(name, optarg); break;
		case OPT_FSYNC: cfg.fsync_ms = parse_uint(name, optarg); break;
		case OPT_LOCK_EVERY: cfg.lock_every = parse_uint(name, optarg); break;
		case OPT_LOCK_OFFSET: cfg.lock_offset = parse_uint(name, optarg); break;
		case OPT_LOCK_MS: cfg.lock_ms = parse_uint(name, optarg); break;
		case OPT_NO_LOCK: cfg.lock_every = 0; break;
		case OPT_IO_EVERY: cfg.io_every = parse_uint(name, optarg); break;
		case OPT_IO_OFFSET: cfg.io_offset = parse_uint(name, optarg); break;
		case OPT_IO_MS: cfg.io_ms = parse_uint(name, optarg); break;
		case OPT_NO_IO: cfg.io_every = 0; break;
		case OPT_HOG_EVERY: cfg.hog_every = parse_uint(name, optarg); break;
		case OPT_HOG_OFFSET: cfg.hog_offset = parse_uint(name, optarg); break;
		case OPT_HOG_MS: cfg.hog_ms = parse_uint(name, optarg); break;
		case OPT_NO_HOG: cfg.hog_every = 0; break;
		case OPT_CONSUMER_CPU: cfg.consumer_cpu = parse_cpu(name, optarg); break;
		case OPT_PRODUCER_CPU: cfg.producer_cpu = parse_cpu(name, optarg); break;
		case OPT_LOG_FILE: cfg.log_file = optarg; break;
		case OPT_KEEP_LOG: cfg.keep_log = true; break;
		case OPT_QUIET: cfg.quiet = true; break;
		case OPT_DRY_RUN: cfg.dry_run = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "llserver: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	if (cfg.rate == 0 || cfg.queue_cap == 0 || cfg.monitor_ms == 0
			|| cfg.log_ms == 0 || cfg.fsync_ms == 0 || cfg.duration_ms == 0) {
		fprintf(stderr, "llserver: --rate, --queue-cap, --duration-ms and the "
			"*-ms periods must be > 0\n");
		exit(2);
	}
}

static void print_windows(const char *name, struct window *w, unsigned n)
{
	printf("%-5s spikes:", name);
	if (n == 0)
		printf(" none");
	for (unsigned i = 0; i < n; i++)
		printf(" +%.1f..+%.1f", w[i].start / 1e6, w[i].end / 1e6);
	printf(" (ms)\n");
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th_prod, th_cons, th_log, th_mon, th_hog;
	bool hog = false;
	pid_t pid = getpid();

	parse_args(argc, argv);
	if (ncpu < 1)
		ncpu = 1;
	/* The consumer (and cpuhog) default to CPU 0: see README.md, on some
	 * kernels the idle task of other CPUs is not traced. */
	if (cfg.consumer_cpu == -2)
		cfg.consumer_cpu = 0;
	if (cfg.producer_cpu == -2)
		cfg.producer_cpu = ncpu > 1 ? (int) ncpu - 1 : -1;
	if (cfg.consumer_cpu >= ncpu || cfg.producer_cpu >= ncpu) {
		fprintf(stderr, "llserver: only %ld CPU(s) online\n", ncpu);
		return 2;
	}
	hog = cfg.hog_every != 0;
	if (cfg.dry_run)
		return 0;

	q.cap = cfg.queue_cap;
	q.buf = calloc(q.cap, sizeof(*q.buf));
	log_buf = malloc(LOG_BUF_CAP);
	log_spare = malloc(LOG_BUF_CAP);
	if (!q.buf || !log_buf || !log_spare)
		die("malloc");
	for (size_t i = 0; i < sizeof(io_block); i++)
		io_block[i] = (i % 64 == 63) ? '\n' : 'a' + (char) (i % 26);

	if (cfg.log_file)
		snprintf(log_path, sizeof(log_path), "%s", cfg.log_file);
	else
		snprintf(log_path, sizeof(log_path), "/var/tmp/llserver.%d.log", (int) pid);
	snprintf(log_old_path, sizeof(log_old_path), "%s.1", log_path);
	snprintf(journal_path, sizeof(journal_path), "%s.journal", log_path);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (log_fd < 0)
		die(log_path);
	journal_fd = open(journal_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (journal_fd < 0)
		die(journal_path);

	calibrate_work();

	if (pthread_barrier_init(&start_barrier, NULL, hog ? 6 : 5))
		die("pthread_barrier_init");
	if (pthread_create(&th_prod, NULL, producer_main, NULL)
			|| pthread_create(&th_cons, NULL, consumer_main, NULL)
			|| pthread_create(&th_log, NULL, logger_main, NULL)
			|| pthread_create(&th_mon, NULL, monitor_main, NULL)
			|| (hog && pthread_create(&th_hog, NULL, cpuhog_main, NULL)))
		die("pthread_create");

	/* Release every thread at once with a common t0. */
	t0 = now_ns() + 2 * NS_PER_MS;
	t_end = t0 + (uint64_t) cfg.duration_ms * NS_PER_MS;
	pthread_barrier_wait(&start_barrier);

	pthread_join(th_prod, NULL);
	pthread_mutex_lock(&q.mu);
	q.done = true;
	pthread_cond_broadcast(&q.nonempty);
	pthread_mutex_unlock(&q.mu);
	pthread_join(th_cons, NULL);
	stop_flag = 1;
	if (hog)
		pthread_join(th_hog, NULL);
	pthread_join(th_mon, NULL);
	pthread_join(th_log, NULL);

	close(log_fd);
	close(journal_fd);
	if (!cfg.keep_log) {
		unlink(log_path);
		unlink(log_old_path);
		unlink(journal_path);
	}

	if (!cfg.quiet) {
		printf("llserver pid=%d producer=%d consumer=%d logger=%d monitor=%d"
			" cpuhog=%d\n", (int) pid, (int) tids.producer,
			(int) tids.consumer, (int) tids.logger, (int) tids.monitor,
			hog ? (int) tids.cpuhog : -1);
		printf("t0_monotonic_ns=%llu duration_ms=%u rate=%u work_us=%u"
			" (%lu iters) consumer_cpu=%d producer_cpu=%d cpuhog=%s\n",
			(unsigned long long) t0, cfg.duration_ms, cfg.rate, cfg.work_us,
			work_iters, cfg.consumer_cpu, cfg.producer_cpu,
			hog ? hog_policy : "off");
		print_windows("lock", lock_win, n_lock_win);
		print_windows("io", io_win, n_io_win);
		print_windows("hog", hog_win, n_hog_win);
	}
	printf("produced=%llu consumed=%llu dropped=%llu max_queue=%u"
		" backlog_triggers=%llu log_lines_lost=%llu\n",
		(unsigned long long) q.produced, (unsigned long long) q.consumed,
		(unsigned long long) q.dropped, q.max_count,
		(unsigned long long) n_triggers, (unsigned long long) log_lines_lost);
	return 0;
}
