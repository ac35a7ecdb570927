/*
 * sftp_wire: the SFTP version 3 wire format as OpenSSH's sftp-server
 * speaks it (draft-ietf-secsh-filexfer-02 and OpenSSH's PROTOCOL, section
 * 4): message numbers, status codes and their texts, the ATTRS structure,
 * errno to status, the "ls -l" long name of a directory entry, and the
 * path resolution behind REALPATH and expand-path@openssh.com. Holds no
 * state; the only I/O is the lstat/readlink that resolution needs.
 */
#ifndef WHELKD_SFTP_WIRE_H
#define WHELKD_SFTP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "wire.h"

/* The largest packet (the uint32 length that starts it), and the largest
 * READ answered and WRITE accepted: sftp-server's figures, which
 * OpenSSH's sftp reads back with limits@openssh.com and then uses. */
#define WD_SFTP_MAX_MSG (256 * 1024)
#define WD_SFTP_MAX_DATA (WD_SFTP_MAX_MSG - 1024)

enum {
    WD_FXP_INIT = 1,
    WD_FXP_VERSION = 2,
    WD_FXP_OPEN = 3,
    WD_FXP_CLOSE = 4,
    WD_FXP_READ = 5,
    WD_FXP_WRITE = 6,
    WD_FXP_LSTAT = 7,
    WD_FXP_FSTAT = 8,
    WD_FXP_SETSTAT = 9,
    WD_FXP_FSETSTAT = 10,
    WD_FXP_OPENDIR = 11,
    WD_FXP_READDIR = 12,
    WD_FXP_REMOVE = 13,
    WD_FXP_MKDIR = 14,
    WD_FXP_RMDIR = 15,
    WD_FXP_REALPATH = 16,
    WD_FXP_STAT = 17,
    WD_FXP_RENAME = 18,
    WD_FXP_READLINK = 19,
    WD_FXP_SYMLINK = 20,
    WD_FXP_STATUS = 101,
    WD_FXP_HANDLE = 102,
    WD_FXP_DATA = 103,
    WD_FXP_NAME = 104,
    WD_FXP_ATTRS = 105,
    WD_FXP_EXTENDED = 200,
    WD_FXP_EXTENDED_REPLY = 201,
};

enum {
    WD_FX_OK = 0,
    WD_FX_EOF = 1,
    WD_FX_NO_SUCH_FILE = 2,
    WD_FX_PERMISSION_DENIED = 3,
    WD_FX_FAILURE = 4,
    WD_FX_BAD_MESSAGE = 5,
    WD_FX_NO_CONNECTION = 6,
    WD_FX_CONNECTION_LOST = 7,
    WD_FX_OP_UNSUPPORTED = 8,
};

/* ATTRS flags */
#define WD_FXA_SIZE 0x00000001u
#define WD_FXA_UIDGID 0x00000002u
#define WD_FXA_PERMISSIONS 0x00000004u
#define WD_FXA_ACMODTIME 0x00000008u
#define WD_FXA_EXTENDED 0x80000000u

/* OPEN flags */
#define WD_FXF_READ 0x01u
#define WD_FXF_WRITE 0x02u
#define WD_FXF_APPEND 0x04u
#define WD_FXF_CREAT 0x08u
#define WD_FXF_TRUNC 0x10u
#define WD_FXF_EXCL 0x20u

/* statvfs@openssh.com f_flag bits */
#define WD_FXE_STATVFS_RDONLY 0x1u
#define WD_FXE_STATVFS_NOSUID 0x2u

typedef struct wd_sftp_attrs {
    uint32_t flags;
    uint64_t size;
    uint32_t uid, gid;
    uint32_t perm;
    uint32_t atime, mtime;
} wd_sftp_attrs;

/* ATTRS from the wire. Extended (type, data) pairs are read past and
 * dropped, as sftp-server does; WHELK_ERR_TRUNCATED when the packet ends
 * inside the structure. */
int wd_sftp_get_attrs(wd_reader *r, wd_sftp_attrs *a);
int wd_sftp_put_attrs(wd_buf *b, const wd_sftp_attrs *a);
void wd_sftp_attrs_from_stat(const struct stat *st, wd_sftp_attrs *a);

/* The message text sftp-server sends with each status code. */
const char *wd_sftp_status_text(uint32_t status);
/* errno onto a status code, grouped exactly as sftp-server groups them
 * (so clients print the same messages). */
uint32_t wd_sftp_errno_status(int err);

/* OPEN's portable flags onto open(2)'s, and as words for the log. */
int wd_sftp_open_flags(uint32_t pflags);
void wd_sftp_open_flag_words(uint32_t pflags, char *out, size_t outsize);

/* "drwxr-xr-x    5 user     group        4096 Jan 13 18:39 name", the
 * long name of a READDIR entry, in the layout of sftp-server (and so of
 * `ls -l`): the date shows the time for the last six months, else the
 * year. Returns the length written (at most |outsize| - 1). */
size_t wd_sftp_long_name(char *out, size_t outsize, const char *name,
                         const struct stat *st, const char *user,
                         const char *group, time_t now);

/* The canonical absolute form of |path| (relative to the working
 * directory): ".", ".." and symbolic links resolved, at most 33 links
 * followed (sftp-server's count). The last component need not exist (a path to upload to);
 * an earlier one must. |out| has PATH_MAX bytes. 0, or -1 and errno. */
int wd_sftp_resolve(const char *path, char *out);

#endif
