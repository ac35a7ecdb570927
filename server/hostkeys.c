/*
 * hostkeys: loading host keys from OpenSSH private key files, and
 * creating the default ed25519 key in the state directory on first start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define MAX_KEY_FILE (64 * 1024)

static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    char *buf = malloc(MAX_KEY_FILE + 1);
    size_t n = 0;
    ssize_t r;
    while (buf && n < MAX_KEY_FILE &&
           (r = read(fd, buf + n, MAX_KEY_FILE - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!buf) return -ENOMEM;
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int wd_load_host_key(const char *path, whelk_key **out)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc) {
        fprintf(stderr, "whelkd: cannot load host key %s: %s\n", path,
                strerror(-rc));
        return -1;
    }
    rc = whelk_key_parse_private(text, len, out);
    whelk_free_secret(text, MAX_KEY_FILE + 1);
    if (rc) {
        fprintf(stderr, "whelkd: cannot load host key %s: %s\n", path,
                whelk_strerror(rc));
        return -1;
    }
    return 0;
}

static int write_atomic(const char *path, const char *data, size_t len,
                        mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

int wd_default_host_key(const char *state_dir, whelk_key **out,
                        char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/ssh_host_ed25519_key", state_dir);
    if (access(path, F_OK) == 0) return wd_load_host_key(path, out);
    if (mkdir_p(state_dir) != 0) {
        fprintf(stderr, "whelkd: cannot create state directory %s: %s\n",
                state_dir, strerror(errno));
        return -1;
    }
    whelk_key *key;
    char *priv = NULL, *pub = NULL;
    size_t plen = 0;
    if (whelk_key_generate_ed25519(&key) != 0 ||
        whelk_key_write_private(key, "whelkd host key", &priv, &plen) != 0 ||
        whelk_key_write_public(key, "whelkd host key", &pub) != 0) {
        fprintf(stderr, "whelkd: cannot generate a host key\n");
        return -1;
    }
    char pubpath[4200];
    snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
    int rc = write_atomic(path, priv, plen, 0600);
    if (rc == 0) rc = write_atomic(pubpath, pub, strlen(pub), 0644);
    whelk_free_secret(priv, plen);
    free(pub);
    if (rc != 0) {
        fprintf(stderr, "whelkd: cannot write host key %s: %s\n", path,
                strerror(errno));
        whelk_key_free(key);
        return -1;
    }
    wd_log(WHELK_LOG_INFO, "created host key %s", path);
    *out = key;
    return 0;
}
