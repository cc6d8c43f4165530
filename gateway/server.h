/*
 * server.h - the flowgate server: the store and its writer thread, and N HTTP loop threads
 * (h2o), each with its own SO_REUSEPORT listener. Created and stopped by the main thread.
 */
#ifndef FG_GATEWAY_SERVER_H
#define FG_GATEWAY_SERVER_H

#include "events/catalog.h"
#include "gateway/config.h"

#include <stdint.h>

typedef struct fg_server fg_server_t;

/**
 * Opens the store under cfg->data_dir (creating it), binds the listeners and starts every thread.
 * cfg and cat must outlive the server. On failure returns a negative fg_err_t with one sentence
 * in err, and nothing is left running.
 */
int fg_server_start(const fg_config_t *cfg, const fg_catalog_t *cat, fg_server_t **out, char *err,
                    size_t errcap);

/**
 * Loads the TLS certificate and key again (SIGHUP): new connections use them, open ones (and
 * their streams) go on. Main thread. FG_OK, or an error with err (the old ones stay).
 */
int fg_server_reload_tls(fg_server_t *srv, char *err, size_t errcap);

/**
 * Graceful stop: stop accepting, answer the publishes in flight, end every stream cleanly (up to
 * server.shutdown_grace_ms), stop the writer, close the store, free everything.
 */
void fg_server_stop(fg_server_t *srv);

#endif
