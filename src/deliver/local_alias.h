/* SPDX-License-Identifier: MIT */
/*
 * local_alias - the text of the local delivery agent's destinations
 * (Postfix aliases(5), local(8)): an alias value or an :include: file
 * split into its destinations, and a command line split into words.
 *
 *   alias value    alice, bob@example.com, "|/usr/bin/vacation bob",
 *                  /var/log/mail-archive, :include:/etc/ostia/team
 *
 * Destinations are separated by commas (and by line ends in an :include:
 * file, where '#' starts a comment line and blank lines are skipped).
 * White space around each is dropped.  A destination written whole in
 * double quotes keeps its commas and spaces; the quotes go and \" and
 * \\ inside become " and \.  A comma between double quotes anywhere does
 * not split ("a, b"@example.com stays one address).
 *
 * What each one is, by its first characters:
 *   "|..."        a command (the rest, trimmed)
 *   "/..."        a file (a path ending in '/' is a Maildir)
 *   ":include:/x" an include file (absolute path; any case of the word)
 *   anything else an address ("<a@b>" loses its angle brackets)
 *
 * Pure text processing: no files, users, lookups or processes here.
 */
#ifndef OSTIA_LOCAL_ALIAS_H
#define OSTIA_LOCAL_ALIAS_H

#include <stdbool.h>
#include <stddef.h>

/* Most destinations one value or file may give. */
#define LOCAL_DESTS_MAX 1000
/* Longest destination (after unquoting). */
#define LOCAL_DEST_MAX_BYTES 4096
/* Most words of a command. */
#define LOCAL_ARGV_MAX 256
/* What a command may not hold: it is run without a shell, so shell
 * syntax would not do what it says (plus every control character). */
#define LOCAL_SHELL_META "\"'`$&|;<>()[]{}*?~#!\\"

enum local_dest_kind {
	LOCAL_DEST_ADDRESS,
	LOCAL_DEST_COMMAND,
	LOCAL_DEST_FILE,
	LOCAL_DEST_INCLUDE,
};

struct local_dest {
	enum local_dest_kind kind;
	char *text;		/* the address, command, path or include
				 * path (without "|" or ":include:") */
};

struct local_dests {
	struct local_dest *v;
	size_t n;
};

void local_dests_init(struct local_dests *d);
void local_dests_deinit(struct local_dests *d);

/*
 * Add the destinations of an alias value (len bytes; a NUL ends it
 * early) to d.  0, or -1 with *error_r (caller frees; d may have some
 * added) for an unbalanced double quote, a control character, an empty
 * command or include path, an include path that is not absolute, a
 * destination over LOCAL_DEST_MAX_BYTES, or more than LOCAL_DESTS_MAX
 * destinations in d.
 */
int local_alias_split(const char *value, size_t len, struct local_dests *d,
    char **error_r);

/*
 * Add the destinations of an :include: file's text (len bytes) to d, as
 * local_alias_split does for each line (comment and blank lines
 * skipped; a NUL byte is an error).  Errors name the line.
 */
int local_include_parse(const char *data, size_t len, struct local_dests *d,
    char **error_r);

/*
 * Split a command (from an alias or mailbox_command) on spaces and tabs
 * into a new NULL-terminated vector (strv_free).  -1 with *error_r
 * (caller frees) when it is empty, has more than LOCAL_ARGV_MAX words,
 * or holds a character of LOCAL_SHELL_META or a control character: it
 * would need a shell, and the local agent runs commands without one.
 */
int local_command_split(const char *cmd, char ***argv_r, char **error_r);

#endif
