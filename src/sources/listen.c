/* Listening sockets for the socket sources (see listen.h). */
#include <errno.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shardpipe/listen.h"

static const char *kind_name(enum sp_source_kind k)
{
    switch (k) {
    case SP_SRC_TCP: return "tcp";
    case SP_SRC_UDP: return "udp";
    case SP_SRC_UNIX: return "unix";
    default: return "?";
    }
}

static void set_label(sp_listener *l, const char *where)
{
    const char *sep = where[0] != '\0' ? " " : "";
    if (l->name != NULL && l->name[0] != '\0')
        snprintf(l->label, sizeof l->label, "flow %s: %s%s%s", l->name, kind_name(l->kind), sep,
                 where);
    else
        snprintf(l->label, sizeof l->label, "%s%s%s", kind_name(l->kind), sep, where);
}

void sp_listener_init(sp_listener *l, enum sp_source_kind kind, const char *name,
                      const sp_log *log)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->fd = -1;
    l->name = name;
    l->log = log;
    set_label(l, "");
}

void sp_format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    /* Numeric: an IPv6 literal with a scope name at most. */
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], serv[8];
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "(unknown)");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%s", host, serv);
    else
        snprintf(out, outlen, "%s:%s", host, serv);
}

/* A numeric address, brackets around an IPv6 literal allowed. */
static int resolve(sp_listener *l, const char *bind, int port, struct sockaddr_storage *ss,
                   socklen_t *sl, sp_err *err)
{
    char host[NI_MAXHOST], serv[16];
    const char *given = bind;
    size_t n = strlen(bind);
    if (n >= 2 && bind[0] == '[' && bind[n - 1] == ']') {
        bind++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof host)
        return sp_err_set(err, "%s: bad bind address \"%s\"", l->label, given);
    memcpy(host, bind, n);
    host[n] = '\0';
    snprintf(serv, sizeof serv, "%d", port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = l->kind == SP_SRC_UDP ? SOCK_DGRAM : SOCK_STREAM;
    int rc = getaddrinfo(host, serv, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        if (ai != NULL)
            freeaddrinfo(ai);
        return sp_err_set(err, "%s: bind address \"%s\" is not an IPv4 or IPv6 address: %s",
                          l->label, host, rc != 0 ? gai_strerror(rc) : "no result");
    }
    if (ai->ai_addrlen > sizeof *ss) {
        freeaddrinfo(ai);
        return sp_err_set(err, "%s: address too long", l->label);
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    return SP_OK;
}

int sp_listen_split(const char *spec, const char *what, char *host, size_t hostlen, int *port,
                    sp_err *err)
{
    const char *colon = strrchr(spec, ':'), *ps = colon ? colon + 1 : spec;
    size_t hl = colon ? (size_t)(colon - spec) : 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(ps, &end, 10);
    if (*ps < '0' || *ps > '9' || *end != '\0' || errno != 0 || v > 65535)
        return sp_err_set(err, "%s: \"%.64s\" is not ADDR:PORT (a port from 0 to 65535)", what, spec);
    /* An IPv6 literal carries colons of its own: it needs its brackets. */
    if (hl > 0 && memchr(spec, ':', hl) != NULL && !(spec[0] == '[' && spec[hl - 1] == ']'))
        return sp_err_set(err, "%s: \"%.64s\": put an IPv6 address in brackets, as [::1]:9100", what,
                          spec);
    if (colon != NULL && hl == 0)
        return sp_err_set(err, "%s: \"%.64s\" has no address before the port", what, spec);
    if (hl >= hostlen)
        return sp_err_set(err, "%s: the address is too long", what);
    memcpy(host, spec, hl);
    host[hl] = '\0';
    *port = (int)v;
    return SP_OK;
}

int sp_listener_open_inet(sp_listener *l, const char *bind_addr, int port, sp_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char where[96];

    if (bind_addr == NULL)
        bind_addr = "127.0.0.1";
    snprintf(where, sizeof where, "%s:%d", bind_addr, port);
    set_label(l, where);
    if (resolve(l, bind_addr, port, &ss, &sl, err) != SP_OK)
        return SP_ERR;
    sp_format_addr((struct sockaddr *)&ss, sl, where, sizeof where);
    set_label(l, where);

    int type = l->kind == SP_SRC_UDP ? SOCK_DGRAM : SOCK_STREAM;
    l->fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        return sp_err_set(err, "%s: socket: %s", l->label, strerror(errno));
    if (l->kind == SP_SRC_TCP) {
        /* A restart must not wait for TIME_WAIT connections to expire. */
        int on = 1;
        if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
            return sp_err_set(err, "%s: SO_REUSEADDR: %s", l->label, strerror(errno));
    }
    if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0)
        return sp_err_set(err, "%s: bind: %s", l->label, strerror(errno));
    if (l->kind == SP_SRC_TCP && listen(l->fd, SOMAXCONN) < 0)
        return sp_err_set(err, "%s: listen: %s", l->label, strerror(errno));

    sl = sizeof ss;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
        return sp_err_set(err, "%s: getsockname: %s", l->label, strerror(errno));
    if (ss.ss_family == AF_INET)
        l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    sp_format_addr((struct sockaddr *)&ss, sl, where, sizeof where);
    set_label(l, where);
    return SP_OK;
}

/* An existing socket file is stale when nobody accepts on it. */
static int clear_stale(sp_listener *l, const struct sockaddr_un *sun, sp_err *err)
{
    struct stat sb;
    if (lstat(sun->sun_path, &sb) < 0) {
        if (errno == ENOENT)
            return SP_OK;
        return sp_err_set(err, "%s: %s", l->label, strerror(errno));
    }
    if (!S_ISSOCK(sb.st_mode))
        return sp_err_set(err, "%s: the path exists and is not a socket; not replacing it",
                          l->label);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sp_err_set(err, "%s: socket: %s", l->label, strerror(errno));
    int rc;
    do
        rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
    while (rc < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN)
        return sp_err_set(err, "%s: another process is listening on this socket", l->label);
    if (e != ECONNREFUSED)
        return sp_err_set(err, "%s: checking the existing socket: %s", l->label, strerror(e));
    if (unlink(sun->sun_path) < 0 && errno != ENOENT)
        return sp_err_set(err, "%s: removing the stale socket: %s", l->label, strerror(errno));
    sp_log_info(l->log, "%s: removed a stale socket file", l->label);
    return SP_OK;
}

int sp_listener_open_unix(sp_listener *l, const char *path, sp_err *err)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    set_label(l, path);
    if (strlen(path) >= sizeof sun.sun_path)
        return sp_err_set(err, "%s: unix socket path too long (at most %zu bytes)", l->label,
                          sizeof sun.sun_path - 1);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (clear_stale(l, &sun, err) != SP_OK)
        return SP_ERR;

    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        return sp_err_set(err, "%s: socket: %s", l->label, strerror(errno));
    /* Linux creates the file with the socket's mode less the umask: never
     * wider than 0660. The chmod below then undoes what the umask took. */
    if (fchmod(l->fd, 0660) < 0)
        return sp_err_set(err, "%s: fchmod: %s", l->label, strerror(errno));
    if (bind(l->fd, (struct sockaddr *)&sun, sizeof sun) < 0)
        return sp_err_set(err, "%s: bind: %s", l->label, strerror(errno));
    l->path = strdup(path);
    struct stat sb;
    if (l->path == NULL)
        return sp_err_set(err, "%s: out of memory", l->label);
    if (lstat(l->path, &sb) < 0)
        return sp_err_set(err, "%s: %s", l->label, strerror(errno));
    l->path_dev = sb.st_dev;
    l->path_ino = sb.st_ino;
    if (chmod(l->path, 0660) < 0)
        return sp_err_set(err, "%s: chmod: %s", l->label, strerror(errno));
    if (listen(l->fd, SOMAXCONN) < 0)
        return sp_err_set(err, "%s: listen: %s", l->label, strerror(errno));
    return SP_OK;
}

void sp_listener_close(sp_listener *l)
{
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    if (l->path != NULL) {
        /* Only our own socket: someone may have replaced it since. */
        struct stat sb;
        if (lstat(l->path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
            sb.st_dev == l->path_dev && sb.st_ino == l->path_ino &&
            unlink(l->path) < 0 && errno != ENOENT)
            sp_log_warn(l->log, "%s: removing the socket file: %s", l->label, strerror(errno));
        free(l->path);
        l->path = NULL;
    }
}
