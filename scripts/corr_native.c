/* The ``corr`` command, native: hands the command to the resident server.
 *
 * A served re-run from the decode cache takes ~30 ms in the server; a
 * Python client costs ~15 ms more just to start (the interpreter, site,
 * its imports).  This client starts in under a millisecond, as
 * Mercurial's chg does for hg.  It speaks corr/server/protocol.py's
 * protocol over the socket a link in the private runtime folder points to
 * (``client-<crc32 of this executable's path>.sock``).  When no server
 * answers, or the one that answers runs older code (it replies ``s`` and
 * exits), it runs corr in Python (CORR_PYTHON, fixed at build time),
 * which runs the command, starts a server and points the link at it.
 *
 * Nothing here decides what a command does: corr.launcher.served says
 * which commands may be served; SERVED below mirrors it.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef CORR_PYTHON
#error "build with -DCORR_PYTHON='\"/path/to/python\"' (setup.py does)"
#endif

extern char **environ;

#define LINK_ENV "CORR_CLIENT_LINK"
#define LENGTH_SIZE 8
#define REPLY_SIZE 5
#define UNSERVED 70

/* What Python runs when no server does: corr.launcher as scripts/corr runs it.
 * -P: the working directory is not put on sys.path. */
static const char LAUNCH[] =
    "import sys; sys.argv[0] = 'corr'\n"
    "from corr.launcher import entry_point\n"
    "entry_point()\n";

static pid_t command_pid;

/* Run corr in Python, with the link to point at the server it finds or starts. */
static void run_in_python(int argc, char **argv, const char *link)
{
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (args == NULL) {
        perror("corr");
        _exit(UNSERVED);
    }
    int n = 0;
    args[n++] = CORR_PYTHON;
    args[n++] = "-P";
    args[n++] = "-c";
    args[n++] = (char *)LAUNCH;
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    if (link != NULL)
        setenv(LINK_ENV, link, 1);
    else
        unsetenv(LINK_ENV);
    execv(CORR_PYTHON, args);
    fprintf(stderr, "corr: cannot run %s: %s\n", CORR_PYTHON, strerror(errno));
    _exit(UNSERVED);
}

/* corr.launcher.served: not ``corr server``, not ``corr record``, not a terminal session. */
static int served(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "server") == 0 || strcmp(argv[1], "record") == 0)
        return 0;
    if (strcmp(argv[1], "tune") == 0)
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "-i") == 0 || strcmp(argv[i], "--interactive") == 0)
                return 0;
    return 1;
}

/* corr.server.address.mode: CORR_SERVER off, 0, no or false (any case, blanks around). */
static int server_off(void)
{
    const char *value = getenv("CORR_SERVER");
    if (value == NULL)
        return 0;
    while (*value == ' ' || *value == '\t' || *value == '\n')
        value++;
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\n'))
        len--;
    static const char *const off[] = {"off", "0", "no", "false"};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (strlen(off[i]) == len && strncasecmp(value, off[i], len) == 0)
            return 1;
    return 0;
}

/* corr.server.address.runtime_folder, written into ``folder``; whether it is
 * private (address.private_folder: ours, a folder, closed to others). */
static int runtime_folder(char *folder, size_t size, int *private)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    int n = (base != NULL && base[0] == '/')
        ? snprintf(folder, size, "%s/corr", base)
        : snprintf(folder, size, "/tmp/corr-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= size)
        return 0;
    struct stat st;
    *private = lstat(folder, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()
        && (st.st_mode & 077) == 0;
    return 1;
}

/* zlib's crc32 (corr.server.address.client_link computes the same). */
static uint32_t crc32_of(const char *s)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (; *s; s++) {
        crc ^= (unsigned char)*s;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
    }
    return ~crc;
}

static int write_all(int sock, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t sent = send(sock, data, len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += sent;
        len -= (size_t)sent;
    }
    return 0;
}

static int read_reply(int sock, char *kind, int32_t *value)
{
    unsigned char data[REPLY_SIZE];
    size_t got = 0;
    while (got < REPLY_SIZE) {
        ssize_t n = recv(sock, data + got, REPLY_SIZE - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    *kind = (char)data[0];
    uint32_t v = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16
        | (uint32_t)data[4] << 24;
    *value = (int32_t)v;
    return 0;
}

/* A growing buffer for the request body. */
struct buffer {
    char *data;
    size_t len, cap;
};

static int append(struct buffer *b, const char *s, size_t len)
{
    size_t need = b->len + len;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    return 0;
}

/* One field of the body, which starts after the length: NUL before all but the first. */
static int field(struct buffer *b, const char *s)
{
    if (b->len > LENGTH_SIZE && append(b, "", 1) != 0)
        return -1;
    return append(b, s, strlen(s));
}

/* protocol.encode_request: length, then umask, cwd, argc, arguments, environment. */
static int encode_request(struct buffer *b, int argc, char **argv)
{
    char number[32];
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return -1;
    mode_t mask = umask(0);
    umask(mask);
    int failed = append(b, "\0\0\0\0\0\0\0\0", LENGTH_SIZE);
    snprintf(number, sizeof number, "%u", (unsigned)mask);
    failed |= field(b, number);
    failed |= field(b, cwd);
    snprintf(number, sizeof number, "%d", argc - 1);
    failed |= field(b, number);
    for (int i = 1; i < argc; i++)
        failed |= field(b, argv[i]);
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, LINK_ENV "=", sizeof LINK_ENV) != 0)
            failed |= field(b, *e);
    free(cwd);
    if (failed)
        return -1;
    uint64_t body = (uint64_t)(b->len - LENGTH_SIZE);
    for (int i = 0; i < LENGTH_SIZE; i++)
        b->data[i] = (char)(body >> (8 * i));
    return 0;
}

/* Send the request with our stdin, stdout and stderr (SCM_RIGHTS). */
static int send_request(int sock, const struct buffer *b)
{
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = b->data, .iov_len = b->len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    ssize_t sent;
    do
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return -1;
    return write_all(sock, b->data + sent, b->len - (size_t)sent);
}

static volatile sig_atomic_t passed[NSIG];     /* the signals passed on to the command */

static void forward(int signum)
{
    int saved = errno;
    if (signum > 0 && signum < NSIG)
        passed[signum] = 1;
    if (command_pid > 0)
        kill(command_pid, signum);
    errno = saved;
}

/* A command killed by a signal (corr/server/fate.py, whose message this mirrors): one
 * passed on from here kills this client too; another is one line and its exit code
 * (value: the signal + 256 * the code). */
static int killed(int32_t value)
{
    static const char *const names[] = {
        [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
        [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [10] = "SIGUSR1",
        [11] = "SIGSEGV", [12] = "SIGUSR2", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM"};
    int signum = value & 0xFF, code = value >> 8;
    if (signum > 0 && signum < NSIG && passed[signum]) {
        signal(signum, SIG_DFL);
        raise(signum);
    }
    const char *described = strsignal(signum);
    char unnamed[32];
    const char *name = signum > 0 && signum <= 15 ? names[signum] : NULL;
    if (name == NULL) {
        snprintf(unnamed, sizeof unnamed, "signal %d", signum);
        name = unnamed;
    }
    fprintf(stderr, "corr: the resident server's command was killed by %s (%s)%s\n", name,
            described ? described : "unknown signal",
            code == 2 ? " while decoding its traces (babeltrace2 stops so on some malformed "
                        "traces)"
                      : " (CORR_SERVER=off runs corr in this process)");
    return code & 0xFF;
}

/* Whether stdin, stdout and stderr are all open: a command started with one
 * closed (>&-) runs in Python, which says so (a socket opened here would take
 * the closed descriptor's number and be sent as the command's stdout). */
static int stdio_open(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (!served(argc, argv) || server_off() || !stdio_open())
        run_in_python(argc, argv, NULL);

    char folder[PATH_MAX], exe[PATH_MAX], link[PATH_MAX];
    int private;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || !runtime_folder(folder, sizeof folder, &private))
        run_in_python(argc, argv, NULL);
    exe[n] = '\0';
    int len = snprintf(link, sizeof link, "%s/client-%08x.sock", folder, crc32_of(exe));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (len < 0 || (size_t)len >= sizeof addr.sun_path)
        run_in_python(argc, argv, NULL);
    if (!private)                    /* not there yet: Python makes it, then the link */
        run_in_python(argc, argv, link);
    memcpy(addr.sun_path, link, (size_t)len + 1);

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0)
        run_in_python(argc, argv, link);

    struct buffer request = {0};
    char kind;
    int32_t value;
    if (encode_request(&request, argc, argv) != 0 || send_request(sock, &request) != 0
        || read_reply(sock, &kind, &value) != 0 || kind != 'p') {
        close(sock);                 /* nothing ran: run it here */
        run_in_python(argc, argv, link);
    }
    free(request.data);

    command_pid = (pid_t)value;
    struct sigaction action = {.sa_handler = forward};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &action, NULL);

    int got = read_reply(sock, &kind, &value);
    if (got == 0 && kind == 'k')
        return killed(value);
    if (got != 0 || kind != 'x') {
        fputs("corr: the resident server's run ended without an exit code "
              "(CORR_SERVER=off runs corr in this process)\n", stderr);
        return UNSERVED;
    }
    return value & 0xFF;
}
