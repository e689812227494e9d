/*
 * workers — a manager thread hands rounds of work to worker threads that
 * share one mutex and two condition variables; in each round the first
 * worker to take the mutex writes to a file and fdatasync()s it while still
 * holding the mutex, so every other worker waits for the lock behind a disk
 * write:
 *
 *   manager: lock; round++; broadcast(work); wait(done) until all workers
 *            are done; unlock; sleep --pause-us           (--rounds times)
 *   worker:  lock; wait(work) for a new round; if nobody wrote this round:
 *            pwrite(--bytes) + fdatasync(); done++ (the last signals the
 *            manager); unlock
 *
 * The broadcast wakes every worker at once, so while the writer is in
 * fdatasync() the others are blocked on the mutex (a futex), and each is
 * woken by the thread that unlocked it.  The threads are named "manager"
 * and "worker-0", "worker-1"...; the file (--file, default workers.dat in
 * the current folder, which must be on a disk) is overwritten in place, so
 * it stays --bytes long.  On success the program
 * prints its threads and writers, one line each,
 *
 *   workers: manager T
 *   workers: worker W tid T wrote K
 *   workers: pid P rounds R writes R
 *
 * and exits 0.  --timeout-s (default 60) bounds the run with alarm().
 *
 * Build: gcc -O2 -Wall -o workers workers.c -lpthread   (or `make`)
 */
#include "../example.h"

#include <fcntl.h>
#include <time.h>

#define MAX_WORKERS 16

static long n_workers = 3;
static long rounds = 30;
static long bytes = 65536;
static long pause_us = 2000;
static const char *path = "workers.dat";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long round_no, done, written_in, writes;
static int quit, fd = -1;
static char *buffer;
static pid_t manager_tid, worker_tid[MAX_WORKERS];
static long wrote[MAX_WORKERS];

/* With the lock held: the round's disk write. */
static void write_and_sync(long w)
{
    memset(buffer, 'a' + (int)(round_no % 26), (size_t)bytes);
    if (pwrite(fd, buffer, (size_t)bytes, 0) != bytes)
        die("pwrite");
    if (fdatasync(fd) < 0)
        die("fdatasync");
    written_in = round_no;
    wrote[w]++;
    writes++;
}

static void *worker(void *arg)
{
    long w = (long)arg, seen = 0;
    char name[16];
    snprintf(name, sizeof name, "worker-%ld", w);
    worker_tid[w] = become(name, -1);
    check(pthread_mutex_lock(&lock), "pthread_mutex_lock");
    for (;;) {
        while (round_no == seen && !quit)
            check(pthread_cond_wait(&work, &lock), "pthread_cond_wait");
        if (quit)
            break;
        seen = round_no;
        if (written_in != round_no)
            write_and_sync(w);
        if (++done == n_workers)
            check(pthread_cond_signal(&done_cond), "pthread_cond_signal");
    }
    check(pthread_mutex_unlock(&lock), "pthread_mutex_unlock");
    return NULL;
}

static void manage(void)
{
    struct timespec pause = { pause_us / 1000000, (pause_us % 1000000) * 1000 };
    manager_tid = become("manager", -1);
    for (long r = 0; r < rounds; r++) {
        check(pthread_mutex_lock(&lock), "pthread_mutex_lock");
        round_no++;
        done = 0;
        check(pthread_cond_broadcast(&work), "pthread_cond_broadcast");
        while (done < n_workers)
            check(pthread_cond_wait(&done_cond, &lock), "pthread_cond_wait");
        check(pthread_mutex_unlock(&lock), "pthread_mutex_unlock");
        nanosleep(&pause, NULL);
    }
    check(pthread_mutex_lock(&lock), "pthread_mutex_lock");
    quit = 1;
    check(pthread_cond_broadcast(&work), "pthread_cond_broadcast");
    check(pthread_mutex_unlock(&lock), "pthread_mutex_unlock");
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: workers [--file PATH] [--workers N] [--rounds R] [--bytes B] [--pause-us US]\n"
            "               [--timeout-s S] [--dry-run]\n"
            "  --file PATH     the file written and synced, on a disk (default workers.dat)\n"
            "  --workers N     worker threads, 2 to %d (default 3)\n"
            "  --rounds R      rounds of work (default 30)\n"
            "  --bytes B       bytes written per round (default 65536)\n"
            "  --pause-us US   the manager's pause between rounds (default 2000)\n"
            "  --timeout-s S   give up (SIGALRM) after S seconds, 0 never (default 60)\n"
            "  --dry-run       check the arguments and exit\n", MAX_WORKERS);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "file", required_argument, NULL, 'f' },
        { "workers", required_argument, NULL, 'w' },
        { "rounds", required_argument, NULL, 'n' },
        { "bytes", required_argument, NULL, 'b' },
        { "pause-us", required_argument, NULL, 'p' },
        EXAMPLE_OPTIONS,
    };
    int c;

    example_name = "workers";
    while ((c = getopt_long(argc, argv, "f:w:n:b:p:" EXAMPLE_OPTSTRING, options, NULL)) != -1) {
        switch (c) {
        case 'f': path = optarg; break;
        case 'w': n_workers = number("--workers", optarg, 2); break;
        case 'n': rounds = number("--rounds", optarg, 1); break;
        case 'b': bytes = number("--bytes", optarg, 1); break;
        case 'p': pause_us = number("--pause-us", optarg, 0); break;
        default: common_option(c, usage);
        }
    }
    if (n_workers > MAX_WORKERS) {
        fprintf(stderr, "workers: at most %d workers\n", MAX_WORKERS);
        return 2;
    }
    begin(argc, argv, usage);

    if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) < 0)
        die(path);
    if (!(buffer = malloc((size_t)bytes)))
        die("malloc");
    pthread_t threads[MAX_WORKERS];
    for (long w = 0; w < n_workers; w++)
        check(pthread_create(&threads[w], NULL, worker, (void *)w), "pthread_create");
    manage();
    for (long w = 0; w < n_workers; w++)
        check(pthread_join(threads[w], NULL), "pthread_join");
    close(fd);
    printf("workers: manager %d\n", (int)manager_tid);
    for (long w = 0; w < n_workers; w++)
        printf("workers: worker %ld tid %d wrote %ld\n", w, (int)worker_tid[w], wrote[w]);
    printf("workers: pid %d rounds %ld writes %ld\n", (int)getpid(), rounds, writes);
    return 0;
}
