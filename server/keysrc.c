/*
 * keysrc: see keysrc.h. Several files are joined, each ending in a
 * newline, and parsed once, so a key from any of them logs the user in
 * as with sshd, which tries the files in order; a file cut by the byte
 * cap loses its last partial line, never runs into the next file.
 */
#include "keysrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keyfile.h"
#include "server.h"
#include "tokens.h"

void wd_keysrc_paths(const wd_keywords *kw, const wd_user *u,
                     wd_kw_list *out)
{
    memset(out, 0, sizeof(*out));
    const wd_kw_list *files = &kw->authorized_keys_files;
    char uid[24];
    snprintf(uid, sizeof(uid), "%lu", (unsigned long)u->uid);
    const wd_token toks[] = {{'h', u->home}, {'u', u->name}, {'U', uid}};
    for (const char *f = wd_kw_list_next(files, NULL); f;
         f = wd_kw_list_next(files, f)) {
        if (files->n == 1 && strcasecmp(f, "none") == 0) return;
        char exp[1024], path[1300];
        if (wd_expand_tokens(f, toks, sizeof(toks) / sizeof(*toks), exp,
                             sizeof(exp)) != 0) {
            wd_log(WHELK_LOG_ERROR, "AuthorizedKeysFile %s: cannot expand "
                   "for user %.100s", f, u->name);
            continue;
        }
        /* sshd: a relative path is taken from the home directory. */
        if (exp[0] == '/')
            snprintf(path, sizeof(path), "%s", exp);
        else
            snprintf(path, sizeof(path), "%s/%s", u->home, exp);
        if (strlen(path) >= sizeof(path) - 1 ||
            (out->used + strlen(path) + 1 > sizeof(out->text)) ||
            out->n >= WD_KW_LIST_MAX)
            continue;
        memcpy(out->text + out->used, path, strlen(path) + 1);
        out->used += strlen(path) + 1;
        out->n++;
    }
}

void wd_keysrc_load(const wd_kw_list *paths, const wd_user *u, int flags,
                    const char *extra, size_t extra_len, wd_keycache *cache)
{
    char *all = NULL;
    size_t len = 0;
    const char *first = wd_kw_list_next(paths, NULL);
    for (const char *p = first; p; p = wd_kw_list_next(paths, p)) {
        wd_file_text t;
        size_t room = WD_AUTHKEYS_MAX_FILE - len;
        if (room < 2 ||
            wd_user_file_read(p, "authorized keys", u, flags, room - 1, &t))
            continue;
        size_t n = t.len;
        if (t.truncated) {
            /* Keep whole lines only. */
            while (n > 0 && t.data[n - 1] != '\n') n--;
        }
        char *grown = realloc(all, len + n + 1);
        if (!grown) {
            wd_file_text_free(&t);
            break;
        }
        all = grown;
        memcpy(all + len, t.data, n);
        len += n;
        if (n > 0 && all[len - 1] != '\n') all[len++] = '\n';
        wd_file_text_free(&t);
    }
    if (extra_len) {
        char *grown = realloc(all, len + extra_len + 1);
        if (grown) {
            all = grown;
            if (len > 0 && all[len - 1] != '\n') all[len++] = '\n';
            memcpy(all + len, extra, extra_len);
            len += extra_len;
        }
    }
    wd_keycache_load(cache, first ? first : "AuthorizedKeysCommand",
                     all ? all : "", len, 0);
    if (all) {
        memset(all, 0, len);
        free(all);
    }
    wd_log(WHELK_LOG_DEBUG, "%u keys from %s%s%s, kept for this connection",
           cache->count, first ? first : "no file",
           paths->n > 1 ? " and the other AuthorizedKeysFile files" : "",
           extra_len ? " and AuthorizedKeysCommand" : "");
}
