/*
 * monkey — a stand-in for the Monkey HTTP server's workers, emitting Monkey's
 * LTTng-UST tracepoints (provider monkey: scheduler, epoll, epoll_state, each
 * {fd, event}; shared/seeds/002_*), that logs every connection's life.
 *
 * Two workers ("monkey: wrk/0", "monkey: wrk/1") each run an epoll loop, as
 * Monkey's do: a connection handed to a worker is registered there (epoll
 * EPOLLIN on the worker's listening channel, epoll_state "GET: NOT FOUND",
 * "SET: NEW", scheduler "ADD_CLIENT_REUSEPORT", "REGISTERED"), each request
 * is an EPOLLIN then an EPOLLOUT (with Monkey's epoll_state and
 * GET_CONNECTION events), every 5 ms the worker traces "TIMEOUT CHECK" (fd 0)
 * and closes the connections idle past their keep-alive.  A connection ends
 * in one of three ways (its "reason"):
 *
 *   forced   the client hangs up: EPOLLIN, read() gets 0, "FORCED CLOSE"
 *   close    the client asked "Connection: close": the worker closes after
 *            the response (EPOLLOUT, then the close)
 *   timeout  the client asked "Keep-Alive: timeout=10ms" and stays idle:
 *            "TIMEOUT" (scheduler) after a TIMEOUT CHECK
 *
 * then the worker closes it as Monkey does: epoll_state "GET", "DELETE",
 * close(fd), scheduler "GET_CONNECTION", and only then "DELETE_CLIENT".
 *
 * The main thread ("client") is the clients: connection i (of --conns) goes
 * to worker i % 2, makes 1 + i % 3 requests and ends forced, close, timeout
 * for i % 3 = 0, 1, 2.  Each forced end with a next connection forces fd
 * reuse: between its close(fd) and its DELETE_CLIENT, the worker waits until
 * the other worker has registered connection i + 1 on the same fd (the
 * lowest free fd, as accept() gives; dup2() makes sure of it).  So an
 * fd-only key pairs DELETE_CLIENT with the wrong connection; the worker's
 * thread id and the fd do not.
 *
 * Connections are socketpair()s (the server end is the connection's fd, the
 * client end is moved above fd 1000).  On success it prints, CLOCK_MONOTONIC
 * ns, each pair bracketing a tracepoint (its event lies between them):
 *
 *   monkey: conn I worker W tid T fd F reason R requests K registered R0 R1
 *           ended X0 X1 deleted D0 D1 reused_from J
 *
 * (one line per connection; "ended" brackets the FORCED CLOSE or TIMEOUT
 * event, 0 0 for close; reused_from is the connection whose fd it took while
 * that one was not yet deleted, -1 for none), then
 *
 *   monkey: worker W tid T
 *   monkey: pid P client C conns N reused M
 *
 * Build: make (or let record.sh do it).
 */
#include "../example.h"

#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "monkey_tp.h"

#define WORKERS 2
#define MAX_CONNS 1000
#define MAX_FD 1000
enum { FORCED, CLOSE, TIMEOUT };
enum { MODE_READ = 1, MODE_WRITE = 2 };
static const char *reason_name[] = { "forced", "close", "timeout" };

struct conn {
    int id, worker, fd, client, requests, reason, reused_from, want_fd;
    int close_after, hold_delete;
    long timeout_ms;
    pid_t tid;
    uint64_t last, r0, r1, x0, x1, d0, d1;
    sem_t go, ended;
};

struct worker {
    pthread_t thread;
    pid_t tid;
    int index, epfd, channel;
    pthread_mutex_t mu;
    struct conn *pending;           /* handed over, to register */
    struct conn *by_fd[MAX_FD];
    sem_t registered;
};

static long n_conns = 12, gap_us = 1000;
static struct conn conns[MAX_CONNS];
static struct worker workers[WORKERS];
static sem_t closed;                /* a worker closed an fd it holds the deletion of */
static volatile int quit;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_mode(struct worker *w, int fd, int op, int mode)
{
    struct epoll_event ev = { .events = EPOLLERR | EPOLLHUP | EPOLLRDHUP, .data.fd = fd };
    ev.events |= mode == MODE_READ ? EPOLLIN : EPOLLOUT;
    if (epoll_ctl(w->epfd, op, fd, &ev) < 0)
        die("epoll_ctl");
}

static void register_conn(struct worker *w, struct conn *c)
{
    int sv[2], fd;

    lttng_ust_tracepoint(monkey, epoll, w->channel, "EPOLLIN");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    if ((c->client = fcntl(sv[1], F_DUPFD_CLOEXEC, 1000)) < 0)
        die("fcntl F_DUPFD");
    close(sv[1]);
    fd = sv[0];
    /* The fd the previous connection closed: accept() would give it (lowest
     * free); make sure of it. */
    if (c->want_fd >= 0 && fd != c->want_fd && fcntl(c->want_fd, F_GETFD) < 0 && errno == EBADF) {
        if (dup2(fd, c->want_fd) < 0)
            die("dup2");
        close(fd);
        fd = c->want_fd;
    }
    if (fd >= MAX_FD)
        die("too many fds");
    c->fd = fd;
    c->tid = w->tid;
    c->last = now_ns();
    w->by_fd[fd] = c;
    lttng_ust_tracepoint(monkey, epoll_state, fd, 0, "GET: NOT FOUND");
    set_mode(w, fd, EPOLL_CTL_ADD, MODE_READ);
    lttng_ust_tracepoint(monkey, epoll_state, fd, MODE_READ, "SET: NEW");
    lttng_ust_tracepoint(monkey, scheduler, fd, "ADD_CLIENT_REUSEPORT");
    c->r0 = now_ns();
    lttng_ust_tracepoint(monkey, scheduler, fd, "REGISTERED");
    c->r1 = now_ns();
}

static void close_conn(struct worker *w, struct conn *c)
{
    int fd = c->fd;

    lttng_ust_tracepoint(monkey, epoll_state, fd, 0, "GET");
    if (epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
        die("epoll_ctl DEL");
    lttng_ust_tracepoint(monkey, epoll_state, fd, 0, "DELETE");
    w->by_fd[fd] = NULL;
    close(fd);
    lttng_ust_tracepoint(monkey, scheduler, fd, "GET_CONNECTION");
    if (c->hold_delete) {           /* another worker takes this fd first */
        sem_post(&closed);
        sem_wait(&c->go);
    }
    c->d0 = now_ns();
    lttng_ust_tracepoint(monkey, scheduler, fd, "DELETE_CLIENT");
    c->d1 = now_ns();
    sem_post(&c->ended);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[16];
    char name[16], buf[512];
    uint64_t next_check;
    int i, n;

    snprintf(name, sizeof name, "monkey: wrk/%d", w->index);
    w->tid = become(name, -1);
    next_check = now_ns() + 5000000u;
    while (!quit) {
        n = epoll_wait(w->epfd, evs, 16, 5);
        for (i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            struct conn *c;
            if (fd == w->channel) {
                uint64_t v;
                if (read(fd, &v, sizeof v) != sizeof v)
                    die("read eventfd");
                pthread_mutex_lock(&w->mu);
                c = w->pending;
                w->pending = NULL;
                pthread_mutex_unlock(&w->mu);
                if (c) {
                    register_conn(w, c);
                    sem_post(&w->registered);
                }
                continue;
            }
            c = w->by_fd[fd];
            if (!c)
                continue;
            if (evs[i].events & EPOLLIN) {
                ssize_t got;
                lttng_ust_tracepoint(monkey, epoll, fd, "EPOLLIN");
                lttng_ust_tracepoint(monkey, epoll_state, fd, 0, "GET");
                lttng_ust_tracepoint(monkey, scheduler, fd, "GET_CONNECTION");
                got = read(fd, buf, sizeof buf - 1);
                if (got <= 0) {
                    c->x0 = now_ns();
                    lttng_ust_tracepoint(monkey, epoll, fd, "FORCED CLOSE");
                    c->x1 = now_ns();
                    close_conn(w, c);
                    continue;
                }
                buf[got] = 0;
                c->close_after = strstr(buf, "Connection: close") != NULL;
                c->timeout_ms = strstr(buf, "Keep-Alive: timeout=10ms") ? 10 : 0;
                set_mode(w, fd, EPOLL_CTL_MOD, MODE_WRITE);
                lttng_ust_tracepoint(monkey, epoll_state, fd, MODE_WRITE, "SET: CHANGE");
            } else if (evs[i].events & EPOLLOUT) {
                static const char response[] = "HTTP/1.1 200 OK\r\nServer: Monkey\r\nContent-Length: 0\r\n\r\n";
                lttng_ust_tracepoint(monkey, epoll, fd, "EPOLLOUT");
                lttng_ust_tracepoint(monkey, epoll_state, fd, 0, "GET");
                lttng_ust_tracepoint(monkey, scheduler, fd, "GET_CONNECTION");
                if (write(fd, response, sizeof response - 1) != (ssize_t)(sizeof response - 1))
                    die("write response");
                c->last = now_ns();
                if (c->close_after) {
                    close_conn(w, c);
                } else {
                    set_mode(w, fd, EPOLL_CTL_MOD, MODE_READ);
                    lttng_ust_tracepoint(monkey, epoll_state, fd, MODE_READ, "SET: CHANGE");
                }
            }
        }
        if (now_ns() >= next_check) {
            uint64_t t = now_ns();
            lttng_ust_tracepoint(monkey, epoll, 0, "TIMEOUT CHECK");
            for (i = 0; i < MAX_FD; i++) {
                struct conn *c = w->by_fd[i];
                if (c && c->timeout_ms && t - c->last >= (uint64_t)c->timeout_ms * 1000000u) {
                    c->x0 = now_ns();
                    lttng_ust_tracepoint(monkey, scheduler, c->fd, "TIMEOUT");
                    c->x1 = now_ns();
                    close_conn(w, c);
                }
            }
            next_check = t + 5000000u;
        }
    }
    return NULL;
}

/* Hand connection c to its worker and wait until it is registered. */
static void open_conn(struct conn *c)
{
    struct worker *w = &workers[c->worker];
    uint64_t one = 1;
    pthread_mutex_lock(&w->mu);
    w->pending = c;
    pthread_mutex_unlock(&w->mu);
    if (write(w->channel, &one, sizeof one) != sizeof one)
        die("write eventfd");
    sem_wait(&w->registered);
}

static void request(struct conn *c, int last)
{
    char req[256], resp[512];
    int n = snprintf(req, sizeof req, "GET /%d HTTP/1.1\r\nHost: localhost\r\n%s%s\r\n", c->id,
                     last && c->reason == CLOSE ? "Connection: close\r\n" : "",
                     last && c->reason == TIMEOUT ? "Keep-Alive: timeout=10ms\r\n" : "");
    if (write(c->client, req, (size_t)n) != n)
        die("write request");
    if (read(c->client, resp, sizeof resp) <= 0)
        die("read response");
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: monkey [options]\n"
"Two Monkey-like epoll workers with Monkey's LTTng-UST tracepoints, and their\n"
"clients; every connection's life is logged (see monkey.c).\n"
"  --conns N      connections, at most %d (12)\n"
"  --gap-us N     pause between connections (1000)\n"
"  --timeout-s N  alarm (60)   --dry-run   --help\n", MAX_CONNS);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "conns", required_argument, NULL, 'n' }, { "gap-us", required_argument, NULL, 'g' },
        EXAMPLE_OPTIONS
    };
    pid_t client_tid;
    long i, reused = 0;
    int o;

    example_name = "monkey";
    while ((o = getopt_long(argc, argv, EXAMPLE_OPTSTRING, opts, NULL)) != -1) {
        switch (o) {
        case 'n': n_conns = number("--conns", optarg, 1); break;
        case 'g': gap_us = number("--gap-us", optarg, 0); break;
        default: common_option(o, usage);
        }
    }
    if (n_conns > MAX_CONNS) {
        fprintf(stderr, "monkey: --conns is at most %d\n", MAX_CONNS);
        exit(2);
    }
    begin(argc, argv, usage);

    client_tid = become("client", -1);
    sem_init(&closed, 0, 0);
    for (i = 0; i < WORKERS; i++) {
        struct worker *w = &workers[i];
        w->index = (int)i;
        if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || (w->channel = eventfd(0, EFD_CLOEXEC)) < 0)
            die("epoll_create1/eventfd");
        set_mode(w, w->channel, EPOLL_CTL_ADD, MODE_READ);
        pthread_mutex_init(&w->mu, NULL);
        sem_init(&w->registered, 0, 0);
        check(pthread_create(&w->thread, NULL, worker_main, w), "pthread_create");
    }
    for (i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        c->id = (int)i;
        c->worker = (int)(i % WORKERS);
        c->requests = 1 + (int)(i % 3);
        c->reason = (int)(i % 3);
        c->reused_from = -1;
        c->want_fd = -1;
        sem_init(&c->go, 0, 0);
        sem_init(&c->ended, 0, 0);
    }
    usleep(20000);                          /* the workers are in epoll_wait */

    for (i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        struct timespec gap = { gap_us / 1000000, (gap_us % 1000000) * 1000 };
        char eof[64];
        int k;

        if (!c->tid)
            open_conn(c);
        for (k = 0; k < c->requests; k++)
            request(c, k == c->requests - 1);
        if (c->reason == FORCED) {
            c->hold_delete = i + 1 < n_conns;
            __sync_synchronize();
            close(c->client);
            if (c->hold_delete) {
                struct conn *next = &conns[i + 1];
                sem_wait(&closed);          /* its fd is closed, not yet deleted */
                next->want_fd = c->fd;
                open_conn(next);
                next->reused_from = next->fd == c->fd ? (int)i : -1;
                reused += next->fd == c->fd;
                sem_post(&c->go);
            }
            sem_wait(&c->ended);
        } else {                            /* the worker closes: EOF */
            if (read(c->client, eof, sizeof eof) != 0)
                die("expected the server to close");
            sem_wait(&c->ended);
            close(c->client);
        }
        nanosleep(&gap, NULL);
    }
    quit = 1;
    for (i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);

    for (i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        printf("monkey: conn %d worker %d tid %d fd %d reason %s requests %d registered %llu %llu "
               "ended %llu %llu deleted %llu %llu reused_from %d\n", c->id, c->worker, (int)c->tid,
               c->fd, reason_name[c->reason], c->requests, (unsigned long long)c->r0,
               (unsigned long long)c->r1, (unsigned long long)c->x0, (unsigned long long)c->x1,
               (unsigned long long)c->d0, (unsigned long long)c->d1, c->reused_from);
    }
    for (i = 0; i < WORKERS; i++)
        printf("monkey: worker %ld tid %d\n", i, (int)workers[i].tid);
    printf("monkey: pid %d client %d conns %ld reused %ld\n", (int)getpid(), (int)client_tid,
           n_conns, reused);
    return 0;
}
