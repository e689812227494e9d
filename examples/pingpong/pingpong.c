/*
 * pingpong — two threads pass a one-byte token back and forth through two
 * pipes, for a scheduling trace whose every state change is known:
 *
 *   ping: work; write(to_pong); [gap]; read(to_ping)            (rounds times)
 *   pong: read(to_pong); work; [sleep]; write(to_ping); [gap]   (rounds times)
 *
 * Each side spins for --work-us µs of CPU per round (no system call while
 * spinning); every --sleep-every rounds pong also sleeps --sleep-us µs in
 * nanosleep() before answering, so ping blocks long on its pipe and pong is
 * woken by a timer rather than by ping.  --gap-ns MAX makes each side spin
 * 0, 100, 200... ns (cycling up to MAX) between its write and its read, which
 * sweeps the moment the peer's wakeup lands across the writer's own
 * switch-out (with --work-us 0, many land while it is still switching out:
 * sched_waking before its sched_switch).  The threads are named "ping" and
 * "pong"; --ping-cpu / --pong-cpu pin them.  --spin-cpu C adds a thread
 * "spin" pinned to CPU C that spins at SCHED_IDLE priority until the end, so
 * that C never idles: whoever wakes there preempts it at once.  On success
 * the program prints one line
 *
 *   pingpong: pid P ping T1 pong T2 spin T3 rounds N sleeps S
 *
 * (spin -1 without --spin-cpu) and exits 0.  --timeout-s (default 60) bounds
 * the run with alarm().
 *
 * Build: gcc -O2 -Wall -o pingpong pingpong.c -lpthread   (or `make`)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long rounds = 2000;
static long sleep_every = 50;   /* 0: never */
static long sleep_us = 1000;
static long work_us = 20;
static long gap_ns_max = -1;    /* < 0: no gap */

static int cpu_of[3] = { -1, -1, -1 };   /* ping, pong, spin */

static int to_pong[2], to_ping[2];
static pid_t tid_of[3] = { -1, -1, -1 };
static long sleeps;
static volatile int finished;

static void die(const char *what)
{
    fprintf(stderr, "pingpong: %s: %s\n", what, strerror(errno));
    exit(1);
}

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* vDSO: no system call */
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void spin_ns(unsigned long long ns)
{
    unsigned long long until = now_ns() + ns;
    while (now_ns() < until)
        ;
}

static void work(void)
{
    spin_ns(work_us * 1000ULL);
}

/* Between its write and its read, round i: 0, 100, 200... ns, up to gap_ns_max. */
static void gap(long i)
{
    if (gap_ns_max >= 0)
        spin_ns((unsigned long long)(i * 100 % (gap_ns_max + 100)));
}

static void start(int who, const char *name)
{
    pthread_setname_np(pthread_self(), name);
    tid_of[who] = (pid_t)syscall(SYS_gettid);
    if (cpu_of[who] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu_of[who], &set);
        int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        if (err) {
            errno = err;
            die("pthread_setaffinity_np");
        }
    }
}

static void put(int fd)
{
    char token = 'x';
    ssize_t n;
    do n = write(fd, &token, 1); while (n < 0 && errno == EINTR);
    if (n != 1)
        die("write");
}

static void get(int fd)
{
    char token;
    ssize_t n;
    do n = read(fd, &token, 1); while (n < 0 && errno == EINTR);
    if (n != 1) {
        if (n == 0)
            errno = EPIPE;
        die("read");
    }
}

static void *ping(void *arg)
{
    (void)arg;
    start(0, "ping");
    for (long i = 0; i < rounds; i++) {
        work();
        put(to_pong[1]);
        gap(i);
        get(to_ping[0]);
    }
    return NULL;
}

static void *pong(void *arg)
{
    (void)arg;
    start(1, "pong");
    for (long i = 0; i < rounds; i++) {
        get(to_pong[0]);
        work();
        if (sleep_every > 0 && i % sleep_every == sleep_every - 1) {
            struct timespec ts = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };
            while (nanosleep(&ts, &ts) < 0)
                if (errno != EINTR)
                    die("nanosleep");
            sleeps++;
        }
        put(to_ping[1]);
        gap(i);
    }
    return NULL;
}

static void *spin(void *arg)
{
    struct sched_param param = { 0 };
    (void)arg;
    start(2, "spin");
    int err = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    if (err) {
        errno = err;
        die("pthread_setschedparam(SCHED_IDLE)");
    }
    while (!finished)
        ;
    return NULL;
}

static long number(const char *opt, const char *text, long min)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < min) {
        fprintf(stderr, "pingpong: %s wants an integer >= %ld, not '%s'\n", opt, min, text);
        exit(2);
    }
    return v;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: pingpong [--rounds N] [--sleep-every K] [--sleep-us US] [--work-us US]\n"
            "                [--gap-ns MAX] [--ping-cpu C] [--pong-cpu C] [--spin-cpu C] [--timeout-s S] [--dry-run]\n"
            "  --rounds N       round trips of the token (default 2000)\n"
            "  --sleep-every K  pong sleeps every K rounds, 0 never (default 50)\n"
            "  --sleep-us US    length of that sleep (default 1000)\n"
            "  --work-us US     CPU spin of each side per round (default 20)\n"
            "  --gap-ns MAX     after each write, spin 0, 100, 200... ns (cycling up to\n"
            "                   MAX) before reading: sweeps the moment the peer's\n"
            "                   wakeup lands across the switch-out (default: no gap)\n"
            "  --ping-cpu C, --pong-cpu C  pin that thread to CPU C\n"
            "  --spin-cpu C     keep CPU C busy with a SCHED_IDLE spinning thread\n"
            "  --timeout-s S    give up (SIGALRM) after S seconds, 0 never (default 60)\n"
            "  --dry-run        check the arguments and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "rounds", required_argument, NULL, 'n' },
        { "sleep-every", required_argument, NULL, 'k' },
        { "sleep-us", required_argument, NULL, 's' },
        { "work-us", required_argument, NULL, 'w' },
        { "timeout-s", required_argument, NULL, 't' },
        { "ping-cpu", required_argument, NULL, 'P' },
        { "pong-cpu", required_argument, NULL, 'Q' },
        { "spin-cpu", required_argument, NULL, 'S' },
        { "gap-ns", required_argument, NULL, 'g' },
        { "dry-run", no_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long timeout_s = 60;
    int dry_run = 0, c;

    while ((c = getopt_long(argc, argv, "n:k:s:w:t:P:Q:S:g:dh", options, NULL)) != -1) {
        switch (c) {
        case 'n': rounds = number("--rounds", optarg, 1); break;
        case 'k': sleep_every = number("--sleep-every", optarg, 0); break;
        case 's': sleep_us = number("--sleep-us", optarg, 0); break;
        case 'w': work_us = number("--work-us", optarg, 0); break;
        case 'g': gap_ns_max = number("--gap-ns", optarg, 0); break;
        case 't': timeout_s = number("--timeout-s", optarg, 0); break;
        case 'P': cpu_of[0] = (int)number("--ping-cpu", optarg, 0); break;
        case 'Q': cpu_of[1] = (int)number("--pong-cpu", optarg, 0); break;
        case 'S': cpu_of[2] = (int)number("--spin-cpu", optarg, 0); break;
        case 'd': dry_run = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "pingpong: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        die("sched_getaffinity");
    for (int i = 0; i < 3; i++)
        if (cpu_of[i] >= 0 && (cpu_of[i] >= CPU_SETSIZE || !CPU_ISSET(cpu_of[i], &allowed))) {
            fprintf(stderr, "pingpong: CPU %d is not one this process may run on\n", cpu_of[i]);
            return 2;
        }
    if (dry_run)
        return 0;
    if (timeout_s > 0)
        alarm((unsigned)timeout_s);

    if (pipe(to_pong) < 0 || pipe(to_ping) < 0)
        die("pipe");
    pthread_t threads[3];
    int n = cpu_of[2] >= 0 ? 3 : 2, err;
    void *(*body[3])(void *) = { ping, pong, spin };
    for (int i = n - 1; i >= 0; i--)     /* the spinner first: it is busy when they start */
        if ((err = pthread_create(&threads[i], NULL, body[i], NULL)) != 0) {
            errno = err;
            die("pthread_create");
        }
    for (int i = 0; i < n; i++) {
        if (i == 2)
            finished = 1;
        if ((err = pthread_join(threads[i], NULL)) != 0) {
            errno = err;
            die("pthread_join");
        }
    }
    printf("pingpong: pid %d ping %d pong %d spin %d rounds %ld sleeps %ld\n",
           (int)getpid(), (int)tid_of[0], (int)tid_of[1], (int)tid_of[2], rounds, sleeps);
    return 0;
}
