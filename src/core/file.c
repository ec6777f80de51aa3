/* Reading a whole file, bounded (file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardpipe/file.h"

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) || S_ISBLK(m) ? "a device"
           : S_ISSOCK(m) ? "a socket" : "of another kind";
}

void sp_file_free(char *buf, size_t len, int wipe)
{
    if (buf != NULL && wipe)
        explicit_bzero(buf, len + 1);
    free(buf);
}

int sp_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *out_len, sp_err *err)
{
    int wipe = (flags & SP_FILE_WIPE) != 0;
    *out = NULL;
    *out_len = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (nor a device
     * for its carrier); it is then refused. Reading a regular file ignores
     * the flag. */
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        return sp_err_setc(err, e == ENOENT || e == ENOTDIR ? SP_E_NOENT : SP_E_IO, "%s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sp_err_setc(err, SP_E_IO, "%s", strerror(e));
    }
    int device = S_ISCHR(st.st_mode) && (flags & SP_FILE_DEVICES);
    if (!S_ISREG(st.st_mode) && !device) {
        close(fd);
        return sp_err_setc(err, SP_E_INVALID, "not a regular file (it is %s)", kind_of(st.st_mode));
    }
    if (device)
        st.st_size = 0;     /* no size to go by: grow as it comes */
    if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
        close(fd);
        return sp_err_setc(err, SP_E_INVALID, "larger than %zu bytes", max);
    }
    /* Room for one byte more than the size, so that a file that grew while
     * it was read is noticed, and for the NUL. */
    size_t cap = (size_t)st.st_size + 2, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return sp_err_setc(err, SP_E_NOMEM, "out of memory for %zu bytes", cap);
    }
    for (;;) {
        if (len + 1 == cap) {
            if (len > max) {
                sp_err_setc(err, SP_E_INVALID, "larger than %zu bytes", max);
                goto fail;
            }
            size_t ncap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
            char *n = malloc(ncap);
            if (n == NULL) {
                sp_err_setc(err, SP_E_NOMEM, "out of memory for %zu bytes", ncap);
                goto fail;
            }
            memcpy(n, buf, len);
            sp_file_free(buf, cap - 1, wipe);
            buf = n;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            sp_err_setc(err, SP_E_IO, "%s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (len > max) {
        sp_file_free(buf, cap - 1, wipe);
        return sp_err_setc(err, SP_E_INVALID, "larger than %zu bytes", max);
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return SP_OK;
fail:
    close(fd);
    sp_file_free(buf, cap - 1, wipe);
    return SP_ERR;
}
