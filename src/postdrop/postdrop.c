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
 *   ostia-postdrop -s QUEUE_DIRECTORY list|flush [ID | -d DOMAIN]
 *
 * The second form asks the queue process's public service
 * (showq_proto.h: mailq and sendmail -q for users who are neither root
 * nor mail_owner): it connects to QUEUE_DIRECTORY/public/showq, which
 * only its group can reach (public/ must be mode 0710 of that group),
 * sends the request with its real uid and login, and copies the answer
 * to standard output unchanged, for the sendmail command to read.  The
 * queue process checks the uid against the connection's credentials and
 * decides by its own lists.  Whatever the path names, the group grants
 * nothing but the maildrop and public/.
 *
 * Exit status: sysexits(3), as maildrop_drop() says; 0 when the file is
 * complete and synced (-s: 0 when the answer was copied whole).
 * Messages go to standard error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "maildrop.h"
#include "showq_proto.h"

/* How long the queue process may take to answer, in all. */
#define SHOWQ_ANSWER_SECONDS 120

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

/*
 * showq - the -s form: request words (argv[3...]) to QDIR/public/showq,
 * the answer to standard output.
 */
static int
showq(int argc, char **argv, uid_t uid, const char *login)
{
	char req[SHOWQ_REQUEST_MAX_BYTES + 1], buf[8192];
	const char *why = NULL;
	struct sockaddr_un sun;
	struct stat st;
	size_t off, n;
	int fd;

	if (showq_request_format(req, sizeof(req), (unsigned long)uid, login,
	    argc - 3, argv + 3, &why) < 0) {
		fprintf(stderr, "ostia-postdrop: %s\n", why);
		return MAILDROP_EX_USAGE;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = (size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    argv[2], SHOWQ_DIR);
	if (n >= sizeof(sun.sun_path) - sizeof("/showq")) {
		fprintf(stderr, "ostia-postdrop: the queue directory name is "
		    "too long\n");
		return MAILDROP_EX_USAGE;
	}
	if (stat(sun.sun_path, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_mode & 07777) != SHOWQ_DIR_MODE ||
	    st.st_gid != getegid()) {
		fprintf(stderr, "ostia-postdrop: %s is not the queue's public "
		    "directory (mode 0710, group " MAILDROP_GROUP ")\n",
		    sun.sun_path);
		return MAILDROP_EX_CANTCREAT;
	}
	memcpy(sun.sun_path + n, "/showq", sizeof("/showq"));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "ostia-postdrop: cannot reach the queue "
		    "process at %s: %s (is Ostia running?)\n", sun.sun_path,
		    strerror(errno));
		return MAILDROP_EX_TEMPFAIL;
	}
	for (off = 0, n = strlen(req); off < n;) {
		ssize_t w = write(fd, req + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "ostia-postdrop: %s: %s\n",
			    sun.sun_path, strerror(errno));
			close(fd);
			return MAILDROP_EX_IOERR;
		}
		off += (size_t)w;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr = poll(&p, 1, SHOWQ_ANSWER_SECONDS * 1000);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			fprintf(stderr, "ostia-postdrop: the queue process did "
			    "not answer in %d s\n", SHOWQ_ANSWER_SECONDS);
			close(fd);
			return MAILDROP_EX_TEMPFAIL;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (off = 0; off < (size_t)r;) {
			ssize_t w = write(1, buf + off, (size_t)r - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				close(fd);
				return MAILDROP_EX_IOERR;
			}
			off += (size_t)w;
		}
	}
	close(fd);
	return MAILDROP_EX_OK;
}

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
	if ((argc != 3 && !(argc >= 4 && strcmp(argv[1], "-s") == 0)) ||
	    argv[argc >= 4 ? 2 : 1][0] != '/') {
		fprintf(stderr, "ostia-postdrop: usage: ostia-postdrop "
		    "/QUEUE_DIRECTORY/maildrop NAME < message, or "
		    "ostia-postdrop -s /QUEUE_DIRECTORY REQUEST... (run by the "
		    "sendmail command, not by people)\n");
		return MAILDROP_EX_USAGE;
	}
	if (argc == 3 && !maildrop_name_valid(argv[2])) {
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
	if (argc >= 4)
		return showq(argc, argv, uid, login);
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
