/*
 * pam: authentication and account transactions of the "whelkd" PAM
 * service (UsePAM yes), each on a thread of its own, with the PAM
 * conversation bridged to the event loop.
 *
 * PAM calls block (a module may sleep, ask LDAP, fork a helper), so none
 * runs on the loop: wd_pam_start makes a thread that runs pam_start,
 * pam_authenticate and pam_acct_mgmt (or pam_acct_mgmt alone) and
 * pam_end. What the thread needs from the client (a keyboard-interactive
 * round) and its end reach the loop through a uv_async_t; the loop's
 * answers go back under the transaction's mutex. Session calls
 * (pam_open_session, pam_setcred) are not here: they run in the session's
 * own process (pamsess.h).
 *
 * All functions are for the loop's thread.
 */
#ifndef WHELKD_PAM_H
#define WHELKD_PAM_H

#include <stddef.h>

#include <uv.h>

#define WD_PAM_SERVICE "whelkd"
/* Transactions in flight per worker at most (each a thread). */
#define WD_PAM_MAX_TXN 64
/* Prompts in one conversation call at most (PAM's own limit is 32). */
#define WD_PAM_MAX_PROMPTS 32

typedef enum wd_pam_kind {
    WD_PAM_PASSWORD, /* the "password" method: one echo-off answer */
    WD_PAM_KBDINT,   /* keyboard-interactive: the conversation asks */
    WD_PAM_ACCOUNT   /* pam_acct_mgmt only (publickey) */
} wd_pam_kind;

typedef enum wd_pam_outcome {
    WD_PAM_OK,
    WD_PAM_FAILED,        /* pam_authenticate said no */
    WD_PAM_ACCOUNT_DENIED, /* pam_acct_mgmt said no (expired, nologin) */
    WD_PAM_CHANGE_NEEDED  /* PAM_NEW_AUTHTOK_REQD, not changed here */
} wd_pam_outcome;

typedef struct wd_pam wd_pam;

typedef struct wd_pam_ops {
    /* keyboard-interactive: a conversation call waits for answers; read
     * it with wd_pam_prompt*, answer with wd_pam_answer. */
    void (*prompts)(wd_pam *t, void *arg);
    /* The transaction is over. |messages| holds what the modules said
     * (PAM_TEXT_INFO and PAM_ERROR_MSG lines, "\n"-ended, "" if none)
     * that no prompt carried. After this call |t| is gone for the
     * owner. */
    void (*done)(wd_pam *t, void *arg, wd_pam_outcome outcome,
                 const char *messages);
} wd_pam_ops;

typedef struct wd_pam_start_args {
    wd_pam_kind kind;
    const char *user;     /* the name PAM gets */
    const char *rhost;    /* PAM_RHOST: the client's address */
    const char *password; /* WD_PAM_PASSWORD: the one answer */
    size_t password_len;
    int disallow_null;    /* PermitEmptyPasswords no */
} wd_pam_start_args;

/* Starts a transaction; NULL when it cannot (too many in flight, no
 * thread, no memory; logged). |ops| and |arg| are called on |loop|. */
wd_pam *wd_pam_start(uv_loop_t *loop, const wd_pam_start_args *a,
                     const wd_pam_ops *ops, void *arg);

/* The round the thread waits on (between ops->prompts and the answer):
 * its instruction (the modules' text messages before the prompts), its
 * prompts and their echo flags. */
const char *wd_pam_instruction(const wd_pam *t);
unsigned wd_pam_prompt_count(const wd_pam *t);
const char *wd_pam_prompt(const wd_pam *t, unsigned i, int *echo);
/* 1 while a round waits for its answers. */
int wd_pam_waiting(const wd_pam *t);
/* Hands the |n| answers (copied, and wiped after use) to the thread.
 * 0, or -1 when no round waits or |n| is not its prompt count. */
int wd_pam_answer(wd_pam *t, unsigned n, const char *const *answers);

/* The owner is gone: no op is called again; a waiting conversation
 * fails, and the transaction frees itself once its thread has ended. */
void wd_pam_detach(wd_pam *t);

/* Transactions in flight (tests). */
unsigned wd_pam_in_flight(void);

#endif
