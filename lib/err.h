/*
 * err: the library's internal error codes, which never leave it.
 *
 * They live in ranges whelk.h leaves free: -50..-99 for conditions that
 * are not failures (more input needed), -200..-299 for fatal ones. Each
 * public entry point that can meet one turns it into a public code
 * (wk_err_public) before returning.
 */
#ifndef WHELK_ERR_H
#define WHELK_ERR_H

#include "whelk/whelk.h"

#define WK_ERRNO_MAP(X)                                                       \
    X(AGAIN, -50, "more input needed")                                        \
    X(TRUNCATED, -200, "message truncated")

enum wk_err {
#define WK_ERR_ENUM_(name, value, text) WK_ERR_##name = value,
    WK_ERRNO_MAP(WK_ERR_ENUM_)
#undef WK_ERR_ENUM_
};

/* |err| as a public code: a truncated message is a protocol error. */
static inline int wk_err_public(int err)
{
    if (err == WK_ERR_TRUNCATED) return WHELK_ERR_PROTO;
    if (err == WK_ERR_AGAIN) return 0;
    return err;
}

#endif
