/*
 * conn_test: the one test-only entry point into the engine, linked into
 * unit tests and fuzzers and never into the shipped library.
 */
#ifndef WHELK_CONN_TEST_H
#define WHELK_CONN_TEST_H

#include "conn.h"

/* Skips to an unencrypted connection after key exchange, authenticated
 * as |user| (NULL: authentication still due), so the layers above can be
 * driven byte for byte. */
int wk_conn_test_authenticate(whelk_conn *c, const char *user);

#endif
