/*
 * pingpong — two threads pass a one-byte token back and forth through two
 * pipes, for a scheduling trace whose every state change is known:
 *
 *   ping: work; write(to_pong); [race]; read(to_ping)           (rounds times)
 *   pong: read(to_pong); work; [sleep]; [race]; write(to_ping)  (rounds times)
 *
 * Each side spins for --work-us µs of CPU per round (no system call while
 * spinning); every --sleep-every rounds pong also sleeps --sleep-us µs in
 * nanosleep() before answering, so ping blocks long on its pipe and pong is
 * woken by a timer rather than by ping.  --race-ns MAX makes pong's answer
 * land while ping is still going to sleep (sched_waking before ping's
 * sched_switch): ping starts its read only once pong is awake, noting when,
 * and pong writes 0, 50, 100... ns (cycling up to MAX) after that moment,
 * which sweeps the wakeup across ping's whole way into sleep, round after
 * round, whatever else the machine runs (a race left to the wakeup latency
 * is won too rarely on a busy host).  It needs ping and pong on different
 * CPUs (each spins while the other is busy).  The threads are named "ping" and
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
#include "../example.h"

#include <time.h>

static long rounds = 2000;
static long sleep_every = 50;   /* 0: never */
static long sleep_us = 1000;
static long work_us = 20;
static long race_ns_max = -1;   /* < 0: no race */

static int cpu_of[3] = { -1, -1, -1 };   /* ping, pong, spin */

static int to_pong[2], to_ping[2];
static pid_t tid_of[3] = { -1, -1, -1 };
static long sleeps;
static volatile int finished;
/* --race-ns: the round pong is awake in; the round ping reads in, and when. */
static long pong_awake = -1, ping_reads = -1;
static unsigned long long ping_reads_at;

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

static void publish(long *round, long i)
{
    __atomic_store_n(round, i, __ATOMIC_RELEASE);
}

static void await(long *round, long i)
{
    while (__atomic_load_n(round, __ATOMIC_ACQUIRE) != i)
        ;
}

/* ping, round i: start reading only once pong is awake, and say when. */
static void race_read(long i)
{
    if (race_ns_max < 0)
        return;
    await(&pong_awake, i);
    ping_reads_at = now_ns();
    publish(&ping_reads, i);
}

/* pong, round i: answer 0, 50, 100... ns (up to race_ns_max) after ping began its read. */
static void race_write(long i)
{
    if (race_ns_max < 0)
        return;
    await(&ping_reads, i);
    unsigned long long until = ping_reads_at + (unsigned long long)(i * 50 % (race_ns_max + 50));
    while (now_ns() < until)
        ;
}

static void start(int who, const char *name)
{
    tid_of[who] = become(name, cpu_of[who]);
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
        race_read(i);
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
        if (race_ns_max >= 0)
            publish(&pong_awake, i);
        work();
        if (sleep_every > 0 && i % sleep_every == sleep_every - 1) {
            struct timespec ts = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };
            while (nanosleep(&ts, &ts) < 0)
                if (errno != EINTR)
                    die("nanosleep");
            sleeps++;
        }
        race_write(i);
        put(to_ping[1]);
    }
    return NULL;
}

static void *spin(void *arg)
{
    struct sched_param param = { 0 };
    (void)arg;
    start(2, "spin");
    check(pthread_setschedparam(pthread_self(), SCHED_IDLE, &param),
          "pthread_setschedparam(SCHED_IDLE)");
    while (!finished)
        ;
    return NULL;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: pingpong [--rounds N] [--sleep-every K] [--sleep-us US] [--work-us US]\n"
            "                [--race-ns MAX] [--ping-cpu C] [--pong-cpu C] [--spin-cpu C] [--timeout-s S] [--dry-run]\n"
            "  --rounds N       round trips of the token (default 2000)\n"
            "  --sleep-every K  pong sleeps every K rounds, 0 never (default 50)\n"
            "  --sleep-us US    length of that sleep (default 1000)\n"
            "  --work-us US     CPU spin of each side per round (default 20)\n"
            "  --race-ns MAX    ping reads once pong is awake, pong answers 0, 50, 100...\n"
            "                   ns (cycling up to MAX) after ping began its read: sweeps\n"
            "                   the wakeup across ping's switch-out (default: no race;\n"
            "                   ping and pong on different CPUs)\n"
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
        { "ping-cpu", required_argument, NULL, 'P' },
        { "pong-cpu", required_argument, NULL, 'Q' },
        { "spin-cpu", required_argument, NULL, 'S' },
        { "race-ns", required_argument, NULL, 'g' },
        EXAMPLE_OPTIONS,
    };
    int c;

    example_name = "pingpong";

    while ((c = getopt_long(argc, argv, "n:k:s:w:P:Q:S:g:" EXAMPLE_OPTSTRING, options, NULL)) != -1) {
        switch (c) {
        case 'n': rounds = number("--rounds", optarg, 1); break;
        case 'k': sleep_every = number("--sleep-every", optarg, 0); break;
        case 's': sleep_us = number("--sleep-us", optarg, 0); break;
        case 'w': work_us = number("--work-us", optarg, 0); break;
        case 'g': race_ns_max = number("--race-ns", optarg, 0); break;
        case 'P': cpu_of[0] = (int)number("--ping-cpu", optarg, 0); break;
        case 'Q': cpu_of[1] = (int)number("--pong-cpu", optarg, 0); break;
        case 'S': cpu_of[2] = (int)number("--spin-cpu", optarg, 0); break;
        default: common_option(c, usage);
        }
    }
    for (int i = 0; i < 3; i++)
        check_cpu(cpu_of[i]);
    if (race_ns_max >= 0 && (cpu_of[0] < 0 || cpu_of[0] == cpu_of[1])) {
        fprintf(stderr, "pingpong: --race-ns wants ping and pong pinned to different CPUs\n");
        return 2;
    }
    begin(argc, argv, usage);

    if (pipe(to_pong) < 0 || pipe(to_ping) < 0)
        die("pipe");
    pthread_t threads[3];
    int n = cpu_of[2] >= 0 ? 3 : 2;
    void *(*body[3])(void *) = { ping, pong, spin };
    for (int i = n - 1; i >= 0; i--)     /* the spinner first: it is busy when they start */
        check(pthread_create(&threads[i], NULL, body[i], NULL), "pthread_create");
    for (int i = 0; i < n; i++) {
        if (i == 2)
            finished = 1;
        check(pthread_join(threads[i], NULL), "pthread_join");
    }
    printf("pingpong: pid %d ping %d pong %d spin %d rounds %ld sleeps %ld\n",
           (int)getpid(), (int)tid_of[0], (int)tid_of[1], (int)tid_of[2], rounds, sleeps);
    return 0;
}
