/* The socket a socket source listens on: a TCP listener, a UDP socket or a
 * unix stream listener, and the label its messages carry ("flow web: tcp
 * 127.0.0.1:5140"). It owns the address rules and the socket file; what
 * comes in on the socket is the socket source's (source_socket.h).
 *
 * - Bind addresses are numeric IPv4 or IPv6 literals ("::1" or "[::1]"),
 *   never host names, so start-up does no DNS. Port 0 takes an ephemeral
 *   port; the label and port then say which.
 * - TCP listeners set SO_REUSEADDR: a restart must not wait for TIME_WAIT.
 * - Unix sockets: an existing socket file nobody listens on is replaced;
 *   one with a listener, or any other kind of file, is an error. The file
 *   ends up with mode 0660 whatever the umask (the socket is fchmod'ed
 *   before bind, the path chmod'ed right after), and sp_listener_close
 *   removes it if it is still the one bound here. */
#ifndef SHARDPIPE_LISTEN_H
#define SHARDPIPE_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "shardpipe/err.h"
#include "shardpipe/log.h"
#include "shardpipe/source.h"

typedef struct sp_listener {
    enum sp_source_kind kind;    /* SP_SRC_TCP, SP_SRC_UDP or SP_SRC_UNIX */
    int fd;                      /* non-blocking, close-on-exec; -1: closed */
    int port;                    /* tcp/udp: the bound port; unix: 0 */
    char label[256];             /* for messages */
    const char *name;            /* the flow, NULL: none; read by the opens only */
    const sp_log *log;
    char *path;                  /* unix: the file bound here */
    dev_t path_dev;
    ino_t path_ino;
} sp_listener;

/* Closed, with the label "flow NAME: KIND". */
void sp_listener_init(sp_listener *l, enum sp_source_kind kind, const char *name,
                      const sp_log *log);

/* tcp/udp: binds bind ("127.0.0.1" when NULL) and port; tcp listens.
 * Errors carry the label: "flow web: tcp 127.0.0.1:5140: bind: Address
 * already in use". On error the listener may hold a descriptor:
 * sp_listener_close it. */
int sp_listener_open_inet(sp_listener *l, const char *bind, int port, sp_err *err);

/* Splits "ADDR:PORT", "[V6]:PORT" or a bare "PORT" into host (empty for
 * a bare port: the default address) and port (0..65535). The address is
 * checked when it is bound. what names the setting in errors. */
int sp_listen_split(const char *spec, const char *what, char *host, size_t hostlen, int *port,
                    sp_err *err);

/* unix: binds and listens at path (shorter than sun_path). */
int sp_listener_open_unix(sp_listener *l, const char *path, sp_err *err);

/* Closes the socket (the caller unwatches it first) and removes a unix
 * socket file that is still ours. Idempotent. */
void sp_listener_close(sp_listener *l);

/* "127.0.0.1:5140" or "[::1]:5140" (numeric), "(unknown)" if it cannot. */
void sp_format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen);

#endif
