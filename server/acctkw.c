/*
 * acctkw: PasswordAuthentication, sshd's spelling and default (yes);
 * the first value given counts.
 */
#include "acctkw.h"

#include <string.h>
#include <strings.h>

#include "keywords.h"

int wd_keywords_accounts(struct wd_keywords *kw, const char *key, int ac,
                         char **av, char *err, size_t errlen)
{
    if (strcasecmp(key, "PasswordAuthentication") != 0)
        return WD_KW_NOT_MINE;
    if (ac > 1) {
        snprintf(err, errlen, "keyword %s extra arguments at end of line",
                 key);
        return WD_KW_ERROR;
    }
    /* sshd's flag values, compared as sshd does (case-insensitively). */
    int v = strcasecmp(av[0], "yes") == 0  ? 1
            : strcasecmp(av[0], "no") == 0 ? 0
                                           : -1;
    if (v < 0) {
        snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
        return WD_KW_ERROR;
    }
    if (!kw->password_auth_set) {
        kw->password_auth = v;
        kw->password_auth_set = 1;
    }
    return WD_KW_DONE;
}

void wd_keywords_accounts_dump(const struct wd_keywords *kw, FILE *out)
{
    fprintf(out, "passwordauthentication %s\n",
            kw->password_auth ? "yes" : "no");
}
