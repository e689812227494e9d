/*
 * calcjob — the manager/worker program of the calcjob lesson
 * (shared/seeds/003_*: "which thread blocks on which"), with LTTng-UST
 * tracepoints: the lesson's own my_namespace:my_event and a calcjob
 * provider (calcjob_tp.h) for the jobs and the job mutex.
 *
 * A manager hands --rounds rounds of --workers jobs to --workers worker
 * threads; one mutex ("jobs_mutex") guards the job queue and the results
 * journal:
 *
 *   manager: lock; queue one job per worker (job_submit); unlock; post the
 *            jobs; wait until the round's jobs are done; sleep --pause-us
 *   worker:  wait for a job; lock; take it (job_start); unlock; compute for
 *            --work-us on the CPU; lock; append the result to the journal
 *            and fdatasync() it (job_end, my_event); unlock
 *
 * The journal is synced while the mutex is held (the lesson's bug): the
 * workers that finish computing while another one syncs wait for the mutex,
 * behind the disk.  Every lock is traced (lock_request, lock_acquired,
 * lock_release).  The journal, calcjob.journal in the current folder (which
 * must be on a disk), is removed at exit.
 *
 * On success it prints, CLOCK_MONOTONIC ns, each pair of times bracketing the
 * tracepoint of that name (its event lies between them):
 *
 *   calcjob: section tid T job J request R0 R1 acquired A0 A1 release S0 S1 sync B E
 *
 * for every critical section in the order they ended (job -1: the manager's
 * and a worker's taking a job; sync B E: its fdatasync(), 0 0 when it did not
 * sync), then
 *
 *   calcjob: worker W tid T
 *   calcjob: pid P manager M rounds R jobs N
 *
 * Build: make (or let record.sh do it).
 */
#include "../example.h"

#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "calcjob_tp.h"
#include "my_namespace_tp.h"

#define MAX_WORKERS 8
#define LOCK "jobs_mutex"

static long n_workers = 2, rounds = 20, work_us = 1000, bytes = 4194304, pause_us = 2000;

struct section {
    pid_t tid;
    int job;
    uint64_t r0, r1, a0, a1, s0, s1, b, e;
};

static pthread_mutex_t jobs_mutex = PTHREAD_MUTEX_INITIALIZER;
static sem_t jobs_sem, done_sem;
static int queue[MAX_WORKERS * 2], q_head, q_len;
static struct section *sections;
static long n_sections;
static int journal = -1;
static char *buffer;
static pid_t manager_tid, worker_tid[MAX_WORKERS];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lock(struct section *s, pid_t tid, int job)
{
    memset(s, 0, sizeof *s);
    s->tid = tid;
    s->job = job;
    s->r0 = now_ns();
    lttng_ust_tracepoint(calcjob, lock_request, LOCK);
    s->r1 = now_ns();
    check(pthread_mutex_lock(&jobs_mutex), "pthread_mutex_lock");
    s->a0 = now_ns();
    lttng_ust_tracepoint(calcjob, lock_acquired, LOCK);
    s->a1 = now_ns();
}

static void unlock(struct section *s)
{
    s->s0 = now_ns();
    lttng_ust_tracepoint(calcjob, lock_release, LOCK);
    s->s1 = now_ns();
    sections[n_sections++] = *s;          /* still under the mutex */
    check(pthread_mutex_unlock(&jobs_mutex), "pthread_mutex_unlock");
}

static void *worker(void *arg)
{
    long w = (long)arg;
    char name[16];
    struct section s;

    snprintf(name, sizeof name, "worker-%ld", w);
    worker_tid[w] = become(name, -1);
    realtime(1);
    for (;;) {
        int job;
        int64_t result = 0;
        uint64_t until;

        sem_wait(&jobs_sem);
        lock(&s, worker_tid[w], -1);
        job = queue[q_head];
        q_head = (q_head + 1) % (MAX_WORKERS * 2);
        q_len--;
        s.job = job;
        if (job >= 0)
            lttng_ust_tracepoint(calcjob, job_start, job, (int)w);
        unlock(&s);
        if (job < 0)
            return NULL;

        until = now_ns() + (uint64_t)work_us * 1000u;     /* the calculation */
        while (now_ns() < until)
            result = result * 31 + job;

        lock(&s, worker_tid[w], job);
        memset(buffer, 'a' + job % 26, (size_t)bytes);
        if (pwrite(journal, buffer, (size_t)bytes, 0) != bytes)
            die("pwrite");
        s.b = now_ns();
        if (fdatasync(journal) < 0)
            die("fdatasync");
        s.e = now_ns();
        lttng_ust_tracepoint(calcjob, job_end, job, result);
        lttng_ust_tracepoint(my_namespace, my_event, job);
        unlock(&s);
        sem_post(&done_sem);
    }
}

static void submit(int job)
{
    queue[(q_head + q_len) % (MAX_WORKERS * 2)] = job;
    q_len++;
    if (job >= 0)
        lttng_ust_tracepoint(calcjob, job_submit, job);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: calcjob [options]\n"
"A manager hands jobs to workers under one mutex; each worker syncs its result\n"
"to a journal while holding it (see calcjob.c).\n"
"  --workers N    worker threads, at most %d (2)   --rounds N     rounds of jobs (20)\n"
"  --work-us N    a job's computation (1000)        --bytes N      journal write (4194304)\n"
"  --pause-us N   the manager's pause between rounds (2000)\n"
"  --timeout-s N  alarm (60)   --dry-run   --help\n", MAX_WORKERS);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "workers", required_argument, NULL, 'w' }, { "rounds", required_argument, NULL, 'r' },
        { "work-us", required_argument, NULL, 'u' }, { "bytes", required_argument, NULL, 'b' },
        { "pause-us", required_argument, NULL, 'p' },
        EXAMPLE_OPTIONS
    };
    pthread_t threads[MAX_WORKERS];
    struct section s;
    long r, w, i;
    int o;

    example_name = "calcjob";
    while ((o = getopt_long(argc, argv, EXAMPLE_OPTSTRING, opts, NULL)) != -1) {
        switch (o) {
        case 'w': n_workers = number("--workers", optarg, 1); break;
        case 'r': rounds = number("--rounds", optarg, 1); break;
        case 'u': work_us = number("--work-us", optarg, 0); break;
        case 'b': bytes = number("--bytes", optarg, 1); break;
        case 'p': pause_us = number("--pause-us", optarg, 0); break;
        default: common_option(o, usage);
        }
    }
    if (n_workers > MAX_WORKERS) {
        fprintf(stderr, "calcjob: --workers is at most %d\n", MAX_WORKERS);
        exit(2);
    }
    begin(argc, argv, usage);

    sections = calloc((size_t)((rounds + 1) * (2 * n_workers + 1)), sizeof *sections);
    buffer = malloc((size_t)bytes);
    if (!sections || !buffer)
        die("malloc");
    if ((journal = open("calcjob.journal", O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
        die("open calcjob.journal");
    sem_init(&jobs_sem, 0, 0);
    sem_init(&done_sem, 0, 0);
    manager_tid = become("manager", -1);
    realtime(1);
    for (w = 0; w < n_workers; w++)
        check(pthread_create(&threads[w], NULL, worker, (void *)w), "pthread_create");

    for (r = 0; r < rounds; r++) {
        struct timespec pause = { pause_us / 1000000, (pause_us % 1000000) * 1000 };
        nanosleep(&pause, NULL);
        lock(&s, manager_tid, -1);
        for (w = 0; w < n_workers; w++)
            submit((int)(r * n_workers + w));
        unlock(&s);
        for (w = 0; w < n_workers; w++)
            sem_post(&jobs_sem);
        for (w = 0; w < n_workers; w++)
            sem_wait(&done_sem);
    }
    lock(&s, manager_tid, -1);
    for (w = 0; w < n_workers; w++)
        submit(-1);
    unlock(&s);
    for (w = 0; w < n_workers; w++)
        sem_post(&jobs_sem);
    for (w = 0; w < n_workers; w++)
        pthread_join(threads[w], NULL);

    for (i = 0; i < n_sections; i++) {
        struct section *x = &sections[i];
        printf("calcjob: section tid %d job %d request %llu %llu acquired %llu %llu "
               "release %llu %llu sync %llu %llu\n", (int)x->tid, x->job,
               (unsigned long long)x->r0, (unsigned long long)x->r1,
               (unsigned long long)x->a0, (unsigned long long)x->a1,
               (unsigned long long)x->s0, (unsigned long long)x->s1,
               (unsigned long long)x->b, (unsigned long long)x->e);
    }
    for (w = 0; w < n_workers; w++)
        printf("calcjob: worker %ld tid %d\n", w, (int)worker_tid[w]);
    printf("calcjob: pid %d manager %d rounds %ld jobs %ld\n", (int)getpid(), (int)manager_tid,
           rounds, rounds * n_workers);
    close(journal);
    unlink("calcjob.journal");
    return 0;
}
