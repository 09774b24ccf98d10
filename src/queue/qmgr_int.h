/* SPDX-License-Identifier: MIT */
/*
 * qmgr_int - what the queue manager's modules share (qmgr.c keeps the
 * state; qmgr_ctl.c carries out `ostia queue` requests).  Not for use
 * outside src/queue/.
 */
#ifndef OSTIA_QMGR_INT_H
#define OSTIA_QMGR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmgr_status.h"

struct qmsg;

/* True once the queue manager was started (qmgr_init). */
bool qmgr_running(void);
/* Largest queue file read. */
uint64_t qmgr_max_file_bytes(void);
/* The message being worked on, or NULL. */
struct qmsg *qmgr_find(const char *id);
/* Hold (or no longer hold) / delete m when its current attempt ends. */
void qmgr_msg_want_hold(struct qmsg *m, bool hold);
void qmgr_msg_want_delete(struct qmsg *m);
/* Start working on dir/id (no-op when already active or gone). */
void qmgr_load(const char *dir, const char *id);
/* rename dir/id to to_dir/id (failures logged). */
void qmgr_move(const char *from_dir, const char *id, const char *to_dir);
/* Append entries to status/id (fdatasync'ed; failures logged). */
void qmgr_log_status(const char *id, const struct qstatus_entry *e,
    size_t n);
/* "dir/id", a new string. */
char *qmgr_path(const char *dir, const char *id);
/* Valid queue IDs in dir, sorted; free with qmgr_free_names. */
char **qmgr_list_dir(const char *dir, size_t *n_r);
void qmgr_free_names(char **names, size_t n);

#endif
