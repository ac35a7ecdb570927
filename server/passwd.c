/*
 * passwd: crypt_r verification (yescrypt, sha512-crypt, sha256-crypt and
 * whatever else libcrypt knows), hashes compared in constant time, every
 * copy of the password and of the computed hash wiped.
 *
 * An unknown user is checked against a dummy hash of the same scheme and
 * cost as the file's own entries (made once at start-up), so the time a
 * failure takes does not tell a real user from an unknown one.
 */
#include "passwd.h"

#include <crypt.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MAX_LINE 1024
#define MAX_LINES 100000

/* Hash of a random password: used for unknown users. Until
 * wd_passwd_init runs, libcrypt's default scheme (made on first use). */
static char dummy_hash[CRYPT_OUTPUT_SIZE];

static int find_hash(const char *path, const char *user, char *hash,
                     size_t hsz)
{
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char line[MAX_LINE];
    size_t ul = strlen(user);
    int found = 0;
    for (unsigned n = 0; n < MAX_LINES && fgets(line, sizeof(line), f); n++) {
        size_t l = strcspn(line, "\r\n");
        line[l] = 0;
        if (line[0] == '#' || line[0] == 0) continue;
        if (strncmp(line, user, ul) == 0 && line[ul] == ':') {
            snprintf(hash, hsz, "%s", line + ul + 1);
            found = 1;
            break;
        }
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return found;
}

/* What makes two hashes cost the same: the scheme and its parameters,
 * without the salt and the hash ("$6$", "$6$rounds=9000$", "$y$j9T$",
 * "$2b$12$"; "" for DES). */
static size_t scheme_len(const char *hash)
{
    if (hash[0] != '$') return 0;
    const char *last = strrchr(hash, '$');
    if (strncmp(hash, "$2", 2) == 0) return (size_t)(last - hash) + 1;
    const char *p = last;
    while (p > hash && p[-1] != '$') p--;
    return p > hash ? (size_t)(p - hash) : 0;
}

/* crypt_r of a random password under |setting| into dummy_hash. */
static int make_dummy(const char *setting)
{
    uint8_t r[16];
    char pw[33];
    if (RAND_bytes(r, sizeof(r)) != 1) return -1;
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(pw + 2 * i, 3, "%02x", r[i]);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) return -1;
    const char *out = crypt_r(pw, setting, cd);
    int ok = out && out[0] != '*' && strlen(out) < sizeof(dummy_hash);
    if (ok) snprintf(dummy_hash, sizeof(dummy_hash), "%s", out);
    OPENSSL_cleanse(cd, sizeof(*cd));
    OPENSSL_cleanse(pw, sizeof(pw));
    free(cd);
    return ok ? 0 : -1;
}

static int make_default_dummy(void)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn(NULL, 0, NULL, 0, setting, sizeof(setting)))
        return -1;
    return make_dummy(setting);
}

int wd_passwd_init(const char *path)
{
    /* The scheme most of the file's entries use; with its first entry as
     * the setting, crypt_r repeats its parameters (and salt) exactly. */
    enum { MAX_SCHEMES = 16 };
    char schemes[MAX_SCHEMES][64], first[MAX_SCHEMES][512];
    unsigned count[MAX_SCHEMES] = {0}, n = 0;
    FILE *f = path ? fopen(path, "re") : NULL;
    char line[MAX_LINE];
    for (unsigned i = 0; f && i < MAX_LINES && fgets(line, sizeof(line), f);
         i++) {
        line[strcspn(line, "\r\n")] = 0;
        char *colon = strchr(line, ':');
        /* /etc/shadow has more fields after the hash; a hash has no ':'. */
        if (colon) colon[1 + strcspn(colon + 1, ":")] = 0;
        if (line[0] == '#' || !colon || !colon[1] || colon[1] == '*' ||
            colon[1] == '!')
            continue;
        const char *hash = colon + 1;
        size_t sl = scheme_len(hash);
        if (sl >= sizeof(schemes[0]) || strlen(hash) >= sizeof(first[0]))
            continue;
        unsigned k = 0;
        while (k < n && (strlen(schemes[k]) != sl ||
                         strncmp(schemes[k], hash, sl) != 0))
            k++;
        if (k == n) {
            if (n == MAX_SCHEMES) continue;
            memcpy(schemes[n], hash, sl);
            schemes[n][sl] = 0;
            snprintf(first[n], sizeof(first[n]), "%s", hash);
            n++;
        }
        count[k]++;
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (f) fclose(f);
    unsigned best = 0;
    for (unsigned k = 1; k < n; k++)
        if (count[k] > count[best]) best = k;
    int rc = n > 0 ? make_dummy(first[best]) : -1;
    OPENSSL_cleanse(first, sizeof(first));
    return rc == 0 ? 0 : make_default_dummy();
}

const char *wd_passwd_dummy(void)
{
    if (!dummy_hash[0]) make_default_dummy();
    return dummy_hash;
}

/* crypt_r of |password| under |hash| equals |hash|, in constant time. */
static int hash_matches(const char *hash, const char *password)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) return 0;
    const char *out = crypt_r(password, hash, cd);
    int ok = 0;
    if (out && out[0] != '*' && strlen(out) == strlen(hash))
        ok = CRYPTO_memcmp(out, hash, strlen(hash)) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok;
}

int wd_passwd_check_system(const char *user, const char *password)
{
    /* sshd's shadow_pw(): the shadow entry when there is one, else the
     * passwd field (an "x" there matches nothing). */
    char buf[4096], hash[512];
    hash[0] = 0;
    struct spwd sp, *spr = NULL;
    if (getspnam_r(user, &sp, buf, sizeof(buf), &spr) == 0 && spr &&
        spr->sp_pwdp)
        snprintf(hash, sizeof(hash), "%s", spr->sp_pwdp);
    else {
        struct passwd pw, *pwr = NULL;
        if (getpwnam_r(user, &pw, buf, sizeof(buf), &pwr) == 0 && pwr &&
            pwr->pw_passwd)
            snprintf(hash, sizeof(hash), "%s", pwr->pw_passwd);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    /* Usable only as a crypt hash: an empty field (PermitEmptyPasswords
     * is no), "!..." (locked), "*" or "x" cost the dummy's crypt_r and
     * fail, as an unknown user does. */
    int usable = hash[0] && hash[0] != '!' && hash[0] != '*' &&
                 strlen(hash) > 2;
    if (!usable) snprintf(hash, sizeof(hash), "%s", wd_passwd_dummy());
    int ok = hash_matches(hash, password);
    OPENSSL_cleanse(hash, sizeof(hash));
    return ok && usable;
}

int wd_passwd_check(const char *path, const char *user, const char *password,
                    size_t len)
{
    char hash[512];
    int known = find_hash(path, user, hash, sizeof(hash));
    if (!known) snprintf(hash, sizeof(hash), "%s", wd_passwd_dummy());
    int ok = hash_matches(hash, password);
    OPENSSL_cleanse(hash, sizeof(hash));
    (void)len;
    return ok && known;
}
