/*
 * err: the error tables of whelk.h and err.h turned into strings, and the
 * version of the running library.
 */
#include "err.h"

const char *whelk_strerror(int err)
{
    switch (err) {
#define WK_ERR_TEXT_(name, value, text)                                       \
    case value:                                                               \
        return text;
        WHELK_ERRNO_MAP(WK_ERR_TEXT_)
        WK_ERRNO_MAP(WK_ERR_TEXT_)
#undef WK_ERR_TEXT_
    }
    return "unknown error";
}

const char *whelk_err_name(int err)
{
    switch (err) {
#define WK_ERR_NAME_(name, value, text)                                       \
    case value:                                                               \
        return "WHELK_ERR_" #name;
        WHELK_ERRNO_MAP(WK_ERR_NAME_)
#undef WK_ERR_NAME_
    }
    return "WHELK_ERR_UNKNOWN";
}

int whelk_err_is_fatal(int err)
{
    return err <= WHELK_ERR_FATAL;
}

unsigned int whelk_version(void)
{
    return WHELK_VERSION_NUM;
}

const char *whelk_version_string(void)
{
    return WHELK_VERSION;
}
