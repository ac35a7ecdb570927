/*
 * sftp: whelkd's own SFTP server, "internal-sftp" as in sshd: an SFTP
 * version 3 server run in the session's child after it has switched to
 * the user, serving on the session's pipes with no program to exec (so
 * it needs nothing inside a chroot). The protocol engine is driven from
 * memory (wd_sftp_new / _feed / _process), so the unit tests and the
 * fuzzer use it without a process; wd_sftp_main wraps it in a blocking
 * loop over two descriptors.
 */
#ifndef WHELKD_SFTP_H
#define WHELKD_SFTP_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Open files and directories one client may hold. */
#define WD_SFTP_MAX_HANDLES 512
/* Entries in one READDIR answer (sftp-server's batch). */
#define WD_SFTP_READDIR_BATCH 100
/* Ids in one users-groups-by-id@openssh.com request. */
#define WD_SFTP_MAX_IDS 1024

typedef struct wd_sftp wd_sftp;

typedef struct wd_sftp_opts {
    int readonly;          /* -R */
    const char *allow;     /* -p: only these requests */
    const char *deny;      /* -P: never these */
    int log_level;         /* -l, a WD_SFTP_LOG_*; 0 is ERROR, the default */
    int log_fd;            /* where log lines go; -1: stderr */
    const char *log_prefix; /* put before each line; NULL: none */
} wd_sftp_opts;

/* Log levels, sftp-server's -l names. */
enum {
    WD_SFTP_LOG_QUIET = -2,
    WD_SFTP_LOG_FATAL = -1,
    WD_SFTP_LOG_ERROR = 0,
    WD_SFTP_LOG_INFO,
    WD_SFTP_LOG_VERBOSE,
    WD_SFTP_LOG_DEBUG1,
    WD_SFTP_LOG_DEBUG2,
    WD_SFTP_LOG_DEBUG3,
};

/* A server in its initial state, or NULL when out of memory. */
wd_sftp *wd_sftp_new(const wd_sftp_opts *opts);
/* Closes every handle still open and frees the server. */
void wd_sftp_free(wd_sftp *s);
/* How many client bytes wd_sftp_feed can take now. */
size_t wd_sftp_input_room(const wd_sftp *s);
/* Queues up to |len| client bytes (as many as there is room for), then
 * answers what it can; returns the bytes taken. */
size_t wd_sftp_feed(wd_sftp *s, const uint8_t *data, size_t len);
/* Answers the complete requests queued, while the output has room for
 * another packet. Returns 0, or -1 once the server must end. */
int wd_sftp_process(wd_sftp *s);
/* The replies so far; the caller consumes what it writes. */
wd_buf *wd_sftp_output(wd_sftp *s);
/* Once wd_sftp_process returned -1: the exit status (as sftp-server's:
 * 11 for a packet over the size limit, 255 for a malformed one). */
int wd_sftp_exit_status(const wd_sftp *s);

/* sftp-server's command line (argv[0] is the name; -R, -u UMASK,
 * -d DIR, -e, -l LEVEL, -f FACILITY, -p LIST, -P LIST, -Q requests, -c,
 * -h), then serves |in_fd| / |out_fd| until the client's EOF. Returns the
 * exit status; unknown options are an error on stderr and status 1. */
int wd_sftp_main(int argc, char **argv, int in_fd, int out_fd);

/* Non-zero when a configured or forced command means the internal
 * server: "internal-sftp", alone or followed by blanks and options. */
int wd_sftp_is_internal(const char *command);

/* whelkd's session child, after the privilege drop and chdir, in place
 * of execve: |command| is the internal-sftp command line, or NULL to
 * refuse a shell or exec session whose forced command is internal-sftp
 * (sshd's "This service allows sftp connections only."). Closes every
 * descriptor above 2 but |log_fd| (whelkd's log, which then receives
 * the server's log lines), makes |envp| the environment and never
 * returns. */
void wd_sftp_child(const char *command, char **envp, int log_fd)
    __attribute__((noreturn));

#endif
