/* SPDX-License-Identifier: MIT */
/*
 * config - load, check and read main.cf and master.cf.
 *
 * main.cf (Postfix main.cf(5) syntax): "name = value" logical lines
 * (cf_lines.h), $name, ${name}, $(name), ${name?text}, ${name:text},
 * ${name?{text}:{text}} expansion, "$$" for a literal "$".  master.cf is
 * parsed by master_cf.h; each of its services sees main.cf with that
 * service's "-o name=value" overrides on top (a "view").
 *
 * config_load() checks everything once, for main.cf and every service
 * view: unknown names (warning with the nearest known name), parameters
 * Ostia knows but does not implement yet or ignores (one warning each),
 * values that are not valid for their type and range (errors), syntax
 * errors (errors).  A configuration with an error is refused, so that
 * later reads of a typed value (config_int(), ...) cannot fail.
 *
 * Runs in the master (as root) and in every child before it drops
 * privileges.  Files are read with a size cap; nothing is written except
 * by config_edit_main_cf().
 */
#ifndef OSTIA_CONFIG_H
#define OSTIA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config_schema.h"
#include "diag.h"
#include "master_cf.h"

/* Largest main.cf accepted, and longest logical line. */
#define MAIN_CF_MAX_BYTES (4 * 1024 * 1024)
#define MAIN_CF_LINE_MAX_BYTES (1024 * 1024)
/* Deepest $name expansion nesting before a loop is assumed. */
#define CONFIG_EXPAND_MAX_DEPTH 100
/* Most $name references one expansion may follow in all. */
#define CONFIG_EXPAND_MAX_STEPS 10000

/* The default configuration directory (as Postfix's /etc/postfix). */
#define CONFIG_DEFAULT_DIR "/etc/ostia"

enum config_load_flags {
	/* Do not read master.cf (ostia conf without -M works without it). */
	CONFIG_LOAD_NO_MASTER = 1 << 0,
	/* Skip the "not implemented"/"unknown" warnings (children: the
	 * master already reported them). */
	CONFIG_LOAD_QUIET = 1 << 1,
	/* Return the configuration even when it has errors (diags still
	 * has them): `ostia status` and `stop` must find the queue
	 * directory of a master whose main.cf was broken after it started.
	 * Values that failed their check read as empty or 0. */
	CONFIG_LOAD_LENIENT = 1 << 2,
};

struct config;
struct config_view;

/*
 * Load config_dir/main.cf and (unless CONFIG_LOAD_NO_MASTER)
 * config_dir/master.cf and check them.  Every warning and error goes to
 * diags with file:line.  Returns the configuration (free with
 * config_free) when there was no error, NULL otherwise.
 */
struct config *config_load(const char *config_dir, unsigned flags,
    struct diag_list *diags);
/* Same, from text (tests, fuzzing); master_text may be NULL. */
struct config *config_load_text(const char *config_dir,
    const char *main_text, size_t main_len, const char *master_text,
    size_t master_len, unsigned flags, struct diag_list *diags);
void config_free(struct config **cfp);

/* The view of main.cf alone. */
const struct config_view *config_main(const struct config *cf);
/* master.cf as parsed, or NULL when loaded with CONFIG_LOAD_NO_MASTER. */
const struct master_cf *config_master(const struct config *cf);
/* The view of service i of master.cf (main.cf plus its -o). */
const struct config_view *config_service(const struct config *cf,
    size_t i);
const char *config_dir(const struct config *cf);

/*
 * Typed values of a parameter in a view, already checked at load time.
 * config_str: the expanded text, valid as long as the configuration.
 * config_time: seconds.  config_list: a new NULL-terminated vector of
 * the elements (caller frees with strv_free).  Calling a getter of the
 * wrong type is a bug (panic).
 */
const char *config_str(const struct config_view *v, enum param_id id);
long long config_int(const struct config_view *v, enum param_id id);
long long config_time(const struct config_view *v, enum param_id id);
uint64_t config_size(const struct config_view *v, enum param_id id);
bool config_bool(const struct config_view *v, enum param_id id);
char **config_list(const struct config_view *v, enum param_id id);
/* True if the list parameter has word as an element (any case). */
bool config_list_contains(const struct config_view *v, enum param_id id,
    const char *word);

/*
 * The raw (unexpanded) value of any name in a view: a -o override, a
 * main.cf setting, or the default.  NULL for an unknown name that is
 * not set.  *origin_r (may be NULL) tells where it came from:
 * "default", "-c" (config_directory), or the path of main.cf or
 * master.cf.  Valid as long as the configuration.
 */
const char *config_raw(const struct config_view *v, const char *name,
    const char **origin_r);
/* The expanded value of any name (like config_raw); caller frees; NULL
 * when unknown and unset. */
char *config_expand_name(const struct config_view *v, const char *name);
/*
 * The per-service time SERVICE+SUFFIX (e.g. "dovecot" +
 * "_time_limit", a suffix of config_schema.h of type time) in seconds,
 * when set; else dflt.  A value that is not a time is warned about and
 * gives dflt.
 */
long long config_suffix_time(const struct config_view *v, const char *service,
    const char *suffix, long long dflt);
/*
 * Expand $name references in text in the view.  Returns a new string
 * (caller frees), or NULL with *error_r (static text) on a syntax error
 * or a loop.
 */
char *config_expand(const struct config_view *v, const char *text,
    const char **error_r);

/* main.cf settings in file order (the last of duplicates wins). */
struct config_setting {
	char *name;
	char *value;
	unsigned line;
};
size_t config_main_settings(const struct config *cf,
    const struct config_setting **settings_r);
const char *config_main_cf_path(const struct config *cf);
const char *config_master_cf_path(const struct config *cf);

/*
 * Split a list value: elements separated by commas and/or white space;
 * "{ ... }" groups keep their content (including separators) in one
 * element, and an element that is only a group loses its braces.
 * Returns a new vector (strv_free).
 */
char **config_split_list(const char *text);

/*
 * Check one value against a parameter's type and range.  0, or -1 with
 * *error_r a new string (caller frees) saying what was expected.  Also
 * parses: *num_r (int, time in seconds, size) and *bool_r may be NULL.
 */
int config_check_value(const struct param_def *def, const char *value,
    long long *num_r, bool *bool_r, char **error_r);
/* Same for a per-service parameter (see config_schema.h). */
int config_check_suffix_value(const struct param_suffix_def *def,
    const char *value, long long *num_r, char **error_r);

/* This machine's host name as the default of myhostname (a FQDN). */
char *config_default_myhostname(void);

#endif
