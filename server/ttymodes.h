/*
 * ttymodes: SSH terminal modes (RFC 4254 section 8) onto a termios.
 */
#ifndef WHELKD_TTYMODES_H
#define WHELKD_TTYMODES_H

#include <termios.h>

#include "whelk/whelk.h"

/* Applies every known opcode of |pty| to |t|; unknown ones are skipped. */
void wd_apply_tty_modes(const whelk_pty *pty, struct termios *t);

#endif
