/* SPDX-License-Identifier: MIT */
/*
 * cmd_account - the commands of the embedded account database
 * (account_db.h, docs/accounts.md):
 *
 *   ostia domain add DOMAIN [--description TEXT] | del DOMAIN [--force]
 *                | list | enable DOMAIN | disable DOMAIN
 *   ostia user add ADDRESS [--name NAME] [--quota SIZE]
 *                [--scheme SHA512-CRYPT|ARGON2ID] [--password-stdin]
 *              | passwd ADDRESS [--scheme S] [--password-stdin]
 *              | del ADDRESS [--force] | list [DOMAIN]
 *              | enable ADDRESS | disable ADDRESS
 *   ostia alias add ADDRESS TARGET[,TARGET...] | del ADDRESS
 *               | list [DOMAIN] | enable ADDRESS | disable ADDRESS
 *   ostia account tables DIR [--force]
 *
 * The database is account_database (default
 * $data_directory/accounts.sqlite) of the configuration in -c DIR,
 * created on first use: mode 0640 and, when run as root, group
 * mail_owner's (the lookup process reads it as mail_owner); a missing
 * data_directory is created as the master would create it.
 *
 * Passwords never come from the command line (other users see it in
 * ps): they are asked twice on /dev/tty without echo, or with
 * --password-stdin read from the first line of standard input.  They
 * are hashed (passwd.h) before anything is written and wiped from
 * memory afterwards; they are never logged.
 *
 * `account tables DIR` writes the sqlite_table(5) .cf files of the
 * lookup parameters into DIR (existing ones are kept unless --force)
 * and prints the main.cf lines that use them.
 *
 * Exit status: 0 done; 1 bad input, refused (duplicate, unknown
 * domain, in use) or a configuration problem; 2 usage; 75 the database
 * is busy, read-only or failing (try again later).
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "account_db.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "passwd.h"
#include "privs.h"
#include "xalloc.h"

#define EXIT_BAD 1
#define EXIT_USAGE 2
#define EXIT_TEMPFAIL 75

/* Parameter naming the database, and its default. */
#define ACCOUNT_DB_PARAM "account_database"
#define ACCOUNT_DB_DEFAULT "$data_directory/accounts.sqlite"

struct acct_args {
	const char *cmd;		/* "domain", "user", "alias", "account" */
	const char *sub;		/* "add", "list", ... */
	const char *pos[3];		/* positional arguments after sub */
	int npos;
	bool force;
	bool password_stdin;
	const char *name;
	const char *description;
	const char *quota;
	const char *scheme;
};

static int
status_exit(enum account_status st)
{
	switch (st) {
	case ACCOUNT_OK:
		return 0;
	case ACCOUNT_DB_ERROR:
		return EXIT_TEMPFAIL;
	default:
		return EXIT_BAD;
	}
}

static void
usage_of(const char *cmd)
{
	if (strcmp(cmd, "domain") == 0)
		log_error("usage: ostia domain add DOMAIN [--description "
		    "TEXT] | del DOMAIN [--force] | list | enable DOMAIN | "
		    "disable DOMAIN");
	else if (strcmp(cmd, "user") == 0)
		log_error("usage: ostia user add ADDRESS [--name NAME] "
		    "[--quota SIZE] [--scheme SHA512-CRYPT|ARGON2ID] "
		    "[--password-stdin] | passwd ADDRESS [--scheme S] "
		    "[--password-stdin] | del ADDRESS [--force] | list "
		    "[DOMAIN] | enable ADDRESS | disable ADDRESS");
	else if (strcmp(cmd, "alias") == 0)
		log_error("usage: ostia alias add ADDRESS TARGET[,TARGET...] "
		    "| del ADDRESS | list [DOMAIN] | enable ADDRESS | disable "
		    "ADDRESS");
	else
		log_error("usage: ostia account tables DIR [--force]");
}

/*
 * parse_args - options anywhere after the command word.  Returns 0, or
 * EXIT_USAGE after saying why.
 */
static int
parse_args(struct cli *cli, int argc, char **argv, struct acct_args *a)
{
	memset(a, 0, sizeof(*a));
	a->cmd = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		bool more = i + 1 < argc;

		if (strcmp(s, "-c") == 0 && more) {
			cli->config_dir = argv[++i];
		} else if (strcmp(s, "-v") == 0) {
			cli->verbose++;
		} else if (strcmp(s, "--force") == 0 || strcmp(s, "-f") == 0) {
			a->force = true;
		} else if (strcmp(s, "--password-stdin") == 0) {
			a->password_stdin = true;
		} else if (strcmp(s, "--name") == 0 && more) {
			a->name = argv[++i];
		} else if (strcmp(s, "--description") == 0 && more) {
			a->description = argv[++i];
		} else if (strcmp(s, "--quota") == 0 && more) {
			a->quota = argv[++i];
		} else if (strcmp(s, "--scheme") == 0 && more) {
			a->scheme = argv[++i];
		} else if (strncmp(s, "--password", 10) == 0 ||
		    strcmp(s, "-p") == 0) {
			/* Do not echo the argument: it may be a password. */
			log_error("a password is never taken from the command "
			    "line (other users can read it in ps): leave it "
			    "out to be asked for it, or use --password-stdin");
			return EXIT_USAGE;
		} else if (s[0] == '-' && s[1] != '\0') {
			log_error("%s: unknown option \"%s\"", a->cmd, s);
			usage_of(a->cmd);
			return EXIT_USAGE;
		} else if (a->sub == NULL) {
			a->sub = s;
		} else if (a->npos < (int)N_ELEMENTS(a->pos)) {
			a->pos[a->npos++] = s;
		} else {
			log_error("%s: too many arguments", a->cmd);
			usage_of(a->cmd);
			return EXIT_USAGE;
		}
	}
	log_set_verbose(cli->verbose);
	return 0;
}

/* want - the subcommand takes between lo and hi positional arguments. */
static bool
want(const struct acct_args *a, int lo, int hi)
{
	if (a->npos >= lo && a->npos <= hi)
		return true;
	usage_of(a->cmd);
	return false;
}

/* ---------------------------------------------------------------- */
/* The database                                                     */

/*
 * db_path - the database file of the configuration: account_database
 * when the parameter table knows it or main.cf sets it, else
 * $data_directory/accounts.sqlite.  NULL after saying why.
 */
static char *
db_path(const struct config *cf)
{
	const struct config_view *v = config_main(cf);
	const char *why = NULL;
	char *p = config_expand_name(v, ACCOUNT_DB_PARAM);

	if (p == NULL)
		p = config_expand(v, ACCOUNT_DB_DEFAULT, &why);
	if (p == NULL) {
		log_error("%s: %s", ACCOUNT_DB_PARAM, why != NULL ? why :
		    "cannot expand");
		return NULL;
	}
	if (p[0] != '/') {
		log_error("%s = %s: the account database needs an absolute "
		    "path", ACCOUNT_DB_PARAM, p);
		free(p);
		return NULL;
	}
	return p;
}

/*
 * prepare_dir - when the database does not exist yet: make sure its
 * directory does (data_directory is created as the master creates it:
 * mail_owner, 0700), and find the group for the file: mail_owner's
 * when root, (gid_t)-1 otherwise.  0, or an exit status after saying
 * why.
 */
static int
prepare_dir(const struct config *cf, const char *path, gid_t *group_r)
{
	const struct config_view *v = config_main(cf);
	const char *data_dir = config_str(v, P_data_directory);
	bool root = geteuid() == 0;
	struct privs_user u = { NULL, (uid_t)-1, (gid_t)-1 };
	char *perr = NULL, *dir, *slash;
	struct stat sb;
	int ret = 0;

	*group_r = (gid_t)-1;
	if (root) {
		/* As the master does: mail_owner is made when missing. */
		if (privs_user_resolve(config_str(v, P_mail_owner), true, &u,
		    &perr) < 0) {
			log_error("mail_owner: %s", perr);
			free(perr);
			return EXIT_BAD;
		}
		*group_r = u.gid;
	}
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &sb) < 0 && errno == ENOENT) {
		if (strcmp(dir, data_dir) != 0) {
			log_error("%s: directory %s does not exist", path, dir);
			ret = EXIT_BAD;
		} else if (privs_ensure_dir(dir, root ? u.uid : (uid_t)-1,
		    root ? u.gid : (gid_t)-1, 0700, &perr) < 0) {
			log_error("data_directory: %s", perr);
			free(perr);
			ret = EXIT_TEMPFAIL;
		}
	}
	free(dir);
	if (root)
		privs_user_deinit(&u);
	return ret;
}

/*
 * open_db - load the configuration and open (creating on first use) the
 * account database.  0 with *cf_r and adb set, or an exit status after
 * saying why.
 */
static int
open_db(struct cli *cli, struct config **cf_r, struct account_db *adb,
    char **path_r)
{
	char err[ACCOUNT_ERR_MAX_BYTES];
	struct diag_list diags;
	enum account_status st;
	struct config *cf;
	struct stat sb;
	gid_t group = (gid_t)-1;
	char *path;
	int ret;

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET | CONFIG_LOAD_LENIENT, &diags);
	diag_list_deinit(&diags);
	if (cf == NULL) {
		log_error("cannot read the configuration in %s",
		    cli->config_dir);
		return EXIT_BAD;
	}
	if ((path = db_path(cf)) == NULL) {
		config_free(&cf);
		return EXIT_BAD;
	}
	if (lstat(path, &sb) < 0 && errno == ENOENT &&
	    (ret = prepare_dir(cf, path, &group)) != 0) {
		free(path);
		config_free(&cf);
		return ret;
	}
	st = account_db_open(adb, path, ACCOUNT_DB_CREATE, group, err,
	    sizeof(err));
	if (st != ACCOUNT_OK) {
		log_error("%s", err);
		free(path);
		config_free(&cf);
		return status_exit(st);
	}
	if (adb->created)
		log_info("%s: new account database", path);
	*cf_r = cf;
	if (path_r != NULL)
		*path_r = path;
	else
		free(path);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Passwords                                                        */

static volatile sig_atomic_t tty_signal;

static void
on_tty_signal(int sig)
{
	tty_signal = sig;
}

/*
 * read_line_fd - one line from fd into buf (at most bufsz - 1 bytes,
 * without the line end; "\r\n" accepted).  Returns 0, 1 at end of input
 * before any byte, -1 on an error or interruption (errno), -2 when the
 * line is too long (the rest of the line is read and dropped).
 */
static int
read_line_fd(int fd, char *buf, size_t bufsz, size_t *len_r,
    bool watch_signal)
{
	size_t n = 0;
	bool over = false, any = false;
	char c;

	for (;;) {
		ssize_t r;

		/* On the terminal a signal (Ctrl-C) cancels.  It may come
		 * between the check and read(), so read() is only called
		 * once poll() says a byte is there: poll() wakes every
		 * 200 ms to look at the flag again. */
		if (watch_signal) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (tty_signal != 0) {
				errno = EINTR;
				return -1;
			}
			if (poll(&pfd, 1, 200) <= 0)
				continue;
		}
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR && !watch_signal)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (!any)
				return 1;
			break;
		}
		any = true;
		if (c == '\n')
			break;
		if (n + 1 < bufsz)
			buf[n++] = c;
		else
			over = true;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len_r = n;
	c = '\0';
	return over ? -2 : 0;
}

/*
 * tty_ask - print prompt on the terminal fd and read a line without
 * echo.  The terminal is restored whatever happens; a signal (Ctrl-C)
 * cancels.  Same returns as read_line_fd.
 */
static int
tty_ask(int fd, const char *prompt, char *buf, size_t bufsz, size_t *len_r)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
		SIGTSTP };
	struct sigaction sa, old[N_ELEMENTS(sigs)];
	struct termios saved, quiet;
	bool restore;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tty_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: read() must stop */
	tty_signal = 0;
	for (size_t i = 0; i < N_ELEMENTS(sigs); i++)
		(void)sigaction(sigs[i], &sa, &old[i]);
	/* Echo off (dropping type-ahead) before the prompt, so that what
	 * is typed after it is never echoed nor lost. */
	restore = tcgetattr(fd, &saved) == 0;
	if (restore) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		quiet.c_lflag |= ICANON;
		(void)tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	(void)!write(fd, prompt, strlen(prompt));
	r = read_line_fd(fd, buf, bufsz, len_r, true);
	if (restore)
		(void)tcsetattr(fd, TCSAFLUSH, &saved);
	(void)!write(fd, "\n", 1);
	for (size_t i = 0; i < N_ELEMENTS(sigs); i++)
		(void)sigaction(sigs[i], &old[i], NULL);
	if (tty_signal != 0) {
		errno = EINTR;
		return -1;
	}
	return r;
}

/*
 * get_password - the new password for address: from standard input's
 * first line (from_stdin) or asked twice on /dev/tty.  0 with the
 * password in pw (PASSWD_MAX_PASSWORD_BYTES + 1 bytes; the caller wipes
 * it), or an exit status after saying why.
 */
static int
get_password(bool from_stdin, const char *address, char *pw, size_t pwsz,
    size_t *len_r)
{
	char again[PASSWD_MAX_PASSWORD_BYTES + 1], *prompt;
	size_t len2 = 0;
	int fd, r, ret = 0;

	*len_r = 0;
	if (from_stdin) {
		r = read_line_fd(STDIN_FILENO, pw, pwsz, len_r, false);
		if (r == -1) {
			log_error("standard input: %s", strerror(errno));
			return EXIT_BAD;
		}
		if (r == 1) {
			log_error("--password-stdin: standard input is empty");
			return EXIT_BAD;
		}
	} else {
		fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			log_error("no terminal to ask for the password on "
			    "(/dev/tty: %s): use --password-stdin",
			    strerror(errno));
			return EXIT_BAD;
		}
		prompt = xasprintf("New password for %s: ", address);
		r = tty_ask(fd, prompt, pw, pwsz, len_r);
		free(prompt);
		if (r == 0)
			r = tty_ask(fd, "Again: ", again, sizeof(again),
			    &len2);
		(void)close(fd);
		if (r == 0 && (len2 != *len_r ||
		    memcmp(pw, again, len2) != 0)) {
			log_error("the two passwords differ; nothing changed");
			ret = EXIT_BAD;
		}
		explicit_bzero(again, sizeof(again));
		if (r == -1) {
			log_error("%s; nothing changed", errno == EINTR ?
			    "interrupted" : strerror(errno));
			ret = EXIT_BAD;
		} else if (r == 1) {
			log_error("no password given; nothing changed");
			ret = EXIT_BAD;
		}
	}
	if (ret == 0 && r == -2) {
		log_error("the password is longer than %d bytes",
		    PASSWD_MAX_PASSWORD_BYTES);
		ret = EXIT_BAD;
	}
	if (ret == 0 && *len_r == 0) {
		log_error("empty password refused");
		ret = EXIT_BAD;
	}
	if (ret != 0) {
		explicit_bzero(pw, pwsz);
		*len_r = 0;
	}
	return ret;
}

/* check_scheme - "SHA512-CRYPT" (default) or "ARGON2ID", any case. */
static const char *
check_scheme(const char *s)
{
	if (s == NULL || strcasecmp(s, "SHA512-CRYPT") == 0)
		return "SHA512-CRYPT";
	if (strcasecmp(s, "ARGON2ID") == 0)
		return "ARGON2ID";
	log_error("--scheme %s: new passwords are stored as SHA512-CRYPT "
	    "(the default) or ARGON2ID", s);
	return NULL;
}

/*
 * new_hash - ask for the password of address and hash it.  0 with
 * *hash_r (caller frees), or an exit status after saying why.
 */
static int
new_hash(const struct acct_args *a, const char *scheme, const char *address,
    char **hash_r)
{
	char pw[PASSWD_MAX_PASSWORD_BYTES + 1], err[256];
	size_t len = 0;
	int ret;

	*hash_r = NULL;
	ret = get_password(a->password_stdin, address, pw, sizeof(pw), &len);
	if (ret != 0)
		return ret;
	*hash_r = passwd_hash(scheme, pw, len, err, sizeof(err));
	explicit_bzero(pw, sizeof(pw));
	if (*hash_r == NULL) {
		log_error("cannot hash the password: %s", err);
		return EXIT_BAD;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Listing                                                          */

static void
print_rows(const struct account_rows *rows)
{
	size_t *w = xcalloc(rows->ncols, sizeof(*w));

	for (size_t c = 0; c < rows->ncols; c++) {
		w[c] = strlen(rows->headers[c]);
		for (size_t r = 0; r < rows->nrows; r++) {
			size_t n = strlen(account_cell(rows, r, c));

			if (n > w[c])
				w[c] = n;
		}
	}
	for (size_t r = 0; r <= rows->nrows; r++) {
		for (size_t c = 0; c < rows->ncols; c++) {
			const char *s = r == 0 ? rows->headers[c] :
			    account_cell(rows, r - 1, c);

			if (c + 1 == rows->ncols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)w[c], s);
		}
	}
	free(w);
}

static int
do_list(struct account_db *adb, enum account_kind kind, const char *domain)
{
	static const char *const what[] = { "domains", "mailboxes",
		"aliases" };
	char err[ACCOUNT_ERR_MAX_BYTES];
	struct account_rows rows;
	enum account_status st;

	st = account_list(adb, kind, domain, &rows, err, sizeof(err));
	if (st != ACCOUNT_OK) {
		log_error("%s", err);
		return status_exit(st);
	}
	if (rows.nrows == 0)
		log_info("no %s%s%s", what[kind], domain != NULL ? " in " :
		    "", domain != NULL ? domain : "");
	else
		print_rows(&rows);
	account_rows_free(&rows);
	return fflush(stdout) == 0 ? 0 : EXIT_BAD;
}

/* ---------------------------------------------------------------- */
/* The commands                                                     */

/*
 * norm - name as stored (lower case), for messages after a successful
 * write; the argument itself if it does not check (caller frees).
 */
static char *
norm(enum account_kind kind, const char *name)
{
	char err[ACCOUNT_ERR_MAX_BYTES], *n = NULL;

	if (kind == ACCOUNT_KIND_DOMAIN)
		(void)account_check_domain(name, &n, err, sizeof(err));
	else
		(void)account_check_address(name, kind == ACCOUNT_KIND_ALIAS,
		    &n, NULL, err, sizeof(err));
	return n != NULL ? n : xstrdup(name);
}

/* done - report the outcome of a write; returns the exit status. */
static int
done(enum account_status st, const char *err, const char *fmt, ...)
    ATTR_FORMAT(3, 4);

static int
done(enum account_status st, const char *err, const char *fmt, ...)
{
	va_list ap;

	if (st != ACCOUNT_OK) {
		log_error("%s", err);
		return status_exit(st);
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : EXIT_BAD;
}

static int
set_active(struct account_db *adb, enum account_kind kind,
    const struct acct_args *a)
{
	char err[ACCOUNT_ERR_MAX_BYTES];
	bool on = strcmp(a->sub, "enable") == 0;
	char *n = norm(kind, a->pos[0]);
	enum account_status st;
	int ret;

	st = account_set_active(adb, kind, a->pos[0], on, err, sizeof(err));
	ret = done(st, err, "%s %s %s", kind == ACCOUNT_KIND_USER ? "mailbox" :
	    a->cmd, n, on ? "enabled" : "disabled");
	free(n);
	return ret;
}

static int
domain_run(struct account_db *adb, const struct acct_args *a)
{
	char err[ACCOUNT_ERR_MAX_BYTES], *n;
	enum account_status st;
	int ret;

	if (strcmp(a->sub, "list") == 0)
		return do_list(adb, ACCOUNT_KIND_DOMAIN, NULL);
	if (strcmp(a->sub, "add") != 0 && strcmp(a->sub, "del") != 0)
		return set_active(adb, ACCOUNT_KIND_DOMAIN, a);
	n = norm(ACCOUNT_KIND_DOMAIN, a->pos[0]);
	if (strcmp(a->sub, "add") == 0) {
		st = account_domain_add(adb, a->pos[0], a->description, err,
		    sizeof(err));
		ret = done(st, err, "domain %s added", n);
	} else {
		st = account_domain_del(adb, a->pos[0], a->force, err,
		    sizeof(err));
		ret = done(st, err, "domain %s deleted%s", n, a->force ?
		    " with its mailboxes and aliases (maildirs are left on "
		    "disk)" : "");
	}
	free(n);
	return ret;
}

static int
user_add(struct account_db *adb, const struct acct_args *a)
{
	char err[ACCOUNT_ERR_MAX_BYTES], *addr = NULL, *hash = NULL;
	struct account_user_spec spec = { a->name, 0, NULL };
	const char *scheme = check_scheme(a->scheme);
	enum account_status st;
	int ret;

	if (scheme == NULL)
		return EXIT_BAD;
	if (a->quota != NULL && (st = account_parse_size(a->quota,
	    &spec.quota, err, sizeof(err))) != ACCOUNT_OK) {
		log_error("--quota: %s", err);
		return EXIT_BAD;
	}
	/* Every check first: do not ask for a password in vain. */
	st = account_user_check_new(adb, a->pos[0], &addr, err, sizeof(err));
	if (st != ACCOUNT_OK) {
		log_error("%s", err);
		return status_exit(st);
	}
	if ((ret = new_hash(a, scheme, addr, &hash)) != 0) {
		free(addr);
		return ret;
	}
	spec.password = hash;
	st = account_user_add(adb, addr, &spec, err, sizeof(err));
	ret = done(st, err, "mailbox %s added (%s)", addr, scheme);
	free(hash);
	free(addr);
	return ret;
}

static int
user_passwd(struct account_db *adb, const struct acct_args *a)
{
	char err[ACCOUNT_ERR_MAX_BYTES], *addr = NULL, *hash = NULL;
	const char *scheme = check_scheme(a->scheme);
	enum account_status st;
	int ret;

	if (scheme == NULL)
		return EXIT_BAD;
	st = account_user_check_exists(adb, a->pos[0], &addr, err,
	    sizeof(err));
	if (st != ACCOUNT_OK) {
		log_error("%s", err);
		return status_exit(st);
	}
	if ((ret = new_hash(a, scheme, addr, &hash)) != 0) {
		free(addr);
		return ret;
	}
	st = account_user_passwd(adb, addr, hash, err, sizeof(err));
	ret = done(st, err, "password of %s changed (%s)", addr, scheme);
	free(hash);
	free(addr);
	return ret;
}

static int
user_run(struct account_db *adb, const struct acct_args *a)
{
	char err[ACCOUNT_ERR_MAX_BYTES];
	enum account_status st;

	if (strcmp(a->sub, "add") == 0)
		return user_add(adb, a);
	if (strcmp(a->sub, "passwd") == 0)
		return user_passwd(adb, a);
	if (strcmp(a->sub, "del") == 0) {
		char *n = norm(ACCOUNT_KIND_USER, a->pos[0]);
		int ret;

		st = account_user_del(adb, a->pos[0], a->force, err,
		    sizeof(err));
		ret = done(st, err, "mailbox %s deleted (its maildir, if any, "
		    "is left on disk)", n);
		free(n);
		return ret;
	}
	if (strcmp(a->sub, "list") == 0)
		return do_list(adb, ACCOUNT_KIND_USER, a->pos[0]);
	return set_active(adb, ACCOUNT_KIND_USER, a);
}

static int
alias_run(struct account_db *adb, const struct acct_args *a)
{
	char err[ACCOUNT_ERR_MAX_BYTES], *n;
	enum account_status st;
	int ret;

	if (strcmp(a->sub, "list") == 0)
		return do_list(adb, ACCOUNT_KIND_ALIAS, a->pos[0]);
	if (strcmp(a->sub, "add") != 0 && strcmp(a->sub, "del") != 0)
		return set_active(adb, ACCOUNT_KIND_ALIAS, a);
	n = norm(ACCOUNT_KIND_ALIAS, a->pos[0]);
	if (strcmp(a->sub, "add") == 0) {
		st = account_alias_add(adb, a->pos[0], a->pos[1], err,
		    sizeof(err));
		ret = done(st, err, "alias %s added", n);
	} else {
		st = account_alias_del(adb, a->pos[0], err, sizeof(err));
		ret = done(st, err, "alias %s deleted", n);
	}
	free(n);
	return ret;
}

/*
 * write_file - path with text, mode 0644, through a temporary file
 * renamed into place.  0, or -1 after saying why.
 */
static int
write_file(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
	size_t len = strlen(text);
	int fd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		log_error("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0644) == 0 && write(fd, text, len) == (ssize_t)len &&
	    fsync(fd) == 0) {
		if (close(fd) == 0 && rename(tmp, path) == 0)
			ret = 0;
		fd = -1;
	}
	if (ret < 0) {
		log_error("%s: %s", path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		(void)unlink(tmp);
	}
	free(tmp);
	return ret;
}

static int
account_tables(const struct acct_args *a, const char *dbpath)
{
	char err[ACCOUNT_ERR_MAX_BYTES], dir[PATH_MAX];
	const struct account_table_def *defs;
	size_t n;
	int ret = 0;

	if (mkdir(a->pos[0], 0755) < 0 && errno != EEXIST) {
		log_error("%s: %s", a->pos[0], strerror(errno));
		return EXIT_BAD;
	}
	if (realpath(a->pos[0], dir) == NULL) {
		log_error("%s: %s", a->pos[0], strerror(errno));
		return EXIT_BAD;
	}
	defs = account_table_defs(&n);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, defs[i].file), *text;
		struct stat sb;

		if (!a->force && lstat(path, &sb) == 0) {
			log_info("%s: kept (it exists; --force rewrites it)",
			    path);
		} else if (account_table_cf_text(&defs[i], dbpath, &text, err,
		    sizeof(err)) != ACCOUNT_OK) {
			log_error("%s", err);
			ret = EXIT_BAD;
		} else {
			if (write_file(path, text) < 0)
				ret = EXIT_BAD;
			free(text);
		}
		free(path);
	}
	if (ret != 0)
		return ret;
	printf("# main.cf lines for the tables in %s:\n", dir);
	for (size_t i = 0; i < n; i++)
		printf("%s = sqlite:%s/%s\n", defs[i].param, dir,
		    defs[i].file);
	return fflush(stdout) == 0 ? 0 : EXIT_BAD;
}

/*
 * run_cmd - check the subcommand's arguments, open the database and
 * run it.
 */
static int
run_cmd(struct cli *cli, int argc, char **argv,
    int (*fn)(struct account_db *, const struct acct_args *))
{
	static const struct {
		const char *cmd, *sub;
		int lo, hi;
	} shapes[] = {
		{ "domain", "add", 1, 1 }, { "domain", "del", 1, 1 },
		{ "domain", "list", 0, 0 }, { "domain", "enable", 1, 1 },
		{ "domain", "disable", 1, 1 },
		{ "user", "add", 1, 1 }, { "user", "passwd", 1, 1 },
		{ "user", "del", 1, 1 }, { "user", "list", 0, 1 },
		{ "user", "enable", 1, 1 }, { "user", "disable", 1, 1 },
		{ "alias", "add", 2, 2 }, { "alias", "del", 1, 1 },
		{ "alias", "list", 0, 1 }, { "alias", "enable", 1, 1 },
		{ "alias", "disable", 1, 1 },
		{ "account", "tables", 1, 1 },
	};
	struct account_db adb;
	struct acct_args a;
	struct config *cf = NULL;
	char *path = NULL;
	bool known = false;
	int ret;

	if ((ret = parse_args(cli, argc, argv, &a)) != 0)
		return ret;
	for (size_t i = 0; i < N_ELEMENTS(shapes) && !known; i++)
		if (a.sub != NULL && strcmp(shapes[i].cmd, a.cmd) == 0 &&
		    strcmp(shapes[i].sub, a.sub) == 0) {
			known = true;
			if (!want(&a, shapes[i].lo, shapes[i].hi))
				return EXIT_USAGE;
		}
	if (!known) {
		if (a.sub != NULL)
			log_error("%s: unknown subcommand \"%s\"", a.cmd,
			    a.sub);
		usage_of(a.cmd);
		return EXIT_USAGE;
	}
	if ((ret = open_db(cli, &cf, &adb, &path)) != 0)
		return ret;
	if (fn != NULL)
		ret = fn(&adb, &a);
	else
		ret = account_tables(&a, path);
	account_db_close(&adb);
	free(path);
	config_free(&cf);
	return ret;
}

int
cmd_domain(struct cli *cli, int argc, char **argv)
{
	return run_cmd(cli, argc, argv, domain_run);
}

int
cmd_user(struct cli *cli, int argc, char **argv)
{
	return run_cmd(cli, argc, argv, user_run);
}

int
cmd_alias(struct cli *cli, int argc, char **argv)
{
	return run_cmd(cli, argc, argv, alias_run);
}

int
cmd_account(struct cli *cli, int argc, char **argv)
{
	return run_cmd(cli, argc, argv, NULL);
}
