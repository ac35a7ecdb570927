/*
 * ttymodes: each RFC 4254 section 8 opcode maps to a c_cc slot or a flag
 * of one of the four termios words; speeds go through cfset*speed. An
 * opcode this system has no counterpart for is skipped, as sshd does.
 */
#include "ttymodes.h"

#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

typedef struct flag_map {
    uint8_t op;
    int word; /* 0 iflag, 1 lflag, 2 oflag, 3 cflag */
    tcflag_t bit;
} flag_map;

static const struct {
    uint8_t op;
    int idx;
} cc_map[] = {
    {WHELK_TTY_VINTR, VINTR},       {WHELK_TTY_VQUIT, VQUIT},
    {WHELK_TTY_VERASE, VERASE},     {WHELK_TTY_VKILL, VKILL},
    {WHELK_TTY_VEOF, VEOF},         {WHELK_TTY_VEOL, VEOL},
    {WHELK_TTY_VEOL2, VEOL2},       {WHELK_TTY_VSTART, VSTART},
    {WHELK_TTY_VSTOP, VSTOP},       {WHELK_TTY_VSUSP, VSUSP},
    {WHELK_TTY_VREPRINT, VREPRINT}, {WHELK_TTY_VWERASE, VWERASE},
    {WHELK_TTY_VLNEXT, VLNEXT},     {WHELK_TTY_VDISCARD, VDISCARD},
};

static const flag_map flags[] = {
    {WHELK_TTY_IGNPAR, 0, IGNPAR}, {WHELK_TTY_PARMRK, 0, PARMRK},
    {WHELK_TTY_INPCK, 0, INPCK},   {WHELK_TTY_ISTRIP, 0, ISTRIP},
    {WHELK_TTY_INLCR, 0, INLCR},   {WHELK_TTY_IGNCR, 0, IGNCR},
    {WHELK_TTY_ICRNL, 0, ICRNL},   {WHELK_TTY_IUCLC, 0, IUCLC},
    {WHELK_TTY_IXON, 0, IXON},     {WHELK_TTY_IXANY, 0, IXANY},
    {WHELK_TTY_IXOFF, 0, IXOFF},   {WHELK_TTY_IMAXBEL, 0, IMAXBEL},
    {WHELK_TTY_IUTF8, 0, IUTF8},   {WHELK_TTY_ISIG, 1, ISIG},
    {WHELK_TTY_ICANON, 1, ICANON}, {WHELK_TTY_XCASE, 1, XCASE},
    {WHELK_TTY_ECHO, 1, ECHO},     {WHELK_TTY_ECHOE, 1, ECHOE},
    {WHELK_TTY_ECHOK, 1, ECHOK},   {WHELK_TTY_ECHONL, 1, ECHONL},
    {WHELK_TTY_NOFLSH, 1, NOFLSH}, {WHELK_TTY_TOSTOP, 1, TOSTOP},
    {WHELK_TTY_IEXTEN, 1, IEXTEN}, {WHELK_TTY_ECHOCTL, 1, ECHOCTL},
    {WHELK_TTY_ECHOKE, 1, ECHOKE}, {WHELK_TTY_PENDIN, 1, PENDIN},
    {WHELK_TTY_OPOST, 2, OPOST},   {WHELK_TTY_OLCUC, 2, OLCUC},
    {WHELK_TTY_ONLCR, 2, ONLCR},   {WHELK_TTY_OCRNL, 2, OCRNL},
    {WHELK_TTY_ONOCR, 2, ONOCR},   {WHELK_TTY_ONLRET, 2, ONLRET},
    {WHELK_TTY_CS7, 3, CS7},       {WHELK_TTY_CS8, 3, CS8},
    {WHELK_TTY_PARENB, 3, PARENB}, {WHELK_TTY_PARODD, 3, PARODD},
};

static speed_t speed_of(uint32_t baud)
{
    static const struct {
        uint32_t baud;
        speed_t s;
    } table[] = {{0, B0},         {50, B50},         {75, B75},
                 {110, B110},     {134, B134},       {150, B150},
                 {200, B200},     {300, B300},       {600, B600},
                 {1200, B1200},   {1800, B1800},     {2400, B2400},
                 {4800, B4800},   {9600, B9600},     {19200, B19200},
                 {38400, B38400}, {57600, B57600},   {115200, B115200},
                 {230400, B230400}};
    speed_t best = B9600;
    for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
        if (table[i].baud <= baud) best = table[i].s;
    return best;
}

void wd_tty_from_request(wd_tty *t, const whelk_pty *pty)
{
    snprintf(t->term, sizeof(t->term), "%s", whelk_pty_term(pty));
    whelk_pty_size(pty, &t->cols, &t->rows, &t->width_px, &t->height_px);
    t->n_modes = 0;
    unsigned n = whelk_pty_mode_count(pty);
    for (unsigned i = 0; i < n && t->n_modes < WHELK_MAX_TTY_MODES; i++)
        if (whelk_pty_mode(pty, i, &t->modes[t->n_modes].op,
                           &t->modes[t->n_modes].value) == 0)
            t->n_modes++;
}

void wd_apply_tty_modes(const wd_tty *tty, struct termios *t)
{
    for (unsigned m = 0; m < tty->n_modes; m++) {
        uint8_t op = tty->modes[m].op;
        uint32_t v = tty->modes[m].value;
        if (op == WHELK_TTY_OP_ISPEED) {
            cfsetispeed(t, speed_of(v));
            continue;
        }
        if (op == WHELK_TTY_OP_OSPEED) {
            cfsetospeed(t, speed_of(v));
            continue;
        }
        for (size_t i = 0; i < sizeof(cc_map) / sizeof(*cc_map); i++)
            if (cc_map[i].op == op)
                /* 255 means "disabled" in SSH, _POSIX_VDISABLE here. */
                t->c_cc[cc_map[i].idx] =
                    v == 255 ? _POSIX_VDISABLE : (cc_t)v;
        for (size_t i = 0; i < sizeof(flags) / sizeof(*flags); i++) {
            if (flags[i].op != op) continue;
            tcflag_t *w = flags[i].word == 0   ? &t->c_iflag
                          : flags[i].word == 1 ? &t->c_lflag
                          : flags[i].word == 2 ? &t->c_oflag
                                               : &t->c_cflag;
            if (flags[i].word == 3 && (op == WHELK_TTY_CS7 ||
                                       op == WHELK_TTY_CS8)) {
                if (v) *w = (*w & ~(tcflag_t)CSIZE) | flags[i].bit;
            } else if (v) {
                *w |= flags[i].bit;
            } else {
                *w &= ~flags[i].bit;
            }
        }
    }
}
