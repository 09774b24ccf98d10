/* SPDX-License-Identifier: MIT */
/*
 * proc_reset - for a forked process about to run a command: every
 * signal back to its default action and an empty signal mask.  An
 * ignored signal and the mask survive execve(), so a command run from
 * a daemon that ignores SIGPIPE or blocks signals would inherit that.
 */
#ifndef OSTIA_PROC_RESET_H
#define OSTIA_PROC_RESET_H

void proc_reset_signals(void);

#endif
