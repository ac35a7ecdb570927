/*
 * sftp: the SFTP server's core: its state, the handle table, replies,
 * the packet framing and request dispatch (with sftp-server's read-only
 * mode and request lists), and the table of requests. The requests
 * themselves are in sftp_ops.c (files) and sftp_names.c (directories and
 * names), the wire format in sftp_wire.c, the serving loop and the
 * command line in sftp_main.c.
 *
 * Every client byte is hostile: a packet's length is checked against
 * WD_SFTP_MAX_MSG before anything waits for it, each field is read with
 * the bounded readers of lib/buf.h inside that packet only, and a
 * malformed packet ends the server with a log line (never a reply built
 * from a guess). The input queue holds at most two packets and a request
 * is only answered when the output queue has room for the largest reply,
 * so neither queue can grow past its bound whatever the client does.
 */
#include "sftp.h"

#include <errno.h>
#include <pwd.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "sftp_int.h"

#define IN_MAX (2 * (WD_SFTP_MAX_MSG + 4))
#define OUT_MAX (4 * (WD_SFTP_MAX_MSG + 4))
#define HANDLE_LEN 8

/* ------------------------------------------------------------------------
 * Logging.
 */

const char *wd_sftp_esc(char *out, size_t outsize, const char *str)
{
    whelk_escape(out, outsize, str, strlen(str));
    return out;
}

void wd_sftp_log(wd_sftp *s, int level, const char *fmt, ...)
{
    if (!wd_sftp_logs(s, level)) return;
    char raw[1536], line[1600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    int fd = s->log_fd >= 0 ? s->log_fd : STDERR_FILENO;
    const char *prefix = s->log_prefix ? s->log_prefix : "";
    size_t p = strlen(prefix);
    memcpy(line, prefix, p);
    /* Peer strings were escaped where they went in; this is the second
     * layer, as in whelkd's own log writer. */
    size_t len = p + wd_log_sanitize(line + p, sizeof(line) - p - 1, raw);
    line[len++] = '\n';
    ssize_t w = write(fd, line, len);
    (void)w;
}

/* ------------------------------------------------------------------------
 * The server's state.
 */

static void who_am_i(wd_sftp *s)
{
    /* In a chroot without /etc/passwd the session's environment still
     * names the user. */
    s->uid = getuid();
    struct passwd *pw = getpwuid(s->uid);
    const char *user = pw ? pw->pw_name : getenv("USER");
    const char *home = pw ? pw->pw_dir : getenv("HOME");
    if (user)
        snprintf(s->user, sizeof(s->user), "%s", user);
    else
        snprintf(s->user, sizeof(s->user), "%u", (unsigned)s->uid);
    snprintf(s->home, sizeof(s->home), "%s", home ? home : "/");
    const char *conn = getenv("SSH_CONNECTION");
    size_t n = conn ? strcspn(conn, " ") : 0;
    if (n == 0 || n >= sizeof(s->client))
        snprintf(s->client, sizeof(s->client), "UNKNOWN");
    else
        whelk_escape(s->client, sizeof(s->client), conn, n);
}

wd_sftp *wd_sftp_new(const wd_sftp_opts *opts)
{
    wd_sftp *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->handles = calloc(WD_SFTP_MAX_HANDLES, sizeof(*s->handles));
    if ((opts->allow && !(s->allow = strdup(opts->allow))) ||
        (opts->deny && !(s->deny = strdup(opts->deny))) || !s->handles) {
        wd_sftp_free(s);
        return NULL;
    }
    for (int i = 0; i < WD_SFTP_MAX_HANDLES; i++) s->handles[i].fd = -1;
    wd_buf_init(&s->in, IN_MAX);
    wd_buf_init(&s->out, OUT_MAX);
    s->readonly = opts->readonly;
    s->log_level = opts->log_level;
    s->log_fd = opts->log_fd;
    s->log_prefix = opts->log_prefix;
    who_am_i(s);
    return s;
}

static void log_close(wd_sftp *s, const wd_sftp_handle *h, const char *why)
{
    char esc[1024];
    if (!wd_sftp_logs(s, WD_SFTP_LOG_INFO)) return;
    wd_sftp_esc(esc, sizeof(esc), h->name);
    if (h->kind == WD_HANDLE_FILE)
        wd_sftp_log(s, WD_SFTP_LOG_INFO,
                    "%sclose \"%s\" bytes read %llu written %llu", why, esc,
                    (unsigned long long)h->bytes_read,
                    (unsigned long long)h->bytes_written);
    else
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "%sclosedir \"%s\"", why, esc);
}

void wd_sftp_free(wd_sftp *s)
{
    if (!s) return;
    if (s->handles) {
        for (int i = 0; i < WD_SFTP_MAX_HANDLES; i++) {
            if (s->handles[i].kind == WD_HANDLE_FREE) continue;
            log_close(s, &s->handles[i], "forced ");
            wd_sftp_handle_close(s, &s->handles[i]);
        }
        free(s->handles);
    }
    for (int i = 0; i < s->n_scratch; i++) free(s->scratch[i]);
    wd_buf_free(&s->in);
    wd_buf_free(&s->out);
    free(s->allow);
    free(s->deny);
    free(s);
}

wd_buf *wd_sftp_output(wd_sftp *s) { return &s->out; }
int wd_sftp_exit_status(const wd_sftp *s) { return s->exit_status; }

static void end_server(wd_sftp *s, int status)
{
    if (!s->done) s->exit_status = status;
    s->done = 1;
}

/* ------------------------------------------------------------------------
 * Replies.
 */

static void out_put(wd_sftp *s, const void *p, size_t n)
{
    if (wd_buf_put(&s->out, p, n) != 0) s->out_error = 1;
}

void wd_sftp_put_u32(wd_sftp *s, uint32_t v)
{
    uint8_t b[4];
    wd_store_u32(b, v);
    out_put(s, b, 4);
}

void wd_sftp_put_u64(wd_sftp *s, uint64_t v)
{
    wd_sftp_put_u32(s, (uint32_t)(v >> 32));
    wd_sftp_put_u32(s, (uint32_t)v);
}

void wd_sftp_put_string(wd_sftp *s, const void *p, size_t n)
{
    wd_sftp_put_u32(s, (uint32_t)n);
    out_put(s, p, n);
}

void wd_sftp_put_buf(wd_sftp *s, const wd_buf *b)
{
    /* An empty buffer may have no allocation to point into. */
    size_t n = wd_buf_used(b);
    wd_sftp_put_string(s, n ? wd_buf_data(b) : (const uint8_t *)"", n);
}

void wd_sftp_put_cstring(wd_sftp *s, const char *str)
{
    wd_sftp_put_string(s, str, strlen(str));
}

size_t wd_sftp_reply_begin(wd_sftp *s, uint8_t type, uint32_t id)
{
    /* Offsets are kept from the readable start, which compaction keeps. */
    size_t start = wd_buf_used(&s->out);
    wd_sftp_put_u32(s, 0);
    out_put(s, &type, 1);
    if (type != WD_FXP_VERSION) wd_sftp_put_u32(s, id);
    return start;
}

void wd_sftp_reply_end(wd_sftp *s, size_t start)
{
    if (s->out_error) return;
    size_t len = wd_buf_used(&s->out) - start - 4;
    wd_store_u32(wd_buf_data(&s->out) + start, (uint32_t)len);
}

void wd_sftp_send_status_msg(wd_sftp *s, uint32_t id, uint32_t status,
                             const char *msg)
{
    if (status != WD_FX_OK && status != WD_FX_EOF)
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "sent status %s",
                    wd_sftp_status_text(status));
    size_t start = wd_sftp_reply_begin(s, WD_FXP_STATUS, id);
    wd_sftp_put_u32(s, status);
    /* Versions before 3 have no message or language tag. */
    if (s->client_version >= 3) {
        wd_sftp_put_cstring(s, msg ? msg : wd_sftp_status_text(status));
        wd_sftp_put_cstring(s, ""); /* language tag */
    }
    wd_sftp_reply_end(s, start);
}

void wd_sftp_send_status(wd_sftp *s, uint32_t id, uint32_t status)
{
    wd_sftp_send_status_msg(s, id, status, NULL);
}

void wd_sftp_send_errno(wd_sftp *s, uint32_t id, int err)
{
    wd_sftp_send_status(s, id, wd_sftp_errno_status(err));
}

void wd_sftp_send_attrs(wd_sftp *s, uint32_t id, const struct stat *st)
{
    wd_sftp_attrs a;
    wd_sftp_attrs_from_stat(st, &a);
    size_t start = wd_sftp_reply_begin(s, WD_FXP_ATTRS, id);
    if (wd_sftp_put_attrs(&s->out, &a) != 0) s->out_error = 1;
    wd_sftp_reply_end(s, start);
}

void wd_sftp_send_name(wd_sftp *s, uint32_t id, const char *name)
{
    size_t start = wd_sftp_reply_begin(s, WD_FXP_NAME, id);
    wd_sftp_put_u32(s, 1);
    wd_sftp_put_cstring(s, name);
    wd_sftp_put_cstring(s, name); /* the long name, as sftp-server */
    wd_sftp_put_u32(s, 0);        /* no attributes */
    wd_sftp_reply_end(s, start);
}

/* ------------------------------------------------------------------------
 * Request fields and handles.
 */

int wd_sftp_get_path(wd_sftp *s, wd_reader *r, char **out)
{
    const uint8_t *p;
    size_t n;
    if (wd_get_string(r, &p, &n, WD_SFTP_MAX_MSG) != 0) return -1;
    /* A NUL would make the name the kernel sees differ from the one
     * logged and checked: sftp-server refuses the packet too. */
    if (memchr(p, 0, n) || s->n_scratch >= WD_SFTP_SCRATCH) return -1;
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, p, n);
    c[n] = 0;
    s->scratch[s->n_scratch++] = c;
    *out = c;
    return 0;
}

unsigned wd_sftp_handle_limit(void)
{
    struct rlimit rl;
    unsigned limit = WD_SFTP_MAX_HANDLES;
    /* stdio, the log and a spare, as sftp-server reckons. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < limit + 5)
        limit = rl.rlim_cur > 5 ? (unsigned)rl.rlim_cur - 5 : 0;
    return limit;
}

int wd_sftp_handle_new(wd_sftp *s, int kind, const char *name, int fd,
                       DIR *dir, int flags)
{
    for (int i = 0; i < WD_SFTP_MAX_HANDLES; i++) {
        wd_sftp_handle *h = &s->handles[i];
        if (h->kind != WD_HANDLE_FREE) continue;
        if (!(h->name = strdup(name))) return -1;
        h->kind = kind;
        h->gen++;
        h->fd = fd;
        h->dir = dir;
        h->flags = flags;
        h->bytes_read = h->bytes_written = 0;
        return i;
    }
    return -1;
}

void wd_sftp_send_handle(wd_sftp *s, uint32_t id, int index)
{
    uint8_t b[HANDLE_LEN];
    wd_store_u32(b, (uint32_t)index);
    wd_store_u32(b + 4, s->handles[index].gen);
    size_t start = wd_sftp_reply_begin(s, WD_FXP_HANDLE, id);
    wd_sftp_put_string(s, b, sizeof(b));
    wd_sftp_reply_end(s, start);
}

int wd_sftp_get_handle(wd_sftp *s, wd_reader *r, int kind,
                       wd_sftp_handle **h)
{
    const uint8_t *p;
    size_t n;
    *h = NULL;
    if (wd_get_string(r, &p, &n, WD_SFTP_MAX_MSG) != 0) return -1;
    /* A handle we never gave out is a failed request, not a broken
     * packet. */
    if (n != HANDLE_LEN) return 0;
    uint32_t index = wd_load_u32(p), gen = wd_load_u32(p + 4);
    if (index >= WD_SFTP_MAX_HANDLES) return 0;
    wd_sftp_handle *c = &s->handles[index];
    if (c->kind == WD_HANDLE_FREE || c->gen != gen) return 0;
    if (kind != WD_HANDLE_FREE && c->kind != kind) return 0;
    *h = c;
    return 0;
}

int wd_sftp_handle_close(wd_sftp *s, wd_sftp_handle *h)
{
    int rc = h->kind == WD_HANDLE_DIR ? closedir(h->dir) : close(h->fd);
    int err = errno;
    free(h->name);
    h->name = NULL;
    h->kind = WD_HANDLE_FREE;
    h->fd = -1;
    h->dir = NULL;
    errno = err;
    return rc;
}

/* ------------------------------------------------------------------------
 * User and group names.
 */

static const char *cached_name(wd_sftp_name *cache, unsigned *next,
                               uint32_t id, int group)
{
    for (int i = 0; i < WD_SFTP_NAME_CACHE; i++)
        if (cache[i].used && cache[i].id == id)
            return cache[i].name[0] ? cache[i].name : NULL;
    wd_sftp_name *e = &cache[*next];
    *next = (*next + 1) % WD_SFTP_NAME_CACHE;
    const char *name = NULL;
    if (group) {
        struct group *gr = getgrgid((gid_t)id);
        if (gr) name = gr->gr_name;
    } else {
        struct passwd *pw = getpwuid((uid_t)id);
        if (pw) name = pw->pw_name;
    }
    e->used = 1;
    e->id = id;
    /* A name longer than the cache keeps is shown as a number. */
    if (!name || strlen(name) >= sizeof(e->name)) name = "";
    snprintf(e->name, sizeof(e->name), "%s", name);
    return e->name[0] ? e->name : NULL;
}

const char *wd_sftp_user_name(wd_sftp *s, uint32_t uid)
{
    return cached_name(s->users, &s->users_next, uid, 0);
}

const char *wd_sftp_group_name(wd_sftp *s, uint32_t gid)
{
    return cached_name(s->groups, &s->groups_next, gid, 1);
}

/* ------------------------------------------------------------------------
 * Dispatch.
 */

static int listed(const char *list, const char *name)
{
    return list && wd_namelist_has((const uint8_t *)list, strlen(list), name);
}

int wd_sftp_permitted(wd_sftp *s, const wd_sftp_request *req)
{
    if (s->readonly && req->writes) {
        wd_sftp_log(s, WD_SFTP_LOG_VERBOSE,
                    "Refusing %s request in read-only mode", req->name);
        return 0;
    }
    if (listed(s->deny, req->name)) {
        wd_sftp_log(s, WD_SFTP_LOG_VERBOSE, "Refusing denylisted %s request",
                    req->name);
        return 0;
    }
    if (s->allow && !listed(s->allow, req->name)) {
        wd_sftp_log(s, WD_SFTP_LOG_VERBOSE,
                    "Refusing non-allowlisted %s request", req->name);
        return 0;
    }
    return 1;
}

static void send_version(wd_sftp *s)
{
    size_t start = wd_sftp_reply_begin(s, WD_FXP_VERSION, 0);
    wd_sftp_put_u32(s, 3);
    /* Only what this client may use is announced. */
    for (const wd_sftp_request *q = wd_sftp_requests; q->name; q++) {
        if (q->type != WD_FXP_EXTENDED || !wd_sftp_permitted(s, q)) continue;
        wd_sftp_put_cstring(s, q->ext_name);
        wd_sftp_put_cstring(s, q->ext_version);
    }
    wd_sftp_reply_end(s, start);
}

static const wd_sftp_request *find_request(uint8_t type, const uint8_t *ext,
                                           size_t ext_len)
{
    for (const wd_sftp_request *q = wd_sftp_requests; q->name; q++) {
        if (q->type != type) continue;
        if (type != WD_FXP_EXTENDED) return q;
        if (strlen(q->ext_name) == ext_len &&
            memcmp(q->ext_name, ext, ext_len) == 0)
            return q;
    }
    return NULL;
}

/* One packet's payload. -1 when it is malformed. */
static int dispatch(wd_sftp *s, wd_reader *r)
{
    uint8_t type;
    uint32_t id;
    if (wd_get_u8(r, &type) != 0) return -1;
    if (type == WD_FXP_INIT) {
        if (wd_get_u32(r, &s->client_version) != 0) return -1;
        wd_sftp_log(s, WD_SFTP_LOG_VERBOSE, "received client version %u",
                    s->client_version);
        send_version(s);
        s->init_done = 1;
        return 0;
    }
    if (!s->init_done) {
        wd_sftp_log(s, WD_SFTP_LOG_ERROR, "Received %u request before init",
                    type);
        return -1;
    }
    if (wd_get_u32(r, &id) != 0) return -1;
    const wd_sftp_request *req;
    if (type == WD_FXP_EXTENDED) {
        const uint8_t *name;
        size_t n;
        if (wd_get_string(r, &name, &n, WD_SFTP_MAX_MSG) != 0 ||
            memchr(name, 0, n))
            return -1;
        if (!(req = find_request(type, name, n))) {
            char esc[4 * 100 + 1];
            whelk_escape(esc, sizeof(esc), name, n < 100 ? n : 100);
            wd_sftp_log(s, WD_SFTP_LOG_ERROR,
                        "Unknown extended request \"%s\"", esc);
            wd_sftp_send_status(s, id, WD_FX_OP_UNSUPPORTED);
            return 0;
        }
    } else if (!(req = find_request(type, NULL, 0))) {
        /* sftp-server sends nothing here, which leaves the client
         * waiting for ever; the draft's answer is OP_UNSUPPORTED. */
        wd_sftp_log(s, WD_SFTP_LOG_ERROR, "Unknown message %u", type);
        wd_sftp_send_status(s, id, WD_FX_OP_UNSUPPORTED);
        return 0;
    }
    if (!wd_sftp_permitted(s, req)) {
        wd_sftp_send_status(s, id, WD_FX_PERMISSION_DENIED);
        return 0;
    }
    return req->op(s, id, r);
}

/* Answers the packet at the front of the input: 1 when one was taken, 0
 * when it is not all there yet, -1 when the server must end. */
static int process_one(wd_sftp *s)
{
    size_t avail = wd_buf_used(&s->in);
    if (avail < 4) return 0;
    const uint8_t *p = wd_buf_data(&s->in);
    uint32_t len = wd_load_u32(p);
    if (len > WD_SFTP_MAX_MSG) {
        wd_sftp_log(s, WD_SFTP_LOG_ERROR,
                    "bad message from %s local user %s: length %u",
                    s->client, s->user, len);
        end_server(s, 11);
        return -1;
    }
    if (avail - 4 < len) return 0;
    wd_reader r;
    wd_reader_init(&r, p + 4, len);
    int rc = dispatch(s, &r);
    for (int i = 0; i < s->n_scratch; i++) free(s->scratch[i]);
    s->n_scratch = 0;
    /* Bytes after the fields a request has are ignored, as by
     * sftp-server. */
    uint8_t type = len ? p[4] : 0;
    wd_buf_consume(&s->in, 4 + (size_t)len);
    if (rc < 0) {
        wd_sftp_log(s, WD_SFTP_LOG_ERROR,
                    "malformed request (type %u, %u bytes) from %s local "
                    "user %s",
                    type, len, s->client, s->user);
        end_server(s, 255);
        return -1;
    }
    if (s->out_error) {
        wd_sftp_log(s, WD_SFTP_LOG_ERROR, "reply too large; ending");
        end_server(s, 255);
        return -1;
    }
    return 1;
}

int wd_sftp_process(wd_sftp *s)
{
    while (!s->done) {
        /* Only with room for the largest reply is a request answered. */
        if (wd_buf_used(&s->out) + WD_SFTP_MAX_MSG + 4 > OUT_MAX) return 0;
        int rc = process_one(s);
        if (rc == 0) return 0;
    }
    return -1;
}

size_t wd_sftp_input_room(const wd_sftp *s)
{
    return IN_MAX - wd_buf_used(&s->in);
}

size_t wd_sftp_feed(wd_sftp *s, const uint8_t *data, size_t len)
{
    size_t room = wd_sftp_input_room(s);
    if (len > room) len = room;
    if (len && wd_buf_put(&s->in, data, len) != 0) len = 0;
    wd_sftp_process(s);
    return len;
}

/* ------------------------------------------------------------------------
 * The requests.
 */

const wd_sftp_request wd_sftp_requests[] = {
    {"open", WD_FXP_OPEN, NULL, NULL, wd_sftp_op_open, 0}, /* checks -R itself */
    {"close", WD_FXP_CLOSE, NULL, NULL, wd_sftp_op_close, 0},
    {"read", WD_FXP_READ, NULL, NULL, wd_sftp_op_read, 0},
    {"write", WD_FXP_WRITE, NULL, NULL, wd_sftp_op_write, 1},
    {"lstat", WD_FXP_LSTAT, NULL, NULL, wd_sftp_op_lstat, 0},
    {"fstat", WD_FXP_FSTAT, NULL, NULL, wd_sftp_op_fstat, 0},
    {"setstat", WD_FXP_SETSTAT, NULL, NULL, wd_sftp_op_setstat, 1},
    {"fsetstat", WD_FXP_FSETSTAT, NULL, NULL, wd_sftp_op_fsetstat, 1},
    {"opendir", WD_FXP_OPENDIR, NULL, NULL, wd_sftp_op_opendir, 0},
    {"readdir", WD_FXP_READDIR, NULL, NULL, wd_sftp_op_readdir, 0},
    {"remove", WD_FXP_REMOVE, NULL, NULL, wd_sftp_op_remove, 1},
    {"mkdir", WD_FXP_MKDIR, NULL, NULL, wd_sftp_op_mkdir, 1},
    {"rmdir", WD_FXP_RMDIR, NULL, NULL, wd_sftp_op_rmdir, 1},
    {"realpath", WD_FXP_REALPATH, NULL, NULL, wd_sftp_op_realpath, 0},
    {"stat", WD_FXP_STAT, NULL, NULL, wd_sftp_op_stat, 0},
    {"rename", WD_FXP_RENAME, NULL, NULL, wd_sftp_op_rename, 1},
    {"readlink", WD_FXP_READLINK, NULL, NULL, wd_sftp_op_readlink, 0},
    {"symlink", WD_FXP_SYMLINK, NULL, NULL, wd_sftp_op_symlink, 1},
    {"posix-rename", WD_FXP_EXTENDED, "posix-rename@openssh.com", "1",
     wd_sftp_op_posix_rename, 1},
    {"statvfs", WD_FXP_EXTENDED, "statvfs@openssh.com", "2", wd_sftp_op_statvfs, 0},
    {"fstatvfs", WD_FXP_EXTENDED, "fstatvfs@openssh.com", "2", wd_sftp_op_fstatvfs,
     0},
    {"hardlink", WD_FXP_EXTENDED, "hardlink@openssh.com", "1", wd_sftp_op_hardlink,
     1},
    {"fsync", WD_FXP_EXTENDED, "fsync@openssh.com", "1", wd_sftp_op_fsync, 1},
    {"lsetstat", WD_FXP_EXTENDED, "lsetstat@openssh.com", "1", wd_sftp_op_lsetstat,
     1},
    {"limits", WD_FXP_EXTENDED, "limits@openssh.com", "1", wd_sftp_op_limits, 0},
    {"expand-path", WD_FXP_EXTENDED, "expand-path@openssh.com", "1",
     wd_sftp_op_expand_path, 0},
    {"copy-data", WD_FXP_EXTENDED, "copy-data", "1", wd_sftp_op_copy_data, 1},
    {"home-directory", WD_FXP_EXTENDED, "home-directory", "1",
     wd_sftp_op_home_directory, 0},
    {"users-groups-by-id", WD_FXP_EXTENDED, "users-groups-by-id@openssh.com",
     "1", wd_sftp_op_users_groups_by_id, 0},
    {NULL, 0, NULL, NULL, NULL, 0},
};
