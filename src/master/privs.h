/* SPDX-License-Identifier: MIT */
/*
 * privs - the unprivileged mail_owner account, safe directories, and
 * dropping root.
 *
 * Runs in the master (as root, or as an ordinary user in development
 * and tests, where nothing is switched) and in each child right after it
 * is started (before it reads a byte from the network).
 */
#ifndef OSTIA_PRIVS_H
#define OSTIA_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct privs_user {
	char *name;
	uid_t uid;
	gid_t gid;
};

/*
 * Look up mail_owner.  When it does not exist and create is true and we
 * are root, create it as a system account with no shell and no home
 * (useradd, run without a shell).  Refuses uid 0 and gid 0.  0, or -1
 * with *error_r (new string, caller frees).
 */
int privs_user_resolve(const char *name, bool create, struct privs_user *u,
    char **error_r);
void privs_user_deinit(struct privs_user *u);

/*
 * Look up group name; when it does not exist and create is true and we
 * are root, create it as a system group (groupadd --system, run without
 * a shell).  Refuses gid 0.  0 with *gid_r, or -1 with *error_r (new
 * string, caller frees).
 */
int privs_group_resolve(const char *name, bool create, gid_t *gid_r,
    char **error_r);

/*
 * Make sure path is a directory with the given owner and mode, creating
 * it (and no parents) when missing.  Owner changes only when running as
 * root (uid/gid (uid_t)-1 mean "leave").  An existing directory with
 * another owner or mode is fixed when root; when not root, one owned by
 * someone else is an error and one writable by group or others is
 * chmod'ed to mode.  0, or -1 with *error_r.
 */
int privs_ensure_dir(const char *path, uid_t uid, gid_t gid, mode_t mode,
    char **error_r);

/*
 * In a child: optionally chroot to dir (NULL: no chroot), then switch
 * to the user for good (supplementary groups, gid, uid), and check that
 * root cannot be regained.  Does nothing but log when not running as
 * root.  Exits through log_fatal on failure: a child that cannot drop
 * privileges must not serve.
 */
void privs_drop(const struct privs_user *u, const char *chroot_dir);

#endif
