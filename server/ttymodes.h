/*
 * ttymodes: SSH terminal modes (RFC 4254 section 8) onto a termios.
 */
#ifndef WHELKD_TTYMODES_H
#define WHELKD_TTYMODES_H

#include <termios.h>

#include "whelk/whelk.h"

/* A pty request as whelkd keeps it until the program starts: the
 * engine's whelk_pty is valid only during the pty_req callback. */
typedef struct wd_tty {
    char term[64];
    uint32_t cols, rows, width_px, height_px;
    unsigned n_modes;
    struct {
        uint8_t op;
        uint32_t value;
    } modes[WHELK_MAX_TTY_MODES];
} wd_tty;

/* Copies what |pty| says into |t|. */
void wd_tty_from_request(wd_tty *t, const whelk_pty *pty);
/* Applies every known opcode of |tty| to |t|; unknown ones are skipped. */
void wd_apply_tty_modes(const wd_tty *tty, struct termios *t);

#endif
