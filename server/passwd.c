/*
 * passwd: crypt_r verification (yescrypt, sha512-crypt, sha256-crypt and
 * whatever else libcrypt knows), hashes compared in constant time, every
 * copy of the password and of the computed hash wiped.
 */
#include "passwd.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define MAX_LINE 1024
#define MAX_LINES 100000

/* Hash of a random password: used for unknown users. */
static const char dummy_hash[] =
    "$6$whelkdummysalt$Maz9vdojtx4DmfFuGldq10TI2gzLPogRcW.RY/CludkY5a3.Wvvc"
    "mQSjPFQeb9I3I2uQ.7LuXLTetXVsa1yfu.";

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

int wd_passwd_check(const char *path, const char *user, const char *password,
                    size_t len)
{
    char hash[512];
    int known = find_hash(path, user, hash, sizeof(hash));
    if (!known) snprintf(hash, sizeof(hash), "%s", dummy_hash);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) return 0;
    const char *out = crypt_r(password, hash, cd);
    int ok = 0;
    if (out && out[0] != '*' && strlen(out) == strlen(hash))
        ok = CRYPTO_memcmp(out, hash, strlen(hash)) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    OPENSSL_cleanse(hash, sizeof(hash));
    (void)len;
    return ok && known;
}
