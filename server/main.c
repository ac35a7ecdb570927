/*
 * main: whelkd's command line, start-up and shutdown. See README.md for
 * the options; tests and benchmarks depend on them.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth.h"
#include "confile.h"
#include "daemonconf.h"
#include "engineconf.h"
#include "keywords.h"
#include "lifecycle.h"
#include "pamsess.h"
#include "passwd.h"
#include "server.h"

#define WD_DEFAULT_CONFIG "/etc/whelk/whelkd_config"
#define WD_MAX_GROUPS_SPEC 256
#include "chanopen.h"
#include "rfwd.h"
#include "sessconf.h"
#include "session.h"



static void usage(FILE *f)
{
    fprintf(f,
            "usage: whelkd [-p [ADDR:]PORT]... [-h HOSTKEY]... [-a FILE] "
            "[-P FILE]\n"
            "              [-s NAME=COMMAND]... [-E PATTERN]... [-g SECONDS] "
            "[-B FILE]\n"
            "              [-S DIR] [-m N] [-L SECONDS] [-w N] "
            "[-o KEYWORD=VALUE]... [-d] [-t] [-i] [-V]\n"
            "  -p [ADDR:]PORT   listen (repeatable; default "
            "127.0.0.1:2222)\n"
            "  -h FILE          host key, OpenSSH format (repeatable; "
            "default: created\n"
            "                   in the state directory)\n"
            "  -a FILE          AuthorizedKeysFile for every user, read as "
            "whelkd (default\n"
            "                   each user's .ssh/authorized_keys "
            "and authorized_keys2)\n"
            "  -P FILE          password file of user:crypt-hash lines "
            "(enables password\n"
            "                   and keyboard-interactive)\n"
            "  -s NAME=COMMAND  subsystem (repeatable); internal-sftp "
            "[OPTIONS] is whelkd's\n"
            "                   own SFTP server; default "
            "sftp=/usr/lib/openssh/sftp-server\n"
            "                   when present, else sftp=internal-sftp\n"
            "  -E PATTERN       accepted client environment variable "
            "(repeatable;\n"
            "                   default LANG and LC_*)\n"
            "  -g TIME          LoginGraceTime (default 120)\n"
            "  -B FILE          banner shown before authentication\n"
            "  -S DIR           state directory\n"
            "  -m N             MaxStartups N: concurrent unauthenticated "
            "connections\n"
            "                   (default 64, per worker; "
            "PerSourceMaxStartups 10)\n"
            "  -L SECONDS       drop a connection whose output makes no "
            "progress this long\n"
            "                   before authentication (default 10)\n"
            "  -w N             worker processes under a supervising parent "
            "(default: one\n"
            "                   per core); -w 1: one process, no parent\n"
            "  -o KEYWORD=VALUE sshd_config keyword (repeatable; the first "
            "value counts):\n"
            "                   PermitRootLogin yes|no|prohibit-password|"
            "forced-commands-only\n"
            "                   (default prohibit-password), "
            "PermitUserEnvironment no|yes|PATTERNS\n"
            "                   (default no), KexAlgorithms, Ciphers, MACs "
            "(offer only\n"
            "                   these, in this order), AllowAgentForwarding, "
            "X11Forwarding,\n"
            "                   X11DisplayOffset, X11UseLocalhost, "
            "XAuthLocation,\n"
            "                   AllowTcpForwarding, GatewayPorts, "
            "PermitOpen, PermitListen,\n"
            "                   DisableForwarding, "
            "AllowStreamLocalForwarding,\n"
            "                   StreamLocalBindMask, StreamLocalBindUnlink\n"
            "  -d               debug logging (to stderr)\n"
            "  -e               log to stderr instead of syslog\n"
            "  -t               check the configuration and host keys, then "
            "exit\n"
            "  -i               serve one connection on stdin/stdout "
            "(inetd, ProxyCommand)\n"
            "  -V               print the version\n");
}

static char *read_banner(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *buf = calloc(1, 64 * 1024 + 1);
    size_t n = buf ? fread(buf, 1, 64 * 1024, f) : 0;
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

static const char *default_state_dir(void)
{
    static char dir[4096];
    const char *env = getenv("WHELK_STATE_DIR");
    if (env && *env) return env;
    if (geteuid() == 0) return "/var/lib/whelk";
    const char *home = getenv("HOME");
    snprintf(dir, sizeof(dir), "%s/.local/state/whelk", home ? home : "/tmp");
    return dir;
}


/* A flag that sets a keyword: applied (and kept for Match copies) as
 * the command line's "-o Keyword value", quoted unless |words|. */
static wd_options *flag_opts;
static int flag_keyword_words(const char *key, const char *value, int words)
{
    char line[4600], err[1200];
    size_t n = (size_t)snprintf(line, sizeof(line), "%s ", key);
    if (words) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s", value);
    } else {
        line[n++] = '"';
        for (const char *v = value; *v && n + 3 < sizeof(line); v++) {
            if (*v == '"' || *v == '\\') line[n++] = '\\';
            line[n++] = *v;
        }
        line[n++] = '"';
        line[n] = 0;
    }
    if (n >= sizeof(line) - 1 ||
        wd_keyword_line(&flag_opts->kw, line, err, sizeof(err)) != 0 ||
        wd_conf_cmdline(line, err, sizeof(err)) != 0) {
        fprintf(stderr, "whelkd: %s from a flag: %s\n", key, err);
        return -1;
    }
    return 0;
}

static int flag_keyword(const char *key, const char *value)
{
    return flag_keyword_words(key, value, strcmp(key, "Subsystem") == 0);
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
        fprintf(stderr, "whelkd: cannot write PidFile %s\n", path);
        if (f) fclose(f);
        return -1;
    }
    return 0;
}

/* -a in every Match copy, as in the global keywords. */
static char daemon_keys_abs[4200];
static void replay_daemon_keys(wd_keywords *kw)
{
    if (daemon_keys_abs[0]) wd_policy_daemon_keys_file(kw, daemon_keys_abs);
}

/* AcceptEnv, Subsystem, HostKey, Banner: from the keywords into the
 * option arrays the rest of whelkd reads. */
static void options_from_keywords(wd_options *o, int sshd_defaults)
{
    struct wd_daemon_conf *d = &o->kw.daemon;
    for (const char *k = wd_kw_list_next(&d->host_keys, NULL);
         k && o->n_host_keys < WD_MAX_HOSTKEYS;
         k = wd_kw_list_next(&d->host_keys, k))
        o->host_keys[o->n_host_keys++] = k;
    for (const char *e = wd_kw_list_next(&d->accept_env, NULL);
         e && o->n_env < WD_MAX_ENV; e = wd_kw_list_next(&d->accept_env, e))
        o->env_pat[o->n_env++] = e;
    for (const char *s = wd_kw_list_next(&d->subsystems, NULL);
         s && o->n_subsys < WD_MAX_SUBSYS;
         s = wd_kw_list_next(&d->subsystems, s)) {
        char *copy = strdup(s);
        if (!copy) continue;
        char *eq = strchr(copy, '=');
        *eq = 0;
        o->subsys_name[o->n_subsys] = copy;
        o->subsys_cmd[o->n_subsys++] = eq + 1;
    }
    if (d->banner[0]) o->banner_file = d->banner;
    /* Without a file, whelkd's own defaults (README); with one, sshd's:
     * no AcceptEnv unless given. */
    if (o->n_env == 0 && !sshd_defaults) {
        o->env_pat[o->n_env++] = "LANG";
        o->env_pat[o->n_env++] = "LC_*";
    }
}

static void on_log(whelk_conn *conn, int level, const char *msg, void *user)
{
    wd_log(level, "%s", msg);
}

static void on_authenticated(whelk_conn *conn, const char *user_name,
                             const char *method, void *user)
{
    wd_conn *c = user;
    /* ChannelTimeout, with the connection's Match values, before any
     * channel can open. */
    if (wd_engine_apply_channel_timeouts(conn, wd_conn_kw(c)) != 0)
        wd_log(WHELK_LOG_ERROR, "ChannelTimeout: not all of \"%s\" could "
               "be applied", wd_conn_kw(c)->engine.channel_timeout);
    wd_login_authenticated(c->login);
    wd_conn_authenticated(c);
    wd_schedule_trim(c->srv->loop);
}

int main(int argc, char **argv)
{
    /* A session's PAM process (UsePAM yes), started by wd_spawn's child:
     * nothing of the daemon's start-up runs. */
    if (argc > 1 && strcmp(argv[1], WD_PAMSESS_FLAG) == 0)
        /* _exit: what session modules allocate and never free ends with
         * this short-lived process; no exit-time handler of theirs (or
         * a leak checker's, under make asan) may change its status,
         * which is the program's. */
        _exit(wd_pamsess_main(argc, argv));
    static wd_options opts;
    flag_opts = &opts;
    const char *config_file = NULL, *match_spec = NULL;
    const char *daemon_keys_arg = NULL;
    int dump = 0;
    wd_keywords_defaults(&opts.kw);
    opts.stall_s = 10;
    static const struct option longs[] = {{"help", no_argument, NULL, 'H'},
                                          {NULL, 0, NULL, 0}};
    int ch;
    wd_save_argv(argc, argv); /* before getopt and -s rewrite it */
    while ((ch = getopt_long(argc, argv, "p:h:a:P:s:E:g:B:S:m:L:w:o:f:C:dtTiDeV", longs,
                             NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (opts.n_listen >= WD_MAX_LISTEN) goto toomany;
            opts.listen[opts.n_listen++] = optarg;
            break;
        case 'h':
            if (flag_keyword("HostKey", optarg) != 0) return 2;
            break;
        case 'a': { /* AuthorizedKeysFile, read as whelkd (policy.h) */
            daemon_keys_arg = optarg;
            /* Relative to where whelkd starts, as -a always was (a
             * relative AuthorizedKeysFile is taken from the home). */
            char abs[4200], cwd[4096];
            if (optarg[0] != '/' && getcwd(cwd, sizeof(cwd)))
                snprintf(abs, sizeof(abs), "%s/%s", cwd, optarg);
            else
                snprintf(abs, sizeof(abs), "%s", optarg);
            snprintf(daemon_keys_abs, sizeof(daemon_keys_abs), "%s", abs);
            if (wd_policy_daemon_keys_file(&opts.kw, abs) != 0) {
                fprintf(stderr, "whelkd: bad -a file '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'P': opts.password_file = optarg; break;
        case 's': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1]) {
                fprintf(stderr, "whelkd: -s wants NAME=COMMAND, not '%s'\n",
                        optarg);
                return 2;
            }
            char sub[4200];
            snprintf(sub, sizeof(sub), "%.*s %s", (int)(eq - optarg), optarg,
                     eq + 1);
            if (flag_keyword("Subsystem", sub) != 0) return 2;
            break;
        }
        case 'E':
            if (flag_keyword("AcceptEnv", optarg) != 0) return 2;
            break;
        case 'g':
            if (flag_keyword("LoginGraceTime", optarg) != 0) return 2;
            break;
        case 'm': /* a hard limit, start = full = N */
            if (flag_keyword_words("MaxStartups", optarg, 1) != 0) return 2;
            break;
        case 'L': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 3600) {
                fprintf(stderr, "whelkd: bad -L value '%s' (1..3600)\n",
                        optarg);
                return 2;
            }
            opts.stall_s = (unsigned)v;
            break;
        }
        case 'w': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                fprintf(stderr, "whelkd: bad -w value '%s' (1..64)\n", optarg);
                return 2;
            }
            opts.workers = (unsigned)v;
            break;
        }
        case 'o': {
            char err[1200];
            if (wd_keyword_line(&opts.kw, optarg, err, sizeof(err)) != 0 ||
                wd_conf_cmdline(optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "whelkd: command-line: %s\n", err);
                return 2;
            }
            break;
        }
        case 'B':
            if (flag_keyword("Banner", optarg) != 0) return 2;
            break;
        case 'f': config_file = optarg; break;
        case 'C': match_spec = optarg; break;
        case 'T': dump = 1; break;
        case 'D': break; /* whelkd always runs in the foreground */
        case 'S': opts.state_dir = optarg; break;
        case 'd': opts.debug = 1; opts.log_stderr = 1; break;
        case 'e': opts.log_stderr = 1; break;
        case 't': opts.test = 1; break;
        case 'i': opts.inetd = 1; break;
        case 'V': printf("whelkd %s\n", WHELK_VERSION); return 0;
        case 'H': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "whelkd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    (void)daemon_keys_arg;
    if (match_spec && !dump) {
        fprintf(stderr, "whelkd: -C is for use with -T\n");
        return 2;
    }
    /* The command line's values are in; the file adds what it did not
     * say (first value wins), its lists only where no flag gave one. */
    wd_conf_set_replay(replay_daemon_keys);
    wd_daemon_lock_lists(&opts.kw);
    int have_file = 0;
    char cerr[1400];
    if (!config_file && access(WD_DEFAULT_CONFIG, F_OK) == 0)
        config_file = WD_DEFAULT_CONFIG;
    if (config_file) {
        if (wd_conf_load(config_file, 1, &opts.kw, cerr, sizeof(cerr)) != 0) {
            fprintf(stderr, "whelkd: %s\n", cerr);
            return 255;
        }
        have_file = 1;
    }
    if (dump) {
        /* -T [-C spec]: the keywords as a connection would see them. */
        const wd_keywords *kw = &opts.kw;
        wd_keywords *conn_kw = NULL;
        if (match_spec) {
            static char spec[4096];
            static gid_t groups[WD_MAX_GROUPS_SPEC];
            wd_match_ctx ctx;
            snprintf(spec, sizeof(spec), "%s", match_spec);
            if (wd_conf_parse_spec(spec, &ctx, groups, WD_MAX_GROUPS_SPEC,
                                   cerr, sizeof(cerr)) != 0) {
                fprintf(stderr, "whelkd: %s\n", cerr);
                return 255;
            }
            int failed;
            conn_kw = wd_conf_resolve(&ctx, &failed);
            if (failed) return 1;
            if (conn_kw) kw = conn_kw;
        }
        wd_keywords_dump(kw, stdout);
        free(conn_kw);
        return 0;
    }
    options_from_keywords(&opts, have_file);
    /* A file without HostKey: sshd's default keys, those that exist (a
     * machine moving from sshd keeps its host identity); without a file
     * or when none exists, the key in the state directory. */
    if (have_file && opts.n_host_keys == 0) {
        static const char *const sshd_keys[] = {
            "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_rsa_key"};
        for (size_t i = 0; i < sizeof(sshd_keys) / sizeof(*sshd_keys); i++)
            if (access(sshd_keys[i], R_OK) == 0)
                opts.host_keys[opts.n_host_keys++] = sshd_keys[i];
    }
    if (opts.n_listen == 0) {
        /* With a file (or Port/ListenAddress), sshd's defaults: port 22
         * on every address; without, whelkd's 127.0.0.1:2222. */
        if (have_file || opts.kw.daemon.ports.n ||
            opts.kw.daemon.listen_addrs.n) {
            static char addrs[WD_MAX_LISTEN][128];
            int n = wd_daemon_listen_list(&opts.kw, addrs, WD_MAX_LISTEN,
                                          cerr, sizeof(cerr));
            if (n < 0) {
                fprintf(stderr, "whelkd: %s\n", cerr);
                return 255;
            }
            for (int i = 0; i < n; i++) opts.listen[opts.n_listen++] = addrs[i];
        } else {
            opts.listen[opts.n_listen++] = "127.0.0.1:2222";
        }
    }
    if (opts.n_subsys == 0) {
        /* Without OpenSSH's server, whelkd's own (server/sftp.c). */
        opts.subsys_name[0] = "sftp";
        opts.subsys_cmd[0] =
            access("/usr/lib/openssh/sftp-server", X_OK) == 0
                ? "/usr/lib/openssh/sftp-server"
                : "internal-sftp";
        opts.n_subsys = 1;
    }
    if (!opts.state_dir) opts.state_dir = default_state_dir();
    wd_opts = &opts;
    /* Unknown users' passwords are checked against a hash as costly as
     * the real ones (the -P file's, else /etc/shadow's), made before
     * any worker forks: they inherit it. */
    wd_passwd_init(opts.password_file ? opts.password_file : "/etc/shadow");
    /* -t checks and -T dumps print to stderr; a server logs where told. */
    wd_log_setup(opts.log_stderr || opts.test, opts.kw.syslog_facility,
                 opts.kw.log_level);
    signal(SIGPIPE, SIG_IGN);
    /* Many sessions mean many descriptors: use the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    static wd_server srv;
    srv.cfg = whelk_config_new();
    if (!srv.cfg) return 1;
    if (wd_engine_apply_config(srv.cfg, &opts.kw) != 0) return 2;
    for (int i = 0; i < opts.n_host_keys; i++) {
        whelk_key *k;
        if (wd_load_host_key(opts.host_keys[i], &k) != 0) return 1;
        if (whelk_config_add_host_key(srv.cfg, k) != 0) {
            fprintf(stderr, "whelkd: cannot use host key %s\n",
                    opts.host_keys[i]);
            return 1;
        }
        char fp[80];
        whelk_key_fingerprint(k, fp, sizeof(fp));
        wd_log(WHELK_LOG_INFO, "host key: %s %s %s", opts.host_keys[i],
               whelk_key_short_name(k), fp);
    }
    if (opts.n_host_keys == 0 && !opts.test) {
        whelk_key *k;
        char path[4200];
        if (wd_default_host_key(opts.state_dir, &k, path, sizeof(path)) != 0)
            return 1;
        whelk_config_add_host_key(srv.cfg, k);
        char fp[80];
        whelk_key_fingerprint(k, fp, sizeof(fp));
        wd_log(WHELK_LOG_INFO, "host key: %s %s %s", path,
               whelk_key_short_name(k), fp);
    }
    /* LoginGraceTime, MaxAuthTries, the methods (password ones only
     * with -P) and AuthenticationMethods (policy.c). */
    if (wd_policy_apply_config(srv.cfg, &opts.kw, 1 /* /etc/shadow or -P */))
        return 2;
    /* -t: the configuration and keys are good (and the default key now
     * exists); stop here, as sshd -t does. */
    if (opts.test) return 0;
    if (opts.banner_file) {
        char *b = read_banner(opts.banner_file);
        if (!b) {
            fprintf(stderr, "whelkd: cannot read banner %s\n",
                    opts.banner_file);
            return 1;
        }
        whelk_config_set_banner(srv.cfg, b);
        free(b);
    }

    /* Without -w, always a parent (even for one worker): it respawns
     * workers, drains and reloads (lifecycle.h). -w 1 is one process. */
    int supervised = opts.workers != 1 && !opts.inetd;
    if (opts.kw.daemon.pid_file[0] && !opts.inetd &&
        write_pid_file(opts.kw.daemon.pid_file) != 0)
        return 1;
    if (opts.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opts.workers = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
    }
    int handoff_fd = -1;
    if (supervised) {
        int rc = wd_run_workers(&opts, &handoff_fd);
        if (rc >= 0) return rc; /* the parent, after its workers */
    }
    srv.loop = uv_default_loop();
    if (whelk_server_callbacks_new(&srv.cb) != 0) return 1;
    whelk_server_callbacks_set_log(srv.cb, on_log);
    whelk_server_callbacks_set_event(srv.cb, wd_log_event);
    whelk_server_callbacks_set_authenticated(srv.cb, on_authenticated);
    whelk_server_callbacks_set_session_open(srv.cb, wd_session_open);
    whelk_server_callbacks_set_channel_open(srv.cb, wd_channel_open);
    whelk_server_callbacks_set_global_request(srv.cb, wd_global_request);
    wd_auth_callbacks(srv.cb);
    wd_session_init(srv.loop);

    if (handoff_fd >= 0) {
        if (wd_take_connections(&srv, handoff_fd) != 0) return 1;
    } else if (opts.inetd) {
        int fd = wd_inetd_socket();
        if (fd < 0 || wd_serve_fd(&srv, fd) != 0) return 1;
        srv.draining = 1; /* the process ends with its one connection */
    } else {
        int fds[WD_MAX_LISTEN];
        int n = wd_inherited_listeners(fds, WD_MAX_LISTEN);
        if (n < 0) return 1;
        for (int i = 0; i < n; i++) {
            wd_log_listener(fds[i]);
            if (wd_listen_fd(&srv, fds[i]) != 0) return 1;
        }
        for (int i = 0; n == 0 && i < opts.n_listen; i++)
            if (wd_listen(&srv, opts.listen[i]) != 0) return 1;
    }
    wd_lifecycle_serve(&srv, opts.inetd       ? WD_SERVE_INETD
                             : handoff_fd >= 0 ? WD_SERVE_WORKER
                                               : WD_SERVE_SINGLE);
    if (handoff_fd < 0 && !opts.inetd) wd_notify("READY=1");

    uv_run(srv.loop, UV_RUN_DEFAULT);
    uv_loop_close(srv.loop);
    whelk_server_callbacks_free(srv.cb);
    whelk_config_free(srv.cfg);
    return 0;
toomany:
    fprintf(stderr, "whelkd: too many -%c options\n", ch);
    return 2;
}
