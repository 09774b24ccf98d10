/* SPDX-License-Identifier: MIT */
/*
 * master_pid - the master's pid file and lock.
 *
 * $queue_directory/pid/master.pid holds the master's pid and carries an
 * fcntl write lock for the master's whole life, so that a second master
 * on the same queue directory is refused, and so that `ostia status`,
 * `stop` and `reload` find the running master from the lock holder
 * (never from a stale pid in the file).  The lock descriptor is
 * close-on-exec and fcntl locks are not inherited by fork, so children
 * never hold it.
 */
#ifndef OSTIA_MASTER_PID_H
#define OSTIA_MASTER_PID_H

#include <sys/types.h>

/* "<queue_directory>/pid/master.pid"; caller frees. */
char *master_pid_path(const char *queue_directory);

/*
 * Take the lock and write our pid.  Returns the open descriptor (keep
 * it open), or -1 with *error_r (new string): when another master holds
 * the lock the text names its pid.
 */
int master_pid_lock(const char *path, char **error_r);

/*
 * The pid of the master holding the lock on path: >0 running, 0 not
 * running (no file, or nobody holds the lock), -1 error with *error_r.
 */
pid_t master_pid_query(const char *path, char **error_r);

#endif
