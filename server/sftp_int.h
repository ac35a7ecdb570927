/*
 * sftp_int: what the SFTP server's core (sftp.c: state, handles, replies,
 * dispatch, the serving loop) and its request handlers (sftp_ops.c)
 * share. Not for the rest of whelkd, which uses sftp.h.
 */
#ifndef WHELKD_SFTP_INT_H
#define WHELKD_SFTP_INT_H

#include <dirent.h>
#include <limits.h>
#include <sys/types.h>

#include "wire.h"
#include "sftp.h"
#include "sftp_wire.h"

enum { WD_HANDLE_FREE, WD_HANDLE_FILE, WD_HANDLE_DIR };

typedef struct wd_sftp_handle {
    int kind;
    uint32_t gen;      /* bumped on every reuse: a stale handle fails */
    int fd;            /* a file's descriptor */
    DIR *dir;          /* a directory's stream */
    int flags;         /* open(2) flags of a file */
    char *name;        /* the path the client opened, for logs and READDIR */
    uint64_t bytes_read, bytes_written;
} wd_sftp_handle;

/* A small cache of id -> name look-ups for long names. */
#define WD_SFTP_NAME_CACHE 32
typedef struct wd_sftp_name {
    uint32_t id;
    int used;
    char name[64];
} wd_sftp_name;

/* Paths and strings copied out of one request, freed after it. */
#define WD_SFTP_SCRATCH 4

struct wd_sftp {
    wd_buf in;             /* client bytes, at most two whole packets */
    wd_buf out;            /* replies not yet written */
    int init_done;
    uint32_t client_version;
    int readonly;
    char *allow, *deny;    /* -p / -P request lists, comma separated */
    int log_level;
    int log_fd;
    const char *log_prefix;
    int out_error;         /* a reply did not fit: an internal error */
    int done;              /* the server must end, with exit_status */
    int exit_status;
    uid_t uid;
    char user[64];
    char home[PATH_MAX];
    char client[64];       /* from SSH_CONNECTION, for the log */
    wd_sftp_handle *handles; /* WD_SFTP_MAX_HANDLES slots */
    char *scratch[WD_SFTP_SCRATCH];
    int n_scratch;
    wd_sftp_name users[WD_SFTP_NAME_CACHE], groups[WD_SFTP_NAME_CACHE];
    unsigned users_next, groups_next;
};

void wd_sftp_log(wd_sftp *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int wd_sftp_logs(const wd_sftp *s, int level)
{
    return s->log_level >= level;
}
/* A printable copy of a client string for a log line (cut at |outsize|). */
const char *wd_sftp_esc(char *out, size_t outsize, const char *str);

/* The requests (sftp_ops.c, sftp_names.c): 0, or -1 when malformed. */
int wd_sftp_op_open(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_close(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_read(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_write(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_stat(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_lstat(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_fstat(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_setstat(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_lsetstat(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_fsetstat(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_statvfs(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_fstatvfs(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_fsync(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_limits(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_copy_data(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_opendir(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_readdir(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_remove(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_rmdir(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_mkdir(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_realpath(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_rename(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_posix_rename(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_hardlink(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_symlink(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_readlink(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_expand_path(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_home_directory(wd_sftp *s, uint32_t id, wd_reader *r);
int wd_sftp_op_users_groups_by_id(wd_sftp *s, uint32_t id, wd_reader *r);

/* A request's path in a log line, escaped, formatted only when the line
 * will be written; WD_SFTP_ESC bytes of room for each. */
#define WD_SFTP_ESC 1024
#define LOG_PATH(s, level, fmt, path)                                       \
    do {                                                                    \
        if (wd_sftp_logs(s, level)) {                                       \
            char e_[WD_SFTP_ESC];                                           \
            wd_sftp_log(s, level, fmt, wd_sftp_esc(e_, sizeof(e_), path));  \
        }                                                                   \
    } while (0)
#define LOG_PATHS(s, level, fmt, a, b)                                      \
    do {                                                                    \
        if (wd_sftp_logs(s, level)) {                                       \
            char e1_[WD_SFTP_ESC], e2_[WD_SFTP_ESC];                        \
            wd_sftp_log(s, level, fmt, wd_sftp_esc(e1_, sizeof(e1_), a),    \
                        wd_sftp_esc(e2_, sizeof(e2_), b));                  \
        }                                                                   \
    } while (0)

/* The request table (sftp.c). */
typedef int (*wd_sftp_op)(wd_sftp *s, uint32_t id, wd_reader *r);
typedef struct wd_sftp_request {
    const char *name;      /* sftp-server's name, for -p, -P and -Q */
    uint8_t type;          /* WD_FXP_*; WD_FXP_EXTENDED for extensions */
    const char *ext_name;  /* the extension's name on the wire */
    const char *ext_version; /* announced in VERSION */
    wd_sftp_op op;         /* 0, or -1 for a malformed request */
    int writes;            /* refused in read-only mode */
} wd_sftp_request;
extern const wd_sftp_request wd_sftp_requests[];
int wd_sftp_permitted(wd_sftp *s, const wd_sftp_request *req);

/* Replies: each goes whole into the output queue, which the dispatcher
 * guarantees has room for the largest packet. */
size_t wd_sftp_reply_begin(wd_sftp *s, uint8_t type, uint32_t id);
void wd_sftp_reply_end(wd_sftp *s, size_t start);
void wd_sftp_put_u32(wd_sftp *s, uint32_t v);
void wd_sftp_put_u64(wd_sftp *s, uint64_t v);
void wd_sftp_put_string(wd_sftp *s, const void *p, size_t n);
void wd_sftp_put_cstring(wd_sftp *s, const char *str);
void wd_sftp_put_buf(wd_sftp *s, const wd_buf *b); /* as a string */
void wd_sftp_send_status(wd_sftp *s, uint32_t id, uint32_t status);
void wd_sftp_send_status_msg(wd_sftp *s, uint32_t id, uint32_t status,
                             const char *msg);
void wd_sftp_send_errno(wd_sftp *s, uint32_t id, int err);
void wd_sftp_send_attrs(wd_sftp *s, uint32_t id, const struct stat *st);
/* A NAME reply with one entry and no attributes (REALPATH, READLINK). */
void wd_sftp_send_name(wd_sftp *s, uint32_t id, const char *name);

/* Request fields. A path is a string without NUL bytes, copied and
 * NUL-terminated into the request's scratch space; -1 when malformed. */
int wd_sftp_get_path(wd_sftp *s, wd_reader *r, char **out);

/* Handles. */
int wd_sftp_handle_new(wd_sftp *s, int kind, const char *name, int fd,
                       DIR *dir, int flags);
void wd_sftp_send_handle(wd_sftp *s, uint32_t id, int index);
/* Reads a handle string: 0 and *h (NULL when it names no open handle of
 * |kind|, or of any kind for WD_HANDLE_FREE), or -1 when malformed. */
int wd_sftp_get_handle(wd_sftp *s, wd_reader *r, int kind,
                       wd_sftp_handle **h);
int wd_sftp_handle_close(wd_sftp *s, wd_sftp_handle *h);
unsigned wd_sftp_handle_limit(void);

/* Names for long names and users-groups-by-id (cached); NULL when the
 * id has none. */
const char *wd_sftp_user_name(wd_sftp *s, uint32_t uid);
const char *wd_sftp_group_name(wd_sftp *s, uint32_t gid);

#endif
