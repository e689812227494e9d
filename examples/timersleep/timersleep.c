/*
 * timersleep — a thread that sleeps in nanosleep() beside a process that
 * never sleeps, both pinned to one CPU:
 *
 *   sleeper: nanosleep(--sleep-us)              (--sleeps times)
 *   busy:    a child process spinning until the sleeper is done
 *
 * Each sleep ends in the hrtimer interrupt, which wakes the sleeper in
 * hard-IRQ context on whatever runs on the CPU then: mostly the busy
 * process, so that a trace without IRQ events shows the busy process's tid
 * on the sched_waking (perf's common_flags say it ran in a hard IRQ).  Once
 * woken, the sleeper waits for the busy process to give up the CPU: a
 * preemption.  The busy process starts (and is pinned) before the first
 * sleep.  On success the program prints one line
 *
 *   timersleep: pid P sleeper T busy B sleeps N
 *
 * and exits 0.  --timeout-s (default 60) bounds the run with alarm().
 *
 * Build: gcc -O2 -Wall -o timersleep timersleep.c -lpthread   (or `make`)
 */
#include "../example.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

static long sleeps = 300;
static long sleep_us = 2000;
static int cpu = 0;
static pid_t sleeper_tid = -1;

static void *sleeper(void *arg)
{
    (void)arg;
    sleeper_tid = become("sleeper", cpu);
    for (long i = 0; i < sleeps; i++) {
        struct timespec ts = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0)
            if (errno != EINTR)
                die("nanosleep");
    }
    return NULL;
}

/* The busy child: pinned and named, then tells its parent it runs, then spins. */
static pid_t start_busy(void)
{
    int ready[2];
    char byte = 'x';
    if (pipe(ready) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        become("busy", cpu);
        if (write(ready[1], &byte, 1) != 1)
            die("write");
        for (;;)
            ;
    }
    close(ready[1]);
    if (read(ready[0], &byte, 1) != 1)
        die("the busy process did not start");
    close(ready[0]);
    return pid;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: timersleep [--sleeps N] [--sleep-us US] [--cpu C] [--timeout-s S] [--dry-run]\n"
            "  --sleeps N      nanosleep() calls of the sleeper (default 300)\n"
            "  --sleep-us US   length of each (default 2000)\n"
            "  --cpu C         the CPU of the sleeper and the busy process (default 0)\n"
            "  --timeout-s S   give up (SIGALRM) after S seconds, 0 never (default 60)\n"
            "  --dry-run       check the arguments and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "sleeps", required_argument, NULL, 'n' },
        { "sleep-us", required_argument, NULL, 's' },
        { "cpu", required_argument, NULL, 'c' },
        EXAMPLE_OPTIONS,
    };
    int c;

    example_name = "timersleep";
    while ((c = getopt_long(argc, argv, "n:s:c:" EXAMPLE_OPTSTRING, options, NULL)) != -1) {
        switch (c) {
        case 'n': sleeps = number("--sleeps", optarg, 1); break;
        case 's': sleep_us = number("--sleep-us", optarg, 1); break;
        case 'c': cpu = (int)number("--cpu", optarg, 0); break;
        default: common_option(c, usage);
        }
    }
    check_cpu(cpu);
    begin(argc, argv, usage);

    pid_t busy = start_busy();
    pthread_t thread;
    check(pthread_create(&thread, NULL, sleeper, NULL), "pthread_create");
    check(pthread_join(thread, NULL), "pthread_join");
    kill(busy, SIGKILL);
    if (waitpid(busy, NULL, 0) < 0)
        die("waitpid");
    printf("timersleep: pid %d sleeper %d busy %d sleeps %ld\n",
           (int)getpid(), (int)sleeper_tid, (int)busy, sleeps);
    return 0;
}
