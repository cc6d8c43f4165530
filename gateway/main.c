/*
 * main.c - the flowgate binary: options, configuration, signals. Main thread.
 *
 * Precedence: defaults < config file < FLOWGATE_* environment < command-line flags.
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 when start-up fails, 2 on bad usage or
 * configuration.
 */
#include "events/catalog.h"
#include "events/log.h"
#include "gateway/auth.h"
#include "gateway/config.h"
#include "gateway/server.h"

#include <curl/curl.h>
#include <sqlite3.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

extern char **environ;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: flowgate [options]\n"
        "       flowgate hash-key [KEY]\n"
        "\n"
        "An event streaming gateway: publish typed JSON events over HTTP, stream them over\n"
        "Server-Sent Events, stored durably and in order.\n"
        "\n"
        "options:\n"
        "  -c, --config FILE      JSON configuration file (env FLOWGATE_CONFIG)\n"
        "  -l, --listen HOST:PORT address to listen on (default 127.0.0.1:8080;\n"
        "                         env FLOWGATE_LISTEN)\n"
        "  -d, --data-dir DIR     where the store lives (default ./data;\n"
        "                         env FLOWGATE_DATA_DIR)\n"
        "  -t, --threads N        HTTP threads, 0 = one per core (env FLOWGATE_THREADS)\n"
        "      --log-level LEVEL  debug, info, warn or error (env FLOWGATE_LOG_LEVEL)\n"
        "  -h, --help             print this help and exit\n"
        "  -V, --version          print the version and exit\n"
        "\n"
        "hash-key prints the SHA-256 that auth.keys stores for KEY (read from stdin when not\n"
        "given); with no KEY and stdin a terminal, it makes a new random key and prints both.\n"
        "\n"
        "Every configuration key can also be set from the environment: FLOWGATE_ followed by\n"
        "the key in upper case with dots as underscores (sse.heartbeat_ms ->\n"
        "FLOWGATE_SSE_HEARTBEAT_MS). Flags override the environment, which overrides the file.\n"
        "Keys are documented in config/flowgate.example.json.\n");
}

/* `flowgate hash-key [KEY]`: what to put in auth.keys[].sha256. */
static int hash_key(int argc, char **argv)
{
    char key[FG_AUTH_MAX_TOKEN + 2], hex[65];
    bool fresh = false;
    if (argc > 2) {
        snprintf(key, sizeof(key), "%s", argv[2]);
    } else if (isatty(STDIN_FILENO)) {
        if (fg_auth_new_key(key) != FG_OK) {
            fprintf(stderr, "flowgate: no random bytes\n");
            return 1;
        }
        fresh = true;
    } else if (fgets(key, sizeof(key), stdin) == NULL) {
        fprintf(stderr, "flowgate: hash-key: no key on stdin\n");
        return 2;
    }
    key[strcspn(key, "\r\n")] = '\0';
    if (strncmp(key, FG_AUTH_KEY_PREFIX, 4) != 0 || strlen(key) < 20) {
        fprintf(stderr, "flowgate: hash-key: a key starts with %s and has at least 20 characters\n",
                FG_AUTH_KEY_PREFIX);
        return 2;
    }
    fg_auth_hash_key(key, strlen(key), hex);
    if (fresh)
        printf("key:    %s\nsha256: %s\n", key, hex);
    else
        printf("%s\n", hex);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "hash-key") == 0)
        return hash_key(argc, argv);
    /* No allocation statistics: they take one process-wide mutex on every SQLite malloc and
     * free, which the writer, the dispatcher and the loops contended for (before any use). */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},    {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'},  {"threads", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
    };
    const char *config_file = getenv("FLOWGATE_CONFIG");
    struct {
        const char *key, *value;
    } flags[8];
    size_t nflags = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:l:d:t:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_file = optarg;
            break;
        case 'l':
            flags[nflags].key = "listen";
            flags[nflags++].value = optarg;
            break;
        case 'd':
            flags[nflags].key = "data_dir";
            flags[nflags++].value = optarg;
            break;
        case 't':
            flags[nflags].key = "threads";
            flags[nflags++].value = optarg;
            break;
        case 'L':
            flags[nflags].key = "log_level";
            flags[nflags++].value = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("flowgate %s\n", FG_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (nflags == sizeof(flags) / sizeof(flags[0])) {
            fprintf(stderr, "flowgate: too many options\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "flowgate: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    fg_config_t cfg;
    fg_config_defaults(&cfg);
    char err[512];
    int rc = FG_OK;
    if (config_file != NULL && config_file[0] != '\0')
        rc = fg_config_load_file(&cfg, config_file, err, sizeof(err));
    if (rc == FG_OK)
        rc = fg_config_apply_env(&cfg, environ, err, sizeof(err));
    for (size_t i = 0; rc == FG_OK && i < nflags; i++)
        rc = fg_config_set(&cfg, flags[i].key, flags[i].value, err, sizeof(err));
    fg_catalog_t *cat = fg_catalog_create();
    if (cat == NULL) {
        fprintf(stderr, "flowgate: out of memory\n");
        return 1;
    }
    if (rc == FG_OK)
        rc = fg_config_add_custom_types(&cfg, cat, err, sizeof(err));
    if (rc != FG_OK) {
        fprintf(stderr, "flowgate: %s\n", err);
        fg_catalog_destroy(cat);
        fg_config_dispose(&cfg);
        return 2;
    }
    fg_log_level_t level = FG_LOG_INFO;
    fg_log_parse_level(cfg.log_level, &level);
    fg_log_set_level(level);

    /* Signals: SIGPIPE ignored (h2o writes to closed sockets); the others are taken by sigwait
     * on this thread only, so every thread started from here blocks them. */
    signal(SIGPIPE, SIG_IGN);
    /* A write past a file size limit fails with EFBIG (the store reports it) instead of killing
     * the process. */
    signal(SIGXFSZ, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* The keys are each valid (exit 2 above); whether they make a whole that can start is
     * checked here and, like every start-up failure, exits 1. */
    fg_server_t *srv;
    rc = fg_config_resolve(&cfg, err, sizeof(err));
    if (rc == FG_OK)
        rc = fg_server_start(&cfg, cat, &srv, err, sizeof(err));
    if (rc != FG_OK) {
        fg_log(FG_LOG_ERROR, "startup_failed", "error=\"%s\"", err);
        fg_catalog_destroy(cat);
        fg_config_dispose(&cfg);
        return 1;
    }
    fg_log(FG_LOG_INFO, "ready", "version=%s pid=%d", FG_VERSION, (int)getpid());
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        /* SIGHUP: the TLS certificate and key again; streams and connections go on */
        if (!cfg.r.tls)
            fg_log(FG_LOG_INFO, "reload", "nothing to reload (no TLS)");
        else if (fg_server_reload_tls(srv, err, sizeof(err)) == FG_OK)
            fg_log(FG_LOG_INFO, "tls_reloaded", "cert=%s", cfg.tls_cert_file);
        else
            fg_log(FG_LOG_ERROR, "tls_reload_failed", "error=\"%s\"", err);
    }
    fg_log(FG_LOG_INFO, "stopping", "signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fg_server_stop(srv);
    fg_catalog_destroy(cat);
    fg_config_dispose(&cfg);
    curl_global_cleanup();
    return 0;
}
