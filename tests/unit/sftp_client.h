/*
 * sftp_client: a raw SFTP peer for the unit tests of the SFTP server:
 * builds request packets byte by byte (so tests can also build broken
 * ones) and takes the server's replies apart, either from an in-memory
 * server (wd_sftp_feed / wd_sftp_output) or from a descriptor.
 */
#ifndef WHELK_TEST_SFTP_CLIENT_H
#define WHELK_TEST_SFTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "sftp.h"
#include "sftp_wire.h"

/* The request being built: [uint32 length][type][uint32 id]...; the
 * length is filled in when it is sent. */
void sc_begin(uint8_t type, uint32_t id);
void sc_u8(uint8_t v);
void sc_u32(uint32_t v);
void sc_u64(uint64_t v);
void sc_str(const char *s);
void sc_bytes(const void *p, size_t n); /* as an SSH string */
void sc_raw(const void *p, size_t n);   /* as they are */
/* The packet as built, its length field set to the payload's length
 * (or to |forced_len| when that is not ~0u). */
const uint8_t *sc_packet(size_t *len, uint32_t forced_len);

/* In-memory server. */
void sc_send(wd_sftp *s);
/* The next reply: its type, id (0 for VERSION) and a reader over the
 * rest; 0 when there is none. Valid until the next call. */
int sc_reply(wd_sftp *s, uint8_t *type, uint32_t *id, wd_reader *body);
/* The next reply must be a STATUS for |id|: returns its code. */
uint32_t sc_status(wd_sftp *s, uint32_t id);
/* A server with INIT done and its VERSION taken. */
wd_sftp *sc_server(int readonly);

/* Over a descriptor (the forked wd_sftp_main tests). */
int sc_write_fd(int fd);
/* Reads one reply into an internal buffer; 0 at EOF. */
int sc_read_fd(int fd, uint8_t *type, uint32_t *id, wd_reader *body);

/* Handles come back as strings; these keep one. */
typedef struct sc_handle {
    uint8_t b[256];
    size_t n;
} sc_handle;
void sc_get_handle(wd_sftp *s, uint32_t id, sc_handle *h);
void sc_handle_arg(const sc_handle *h);

#endif
