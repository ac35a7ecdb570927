/*
 * cctv_mlkem: runs C2SP/CCTV's ML-KEM-768 negative and edge-case vectors
 * (https://c2sp.org/CCTV/ML-KEM) against lib/mlkem.c. The vectors are not
 * part of this repository; point the program at a checkout's ML-KEM
 * directory:
 *
 *   build/tests/cctv_mlkem path/to/CCTV/ML-KEM
 *
 *   strcmp/ML-KEM-768.txt         dk, c, K: Decaps(dk, c) must be K (the
 *                                 implicit-rejection key; a strcmp-style
 *                                 comparison would accept c)
 *   unluckysample/ML-KEM-768.txt  ek, dk, m, c, K: Encaps(ek, m) = (c, K)
 *                                 and Decaps(dk, c) = K. ek's rho needs
 *                                 more than 575 bytes of SHAKE-128 in
 *                                 SampleNTT. (Its d/z -> ek step targets
 *                                 the FIPS 203 draft, so keygen is not
 *                                 checked.)
 *   modulus/ML-KEM-768.txt[.gz]   one encapsulation key per line, each
 *                                 with one coefficient >= q: all rejected.
 *
 * make check covers the same properties without the files: test_mlkem.c
 * regenerates the modulus sweep and strcmp-style ciphertexts, and a build
 * that squeezes one SHAKE block first exercises the long-sampling path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlkem.h"

#define MAX_LINE 8192

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return s[2 * n] == '\0' || s[2 * n] == '\n' ? 0 : -1;
}

/* Reads "name = hex" lines into the matching fields. */
typedef struct field {
    const char *name;
    uint8_t *buf;
    size_t len;
    int seen;
} field;

static int read_fields(const char *path, field *f, int nf)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return -1;
    }
    static char line[MAX_LINE];
    while (fgets(line, sizeof(line), in)) {
        char *eq = strstr(line, " = ");
        if (!eq) continue;
        *eq = '\0';
        for (int i = 0; i < nf; i++)
            if (!strcmp(line, f[i].name)) {
                if (unhex(eq + 3, f[i].buf, f[i].len)) {
                    fprintf(stderr, "%s: bad %s\n", path, line);
                    fclose(in);
                    return -1;
                }
                f[i].seen = 1;
            }
    }
    fclose(in);
    for (int i = 0; i < nf; i++)
        if (!f[i].seen) {
            fprintf(stderr, "%s: no %s\n", path, f[i].name);
            return -1;
        }
    return 0;
}

static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
    c[WK_MLKEM768_CT_LEN], c2[WK_MLKEM768_CT_LEN];

static int strcmp_vector(const char *dir)
{
    char path[4096];
    uint8_t k[32], got[32];
    field f[] = {{"dk", dk, sizeof(dk), 0}, {"c", c, sizeof(c), 0},
                 {"K", k, 32, 0}};
    snprintf(path, sizeof(path), "%s/strcmp/ML-KEM-768.txt", dir);
    if (read_fields(path, f, 3)) return 1;
    int bad = wk_mlkem768_decaps(dk, c, got) || memcmp(got, k, 32);
    printf("strcmp: %s\n", bad ? "FAIL" : "ok");
    return bad;
}

static int unlucky_vector(const char *dir)
{
    char path[4096];
    uint8_t m[32], k[32], got[32];
    field f[] = {{"ek", ek, sizeof(ek), 0}, {"dk", dk, sizeof(dk), 0},
                 {"m", m, 32, 0},           {"c", c, sizeof(c), 0},
                 {"K", k, 32, 0}};
    snprintf(path, sizeof(path), "%s/unluckysample/ML-KEM-768.txt", dir);
    if (read_fields(path, f, 5)) return 1;
    int bad = wk_mlkem768_encaps(ek, m, c2, got) ||
              memcmp(c2, c, sizeof(c)) || memcmp(got, k, 32);
    printf("unluckysample encaps: %s\n", bad ? "FAIL" : "ok");
    int bad2 = wk_mlkem768_decaps(dk, c, got) || memcmp(got, k, 32);
    printf("unluckysample decaps: %s\n", bad2 ? "FAIL" : "ok");
    return bad | bad2;
}

static int modulus_vectors(const char *dir)
{
    char path[4096], cmd[4200];
    static char line[MAX_LINE];
    uint8_t m[32] = {0}, k[32];
    snprintf(path, sizeof(path), "%s/modulus/ML-KEM-768.txt", dir);
    FILE *in = fopen(path, "r");
    int piped = 0;
    if (!in) {
        snprintf(cmd, sizeof(cmd), "gunzip -c '%s/modulus/ML-KEM-768.txt.gz'",
                 dir);
        in = popen(cmd, "r");
        piped = 1;
    }
    if (!in) {
        perror(path);
        return 1;
    }
    unsigned lines = 0, rejected = 0;
    while (fgets(line, sizeof(line), in)) {
        if (unhex(line, ek, sizeof(ek))) {
            fprintf(stderr, "modulus: bad line %u\n", lines + 1);
            break;
        }
        lines++;
        if (wk_mlkem768_check_ek(ek) != 0 &&
            wk_mlkem768_encaps(ek, m, c, k) != 0)
            rejected++;
    }
    if (piped) pclose(in); else fclose(in);
    int bad = lines == 0 || rejected != lines;
    printf("modulus: %u of %u keys rejected: %s\n", rejected, lines,
           bad ? "FAIL" : "ok");
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cctv_mlkem CCTV/ML-KEM-directory\n");
        return 2;
    }
    int bad = strcmp_vector(argv[1]) | unlucky_vector(argv[1]) |
              modulus_vectors(argv[1]);
    return bad ? 1 : 0;
}
