/*
 * pam: see pam.h. One detached thread per transaction, its signals
 * blocked (they are the loop's); the loop and the thread share the
 * struct under its mutex:
 *
 *   thread                         loop
 *   conversation with prompts  ->  ops->prompts (uv_async_t)
 *   waits on the condition     <-  wd_pam_answer / wd_pam_detach
 *   the end (outcome, text)    ->  ops->done, then the handle closes
 *                                  and the struct is freed
 *
 * The thread touches the async handle only with the mutex held, and its
 * last send happens with "finished" set under that same lock; the loop
 * closes the handle only after it has seen "finished", so no send comes
 * after the close.
 */
#include "pam.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "log.h"
#include "whelk/whelk.h"

#define TEXT_MAX 2048

struct wd_pam {
    uv_async_t async;
    const wd_pam_ops *ops; /* NULL once detached or done (loop side) */
    void *arg;
    wd_pam_kind kind;
    char user[256];
    char rhost[64];
    char *password;
    size_t password_len;
    int password_used;
    int disallow_null;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu. */
    int detached;
    int asking;       /* a round waits for its answers */
    int notified;     /* ops->prompts was called for it */
    int answered;
    unsigned n;
    char *prompt[WD_PAM_MAX_PROMPTS];
    int echo[WD_PAM_MAX_PROMPTS];
    char *answer[WD_PAM_MAX_PROMPTS];
    char instruction[TEXT_MAX];
    char text[TEXT_MAX];  /* messages not yet carried by a round */
    int finished;
    wd_pam_outcome outcome;
    int closing;          /* loop side */
};

static unsigned in_flight;

unsigned wd_pam_in_flight(void)
{
    return in_flight;
}

/* Appends one module message, as a line, to |t|'s text (truncated at
 * TEXT_MAX; the client sees it escaped by its own terminal rules). */
static void add_text(wd_pam *t, const char *msg)
{
    size_t used = strlen(t->text);
    const char *m = msg ? msg : "";
    int len = (int)strlen(m);
    while (len > 0 && m[len - 1] == '\n') len--; /* one line end */
    snprintf(t->text + used, sizeof(t->text) - used, "%.*s\n", len, m);
}

static void free_round(wd_pam *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        free(t->prompt[i]);
        t->prompt[i] = NULL;
        if (t->answer[i])
            whelk_free_secret(t->answer[i], strlen(t->answer[i]) + 1);
        t->answer[i] = NULL;
    }
    t->n = 0;
}

static void free_responses(struct pam_response *r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i].resp) whelk_free_secret(r[i].resp, strlen(r[i].resp) + 1);
    free(r);
}

/* keyboard-interactive: the prompts of one call become one round (its
 * instruction the text that came before them); a call of text alone is
 * kept for the next round or the end. Runs on the thread, mu held. */
static int ask_client(wd_pam *t, int n, const struct pam_message **msg,
                      struct pam_response *resp)
{
    unsigned k = 0;
    for (int i = 0; i < n; i++) {
        int style = msg[i]->msg_style;
        if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON)
            continue;
        if (k == WD_PAM_MAX_PROMPTS) return PAM_CONV_ERR;
        t->prompt[k] = strdup(msg[i]->msg ? msg[i]->msg : "");
        t->echo[k] = style == PAM_PROMPT_ECHO_ON;
        if (!t->prompt[k]) {
            t->n = k;
            free_round(t);
            return PAM_BUF_ERR;
        }
        k++;
    }
    t->n = k;
    snprintf(t->instruction, sizeof(t->instruction), "%s", t->text);
    t->text[0] = 0;
    t->asking = 1;
    t->notified = 0;
    t->answered = 0;
    uv_async_send(&t->async);
    while (!t->answered && !t->detached) pthread_cond_wait(&t->cv, &t->mu);
    t->asking = 0;
    if (!t->answered) {
        free_round(t);
        return PAM_CONV_ERR;
    }
    k = 0;
    for (int i = 0; i < n; i++) {
        int style = msg[i]->msg_style;
        if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON)
            continue;
        resp[i].resp = t->answer[k]; /* PAM frees (and we wiped ours) */
        t->answer[k++] = NULL;
    }
    free_round(t);
    return PAM_SUCCESS;
}

static int conversation(int n, const struct pam_message **msg,
                        struct pam_response **out, void *data)
{
    wd_pam *t = data;
    *out = NULL;
    if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
    struct pam_response *resp = calloc((size_t)n, sizeof(*resp));
    if (!resp) return PAM_BUF_ERR;
    pthread_mutex_lock(&t->mu);
    int rc = PAM_SUCCESS, prompts = 0;
    for (int i = 0; i < n && rc == PAM_SUCCESS; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            prompts++;
            /* sshd's sshpam_passwd_conv: the password answers one
             * echo-off prompt; anything else fails the method. */
            if (t->kind == WD_PAM_PASSWORD) {
                if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF ||
                    t->password_used || !t->password) {
                    rc = PAM_CONV_ERR;
                    break;
                }
                resp[i].resp = strdup(t->password);
                if (!resp[i].resp) rc = PAM_BUF_ERR;
                t->password_used = 1;
            } else if (t->kind == WD_PAM_ACCOUNT) {
                rc = PAM_CONV_ERR; /* nobody to ask */
            }
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            add_text(t, msg[i]->msg);
            break;
        default:
            rc = PAM_CONV_ERR;
        }
    }
    if (rc == PAM_SUCCESS && prompts && t->kind == WD_PAM_KBDINT)
        rc = ask_client(t, n, msg, resp);
    pthread_mutex_unlock(&t->mu);
    if (rc != PAM_SUCCESS) {
        free_responses(resp, n);
        return rc;
    }
    *out = resp;
    return PAM_SUCCESS;
}

static void *run(void *arg)
{
    wd_pam *t = arg;
    struct pam_conv conv = {conversation, t};
    pam_handle_t *h = NULL;
    wd_pam_outcome out = WD_PAM_FAILED;
    const char *what = NULL;
    int rc = pam_start(WD_PAM_SERVICE, t->user, &conv, &h);
    if (rc != PAM_SUCCESS) {
        wd_log(WHELK_LOG_ERROR, "PAM: initialisation failed: %s",
               pam_strerror(h, rc));
        h = NULL;
        goto end;
    }
    /* As sshd: the client's address, and "ssh" as the tty until a
     * session has a real one. */
    pam_set_item(h, PAM_RHOST, t->rhost);
    pam_set_item(h, PAM_TTY, "ssh");
    int flags = t->disallow_null ? PAM_DISALLOW_NULL_AUTHTOK : 0;
    if (t->kind != WD_PAM_ACCOUNT) {
        rc = pam_authenticate(h, flags);
        if (rc != PAM_SUCCESS) {
            what = "authenticate";
            goto end;
        }
    }
    rc = pam_acct_mgmt(h, flags);
    if (rc == PAM_NEW_AUTHTOK_REQD) {
        /* sshd: keyboard-interactive changes the password in the same
         * conversation; the other methods let the session do it. */
        if (t->kind == WD_PAM_KBDINT) {
            rc = pam_chauthtok(h, PAM_CHANGE_EXPIRED_AUTHTOK);
            if (rc == PAM_SUCCESS)
                out = WD_PAM_OK;
            else
                what = "chauthtok";
        } else {
            out = WD_PAM_CHANGE_NEEDED;
            rc = PAM_SUCCESS;
        }
    } else if (rc == PAM_SUCCESS) {
        out = WD_PAM_OK;
    } else {
        out = WD_PAM_ACCOUNT_DENIED;
        what = "account";
    }
end:
    /* sshd's words (fail2ban's sshd filter reads them). */
    if (what && out == WD_PAM_ACCOUNT_DENIED) {
        /* Not an authentication failure (fail2ban must not count it):
         * the caller logs sshd's "Access denied ..." line. */
        wd_log(WHELK_LOG_INFO, "PAM: pam_acct_mgmt for %.100s from %.100s: "
               "%s", t->user, t->rhost, pam_strerror(h, rc));
    } else if (what) {
        wd_log(WHELK_LOG_ERROR, "PAM: %s for %.100s from %.100s",
               pam_strerror(h, rc), t->user, t->rhost);
        wd_log(WHELK_LOG_DEBUG, "PAM: pam_%s failed", what);
    }
    if (h) pam_end(h, rc);
    pthread_mutex_lock(&t->mu);
    t->outcome = out;
    t->finished = 1;
    uv_async_send(&t->async);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void on_closed(uv_handle_t *h)
{
    wd_pam *t = h->data;
    free_round(t);
    if (t->password) whelk_free_secret(t->password, t->password_len + 1);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
    in_flight--;
}

static void on_async(uv_async_t *h)
{
    wd_pam *t = h->data;
    if (t->closing) return;
    pthread_mutex_lock(&t->mu);
    int finished = t->finished;
    int ask = t->asking && !t->notified && !finished;
    if (ask) t->notified = 1;
    wd_pam_outcome out = t->outcome;
    char text[TEXT_MAX];
    snprintf(text, sizeof(text), "%s", t->text);
    pthread_mutex_unlock(&t->mu);
    if (ask && t->ops) t->ops->prompts(t, t->arg);
    if (!finished) return;
    const wd_pam_ops *ops = t->ops;
    t->ops = NULL;
    if (ops) ops->done(t, t->arg, out, text);
    t->closing = 1;
    uv_close((uv_handle_t *)&t->async, on_closed);
}

wd_pam *wd_pam_start(uv_loop_t *loop, const wd_pam_start_args *a,
                     const wd_pam_ops *ops, void *arg)
{
    if (in_flight >= WD_PAM_MAX_TXN) {
        wd_log(WHELK_LOG_ERROR, "PAM: %u transactions in progress, refusing "
               "one for %.100s", in_flight, a->user);
        return NULL;
    }
    wd_pam *t = calloc(1, sizeof(*t));
    if (!t || strlen(a->user) >= sizeof(t->user)) goto fail_free;
    snprintf(t->user, sizeof(t->user), "%s", a->user);
    snprintf(t->rhost, sizeof(t->rhost), "%s", a->rhost);
    t->kind = a->kind;
    t->ops = ops;
    t->arg = arg;
    t->disallow_null = a->disallow_null;
    if (a->kind == WD_PAM_PASSWORD) {
        t->password = malloc(a->password_len + 1);
        if (!t->password) goto fail_free;
        memcpy(t->password, a->password, a->password_len);
        t->password[a->password_len] = 0;
        t->password_len = a->password_len;
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0) goto fail_free;
    if (pthread_cond_init(&t->cv, NULL) != 0) {
        pthread_mutex_destroy(&t->mu);
        goto fail_free;
    }
    if (uv_async_init(loop, &t->async, on_async) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        goto fail_free;
    }
    t->async.data = t;
    in_flight++;
    /* The thread starts with every signal blocked: they are the loop's
     * (libuv's handlers), and a module's sleep must not be cut short. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &attr, run, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        wd_log(WHELK_LOG_ERROR, "PAM: cannot start a thread: %s",
               strerror(rc));
        t->ops = NULL;
        t->closing = 1;
        uv_close((uv_handle_t *)&t->async, on_closed);
        return NULL;
    }
    return t;
fail_free:
    if (t && t->password) whelk_free_secret(t->password, a->password_len + 1);
    free(t);
    wd_log(WHELK_LOG_ERROR, "PAM: cannot start a transaction for %.100s",
           a->user);
    return NULL;
}

const char *wd_pam_instruction(const wd_pam *t)
{
    return t->instruction;
}

unsigned wd_pam_prompt_count(const wd_pam *t)
{
    return t->n;
}

const char *wd_pam_prompt(const wd_pam *t, unsigned i, int *echo)
{
    if (i >= t->n) return NULL;
    if (echo) *echo = t->echo[i];
    return t->prompt[i];
}

int wd_pam_waiting(const wd_pam *t)
{
    wd_pam *m = (wd_pam *)t;
    pthread_mutex_lock(&m->mu);
    int w = m->asking && !m->answered && !m->finished;
    pthread_mutex_unlock(&m->mu);
    return w;
}

int wd_pam_answer(wd_pam *t, unsigned n, const char *const *answers)
{
    pthread_mutex_lock(&t->mu);
    int rc = -1;
    if (t->asking && !t->answered && n == t->n) {
        rc = 0;
        for (unsigned i = 0; i < n && rc == 0; i++)
            if (!(t->answer[i] = strdup(answers[i]))) rc = -1;
        if (rc == 0) {
            t->answered = 1;
            pthread_cond_signal(&t->cv);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void wd_pam_detach(wd_pam *t)
{
    if (!t) return;
    t->ops = NULL;
    pthread_mutex_lock(&t->mu);
    t->detached = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}
