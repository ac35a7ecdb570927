/*
 * kbdint: keyboard-interactive prompts and answers (RFC 4256), the
 * values the two roles exchange through the application: the server's
 * application fills prompts and reads answers, the client's reads prompts
 * and fills answers. Every string is a bounded copy; answers are wiped.
 */
#include "callbacks.h"

#include <stdlib.h>
#include <string.h>

static int set_text(char **slot, const char *text)
{
    char *copy = NULL;
    if (text) {
        if (strlen(text) > WK_KBDINT_MAX_TEXT) return WHELK_ERR_TOOBIG;
        if (!(copy = strdup(text))) return WHELK_ERR_NOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

int whelk_kbdint_prompts_set_name(whelk_kbdint_prompts *p, const char *name)
{
    return set_text(&p->name, name);
}

int whelk_kbdint_prompts_set_instruction(whelk_kbdint_prompts *p,
                                         const char *text)
{
    return set_text(&p->instruction, text);
}

int whelk_kbdint_prompts_add(whelk_kbdint_prompts *p, const char *prompt,
                             int echo)
{
    if (!prompt) return WHELK_ERR_INVAL;
    if (p->count >= WK_KBDINT_MAX) return WHELK_ERR_LIMIT;
    int rc = set_text(&p->prompt[p->count], prompt);
    if (rc) return rc;
    p->echo[p->count++] = !!echo;
    return 0;
}

const char *whelk_kbdint_prompts_name(const whelk_kbdint_prompts *p)
{
    return p->name ? p->name : "";
}

const char *whelk_kbdint_prompts_instruction(const whelk_kbdint_prompts *p)
{
    return p->instruction ? p->instruction : "";
}

unsigned whelk_kbdint_prompts_count(const whelk_kbdint_prompts *p)
{
    return p->count;
}

const char *whelk_kbdint_prompts_prompt(const whelk_kbdint_prompts *p,
                                        unsigned i)
{
    return i < p->count ? p->prompt[i] : NULL;
}

int whelk_kbdint_prompts_echo(const whelk_kbdint_prompts *p, unsigned i)
{
    return i < p->count ? p->echo[i] : 0;
}

void wk_kbdint_prompts_clear(whelk_kbdint_prompts *p)
{
    free(p->name);
    free(p->instruction);
    for (unsigned i = 0; i < p->count; i++) free(p->prompt[i]);
    memset(p, 0, sizeof(*p));
}

unsigned whelk_kbdint_answers_count(const whelk_kbdint_answers *a)
{
    return a->count;
}

const char *whelk_kbdint_answers_get(const whelk_kbdint_answers *a,
                                     unsigned i)
{
    if (i >= a->count) return NULL;
    return a->answer[i] ? a->answer[i] : "";
}

int wk_kbdint_answers_put(whelk_kbdint_answers *a, unsigned i,
                          const char *text, size_t len)
{
    if (i >= WK_KBDINT_MAX) return WHELK_ERR_INVAL;
    if (len > WK_KBDINT_MAX_TEXT) return WHELK_ERR_TOOBIG;
    char *copy = malloc(len + 1);
    if (!copy) return WHELK_ERR_NOMEM;
    memcpy(copy, text, len);
    copy[len] = 0;
    if (a->answer[i]) whelk_free_secret(a->answer[i], a->len[i] + 1);
    a->answer[i] = copy;
    a->len[i] = len;
    if (a->count <= i) a->count = i + 1;
    return 0;
}

int whelk_kbdint_answers_set(whelk_kbdint_answers *a, unsigned i,
                             const char *answer)
{
    /* The client's answers object is sized to the prompts before the
     * callback runs; an index past them is the application's mistake. */
    if (!answer || i >= a->count) return WHELK_ERR_INVAL;
    return wk_kbdint_answers_put(a, i, answer, strlen(answer));
}

void wk_kbdint_answers_clear(whelk_kbdint_answers *a)
{
    for (unsigned i = 0; i < WK_KBDINT_MAX; i++)
        if (a->answer[i]) whelk_free_secret(a->answer[i], a->len[i] + 1);
    memset(a, 0, sizeof(*a));
}
