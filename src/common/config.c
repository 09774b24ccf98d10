/* SPDX-License-Identifier: MIT */
/*
 * config - load and check main.cf and master.cf; see config.h.
 *
 * Storage: the main.cf settings in file order, an index from known
 * parameter id to its effective (last) setting, and one view per
 * master.cf service.  Every view holds the checked, expanded and parsed
 * value of every known parameter, computed once at load time, so the
 * typed getters are array reads that cannot fail.
 *
 * Expansion (Postfix main.cf(5)): $name, ${name}, $(name); ${name?text}
 * gives text when name's value is not empty, ${name:text} when it is
 * empty; ${name?{text1}:{text2}} picks one of two.  text is expanded
 * too.  "$$" is a literal "$".  A name that is neither known nor set
 * expands to nothing (with a warning at load time).  Nesting deeper than
 * CONFIG_EXPAND_MAX_DEPTH is reported as a loop.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cf_lines.h"
#include "config.h"
#include "file_read.h"
#include "log.h"
#include "peer_match.h"
#include "peer_tables.h"
#include "strv.h"
#include "xalloc.h"

struct config_value {
	char *expanded;
	long long num;
	bool b;
	bool unexpanded;	/* expansion failed (reported); expanded "" */
};

struct config_view {
	const struct config *cf;
	const struct master_service *svc;	/* NULL: main.cf alone */
	struct config_value vals[P__COUNT];
};

struct config {
	char *dir;
	char *main_path;
	char *master_path;
	struct config_setting *settings;
	size_t nsettings;
	size_t settings_cap;
	int known[P__COUNT];	/* index into settings, -1 if unset */
	char *computed_default[P__COUNT];	/* myhostname, mydomain */
	struct master_cf *master;
	struct config_view main_view;
	struct config_view *services;
	size_t nservices;
};

/* ---------------------------------------------------------------- */
/* Reading main.cf                                                  */

static bool
is_param_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

struct main_parse {
	struct config *cf;
	struct diag_list *diags;
};

static void
settings_add(struct config *cf, const char *name, size_t nlen,
    const char *value, unsigned line)
{
	struct config_setting *s;

	if (cf->nsettings == cf->settings_cap) {
		cf->settings_cap = cf->settings_cap == 0 ? 32 :
		    cf->settings_cap * 2;
		cf->settings = xreallocarray(cf->settings, cf->settings_cap,
		    sizeof(*s));
	}
	s = &cf->settings[cf->nsettings++];
	s->name = xstrndup(name, nlen);
	s->value = xstrdup(value);
	s->line = line;
}

/* main_line - one logical main.cf line: "name = value". */
static int
main_line(void *ctx, const char *text, size_t len, unsigned lineno)
{
	struct main_parse *mp = ctx;
	const char *p = text, *name, *eq, *v, *end;
	size_t nlen;
	char *value;

	name = p;
	while (is_param_name_char(*p))
		p++;
	nlen = (size_t)(p - name);
	while (*p == ' ' || *p == '\t')
		p++;
	if (nlen == 0 || *p != '=') {
		char shown[96];

		log_escape(shown, sizeof(shown), text, len, 60);
		if (nlen > 0 && *p != '\0' && *p != '=')
			diag_add(mp->diags, DIAG_ERROR, mp->cf->main_path,
			    lineno, "expected \"name = value\" but found "
			    "\"%s\": a parameter name has only letters, "
			    "digits, '_' and '-', then comes '='", shown);
		else
			diag_add(mp->diags, DIAG_ERROR, mp->cf->main_path,
			    lineno, "expected \"name = value\" but found "
			    "\"%s\" (missing '=')", shown);
		return 0;
	}
	eq = p;
	v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = text + len;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	value = xstrndup(v, (size_t)(end - v));
	settings_add(mp->cf, name, nlen, value, lineno);
	free(value);
	return 0;
}

static int
parse_main_text(struct config *cf, const char *text, size_t len,
    struct diag_list *diags)
{
	struct cf_lines r;
	struct main_parse mp = { cf, diags };
	const char *err = NULL;
	unsigned errline = 0;
	int ret;

	cf_lines_init(&r, MAIN_CF_LINE_MAX_BYTES);
	ret = cf_lines_feed(&r, text, len, main_line, &mp, &err, &errline);
	if (ret == 0)
		ret = cf_lines_finish(&r, main_line, &mp, &err, &errline);
	cf_lines_deinit(&r);
	if (ret < 0 && err != NULL)
		diag_add(diags, DIAG_ERROR, cf->main_path, errline, "%s", err);
	return ret;
}

/* read_file - whole file with a size cap; NULL with a diag on failure. */
static char *
read_file(const char *path, size_t max, size_t *len_r,
    struct diag_list *diags)
{
	char *text, *err = NULL;
	int e = 0;

	text = file_read_capped(path, max, len_r, &e, &err);
	if (text == NULL) {
		diag_add(diags, DIAG_ERROR, path, 0, "%s%s", err, e == ENOENT ?
		    " (use -c DIR to name another configuration directory)" :
		    "");
		free(err);
	}
	return text;
}

/* ---------------------------------------------------------------- */
/* Raw values and expansion                                         */

/* find_setting - the effective (last) main.cf setting for name. */
static const struct config_setting *
find_setting(const struct config *cf, const char *name)
{
	int id = config_schema_id(name);

	if (id >= 0)
		return cf->known[id] >= 0 ? &cf->settings[cf->known[id]] :
		    NULL;
	for (size_t i = cf->nsettings; i-- > 0;)
		if (strcmp(cf->settings[i].name, name) == 0)
			return &cf->settings[i];
	return NULL;
}

static const struct master_option *
find_override(const struct master_service *svc, const char *name)
{
	if (svc == NULL)
		return NULL;
	for (size_t i = svc->nopts; i-- > 0;)
		if (strcmp(svc->opts[i].name, name) == 0)
			return &svc->opts[i];
	return NULL;
}

/* default_raw - the default text of a known parameter. */
static const char *
default_raw(const struct config *cf, int id)
{
	if (cf->computed_default[id] != NULL)
		return cf->computed_default[id];
	if (id == P_config_directory)
		return cf->dir;
	return config_params[id].def;
}

const char *
config_raw(const struct config_view *v, const char *name,
    const char **origin_r)
{
	const struct config *cf = v->cf;
	const struct master_option *o;
	const struct config_setting *s;
	int id;

	/* The directory in use is the one given with -c, as in Postfix. */
	if (strcmp(name, "config_directory") == 0) {
		if (origin_r != NULL)
			*origin_r = "-c";
		return cf->dir;
	}
	o = find_override(v->svc, name);
	if (o != NULL) {
		if (origin_r != NULL)
			*origin_r = v->svc->file;
		return o->value;
	}
	s = find_setting(cf, name);
	if (s != NULL) {
		if (origin_r != NULL)
			*origin_r = cf->main_path;
		return s->value;
	}
	id = config_schema_id(name);
	if (id >= 0) {
		if (origin_r != NULL)
			*origin_r = "default";
		return default_raw(cf, id);
	}
	return NULL;
}

static int expand_into(const struct config_view *v, const char *text,
    struct buf *out, int depth, unsigned *steps, const char **error_r);

/* expand_name_into - append the expanded value of name. */
static int
expand_name_into(const struct config_view *v, const char *name,
    struct buf *out, int depth, unsigned *steps, const char **error_r)
{
	const char *raw = config_raw(v, name, NULL);

	/*
	 * Bound the work as well as the depth: "a = $b$b", "b = $c$c", ...
	 * doubles it at every level without ever nesting deeply.
	 */
	if (++*steps > CONFIG_EXPAND_MAX_STEPS) {
		*error_r = "parameter expansion follows more than 10000 "
		    "$name references (values that refer to others many "
		    "times over)";
		return -1;
	}
	if (raw == NULL)
		return 0;
	return expand_into(v, raw, out, depth + 1, steps, error_r);
}

/* name_is_empty - true if name expands to the empty string. */
static int
name_is_empty(const struct config_view *v, const char *name, int depth,
    bool *empty_r, unsigned *steps, const char **error_r)
{
	struct buf tmp;
	int ret;

	buf_init(&tmp, MAIN_CF_LINE_MAX_BYTES);
	ret = expand_name_into(v, name, &tmp, depth, steps, error_r);
	*empty_r = tmp.len == 0;
	buf_deinit(&tmp);
	return ret;
}

/*
 * braced_group - when s, after blanks, starts with "{": the text inside
 * up to the matching "}" in *start_r and *len_r, and in *end_r what
 * follows the "}" and its blanks; returns 1.  0 when s does not start
 * with "{"; -1 when the matching "}" is missing.
 */
static int
braced_group(const char *s, const char **start_r, size_t *len_r,
    const char **end_r)
{
	const char *p;
	int level = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '{')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p == '{')
			level++;
		else if (*p == '}' && --level == 0)
			break;
	}
	if (*p == '\0')
		return -1;
	*start_r = s + 1;
	*len_r = (size_t)(p - s - 1);
	for (p++; *p == ' ' || *p == '\t'; p++)
		;
	*end_r = p;
	return 1;
}

/*
 * expand_braced - handle the inside of "${...}" (without the braces):
 * name, name?text, name:text, and Postfix 3's name?{text}, name:{text},
 * name?{text1}:{text2} and name?{text1}:text2, where blanks around a
 * {text} do not count and a {text} may hold nested braces.
 */
static int
expand_braced(const struct config_view *v, const char *inner, size_t len,
    struct buf *out, int depth, unsigned *steps, const char **error_r)
{
	char name[256];
	size_t nl = 0;
	bool empty, want;
	char op;
	char *rest;
	const char *pick = NULL, *a = NULL, *after = NULL;
	size_t pick_len = 0, a_len = 0;
	int ret, r;

	while (nl < len && is_param_name_char(inner[nl]) && nl < 255)
		nl++;
	if (nl == 0 || (nl < len && inner[nl] != '?' && inner[nl] != ':')) {
		*error_r = "bad ${...} expression: expected ${name}, "
		    "${name?text} or ${name:text}";
		return -1;
	}
	memcpy(name, inner, nl);
	name[nl] = '\0';
	if (nl == len)
		return expand_name_into(v, name, out, depth, steps, error_r);

	op = inner[nl];
	if (name_is_empty(v, name, depth, &empty, steps, error_r) < 0)
		return -1;
	want = op == '?' ? !empty : empty;
	rest = xstrndup(inner + nl + 1, len - nl - 1);
	ret = 0;
	r = braced_group(rest, &a, &a_len, &after);
	if (r < 0) {
		*error_r = "bad ${name?{text}:{text}}: missing '}'";
		ret = -1;
	} else if (r == 0) {
		/* ${name?text}, ${name:text} */
		if (want) {
			pick = rest;
			pick_len = strlen(rest);
		}
	} else if (*after == '\0') {
		/* ${name?{text}}, ${name:{text}} */
		if (want) {
			pick = a;
			pick_len = a_len;
		}
	} else if (op == '?' && *after == ':') {
		/* ${name?{text1}:{text2}}, ${name?{text1}:text2} */
		const char *b = NULL, *b_end = NULL;
		size_t b_len = 0;

		r = braced_group(after + 1, &b, &b_len, &b_end);
		if (r < 0) {
			*error_r = "bad ${name?{text}:{text}}: missing '}'";
			ret = -1;
		} else if (r > 0 && *b_end != '\0') {
			*error_r = "bad ${name?{text}:{text}} expression";
			ret = -1;
		} else if (want) {
			pick = a;
			pick_len = a_len;
		} else if (r > 0) {
			pick = b;
			pick_len = b_len;
		} else {
			pick = after + 1;
			pick_len = strlen(pick);
		}
	} else {
		*error_r = "bad ${name?{text}:{text}} expression";
		ret = -1;
	}
	if (ret == 0 && pick != NULL) {
		char *t = xstrndup(pick, pick_len);

		ret = expand_into(v, t, out, depth + 1, steps, error_r);
		free(t);
	}
	free(rest);
	return ret;
}

static int
expand_into(const struct config_view *v, const char *text, struct buf *out,
    int depth, unsigned *steps, const char **error_r)
{
	const char *p = text;

	if (depth > CONFIG_EXPAND_MAX_DEPTH) {
		*error_r = "parameter expansion nests too deep: a $name "
		    "refers back to itself (a loop)";
		return -1;
	}
	while (*p != '\0') {
		const char *dollar = strchr(p, '$');

		if (dollar == NULL) {
			if (buf_append_str(out, p) < 0)
				goto toolong;
			break;
		}
		if (buf_append(out, p, (size_t)(dollar - p)) < 0)
			goto toolong;
		p = dollar + 1;
		if (*p == '$') {
			if (buf_append_c(out, '$') < 0)
				goto toolong;
			p++;
		} else if (*p == '{' || *p == '(') {
			char open = *p, close = open == '{' ? '}' : ')';
			const char *q = p + 1;
			int level = 1;

			while (*q != '\0') {
				if (*q == open)
					level++;
				else if (*q == close && --level == 0)
					break;
				q++;
			}
			if (*q == '\0') {
				*error_r = open == '{' ? "missing '}' after "
				    "\"${\"" : "missing ')' after \"$(\"";
				return -1;
			}
			if (expand_braced(v, p + 1, (size_t)(q - p - 1), out,
			    depth, steps, error_r) < 0)
				return -1;
			p = q + 1;
		} else if (is_param_name_char(*p) && *p != '-') {
			char name[256];
			size_t nl = 0;

			/* A bare $name stops at '-', which may follow it. */
			while (isalnum((unsigned char)p[nl]) || p[nl] == '_') {
				if (nl < sizeof(name) - 1)
					name[nl] = p[nl];
				nl++;
			}
			if (nl >= sizeof(name)) {
				*error_r = "parameter name after '$' is too long";
				return -1;
			}
			name[nl] = '\0';
			if (expand_name_into(v, name, out, depth, steps, error_r) < 0)
				return -1;
			p += nl;
		} else {
			/* A lone '$' stays as it is. */
			if (buf_append_c(out, '$') < 0)
				goto toolong;
		}
	}
	return 0;
toolong:
	*error_r = "expanded value is too long";
	return -1;
}

char *
config_expand(const struct config_view *v, const char *text,
    const char **error_r)
{
	struct buf out;
	unsigned steps = 0;

	buf_init(&out, MAIN_CF_LINE_MAX_BYTES);
	if (expand_into(v, text, &out, 0, &steps, error_r) < 0) {
		buf_deinit(&out);
		return NULL;
	}
	return buf_steal(&out);
}

char *
config_expand_name(const struct config_view *v, const char *name)
{
	const char *raw = config_raw(v, name, NULL), *err = NULL;

	if (raw == NULL)
		return NULL;
	return config_expand(v, raw, &err);
}

long long
config_suffix_time(const struct config_view *v, const char *service,
    const char *suffix, long long dflt)
{
	char *pname = xasprintf("%s%s", service, suffix);
	char *val = config_expand_name(v, pname);
	const struct param_suffix_def *def = config_schema_find_suffix(pname,
	    NULL);
	long long n = dflt;
	char *err = NULL;

	if (val != NULL && *val != '\0' && def != NULL &&
	    def->type == PT_TIME &&
	    config_check_suffix_value(def, val, &n, &err) < 0) {
		log_warning("%s = %s: %s; using %lld s", pname, val, err, dflt);
		n = dflt;
	}
	free(err);
	free(val);
	free(pname);
	return n;
}

/* ---------------------------------------------------------------- */
/* Checking                                                         */

/* class_names - the names a smtpd_restriction_classes value lists
 * (their own parameters, defined by the admin), added to sv. */
static void
class_names(const char *text, struct strv *sv)
{
	char **names = config_split_list(text);

	for (size_t i = 0; names[i] != NULL; i++) {
		if (names[i][0] != '$')
			strv_add(sv, names[i]);
	}
	strv_free(&names);
}

/* referenced_names - every $name used in text, added to sv. */
static void
referenced_names(const char *text, struct strv *sv)
{
	const char *p = text;

	while ((p = strchr(p, '$')) != NULL) {
		size_t nl = 0;

		p++;
		if (*p == '$') {
			p++;
			continue;
		}
		if (*p == '{' || *p == '(')
			p++;
		while (isalnum((unsigned char)p[nl]) || p[nl] == '_' ||
		    (p[nl] == '-' && p[-1] != '$'))
			nl++;
		if (nl > 0)
			strv_addn(sv, p, nl);
		p += nl;
	}
}

static bool
strv_contains(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

/* Names already reported, so that each gets one warning. */
struct reported {
	struct strv names;
};

static bool
report_once(struct reported *r, const char *name)
{
	if (strv_contains(&r->names, name))
		return false;
	strv_add(&r->names, name);
	return true;
}

static bool
is_service_name(const struct config *cf, const char *name, size_t len)
{
	if (cf->master == NULL)
		return false;
	for (size_t i = 0; i < cf->master->nservices; i++) {
		const char *sn = cf->master->services[i].name;

		if (strlen(sn) == len && strncmp(sn, name, len) == 0)
			return true;
	}
	return false;
}

/*
 * check_name - warn once about a name set in main.cf or with -o that is
 * unknown, not implemented yet, or ignored by Ostia; check values of
 * per-service parameters.
 */
static void
check_name(struct config *cf, const char *name, const char *value,
    const char *file, unsigned line, const struct strv *referenced,
    struct reported *rep, unsigned flags, struct diag_list *diags)
{
	const struct param_def *def = config_schema_find(name);
	const struct param_suffix_def *sdef;
	size_t plen = 0;
	bool quiet = (flags & CONFIG_LOAD_QUIET) != 0;

	if (def != NULL) {
		if (quiet || def->status == PS_IMPL || !report_once(rep, name))
			return;
		if (def->status == PS_LATER)
			diag_add(diags, DIAG_WARNING, file, line, "parameter "
			    "%s is known but not implemented yet in Ostia "
			    "%s; this setting has no effect", name,
			    OSTIA_VERSION);
		else
			diag_add(diags, DIAG_WARNING, file, line, "parameter "
			    "%s is a Postfix setting with no meaning in "
			    "Ostia; it is ignored", name);
		return;
	}
	sdef = config_schema_find_suffix(name, &plen);
	if (sdef != NULL && is_service_name(cf, name, plen)) {
		char *err = NULL;
		char *exp;
		const char *xerr = NULL;

		exp = config_expand(&cf->main_view, value, &xerr);
		if (exp == NULL)
			diag_add(diags, DIAG_ERROR, file, line, "%s: %s",
			    name, xerr);
		else if (config_check_suffix_value(sdef, exp, NULL, &err) < 0)
			diag_add(diags, DIAG_ERROR, file, line, "invalid value "
			    "\"%s\" for %s: %s", value, name, err);
		free(err);
		free(exp);
		if (!quiet && sdef->status != PS_IMPL && report_once(rep, name))
			diag_add(diags, DIAG_WARNING, file, line, "parameter "
			    "%s (%s for service %.*s) is known but not "
			    "implemented yet in Ostia %s; this setting has "
			    "no effect", name, sdef->suffix + 1, (int)plen,
			    name, OSTIA_VERSION);
		return;
	}
	if (quiet || strv_contains(referenced, name) || !report_once(rep, name))
		return;
	if (sdef != NULL) {
		diag_add(diags, DIAG_WARNING, file, line, "unknown parameter "
		    "%s ignored: it looks like a per-service parameter but "
		    "master.cf has no service named \"%.*s\"", name, (int)plen,
		    name);
	} else {
		const char *near = config_schema_suggest(name);

		if (near != NULL)
			diag_add(diags, DIAG_WARNING, file, line, "unknown "
			    "parameter %s ignored; did you mean %s?", name,
			    near);
		else
			diag_add(diags, DIAG_WARNING, file, line, "unknown "
			    "parameter %s ignored (no parameter of that name "
			    "exists, and no other setting refers to it as "
			    "$%s)", name, name);
	}
}

static void
copy_main_value(const struct config *cf, struct config_view *v, int id)
{
	v->vals[id].expanded = xstrdup(cf->main_view.vals[id].expanded);
	v->vals[id].num = cf->main_view.vals[id].num;
	v->vals[id].b = cf->main_view.vals[id].b;
	v->vals[id].unexpanded = cf->main_view.vals[id].unexpanded;
}

/*
 * fill_view - expand, check and parse every known parameter in a view.
 * Errors name the line that set the bad value.  A value that was not
 * set right there (a default in main.cf, a parameter a service does not
 * override) fails only because of something it refers to; its error is
 * held back and shown only when this view has no other error.
 */
static void
fill_view(struct config *cf, struct config_view *v, struct diag_list *diags)
{
	size_t errors_before = diags->errors;
	struct diag_list deferred;

	diag_list_init(&deferred);
	for (int id = 0; id < P__COUNT; id++) {
		const struct param_def *def = &config_params[id];
		const struct master_option *o = find_override(v->svc,
		    def->name);
		const char *raw, *err = NULL, *file;
		unsigned line = 0;
		char *exp, *verr = NULL;
		struct diag_list *dest;

		/* A service without overrides sees main.cf as it is. */
		if (v->svc != NULL && v->svc->nopts == 0) {
			copy_main_value(cf, v, id);
			continue;
		}
		raw = config_raw(v, def->name, NULL);
		if (o != NULL) {
			file = v->svc->file;
			line = v->svc->line;
		} else if (cf->known[id] >= 0 && id != P_config_directory) {
			file = cf->main_path;
			line = cf->settings[cf->known[id]].line;
		} else {
			file = NULL;
		}
		exp = config_expand(v, raw, &err);
		/*
		 * In a service view, a value that is not overridden and
		 * expands as in main.cf was checked there already.
		 */
		if (v->svc != NULL && o == NULL && exp != NULL &&
		    strcmp(exp, cf->main_view.vals[id].expanded) == 0) {
			free(exp);
			copy_main_value(cf, v, id);
			continue;
		}
		/* Its expansion failed in main.cf: reported there. */
		if (v->svc != NULL && o == NULL && exp == NULL &&
		    cf->main_view.vals[id].unexpanded) {
			copy_main_value(cf, v, id);
			continue;
		}
		if (v->svc != NULL && o == NULL) {
			/* Changed through an override of a $name it uses. */
			file = v->svc->file;
			line = v->svc->line;
		}
		dest = (v->svc != NULL ? o != NULL : file != NULL) ? diags :
		    &deferred;
		if (exp == NULL) {
			if (v->svc != NULL)
				diag_add(dest, DIAG_ERROR, file, line,
				    "service %s: %s: %s", v->svc->name,
				    def->name, err);
			else
				diag_add(dest, DIAG_ERROR, file, line,
				    "%s%s: %s", def->name, file != NULL ? "" :
				    " (default value)", err);
			exp = xstrdup("");
			v->vals[id].unexpanded = true;
		} else if (config_check_value(def, exp, &v->vals[id].num,
		    &v->vals[id].b, &verr) < 0) {
			char shown[160];

			log_escape(shown, sizeof(shown), exp, strlen(exp), 100);
			if (o != NULL)
				diag_add(dest, DIAG_ERROR, file, line,
				    "service %s: -o %s=%s: invalid value: %s",
				    v->svc->name, def->name, shown, verr);
			else if (v->svc != NULL)
				diag_add(dest, DIAG_ERROR, file, line,
				    "service %s: %s becomes \"%s\" through "
				    "this service's -o overrides, which is "
				    "invalid: %s", v->svc->name, def->name,
				    shown, verr);
			else if (file != NULL)
				diag_add(dest, DIAG_ERROR, file, line,
				    "invalid value \"%s\" for %s: %s", shown,
				    def->name, verr);
			else
				diag_add(dest, DIAG_ERROR, NULL, 0,
				    "default value \"%s\" of %s is invalid "
				    "here: %s", shown, def->name, verr);
			free(verr);
		}
		v->vals[id].expanded = exp;
	}
	if (diags->errors == errors_before)
		for (size_t i = 0; i < deferred.n; i++)
			diag_add(diags, DIAG_ERROR, deferred.items[i].file,
			    deferred.items[i].line, "%s",
			    deferred.items[i].text);
	else if (deferred.n > 0)
		diag_add(diags, DIAG_WARNING, NULL, 0, "%zu more parameter%s "
		    "could not be expanded or checked because of the error%s "
		    "above",
		    deferred.n, deferred.n == 1 ? "" : "s",
		    diags->errors - errors_before == 1 ? "" : "s");
	diag_list_deinit(&deferred);
}

/*
 * check_semantics - checks beyond type and range, for parameters whose
 * value has its own syntax that Ostia honours now.  A list that cannot be
 * parsed is an error at load time, never a silent "matches nothing"
 * later (fail closed).
 */
static void
check_peer_list(struct config *cf, struct config_view *v, enum param_id id,
    struct diag_list *diags)
{
	const char *name = config_params[id].name;
	const struct master_option *o;
	struct peer_tables_ctx ctx;
	struct peer_list *pl;
	const char *err = NULL, *file = NULL;
	unsigned line = 0;

	if (v->svc != NULL) {
		o = find_override(v->svc, name);
		if (o == NULL && strcmp(v->vals[id].expanded,
		    cf->main_view.vals[id].expanded) == 0)
			return;
		file = v->svc->file;
		line = v->svc->line;
	} else if (cf->known[id] >= 0) {
		file = cf->main_path;
		line = cf->settings[cf->known[id]].line;
	}
	/* Table types are checked here; their files when smtpd opens them
	 * (before its privilege drop). */
	peer_tables_ctx_init(&ctx, name, false, NULL);
	pl = peer_list_parse_tables(v->vals[id].expanded,
	    config_list_contains(v, P_parent_domain_matches_subdomains, name),
	    peer_tables_open, &ctx, &err);
	if (pl == NULL)
		diag_add(diags, DIAG_ERROR, file, line, "%s%s%s%s: %s",
		    v->svc != NULL ? "service " : "",
		    v->svc != NULL ? v->svc->name : "",
		    v->svc != NULL ? ": " : "", name, err);
	peer_list_free(&pl);
}

/*
 * check_semantics - checks beyond type and range, for parameters whose
 * value has its own syntax that Ostia honours now.  A list that cannot be
 * parsed is an error at load time, never a silent "matches nothing"
 * later (fail closed).
 */
static void
check_semantics(struct config *cf, struct config_view *v,
    struct diag_list *diags)
{
	static const enum param_id peer_lists[] = {
		P_debug_peer_list, P_mynetworks, P_permit_mx_backup_networks,
		P_smtpd_client_event_limit_exceptions,
		P_smtpd_authorized_xclient_hosts,
		P_smtpd_authorized_xforward_hosts,
		P_smtpd_forbid_bare_newline_exclusions,
		P_smtpd_sasl_exceptions_networks,
	};

	for (size_t i = 0; i < sizeof(peer_lists) / sizeof(peer_lists[0]); i++)
		check_peer_list(cf, v, peer_lists[i], diags);
}

static void
view_deinit(struct config_view *v)
{
	for (int id = 0; id < P__COUNT; id++) {
		free(v->vals[id].expanded);
		v->vals[id].expanded = NULL;
	}
}

/* compute_defaults - defaults that depend on this machine. */
static void
compute_defaults(struct config *cf)
{
	const char *err = NULL, *dot;
	char *host;

	cf->computed_default[P_myhostname] = config_default_myhostname();
	/*
	 * As in Postfix, mydomain defaults to $myhostname minus its first
	 * label, with myhostname as main.cf sets it.
	 */
	host = config_expand(&cf->main_view, "$myhostname", &err);
	dot = host != NULL ? strchr(host, '.') : NULL;
	cf->computed_default[P_mydomain] = xstrdup(dot != NULL && dot[1] ?
	    dot + 1 : "localdomain");
	free(host);
}

char *
config_default_myhostname(void)
{
	char name[256];
	struct addrinfo hints, *res = NULL;

	if (gethostname(name, sizeof(name)) < 0 || name[0] == '\0')
		return xstrdup("localhost.localdomain");
	name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') != NULL)
		return xstrdup(name);
	/* Not qualified: ask the resolver for the canonical name. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && strchr(res->ai_canonname, '.')) {
		char *fqdn = xstrdup(res->ai_canonname);

		freeaddrinfo(res);
		return fqdn;
	}
	if (res != NULL)
		freeaddrinfo(res);
	return xasprintf("%s.localdomain", name);
}

static void
check_all(struct config *cf, unsigned flags, struct diag_list *diags)
{
	struct strv referenced;
	struct reported rep;

	strv_init(&referenced);
	strv_init(&rep.names);

	/* Names used as $name anywhere are user-defined, not typos. */
	for (size_t i = 0; i < cf->nsettings; i++)
		referenced_names(cf->settings[i].value, &referenced);
	for (size_t s = 0; cf->master != NULL && s < cf->master->nservices;
	    s++) {
		const struct master_service *svc = &cf->master->services[s];

		for (size_t o = 0; o < svc->nopts; o++)
			referenced_names(svc->opts[o].value, &referenced);
		for (size_t a = 0; svc->args[a] != NULL; a++)
			referenced_names(svc->args[a], &referenced);
	}
	for (int id = 0; id < P__COUNT; id++)
		referenced_names(config_params[id].def, &referenced);
	/* smtpd_restriction_classes names parameters of the admin's own. */
	for (size_t i = 0; i < cf->nsettings; i++) {
		if (strcmp(cf->settings[i].name, "smtpd_restriction_classes") ==
		    0)
			class_names(cf->settings[i].value, &referenced);
	}
	for (size_t s = 0; cf->master != NULL && s < cf->master->nservices;
	    s++) {
		const struct master_service *svc = &cf->master->services[s];

		for (size_t o = 0; o < svc->nopts; o++) {
			if (strcmp(svc->opts[o].name,
			    "smtpd_restriction_classes") == 0)
				class_names(svc->opts[o].value, &referenced);
		}
	}

	/* Duplicates in main.cf. */
	for (size_t i = 0; i < cf->nsettings; i++) {
		for (size_t j = i + 1; j < cf->nsettings; j++) {
			if (strcmp(cf->settings[i].name,
			    cf->settings[j].name) == 0) {
				diag_add(diags, DIAG_WARNING, cf->main_path,
				    cf->settings[j].line, "%s is set again; "
				    "this overrides the setting on line %u",
				    cf->settings[j].name, cf->settings[i].line);
				break;
			}
		}
	}
	for (size_t i = 0; i < cf->nsettings; i++)
		check_name(cf, cf->settings[i].name, cf->settings[i].value,
		    cf->main_path, cf->settings[i].line, &referenced, &rep,
		    flags, diags);

	fill_view(cf, &cf->main_view, diags);
	check_semantics(cf, &cf->main_view, diags);

	for (size_t s = 0; cf->master != NULL && s < cf->master->nservices;
	    s++) {
		const struct master_service *svc = &cf->master->services[s];

		for (size_t o = 0; o < svc->nopts; o++)
			check_name(cf, svc->opts[o].name, svc->opts[o].value,
			    svc->file, svc->line, &referenced, &rep, flags,
			    diags);
		fill_view(cf, &cf->services[s], diags);
		check_semantics(cf, &cf->services[s], diags);
	}
	strv_deinit(&referenced);
	strv_deinit(&rep.names);
}

static struct config *
config_new(const char *config_dir)
{
	struct config *cf = xcalloc(1, sizeof(*cf));
	size_t dl = strlen(config_dir);

	while (dl > 1 && config_dir[dl - 1] == '/')
		dl--;
	cf->dir = xstrndup(config_dir, dl);
	cf->main_path = xasprintf("%s/main.cf", cf->dir);
	cf->master_path = xasprintf("%s/master.cf", cf->dir);
	for (int id = 0; id < P__COUNT; id++)
		cf->known[id] = -1;
	cf->main_view.cf = cf;
	return cf;
}

static struct config *
config_finish_load(struct config *cf, unsigned flags,
    struct diag_list *diags)
{
	size_t errors_before = diags->errors;

	for (size_t i = 0; i < cf->nsettings; i++) {
		int id = config_schema_id(cf->settings[i].name);

		if (id >= 0)
			cf->known[id] = (int)i;
	}
	compute_defaults(cf);
	if (cf->master != NULL) {
		cf->nservices = cf->master->nservices;
		cf->services = xcalloc(cf->nservices + 1,
		    sizeof(*cf->services));
		for (size_t s = 0; s < cf->nservices; s++) {
			cf->services[s].cf = cf;
			cf->services[s].svc = &cf->master->services[s];
		}
	}
	check_all(cf, flags, diags);
	if (diags->errors > errors_before &&
	    (flags & CONFIG_LOAD_LENIENT) == 0) {
		config_free(&cf);
		return NULL;
	}
	return cf;
}

struct config *
config_load_text(const char *config_dir, const char *main_text,
    size_t main_len, const char *master_text, size_t master_len,
    unsigned flags, struct diag_list *diags)
{
	struct config *cf = config_new(config_dir);
	size_t errors_before = diags->errors;

	parse_main_text(cf, main_text, main_len, diags);
	if (master_text != NULL && (flags & CONFIG_LOAD_NO_MASTER) == 0)
		(void)master_cf_parse(master_text, master_len,
		    cf->master_path, &cf->master, diags);
	/* As config_load(): lenient goes on with the lines that parsed. */
	if (diags->errors > errors_before &&
	    (flags & CONFIG_LOAD_LENIENT) == 0) {
		config_free(&cf);
		return NULL;
	}
	return config_finish_load(cf, flags, diags);
}

struct config *
config_load(const char *config_dir, unsigned flags, struct diag_list *diags)
{
	struct config *cf = config_new(config_dir);
	size_t errors_before = diags->errors;
	size_t len = 0;
	char *text;

	text = read_file(cf->main_path, MAIN_CF_MAX_BYTES, &len, diags);
	if (text != NULL) {
		parse_main_text(cf, text, len, diags);
		free(text);
	}
	if ((flags & CONFIG_LOAD_NO_MASTER) == 0)
		(void)master_cf_load(cf->master_path, &cf->master, diags);
	if (diags->errors > errors_before &&
	    ((flags & CONFIG_LOAD_LENIENT) == 0 || text == NULL)) {
		config_free(&cf);
		return NULL;
	}
	return config_finish_load(cf, flags, diags);
}

void
config_free(struct config **cfp)
{
	struct config *cf = *cfp;

	if (cf == NULL)
		return;
	view_deinit(&cf->main_view);
	for (size_t s = 0; s < cf->nservices; s++)
		view_deinit(&cf->services[s]);
	free(cf->services);
	master_cf_free(&cf->master);
	for (size_t i = 0; i < cf->nsettings; i++) {
		free(cf->settings[i].name);
		free(cf->settings[i].value);
	}
	free(cf->settings);
	for (int id = 0; id < P__COUNT; id++)
		free(cf->computed_default[id]);
	free(cf->dir);
	free(cf->main_path);
	free(cf->master_path);
	free(cf);
	*cfp = NULL;
}

/* ---------------------------------------------------------------- */
/* Access                                                           */

const struct config_view *
config_main(const struct config *cf)
{
	return &cf->main_view;
}

const struct master_cf *
config_master(const struct config *cf)
{
	return cf->master;
}

const struct config_view *
config_service(const struct config *cf, size_t i)
{
	if (i >= cf->nservices)
		log_panic("config_service: index %zu out of range", i);
	return &cf->services[i];
}

const char *
config_dir(const struct config *cf)
{
	return cf->dir;
}

const char *
config_main_cf_path(const struct config *cf)
{
	return cf->main_path;
}

const char *
config_master_cf_path(const struct config *cf)
{
	return cf->master_path;
}

size_t
config_main_settings(const struct config *cf,
    const struct config_setting **settings_r)
{
	*settings_r = cf->settings;
	return cf->nsettings;
}

static const struct config_value *
typed(const struct config_view *v, enum param_id id, enum param_type t1,
    enum param_type t2)
{
	if ((int)id < 0 || id >= P__COUNT)
		log_panic("config: parameter id %d out of range", (int)id);
	if (config_params[id].type != t1 && config_params[id].type != t2)
		log_panic("config: %s read as the wrong type",
		    config_params[id].name);
	return &v->vals[id];
}

const char *
config_str(const struct config_view *v, enum param_id id)
{
	if ((int)id < 0 || id >= P__COUNT)
		log_panic("config: parameter id %d out of range", (int)id);
	return v->vals[id].expanded;
}

long long
config_int(const struct config_view *v, enum param_id id)
{
	return typed(v, id, PT_INT, PT_INT)->num;
}

long long
config_time(const struct config_view *v, enum param_id id)
{
	return typed(v, id, PT_TIME, PT_TIME)->num;
}

uint64_t
config_size(const struct config_view *v, enum param_id id)
{
	return (uint64_t)typed(v, id, PT_SIZE, PT_SIZE)->num;
}

bool
config_bool(const struct config_view *v, enum param_id id)
{
	return typed(v, id, PT_BOOL, PT_BOOL)->b;
}

char **
config_list(const struct config_view *v, enum param_id id)
{
	return config_split_list(typed(v, id, PT_LIST, PT_MAPS)->expanded);
}

bool
config_list_contains(const struct config_view *v, enum param_id id,
    const char *word)
{
	char **l = config_list(v, id);
	bool found = false;

	for (size_t i = 0; l[i] != NULL && !found; i++)
		found = strcasecmp(l[i], word) == 0;
	strv_free(&l);
	return found;
}
