/*
 * keywords: the sshd_config keywords whelkd takes (so far only with -o;
 * the configuration-file issue adds the file and the other keywords):
 * PermitRootLogin, PermitUserEnvironment, KexAlgorithms, Ciphers, MACs.
 * Each area keeps its keywords in its own handler (wd_keyword_fn) and its
 * values in its own block of wd_keywords, so areas grow independently.
 */
#ifndef WHELKD_KEYWORDS_H
#define WHELKD_KEYWORDS_H

#include <stddef.h>
#include <stdio.h>

#include "policy.h"

#define WD_MAX_LISTEN_ADDRS 16

/* PermitRootLogin, with sshd's meanings. */
enum wd_root_mode {
    WD_ROOT_NO,
    WD_ROOT_PROHIBIT_PASSWORD,   /* the default: root by key only */
    WD_ROOT_FORCED_COMMANDS_ONLY,
    WD_ROOT_YES
};

/* AllowTcpForwarding's values as bits: yes/all = both, local = -L
 * (direct-tcpip), remote = -R (tcpip-forward), no = 0. */
enum { WD_FWD_LOCAL = 1, WD_FWD_REMOTE = 2, WD_FWD_ALL = 3 };
/* GatewayPorts: no (loopback only), yes (every address),
 * clientspecified (the address the client asks for). */
enum { WD_GW_NO = 0, WD_GW_YES = 1, WD_GW_CLIENT = 2 };

typedef struct wd_keywords {
    int permit_root_login;       /* enum wd_root_mode */
    int root_set;
    /* PermitUserEnvironment: 0 = no (default); 1 = yes, every name when
     * the list is empty, else only names matching the pattern list. */
    int permit_user_env;
    char permit_user_env_list[1024];
    int env_set;
    /* KexAlgorithms, Ciphers, MACs: the lists offered, "" for the
     * default (checked by whelk_config_set_* when applied). */
    char kex[1024], ciphers[1024], macs[1024];

    /* configuration (issue 15) */
    /* Login policy (policy.c). */
    wd_kw_list allow_users, deny_users, allow_groups, deny_groups;
    int pubkey_auth, password_auth, kbdint_auth; /* 1 yes, 0 no */
    int permit_empty_passwords;
    int strict_modes;
    unsigned max_auth_tries;
    unsigned login_grace_s;      /* 0: no limit */
    char auth_methods[512];      /* space-separated chains; "" = any */
    wd_kw_list authorized_keys_files; /* "none" alone: no file */
    int authorized_keys_flag;    /* -a: whelkd's rights, no StrictModes */
    char authorized_keys_command[1024];      /* "" = none */
    char authorized_keys_command_user[64];   /* "" = none */
    unsigned policy_set;         /* a bit per keyword already given */
    /* Engine settings (engineconf.c); kex, ciphers, macs above. */
    struct wd_engine_conf {
        char hostkey_algs[1024], pubkey_algs[1024], ca_algs[1024];
        long long rekey_bytes;   /* 0: default */
        long rekey_s;            /* 0: default, -1: none */
        int max_sessions, alive_interval, alive_count, unused_timeout;
        /* ChannelTimeout: "type=interval" words joined by spaces, as
         * given; "" for none. */
        char channel_timeout[1024];
        unsigned set;
    } engine;
    /* The daemon's own keywords (daemonconf.c). */
    struct wd_daemon_conf {
        wd_kw_list ports, listen_addrs, host_keys, accept_env, subsystems;
        int family;              /* WD_AF_* */
        char pid_file[256];      /* "" = none */
        char banner[256];        /* "" = none */
        unsigned set, locked;
        char pending[24][64];    /* keywords waiting for their feature */
    } daemon;

    /* sessions and limits (issue 15) */
    char force_command[1024];    /* ForceCommand; "" for none */
    int force_command_set;
    int no_tty;                  /* PermitTTY no */
    int permit_tty_set;
    /* SetEnv NAME=value words (accumulate). */
    char set_env[32][512];       /* NAME=value */
    int n_set_env;
    char chroot_dir[1024];       /* ChrootDirectory; "" unset, "none" */

    /* connection limits (issue 15): limitkw.c. Global only. */
    struct wd_limits_conf {
        int startups_begin, startups_rate, startups_full; /* MaxStartups */
        int per_source;          /* PerSourceMaxStartups; 0 = none */
        int netblock4, netblock6; /* PerSourceNetBlockSize */
        int tcp_keepalive;       /* TCPKeepAlive, default yes */
        unsigned set;            /* bit per keyword: first value counts */
    } limits;

    /* forwarding (issue 16): fwdkw.c */
    int allow_tcp_forwarding;    /* AllowTcpForwarding: WD_FWD_* bits */
    int gateway_ports;           /* GatewayPorts: WD_GW_* */
    int disable_forwarding;      /* DisableForwarding, default no */
    int allow_streamlocal;       /* AllowStreamLocalForwarding: WD_FWD_* */
    unsigned stream_local_bind_mask; /* StreamLocalBindMask, default 0177 */
    int stream_local_bind_unlink;    /* StreamLocalBindUnlink, default no */
    char permit_open[1024];      /* PermitOpen, space-separated; "" any */
    char permit_listen[1024];    /* PermitListen, likewise */
    unsigned fwd_set;            /* bit per keyword: first value counts */

    /* agent and X11 (issue 16) */
    int allow_agent_forwarding;  /* AllowAgentForwarding, default yes */
    int x11_forwarding;          /* X11Forwarding, default no */
    int x11_display_offset;      /* X11DisplayOffset, default 10 */
    int x11_use_localhost;       /* X11UseLocalhost, default yes */
    char xauth_location[256];    /* XAuthLocation, default /usr/bin/xauth */
    unsigned agx_set;            /* bit per keyword: first value counts */

    /* accounts and logging (issue 17) */
    /* PasswordAuthentication (default yes): password and
     * keyboard-interactive against the -P file, or without one the
     * system's accounts (/etc/shadow through libcrypt). */
    /* SyslogFacility (LOG_AUTH by default) and LogLevel (a WD_LOGLEVEL_*,
     * INFO by default), for log.c; 0 in *_set until given. */
    int syslog_facility, syslog_facility_set;
    int log_level, log_level_set;
    /* PrintMotd (default yes). */
    int print_motd, print_motd_set;
    /* PrintLastLog (default yes). */
    int print_lastlog, print_lastlog_set;
    /* UsePAM (default no, sshd's compiled default): passwords,
     * keyboard-interactive, account and session through the "whelkd"
     * PAM service (pam.c, pamsess.c). */
    int use_pam, use_pam_set;

    /* lifecycle (issue 17) */
    unsigned drain_timeout_s;    /* WhelkdDrainTimeout (lifecycle.h) */
    int drain_set;
} wd_keywords;

/* A keyword handler: one area's keywords. Called with the keyword (as
 * written; compare case-insensitively) and its |ac| >= 1 arguments,
 * already split and unquoted. Returns WD_KW_NOT_MINE for a keyword it
 * does not know, WD_KW_DONE when taken (or ignored: the first value
 * counts, as in sshd), WD_KW_ERROR with a message in |err|. */
enum { WD_KW_ERROR = -1, WD_KW_NOT_MINE = 0, WD_KW_DONE = 1 };

/* Helpers for handlers, with sshd's messages: -1 and |err| filled
 * unless |ac| is 1 ("extra arguments at end of line"); sshd's flag
 * values, yes 1 and no 0 in any case, else -1 and |err| filled
 * ("unsupported option"). */
int wd_kw_one_arg(const char *key, int ac, char *err, size_t errlen);
int wd_kw_yes_no(const char *arg, char *err, size_t errlen);
typedef int (*wd_keyword_fn)(struct wd_keywords *kw, const char *key,
                             int ac, char **av, char *err, size_t errlen);

void wd_keywords_defaults(wd_keywords *kw);
/* One "Keyword value" / "Keyword=value" line. Returns 0, or -1 with a
 * message in |err| (naming the keyword). */
int wd_keyword_line(wd_keywords *kw, const char *line, char *err,
                    size_t errlen);
/* The name sshd -T prints for a PermitRootLogin mode. */
const char *wd_root_mode_name(int mode);

/* A line split as sshd splits it: the keyword and its arguments
 * (unquoted), pointing into the struct. */
#define WD_KW_MAX_ARGS 256
#define WD_KW_MAX_LINE 4096
typedef struct wd_keyword_words {
    char buf[WD_KW_MAX_LINE], words[WD_KW_MAX_LINE];
    char *key;            /* NULL: an empty line or a comment */
    char *av[WD_KW_MAX_ARGS];
    int ac;
} wd_keyword_words;
int wd_keyword_split(const char *line, wd_keyword_words *w, char *err,
                     size_t errlen);
/* One keyword and its arguments, through the areas' handlers. 0, or -1
 * with a message in |err|. */
int wd_keyword_args(wd_keywords *kw, const char *key, int ac, char **av,
                    char *err, size_t errlen);

/* An area's part of `whelkd -T`: its keywords' values as sshd -T
 * prints them, one lowercase "keyword value" line each. */
typedef void (*wd_keyword_dump_fn)(const struct wd_keywords *kw, FILE *out);
void wd_keywords_dump(const wd_keywords *kw, FILE *out);

#endif
