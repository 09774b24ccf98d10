/* SPDX-License-Identifier: MIT */
/*
 * config_schema - the one table of every parameter Ostia knows.
 *
 * The table lives in config_params.def as X-macro rows:
 *
 *   PARAM(name, type, "default", min, max, extra, status, "description")
 *
 *   name         the main.cf name, a bare C identifier (P_<name> is its id)
 *   type         PT_STRING, PT_INT, PT_TIME, PT_SIZE, PT_BOOL, PT_LIST,
 *                PT_MAPS (a list of type:name lookup tables), PT_ENUM
 *   default      the default as main.cf text; may use $name expansions
 *   min, max     allowed range for PT_INT (the number), PT_TIME (seconds)
 *                and PT_SIZE (bytes); 0, 0 for other types
 *   extra        PT_TIME: the default unit ("s", "m", "h", "d", "w");
 *                PT_ENUM: the allowed words separated by '|';
 *                PT_LIST: NULL (any elements), or the words each element
 *                must be, separated by '|'; else NULL
 *   status       PS_IMPL    honoured by this version of Ostia
 *                PS_LATER   known, not implemented yet (a warning at load)
 *                PS_IGNORED a Postfix parameter that has no meaning in
 *                           Ostia (a warning at load says so)
 *   description  one line for the configuration reference
 *
 * docs/configuration.md is generated from this table
 * (`ostia conf --reference`).  Parameters derived from master.cf service
 * names (dovecot_destination_recipient_limit) are described by the
 * per-service suffix table below.
 */
#ifndef OSTIA_CONFIG_SCHEMA_H
#define OSTIA_CONFIG_SCHEMA_H

#include <stddef.h>

enum param_type {
	PT_STRING,
	PT_INT,
	PT_TIME,
	PT_SIZE,
	PT_BOOL,
	PT_LIST,
	PT_MAPS,
	PT_ENUM,
};

enum param_status {
	PS_IMPL,
	PS_LATER,
	PS_IGNORED,
};

enum param_id {
#define PARAM(name, type, def, min, max, extra, status, doc) P_##name,
#include "config_params.def"
#undef PARAM
	P__COUNT
};

/* The extra of a PT_LIST whose elements are NAME or NAME=VALUE
 * (import_environment, export_environment; env_list.h). */
#define CONFIG_EXTRA_ENV_LIST "@environment"

struct param_def {
	const char *name;
	enum param_type type;
	const char *def;
	long long min;
	long long max;
	const char *extra;
	enum param_status status;
	const char *doc;
};

/*
 * A parameter named "<service>_<suffix>" for any service in master.cf
 * (Postfix's per-transport parameters, e.g. the seed's
 * dovecot_destination_recipient_limit).
 */
struct param_suffix_def {
	const char *suffix;	/* "_destination_recipient_limit" */
	enum param_type type;
	long long min;
	long long max;
	const char *extra;
	enum param_status status;
	const char *doc;
};

extern const struct param_def config_params[P__COUNT];
extern const struct param_suffix_def config_param_suffixes[];
extern const size_t config_param_suffixes_count;

/* The definition for name, or NULL. */
const struct param_def *config_schema_find(const char *name);
/* Id for name, or -1. */
int config_schema_id(const char *name);
/* The per-service suffix definition that name ends with, or NULL. */
const struct param_suffix_def *config_schema_find_suffix(const char *name,
    size_t *prefix_len_r);
/*
 * The known parameter name closest to name (edit distance), or NULL when
 * nothing is reasonably close.  Static storage (the table).
 */
const char *config_schema_suggest(const char *name);
const char *config_param_type_name(enum param_type type);

#endif
