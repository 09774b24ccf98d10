/* SPDX-License-Identifier: MIT */
/*
 * spawn - Postfix's spawn(8): run a command for each connection to a
 * master.cf service, the connection as the command's standard input,
 * output and error.  It starts the policy servers that setups run this
 * way (policyd-spf, postgrey in some distributions):
 *
 *   policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf
 *
 * with `check_policy_service unix:private/policyd-spf` in the
 * restrictions.  Arguments: user=NAME[:GROUP] (required; never root,
 * never gid 0) and argv=/absolute/path [args...] (last; the words are
 * passed as they are: no macros, no shell).
 *
 * One process serves the service (unix or inet): it becomes user= at
 * start and forks a command per connection, at most maxproc at once
 * ("-" or 0: default_process_limit); more connections wait in the
 * listen backlog.  Each command runs with an empty signal mask and
 * default signal actions, in its own session, with PATH and the TZ
 * and LANG the process has (export_environment is not read), and is
 * killed (its whole process group) after NAME_time_limit (default
 * command_time_limit).  A command that exits with a status other than 0
 * or is killed is logged with the reason.  Bad arguments are logged at
 * start and every connection is then closed at once with a log line
 * (the policy client sees the service fail: a temporary failure).
 */
#ifndef OSTIA_SPAWN_H
#define OSTIA_SPAWN_H

#include "child.h"

extern const struct child_program spawn_program;

#endif
