/*
 * daemonconf: the sshd_config keywords of the daemon itself: where it
 * listens (Port, ListenAddress, AddressFamily), its host keys (HostKey),
 * PidFile, and the session defaults the command line had flags for
 * (AcceptEnv, Subsystem, Banner); the sshd keywords whelkd accepts but
 * that mean nothing in its design; and, for the features other issues are
 * building, keywords accepted with a warning until they land.
 */
#ifndef WHELKD_DAEMONCONF_H
#define WHELKD_DAEMONCONF_H

#include <stddef.h>
#include <stdio.h>

struct wd_keywords;

enum { WD_AF_ANY, WD_AF_INET, WD_AF_INET6 };

#define WD_PENDING_MAX 24

int wd_daemon_keyword(struct wd_keywords *kw, const char *key, int ac,
                      char **av, char *err, size_t errlen);
/* Last in the handler list: keywords another issue's feature will take. */
int wd_pending_keyword(struct wd_keywords *kw, const char *key, int ac,
                       char **av, char *err, size_t errlen);
void wd_daemon_dump(const struct wd_keywords *kw, FILE *out);
void wd_pending_dump(const struct wd_keywords *kw, FILE *out);
/* After the command line: the lists it gave (HostKey, AcceptEnv,
 * Subsystem, ListenAddress, Port) take no more values from the file, as
 * the flags override the file. */
void wd_daemon_lock_lists(struct wd_keywords *kw);

/* The listen addresses: "HOST:PORT" / "[V6]:PORT" strings written to
 * |out| (at most |max|), from ListenAddress, Port and AddressFamily with
 * sshd's defaults (every address, port 22); names resolved. Returns the
 * count, or -1 with |err|. */
int wd_daemon_listen_list(const struct wd_keywords *kw, char (*out)[128],
                          int max, char *err, size_t errlen);

#endif
