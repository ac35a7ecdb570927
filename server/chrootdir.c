/*
 * chrootdir: ChrootDirectory's path and checks (chrootdir.h).
 *
 * The checks walk the path one component at a time with stat(2), as
 * sshd does: "/a/", "/a/b/", then "/a/b/c". Every one must be root's and
 * writable by root alone, so no user can swap a component between this
 * check and the child's chroot(2) (only root could).
 */
#include "chrootdir.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int wd_chroot_expand(const char *spec, const wd_user *u, char *out,
                     size_t outlen)
{
    size_t o = 0;
    for (const char *p = spec; *p; p++) {
        const char *add;
        char one[2] = {*p, 0};
        if (*p != '%') {
            add = one;
        } else {
            p++;
            if (*p == 'h') add = u->home;
            else if (*p == 'u') add = u->name;
            else if (*p == '%') add = "%";
            else return -1;
        }
        size_t n = strlen(add);
        if (o + n >= outlen) return -1;
        memcpy(out + o, add, n);
        o += n;
    }
    if (o >= outlen) return -1;
    out[o] = 0;
    return 0;
}

int wd_chroot_check(const char *path, char *why, size_t whylen)
{
    if (path[0] != '/') {
        snprintf(why, whylen, "chroot path does not begin at root");
        return -1;
    }
    size_t len = strlen(path);
    char component[4096];
    if (len >= sizeof(component)) {
        snprintf(why, whylen, "chroot path too long");
        return -1;
    }
    for (const char *cp = path + 1; cp;) {
        cp = strchr(cp, '/');
        size_t n = cp ? (size_t)(++cp - path) : len;
        memcpy(component, path, n);
        component[n] = 0;
        struct stat st;
        if (stat(component, &st) != 0) {
            snprintf(why, whylen, "safely_chroot: stat(\"%s\"): %s",
                     component, strerror(errno));
            return -1;
        }
        if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
            snprintf(why, whylen,
                     "bad ownership or modes for chroot directory %s\"%s\"",
                     cp ? "component " : "", component);
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(why, whylen, "chroot path %s\"%s\" is not a directory",
                     cp ? "component " : "", component);
            return -1;
        }
    }
    return 0;
}
