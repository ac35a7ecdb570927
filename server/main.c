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
#include "keywords.h"
#include "passwd.h"
#include "server.h"
#include "session.h"



static void usage(FILE *f)
{
    fprintf(f,
            "usage: whelkd [-p [ADDR:]PORT]... [-h HOSTKEY]... [-a FILE] "
            "[-P FILE]\n"
            "              [-s NAME=COMMAND]... [-E PATTERN]... [-g SECONDS] "
            "[-B FILE]\n"
            "              [-S DIR] [-m N] [-L SECONDS] [-w N] "
            "[-o KEYWORD=VALUE]... [-d] [-t] [-V]\n"
            "  -p [ADDR:]PORT   listen (repeatable; default "
            "127.0.0.1:2222)\n"
            "  -h FILE          host key, OpenSSH format (repeatable; "
            "default: created\n"
            "                   in the state directory)\n"
            "  -a FILE          authorized_keys for every user (default "
            "~USER/.ssh/authorized_keys)\n"
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
            "  -g SECONDS       login grace time (default 120)\n"
            "  -B FILE          banner shown before authentication\n"
            "  -S DIR           state directory\n"
            "  -m N             concurrent unauthenticated connections "
            "(default 64, per worker;\n"
            "                   10 per source address)\n"
            "  -L SECONDS       drop a connection whose output makes no "
            "progress this long\n"
            "                   before authentication (default 10)\n"
            "  -w N             worker processes (default: one per core)\n"
            "  -o KEYWORD=VALUE sshd_config keyword (repeatable; the first "
            "value counts):\n"
            "                   PermitRootLogin yes|no|prohibit-password|"
            "forced-commands-only\n"
            "                   (default prohibit-password), "
            "PermitUserEnvironment no|yes|PATTERNS\n"
            "                   (default no), KexAlgorithms, Ciphers, MACs "
            "(offer only\n"
            "                   these, in this order)\n"
            "  -d               debug logging (to stderr)\n"
            "  -e               log to stderr instead of syslog\n"
            "  -t               check the configuration and host keys, then "
            "exit\n"
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

/* -o KexAlgorithms=, Ciphers=, MACs=: the lists a server offers. */
static int set_algorithms(whelk_config *cfg, const wd_keywords *kw)
{
    const struct {
        const char *name, *list;
        int (*set)(whelk_config *, const char *);
    } lists[] = {{"KexAlgorithms", kw->kex, whelk_config_set_kex},
                 {"Ciphers", kw->ciphers, whelk_config_set_ciphers},
                 {"MACs", kw->macs, whelk_config_set_macs}};
    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        if (!lists[i].list[0] || lists[i].set(cfg, lists[i].list) == 0)
            continue;
        fprintf(stderr, "whelkd: -o %s=%s: unknown or empty list\n",
                lists[i].name, lists[i].list);
        return -1;
    }
    return 0;
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    wd_server *srv = s->data;
    wd_log(WHELK_LOG_INFO, "Received signal %d; terminating.", signum);
    uv_signal_stop(&srv->sigterm);
    uv_signal_stop(&srv->sigint);
    wd_stop(srv);
    wd_session_shutdown();
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
}

static void on_log(whelk_conn *conn, int level, const char *msg, void *user)
{
    wd_log(level, "%s", msg);
}

static void on_authenticated(whelk_conn *conn, const char *user_name,
                             const char *method, void *user)
{
    wd_conn *c = user;
    wd_conn_authenticated(c);
    wd_schedule_trim(c->srv->loop);
}

int main(int argc, char **argv)
{
    static wd_options opts;
    wd_keywords_defaults(&opts.kw);
    opts.grace_s = 120;
    opts.max_unauth = 64;
    opts.per_source_max_startups = 10;
    opts.stall_s = 10;
    static const struct option longs[] = {{"help", no_argument, NULL, 'H'},
                                          {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "p:h:a:P:s:E:g:B:S:m:L:w:o:detV", longs,
                             NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (opts.n_listen >= WD_MAX_LISTEN) goto toomany;
            opts.listen[opts.n_listen++] = optarg;
            break;
        case 'h':
            if (opts.n_host_keys >= WD_MAX_HOSTKEYS) goto toomany;
            opts.host_keys[opts.n_host_keys++] = optarg;
            break;
        case 'a': opts.authorized_keys = optarg; break;
        case 'P': opts.password_file = optarg; break;
        case 's': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1]) {
                fprintf(stderr, "whelkd: -s wants NAME=COMMAND, not '%s'\n",
                        optarg);
                return 2;
            }
            if (opts.n_subsys >= WD_MAX_SUBSYS) goto toomany;
            *eq = 0;
            opts.subsys_name[opts.n_subsys] = optarg;
            opts.subsys_cmd[opts.n_subsys++] = eq + 1;
            break;
        }
        case 'E':
            if (opts.n_env >= WD_MAX_ENV) goto toomany;
            opts.env_pat[opts.n_env++] = optarg;
            break;
        case 'g': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 86400) {
                fprintf(stderr, "whelkd: bad -g value '%s'\n", optarg);
                return 2;
            }
            opts.grace_s = (unsigned)v;
            break;
        }
        case 'm': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "whelkd: bad -m value '%s'\n", optarg);
                return 2;
            }
            opts.max_unauth = (unsigned)v;
            break;
        }
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
            if (wd_keyword_line(&opts.kw, optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "whelkd: command-line: %s\n", err);
                return 2;
            }
            break;
        }
        case 'B': opts.banner_file = optarg; break;
        case 'S': opts.state_dir = optarg; break;
        case 'd': opts.debug = 1; opts.log_stderr = 1; break;
        case 'e': opts.log_stderr = 1; break;
        case 't': opts.test = 1; break;
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
    if (opts.n_listen == 0) opts.listen[opts.n_listen++] = "127.0.0.1:2222";
    if (opts.n_subsys == 0) {
        /* Without OpenSSH's server, whelkd's own (server/sftp.c). */
        opts.subsys_name[0] = "sftp";
        opts.subsys_cmd[0] =
            access("/usr/lib/openssh/sftp-server", X_OK) == 0
                ? "/usr/lib/openssh/sftp-server"
                : "internal-sftp";
        opts.n_subsys = 1;
    }
    if (opts.n_env == 0) {
        opts.env_pat[opts.n_env++] = "LANG";
        opts.env_pat[opts.n_env++] = "LC_*";
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
    if (set_algorithms(srv.cfg, &opts.kw) != 0) return 2;
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
    if (opts.n_host_keys == 0) {
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
    /* -t: the configuration and keys are good (and the default key now
     * exists); stop here, as sshd -t does. */
    if (opts.test) return 0;
    whelk_config_set(srv.cfg, WHELK_SET_LOGIN_GRACE_MS,
                     (uint64_t)opts.grace_s * 1000);
    uint64_t methods = WHELK_AUTH_METHOD_PUBLICKEY;
    if (opts.kw.password_auth)
        methods |= WHELK_AUTH_METHOD_PASSWORD | WHELK_AUTH_METHOD_KBDINT;
    whelk_config_set(srv.cfg, WHELK_SET_AUTH_METHODS, methods);
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

    if (opts.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opts.workers = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
    }
    int handoff_fd = -1;
    if (opts.workers > 1) {
        int rc = wd_run_workers(&opts, &handoff_fd);
        if (rc >= 0) return rc; /* the parent, after its workers */
    }
    srv.loop = uv_default_loop();
    if (whelk_server_callbacks_new(&srv.cb) != 0) return 1;
    whelk_server_callbacks_set_log(srv.cb, on_log);
    whelk_server_callbacks_set_event(srv.cb, wd_log_event);
    whelk_server_callbacks_set_authenticated(srv.cb, on_authenticated);
    whelk_server_callbacks_set_session_open(srv.cb, wd_session_open);
    wd_auth_callbacks(srv.cb);
    wd_session_init(srv.loop);

    if (handoff_fd >= 0) {
        if (wd_take_connections(&srv, handoff_fd) != 0) return 1;
    } else {
        for (int i = 0; i < opts.n_listen; i++)
            if (wd_listen(&srv, opts.listen[i]) != 0) return 1;
    }

    uv_signal_init(srv.loop, &srv.sigterm);
    uv_signal_init(srv.loop, &srv.sigint);
    srv.sigterm.data = srv.sigint.data = &srv;
    uv_signal_start(&srv.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&srv.sigint, on_stop_signal, SIGINT);

    uv_run(srv.loop, UV_RUN_DEFAULT);
    uv_loop_close(srv.loop);
    whelk_server_callbacks_free(srv.cb);
    whelk_config_free(srv.cfg);
    return 0;
toomany:
    fprintf(stderr, "whelkd: too many -%c options\n", ch);
    return 2;
}
