/*
 * example.h — what the recorded example programs share: fatal errors, the
 * options they all take, and naming and pinning a thread (the tests find threads by name
 * and rely on where they run).  Header-only: each example is one .c file.
 */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *example_name = "example";

static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", example_name, what, strerror(errno));
    exit(1);
}

/* pthread functions return the error instead of setting errno. */
static inline void check(int err, const char *what)
{
    if (err) {
        errno = err;
        die(what);
    }
}

static inline long number(const char *opt, const char *text, long min)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < min) {
        fprintf(stderr, "%s: %s wants an integer >= %ld, not '%s'\n", example_name, opt, min, text);
        exit(2);
    }
    return v;
}

/* The options every example takes, closing its getopt_long table; their letters. */
#define EXAMPLE_OPTIONS                                 \
    { "timeout-s", required_argument, NULL, 't' },      \
    { "dry-run", no_argument, NULL, 'd' },              \
    { "help", no_argument, NULL, 'h' },                 \
    { NULL, 0, NULL, 0 }
#define EXAMPLE_OPTSTRING "t:dh"

static long timeout_s = 60;   /* --timeout-s: alarm() bounds the run, 0 never */
static int dry_run;           /* --dry-run: check the arguments and exit */

/* The getopt_long result c, when not one of the example's own: a common
 * option, or a wrong one (usage and exit 2). */
static inline void common_option(int c, void (*usage)(FILE *))
{
    switch (c) {
    case 't': timeout_s = number("--timeout-s", optarg, 0); break;
    case 'd': dry_run = 1; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
}

/* After the options: none may be left; --dry-run exits 0 here, else the
 * timeout starts. */
static inline void begin(int argc, char **argv, void (*usage)(FILE *))
{
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", example_name, argv[optind]);
        usage(stderr);
        exit(2);
    }
    if (dry_run)
        exit(0);
    if (timeout_s > 0)
        alarm((unsigned)timeout_s);
}

/* Exit 2 unless this process may run on CPU cpu (< 0: any CPU). */
static inline void check_cpu(int cpu)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        die("sched_getaffinity");
    if (cpu >= 0 && (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed))) {
        fprintf(stderr, "%s: CPU %d is not one this process may run on\n", example_name, cpu);
        exit(2);
    }
}

/* Name the calling thread, pin it to cpu (< 0: leave it), return its tid. */
static inline pid_t become(const char *name, int cpu)
{
    pthread_setname_np(pthread_self(), name);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        check(pthread_setaffinity_np(pthread_self(), sizeof set, &set), "pthread_setaffinity_np");
    }
    return (pid_t)syscall(SYS_gettid);
}

/* Run the calling thread at SCHED_FIFO priority prio (needs root): on a busy
 * host no other process's thread then preempts it, so what the recording shows
 * is the program's own doing. */
static inline void realtime(int prio)
{
    struct sched_param sp = { .sched_priority = prio };
    check(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp),
          "pthread_setschedparam (SCHED_FIFO needs root)");
}

#endif
