/*
 * valkey — a stand-in for a Valkey server's event loop, emitting Valkey's own
 * LTTng-UST tracepoints (providers valkey_commands, valkey_server, valkey_aof,
 * valkey_db, valkey_cluster and valkey_rdb, as its src/trace/ headers define
 * them; seed 001), with three slow spots injected at known cycles:
 *
 *   hog    cycle --hog-at: a GET wakes "cpuhog", a SCHED_FIFO thread on the
 *          server's CPU that spins --hog-ms: the GET is slow, preempted
 *   keys   cycle --keys-at: KEYS over the --keys keys of the keyspace: slow,
 *          on CPU
 *   fsync  cycle --fsync-at: the append-only file's flush writes --fsync-kb
 *          KiB and fdatasync()s them in the event loop (appendfsync always):
 *          aof_write and aof_fsync_always are slow, blocked on the disk
 *
 * The server thread ("valkey-server", SCHED_FIFO 1 on --cpu, so that nothing
 * else on a busy host makes a command slow) runs --cycles event-loop cycles,
 * one every --cycle-us (absolute clock_nanosleep): each runs --commands
 * commands (SET, GET, INCR in turn: fast commands), every 100th cycle the
 * cron (an expire cycle), then flushes the AOF buffer into appendonly.aof in
 * the current folder (write, no fsync, but for the fsync cycle).  Before the
 * loop it saves a cluster configuration (nodes.conf: valkey_cluster events),
 * after it a BGSAVE forks a child that writes the keyspace (valkey_rdb fork
 * and rdb_unlink_temp_file).  Durations
 * are in microseconds, measured as Valkey measures them (ustime() before and
 * after), and traced when the operation ends.
 *
 * On success it prints, one line each ("valkey: " first), CLOCK_MONOTONIC ns:
 *
 *   valkey: inject hog name get begin B end E traced T duration_us D
 *   valkey: inject keys name keys begin B end E traced T duration_us D
 *   valkey: inject fsync name aof_fsync_always begin B end E traced T duration_us D
 *   valkey: commands N cycles C
 *   valkey: pid P server S cpuhog H
 *
 * where the operation ran from B to E and its event was traced between E and T.
 * Build: make (or let record.sh do it).
 */
#include "../example.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "valkey_commands_tp.h"
#include "valkey_server_tp.h"
#include "valkey_aof_tp.h"
#include "valkey_db_tp.h"
#include "valkey_cluster_tp.h"
#include "valkey_rdb_tp.h"

#include <sys/wait.h>

static long cycles = 300, cycle_us = 1000, n_commands = 3, n_keys = 1000000;
static long hog_at = 100, hog_ms = 20, keys_at = 150, fsync_at = 200, fsync_kb = 32768;
static long cpu;

static char **keys;
static long *values;
static char *aof_buf;
static size_t aof_len, aof_cap;
static int aof_fd = -1;
static sem_t hog_go, hog_done;
static pid_t server_tid, hog_tid;
static uint64_t hog_begin, hog_end;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void aof_append(const char *cmd, long k, long v)
{
    char line[96];
    int n = snprintf(line, sizeof line, "*3\r\n$3\r\n%s\r\n$%zu\r\n%s\r\n%ld\r\n", cmd,
                     strlen(keys[k]), keys[k], v);
    if (aof_len + (size_t)n > aof_cap) {
        aof_cap = 2 * (aof_cap + (size_t)n);
        if (!(aof_buf = realloc(aof_buf, aof_cap)))
            die("realloc");
    }
    memcpy(aof_buf + aof_len, line, (size_t)n);
    aof_len += (size_t)n;
}

static void *cpuhog(void *arg)
{
    (void)arg;
    hog_tid = become("cpuhog", (int)cpu);
    realtime(2);
    sem_post(&hog_done);
    while (sem_wait(&hog_go) == 0) {
        uint64_t until;
        hog_begin = now_ns();
        until = hog_begin + (uint64_t)hog_ms * 1000000u;
        while (now_ns() < until)
            ;
        hog_end = now_ns();
        sem_post(&hog_done);
    }
    return NULL;
}

/* One command call, traced as Valkey's call() traces it. */
struct injected { const char *name; uint64_t begin, end, traced, us; };

static void command(const char *name, int fast, long k, long *out, int hog, struct injected *rec)
{
    uint64_t b = now_ns(), e, us;
    if (hog)
        sem_post(&hog_go);            /* cpuhog preempts us at once */
    if (!strcmp(name, "set")) {
        values[k] = k;
        aof_append("SET", k, k);
    } else if (!strcmp(name, "incr")) {
        values[k]++;
        aof_append("INCRBY", k, 1);
    } else if (!strcmp(name, "get")) {
        *out += values[k];
    } else {                          /* keys */
        long i, found = 0;
        for (i = 0; i < n_keys; i++)
            found += fnmatch("key:*7", keys[i], 0) == 0;
        *out += found;
    }
    e = now_ns();
    us = (e - b) / 1000;
    if (fast)
        lttng_ust_tracepoint(valkey_server, fast_command, us);
    else
        lttng_ust_tracepoint(valkey_server, command, us);
    lttng_ust_tracepoint(valkey_commands, command_call, 1, "127.0.0.1:41000", "127.0.0.1:6379",
                         name, us);
    if (rec)
        *rec = (struct injected){ name, b, e, now_ns(), us };
}

/* One measured step, traced as Valkey's latencyTraceIfNeeded does. */
#define MEASURED(provider, event, what)                                  \
    do {                                                                 \
        uint64_t b_ = now_ns();                                          \
        what;                                                            \
        lttng_ust_tracepoint(provider, event, (now_ns() - b_) / 1000);   \
    } while (0)

/* clusterSaveConfig(): nodes.conf written to a temporary file, synced,
 * renamed into place, its folder synced. */
static void save_cluster_config(void)
{
    static const char conf[] = "0123456789abcdef 127.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-16383\n"
                               "vars currentEpoch 1 lastVoteEpoch 0\n";
    int fd = -1, dir = -1;
    MEASURED(valkey_cluster, cluster_config_open,
             fd = open("nodes.conf.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    if (fd < 0)
        die("open nodes.conf.tmp");
    MEASURED(valkey_cluster, cluster_config_write,
             if (write(fd, conf, sizeof conf - 1) != (ssize_t)(sizeof conf - 1)) die("write nodes.conf.tmp"));
    MEASURED(valkey_cluster, cluster_config_fsync, if (fsync(fd) < 0) die("fsync nodes.conf.tmp"));
    MEASURED(valkey_cluster, cluster_config_rename,
             if (rename("nodes.conf.tmp", "nodes.conf") < 0) die("rename nodes.conf"));
    if ((dir = open(".", O_RDONLY)) < 0)
        die("open .");
    MEASURED(valkey_cluster, cluster_config_dir_fsync, if (fsync(dir) < 0) die("fsync ."));
    close(dir);
    MEASURED(valkey_cluster, cluster_config_close, close(fd));
}

/* BGSAVE: fork() timed as Valkey times it, the child writes the keyspace to
 * temp-PID.rdb; the parent then removes the temporary file (as after an
 * aborted save). */
static void bgsave(void)
{
    char tmp[64];
    pid_t child;
    int status;
    uint64_t b = now_ns();
    if ((child = fork()) < 0)
        die("fork");
    if (child == 0) {                                 /* not traced: no ust-fork hooks */
        FILE *f;
        long i;
        snprintf(tmp, sizeof tmp, "temp-%d.rdb", (int)getpid());
        if (!(f = fopen(tmp, "w")))
            _exit(1);
        for (i = 0; i < n_keys; i += 10)
            fprintf(f, "%s=%ld\n", keys[i], values[i]);
        _exit(fclose(f) == 0 ? 0 : 1);
    }
    lttng_ust_tracepoint(valkey_rdb, fork, (now_ns() - b) / 1000);
    if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        die("bgsave child");
    snprintf(tmp, sizeof tmp, "temp-%d.rdb", (int)child);
    MEASURED(valkey_rdb, rdb_unlink_temp_file, unlink(tmp));
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: valkey [options]\n"
"A Valkey event-loop stand-in with Valkey's LTTng-UST tracepoints and three\n"
"injected slow spots (see valkey.c).\n"
"  --cycles N       event-loop cycles (300)        --cycle-us N   cycle period (1000)\n"
"  --commands N     commands per cycle (3)         --keys N       keyspace size (1000000)\n"
"  --hog-at C       cycle of the hogged GET (100)  --hog-ms N     cpuhog's spin (20)\n"
"  --keys-at C      cycle of the KEYS (150)        --fsync-at C   cycle of the fsync (200)\n"
"  --fsync-kb N     KiB written then fsynced (32768)\n"
"  --cpu N          CPU of the server and cpuhog (0)\n"
"  --timeout-s N    alarm (60)   --dry-run   --help\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "cycles", required_argument, NULL, 'c' }, { "cycle-us", required_argument, NULL, 'u' },
        { "commands", required_argument, NULL, 'n' }, { "keys", required_argument, NULL, 'k' },
        { "hog-at", required_argument, NULL, 'H' }, { "hog-ms", required_argument, NULL, 'm' },
        { "keys-at", required_argument, NULL, 'K' }, { "fsync-at", required_argument, NULL, 'F' },
        { "fsync-kb", required_argument, NULL, 'b' }, { "cpu", required_argument, NULL, 'p' },
        EXAMPLE_OPTIONS
    };
    struct injected inj[3] = { { 0 } };
    pthread_t hog;
    long i, c, sum = 0, total = 0;
    uint64_t next;
    int o;

    example_name = "valkey";
    while ((o = getopt_long(argc, argv, EXAMPLE_OPTSTRING, opts, NULL)) != -1) {
        switch (o) {
        case 'c': cycles = number("--cycles", optarg, 1); break;
        case 'u': cycle_us = number("--cycle-us", optarg, 1); break;
        case 'n': n_commands = number("--commands", optarg, 1); break;
        case 'k': n_keys = number("--keys", optarg, 1); break;
        case 'H': hog_at = number("--hog-at", optarg, 0); break;
        case 'm': hog_ms = number("--hog-ms", optarg, 1); break;
        case 'K': keys_at = number("--keys-at", optarg, 0); break;
        case 'F': fsync_at = number("--fsync-at", optarg, 0); break;
        case 'b': fsync_kb = number("--fsync-kb", optarg, 1); break;
        case 'p': cpu = number("--cpu", optarg, 0); break;
        default: common_option(o, usage);
        }
    }
    check_cpu((int)cpu);
    begin(argc, argv, usage);

    keys = calloc((size_t)n_keys, sizeof *keys);
    values = calloc((size_t)n_keys, sizeof *values);
    if (!keys || !values)
        die("calloc");
    for (i = 0; i < n_keys; i++)
        if (asprintf(&keys[i], "key:%07ld", i) < 0)
            die("asprintf");
    if ((aof_fd = open("appendonly.aof", O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
        die("open appendonly.aof");

    server_tid = become("valkey-server", (int)cpu);
    realtime(1);
    sem_init(&hog_go, 0, 0);
    sem_init(&hog_done, 0, 0);
    check(pthread_create(&hog, NULL, cpuhog, NULL), "pthread_create");
    sem_wait(&hog_done);
    save_cluster_config();                            /* as at start-up */

    next = now_ns();
    for (c = 0; c < cycles; c++) {
        static const char *names[] = { "set", "get", "incr" };
        struct timespec ts;
        uint64_t loop, b, e;
        next += (uint64_t)cycle_us * 1000u;
        ts.tv_sec = (time_t)(next / 1000000000u);
        ts.tv_nsec = (long)(next % 1000000000u);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        loop = now_ns();
        for (i = 0; i < n_commands; i++, total++) {
            int hogged = c == hog_at && i == 1;       /* the cycle's GET */
            command(names[i % 3], 1, (c * n_commands + i) % n_keys, &sum, hogged,
                    hogged ? &inj[0] : NULL);
            if (hogged)
                sem_wait(&hog_done);
        }
        if (c == keys_at) {
            command("keys", 0, 0, &sum, 0, &inj[1]);
            total++;
        }
        if (c % 100 == 0) {                           /* serverCron at hz 10 */
            b = now_ns();
            for (i = 0; i < n_keys; i += 97)
                sum += values[i];
            e = now_ns();
            lttng_ust_tracepoint(valkey_db, expire_cycle, (e - b) / 1000);
            lttng_ust_tracepoint(valkey_server, eventloop_cron, (now_ns() - b) / 1000);
        }
        /* beforeSleep: flushAppendOnlyFile */
        if (c == fsync_at) {
            size_t want = (size_t)fsync_kb * 1024;
            if (aof_cap < want && !(aof_buf = realloc(aof_buf, aof_cap = want)))
                die("realloc");
            memset(aof_buf + aof_len, '+', want - aof_len);   /* a burst of writes */
            aof_len = want;
        }
        if (aof_len) {
            b = now_ns();
            if (write(aof_fd, aof_buf, aof_len) != (ssize_t)aof_len)
                die("write appendonly.aof");
            e = now_ns();
            lttng_ust_tracepoint(valkey_aof, aof_write, (e - b) / 1000);
            aof_len = 0;
        }
        if (c == fsync_at) {
            b = now_ns();
            if (fdatasync(aof_fd) < 0)
                die("fdatasync appendonly.aof");
            e = now_ns();
            lttng_ust_tracepoint(valkey_aof, aof_fsync_always, (e - b) / 1000);
            inj[2] = (struct injected){ "aof_fsync_always", b, e, now_ns(), (e - b) / 1000 };
        }
        lttng_ust_tracepoint(valkey_server, eventloop, (now_ns() - loop) / 1000);
    }
    bgsave();                                         /* as at shutdown */
    for (i = 0; i < 3; i++)
        if (inj[i].name)
            printf("valkey: inject %s name %s begin %llu end %llu traced %llu duration_us %llu\n",
                   i == 0 ? "hog" : i == 1 ? "keys" : "fsync", inj[i].name,
                   (unsigned long long)inj[i].begin, (unsigned long long)inj[i].end,
                   (unsigned long long)inj[i].traced, (unsigned long long)inj[i].us);
    if (inj[0].name)
        printf("valkey: hog begin %llu end %llu\n", (unsigned long long)hog_begin,
               (unsigned long long)hog_end);
    printf("valkey: commands %ld cycles %ld checksum %ld\n", total, cycles, sum);
    printf("valkey: pid %d server %d cpuhog %d\n", (int)getpid(), (int)server_tid, (int)hog_tid);
    close(aof_fd);
    unlink("appendonly.aof");
    unlink("nodes.conf");
    return 0;
}
