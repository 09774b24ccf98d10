/* SPDX-License-Identifier: MIT */
/*
 * privs - mail_owner, directories and dropping root; see privs.h.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"
#include "xalloc.h"

/*
 * run_tool - run /usr/sbin/TOOL (or /sbin/TOOL) with args (args[0] is
 * the tool's name, NULL-terminated), without a shell and with a fixed
 * environment; what names the account for the messages.  0 when it
 * exits 0, else -1 with *error_r.
 */
static int
run_tool(const char *tool, char *const *args, const char *what,
    char **error_r)
{
	char *paths[2];
	const char *path = NULL;
	int status;
	pid_t pid;

	paths[0] = xasprintf("/usr/sbin/%s", tool);
	paths[1] = xasprintf("/sbin/%s", tool);
	for (size_t i = N_ELEMENTS(paths); i-- > 0;)
		if (access(paths[i], X_OK) == 0)
			path = paths[i];
	if (path == NULL) {
		*error_r = xasprintf("%s does not exist and %s was not found "
		    "to create it; create it by hand", what, tool);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		*error_r = xasprintf("fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		char *const envp[] = { UNCONST("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
			NULL };

		execve(path, args, envp);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			*error_r = xasprintf("waitpid: %s", strerror(errno));
			goto fail;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*error_r = xasprintf("%s could not create %s (exit status %d)",
		    path, what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto fail;
	}
	free(paths[0]);
	free(paths[1]);
	return 0;
fail:
	free(paths[0]);
	free(paths[1]);
	return -1;
}

/* run_useradd - create a system account; no shell between us and it. */
static int
run_useradd(const char *name, char **error_r)
{
	char *const argv[] = {
		UNCONST("useradd"), UNCONST("--system"),
		UNCONST("--user-group"), UNCONST("--no-create-home"),
		UNCONST("--home-dir"), UNCONST("/nonexistent"),
		UNCONST("--shell"), UNCONST("/usr/sbin/nologin"),
		UNCONST("--comment"), UNCONST("Ostia mail system"),
		UNCONST(name), NULL,
	};
	char *what = xasprintf("user %s", name);
	int r = run_tool("useradd", argv, what, error_r);

	free(what);
	if (r == 0)
		log_info("created system user %s for mail_owner (no shell, no "
		    "home)", name);
	return r;
}

/* name_creatable - a plain account name that may reach useradd's or
 * groupadd's argv. */
static bool
name_creatable(const char *name)
{
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
	    strlen(name) && name[0] != '-' && name[0] != '\0' &&
	    strlen(name) <= 32;
}

int
privs_group_resolve(const char *name, bool create, gid_t *gid_r,
    char **error_r)
{
	struct group *gr;

	errno = 0;
	gr = getgrnam(name);
	if (gr == NULL && errno != 0 && errno != ENOENT && errno != ESRCH) {
		*error_r = xasprintf("group %s: cannot look it up: %s", name,
		    strerror(errno));
		return -1;
	}
	if (gr == NULL && create && geteuid() == 0) {
		char *const argv[] = {
			UNCONST("groupadd"), UNCONST("--system"),
			UNCONST(name), NULL,
		};
		char *what = xasprintf("group %s", name);
		int r;

		if (!name_creatable(name)) {
			*error_r = xasprintf("group \"%s\" does not exist and "
			    "is not a name Ostia will create", name);
			free(what);
			return -1;
		}
		r = run_tool("groupadd", argv, what, error_r);
		free(what);
		if (r < 0)
			return -1;
		log_info("created system group %s", name);
		gr = getgrnam(name);
	}
	if (gr == NULL) {
		*error_r = xasprintf("group %s does not exist%s", name,
		    geteuid() == 0 ? "" : " (only root can create it)");
		return -1;
	}
	if (gr->gr_gid == 0) {
		*error_r = xasprintf("group %s has gid 0; it must not be the "
		    "root group", name);
		return -1;
	}
	*gid_r = gr->gr_gid;
	return 0;
}

int
privs_user_resolve(const char *name, bool create, struct privs_user *u,
    char **error_r)
{
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	if (name[0] == '\0') {
		*error_r = xstrdup("mail_owner is empty; set it to an "
		    "unprivileged account such as ostia");
		return -1;
	}
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL && errno != 0 && errno != ENOENT && errno != ESRCH) {
		*error_r = xasprintf("mail_owner %s: cannot look up the "
		    "account: %s", name, strerror(errno));
		return -1;
	}
	if (pw == NULL && create && geteuid() == 0) {
		/* Only a plain account name reaches useradd's argv. */
		if (!name_creatable(name)) {
			*error_r = xasprintf("mail_owner \"%s\" does not exist "
			    "and is not a name Ostia will create (use "
			    "lower-case letters, digits, '_' and '-', not "
			    "starting with '-'); create the account by hand",
			    name);
			return -1;
		}
		if (run_useradd(name, error_r) < 0)
			return -1;
		pw = getpwnam(name);
	}
	if (pw == NULL) {
		*error_r = xasprintf("mail_owner %s: no such user%s", name,
		    geteuid() == 0 ? "" : " (only root can create it)");
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		*error_r = xasprintf("mail_owner %s has uid %u and gid %u; it "
		    "must be an unprivileged account, never root or the root "
		    "group", name, (unsigned)pw->pw_uid,
		    (unsigned)pw->pw_gid);
		return -1;
	}
	u->name = xstrdup(pw->pw_name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

void
privs_user_deinit(struct privs_user *u)
{
	free(u->name);
	u->name = NULL;
}

int
privs_ensure_dir(const char *path, uid_t uid, gid_t gid, mode_t mode,
    char **error_r)
{
	struct stat st;
	bool root = geteuid() == 0;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			return -1;
		}
		if (mkdir(path, mode) < 0 && errno != EEXIST) {
			*error_r = xasprintf("cannot create directory %s: %s",
			    path, strerror(errno));
			return -1;
		}
		if (lstat(path, &st) < 0) {
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s exists but is not a directory%s", path,
		    S_ISLNK(st.st_mode) ? " (a symbolic link is not trusted "
		    "here)" : "");
		return -1;
	}
	if (root) {
		uid_t want_uid = uid == (uid_t)-1 ? st.st_uid : uid;
		gid_t want_gid = gid == (gid_t)-1 ? st.st_gid : gid;

		if ((st.st_uid != want_uid || st.st_gid != want_gid) &&
		    chown(path, want_uid, want_gid) < 0) {
			*error_r = xasprintf("cannot chown %s: %s", path,
			    strerror(errno));
			return -1;
		}
		if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0) {
			*error_r = xasprintf("cannot chmod %s: %s", path,
			    strerror(errno));
			return -1;
		}
	} else {
		if (st.st_uid != geteuid()) {
			*error_r = xasprintf("%s is owned by uid %u, not by "
			    "the user running Ostia (uid %u)", path,
			    (unsigned)st.st_uid, (unsigned)geteuid());
			return -1;
		}
		if ((st.st_mode & 022) != 0 && chmod(path, mode) < 0) {
			*error_r = xasprintf("%s is writable by others and "
			    "cannot be fixed: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void
privs_drop(const struct privs_user *u, const char *chroot_dir)
{
	if (geteuid() != 0) {
		log_debug(1, "running as uid %u: not switching user",
		    (unsigned)geteuid());
		return;
	}
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0)
			log_fatal("chroot %s: %s", chroot_dir, strerror(errno));
		if (chdir("/") < 0)
			log_fatal("chdir / in chroot %s: %s", chroot_dir,
			    strerror(errno));
	}
	if (setgroups(1, &u->gid) < 0)
		log_fatal("setgroups %u: %s", (unsigned)u->gid,
		    strerror(errno));
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		log_fatal("setresgid %u: %s", (unsigned)u->gid,
		    strerror(errno));
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		log_fatal("setresuid %u: %s", (unsigned)u->uid,
		    strerror(errno));
	/* Paranoia: root must be gone for good. */
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
		log_fatal("still able to become root after dropping "
		    "privileges to %s; refusing to run", u->name);
	log_debug(1, "running as %s (uid %u)%s%s", u->name, (unsigned)u->uid,
	    chroot_dir != NULL ? " chrooted to " : "",
	    chroot_dir != NULL ? chroot_dir : "");
}
