/* blocker: code that blocks, for tests/test_stacks_recording.py.
 *
 * waiter's wait_for_lock() blocks on a mutex that holder holds in hold_lock(),
 * which wakes it by unlocking; syncer's write_and_sync() blocks in fdatasync.
 * Built with -O0 -g -fno-omit-frame-pointer.
 *
 * Debian's glibc has no frame pointers: a frame-pointer walk that starts in
 * libc reads the innermost frame pointer, which is that of libc's caller, so
 * the function that called into libc is the one frame it never sees.  Each
 * call into libc therefore goes through a one-line helper (lock_it, unlock_it,
 * sync_it): the helper is the frame lost, and wait_for_lock(), hold_lock()
 * and write_and_sync() stay on the recorded stacks, as they would with a libc
 * built with frame pointers.
 *
 * Prints "blocker: pid P waiter T holder T syncer T rounds N syncs N".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t ready;
static int rounds = 10, syncs = 20;
static pid_t waiter_tid, holder_tid, syncer_tid;

__attribute__((noinline)) static void lock_it(void) { pthread_mutex_lock(&lock); }
__attribute__((noinline)) static void unlock_it(void) { pthread_mutex_unlock(&lock); }
__attribute__((noinline)) static void sync_it(int fd) { fdatasync(fd); }

__attribute__((noinline)) void hold_lock(void)
{
    for (int i = 0; i < rounds; i++) {
        lock_it();
        pthread_barrier_wait(&ready);    /* the waiter may now try the lock */
        usleep(20000);                   /* and blocks on it meanwhile */
        unlock_it();                     /* wakes it: the waker's stack */
        usleep(5000);
    }
}

__attribute__((noinline)) void wait_for_lock(void)
{
    lock_it();                           /* blocks here: the waiter's stack */
    unlock_it();
}

__attribute__((noinline)) void write_and_sync(const char *path)
{
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    for (int i = 0; i < syncs; i++) {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            perror("write");
            exit(1);
        }
        sync_it(fd);
    }
    close(fd);
}

static void *holder(void *arg)
{
    (void)arg;
    holder_tid = (pid_t)syscall(SYS_gettid);
    hold_lock();
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    waiter_tid = (pid_t)syscall(SYS_gettid);
    for (int i = 0; i < rounds; i++) {
        pthread_barrier_wait(&ready);
        wait_for_lock();
    }
    return NULL;
}

static void *syncer(void *arg)
{
    syncer_tid = (pid_t)syscall(SYS_gettid);
    write_and_sync((const char *)arg);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: blocker FILE [ROUNDS [SYNCS]]\n");
        return 2;
    }
    if (argc > 2)
        rounds = atoi(argv[2]);
    if (argc > 3)
        syncs = atoi(argv[3]);
    pthread_t h, w, s;
    pthread_barrier_init(&ready, NULL, 2);
    pthread_create(&h, NULL, holder, NULL);
    pthread_create(&w, NULL, waiter, NULL);
    pthread_create(&s, NULL, syncer, argv[1]);
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    pthread_join(s, NULL);
    unlink(argv[1]);
    printf("blocker: pid %d waiter %d holder %d syncer %d rounds %d syncs %d\n", (int)getpid(),
           (int)waiter_tid, (int)holder_tid, (int)syncer_tid, rounds, syncs);
    return 0;
}
