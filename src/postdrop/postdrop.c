/* SPDX-License-Identifier: MIT */
/*
 * ostia-postdrop - the set-group-ID helper of the sendmail command.
 *
 *   ostia-postdrop MAILDROP_DIR NAME        (standard input: the message
 *                                            as a queue file)
 *
 * Installed set-group-ID MAILDROP_GROUP ("ostia-postdrop"), mode 2755,
 * so that a user who is neither root nor mail_owner can put a file into
 * $queue_directory/maildrop (mail_owner:ostia-postdrop, mode 1730), and
 * nothing more: it writes one new file, MAILDROP_DIR/NAME, as the
 * invoking user, starting with a maildrop header that names the real
 * uid and its login (maildrop.h), then standard input unchanged.  pickup
 * in the queue process checks everything else.
 *
 * What it trusts: nothing the caller says beyond the two words.  The
 * directory must be a maildrop directory of its own group (mode 1730),
 * NAME a queue ID; no configuration is read (a user could name any),
 * no environment variable is used, and the identity comes from getuid()
 * and the password database.  Linked with src/common/maildrop.c and
 * libc only.
 *
 * Exit status: sysexits(3), as maildrop_drop() says; 0 when the file is
 * complete and synced.  Messages go to standard error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildrop.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POSTDROP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(POSTDROP_ASAN)
/* Sanitizer builds (tests): LeakSanitizer cannot inspect a
 * set-group-ID process, which the kernel makes undumpable. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int
main(int argc, char **argv)
{
	char err[512], login[MAILDROP_LOGIN_MAX_BYTES + 1];
	const char *why = NULL;
	struct passwd *pw;
	uid_t uid = getuid();
	int dirfd, r;

	/* Descriptors 0-2 open, so that neither the new file nor the
	 * directory can become "standard error" and receive messages. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return MAILDROP_EX_OSERR;
	/* The kernel keeps a set-group-ID process from being traced or
	 * dumped; a closed pipe is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (argc != 3 || argv[1][0] != '/') {
		fprintf(stderr, "ostia-postdrop: usage: ostia-postdrop "
		    "/QUEUE_DIRECTORY/maildrop NAME < message (run by the "
		    "sendmail command, not by people)\n");
		return MAILDROP_EX_USAGE;
	}
	if (!maildrop_name_valid(argv[2])) {
		fprintf(stderr, "ostia-postdrop: not a maildrop file name: "
		    "%.40s\n", argv[2]);
		return MAILDROP_EX_USAGE;
	}
	errno = 0;
	pw = getpwuid(uid);
	if (pw == NULL) {
		fprintf(stderr, "ostia-postdrop: no login name for uid %lu: "
		    "%s\n", (unsigned long)uid, errno ? strerror(errno) :
		    "no such user");
		return MAILDROP_EX_NOUSER;
	}
	if (strlen(pw->pw_name) >= sizeof(login) ||
	    !maildrop_login_valid(pw->pw_name)) {
		fprintf(stderr, "ostia-postdrop: the login name \"%.64s\" "
		    "cannot be a sender address\n", pw->pw_name);
		return MAILDROP_EX_NOUSER;
	}
	memcpy(login, pw->pw_name, strlen(pw->pw_name) + 1);
	endpwent();
	dirfd = open(argv[1], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		int e = errno;

		fprintf(stderr, "ostia-postdrop: %s: %s\n", argv[1],
		    strerror(e));
		return e == ENOENT ? MAILDROP_EX_TEMPFAIL :
		    MAILDROP_EX_CANTCREAT;
	}
	/* Only a maildrop directory: mode 1730, our set-group-ID group. */
	if (maildrop_dir_check(dirfd, getegid(), &why) < 0) {
		fprintf(stderr, "ostia-postdrop: %s: %s\n", argv[1], why);
		close(dirfd);
		return MAILDROP_EX_CANTCREAT;
	}
	r = maildrop_drop(dirfd, argv[2], uid, login, 0, 0, err,
	    sizeof(err));
	close(dirfd);
	if (r != MAILDROP_EX_OK)
		fprintf(stderr, "ostia-postdrop: %s\n", err);
	return r;
}
