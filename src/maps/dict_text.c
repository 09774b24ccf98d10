/* SPDX-License-Identifier: MIT */
/*
 * dict_text - postmap text files and inline:{...} names parsed into a
 * sorted in-memory table; see dict_text.h.
 *
 * Entries are appended as they are read (key and value copied into one
 * storage buffer), then sorted once at the end; duplicates are found
 * next to each other after the sort (equal keys ordered by line), so the
 * first one stays and the later ones become warnings, which are then put
 * back in line order.  Nothing depends on how the input was split.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dict_text.h"
#include "xalloc.h"

/* Longest logical line: a key, a value and room for white space. */
#define LOGICAL_MAX_BYTES (DICT_KEY_MAX_BYTES + DICT_VALUE_MAX_BYTES + 4096)
/* Storage: every key and value with its NUL; input is at most the cap. */
#define STORE_MAX_BYTES (2 * DICT_TEXT_MAX_FILE_BYTES)
/* Characters of a key shown in a message. */
#define SHOW_MAX 80

static void
t_fail(struct dict_text *t, const char *fmt, ...) ATTR_FORMAT(2, 3);

/* t_fail - record the error (first one wins) and make the table failed. */
static void
t_fail(struct dict_text *t, const char *fmt, ...)
{
	va_list ap;

	if (t->state == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
	va_end(ap);
	t->state = -1;
}

/* t_error - copy the recorded error to the caller's err; returns -1. */
static int
t_error(const struct dict_text *t, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s", t->errmsg[0] != '\0' ? t->errmsg :
	    "text table: used again after an error");
	return -1;
}

/*
 * show - a key for a message: at most SHOW_MAX bytes, control bytes as
 * '?', "..." when cut.  Returns out.
 */
static const char *
show(const char *s, size_t len, char *out, size_t outsz)
{
	size_t n = len < SHOW_MAX ? len : SHOW_MAX, o = 0;

	for (size_t i = 0; i < n && o + 4 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (char)((c < 0x20 || c == 0x7f) ? '?' : c);
	}
	if (n < len && o + 4 < outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Where a line is, for messages: "FILE, line N" or "inline table, ...". */
static const char *
unit_name(const struct dict_text *t)
{
	return t->is_inline ? "element" : "line";
}

/* A warning with its line, before the final line-ordered list. */
struct dict_text_warning {
	unsigned line;
	char *text;
};

void
dict_text_init(struct dict_text *t, const char *where, unsigned flags)
{
	memset(t, 0, sizeof(*t));
	strv_init(&t->warnings);
	t->where = xstrdup(where);
	t->flags = flags;
	cf_lines_init(&t->lines, LOGICAL_MAX_BYTES);
	buf_init(&t->store, STORE_MAX_BYTES);
}

void
dict_text_deinit(struct dict_text *t)
{
	free(t->entries);
	strv_deinit(&t->warnings);
	for (size_t i = 0; i < t->npending; i++)
		free(t->pending[i].text);
	free(t->pending);
	free(t->where);
	cf_lines_deinit(&t->lines);
	buf_deinit(&t->store);
	memset(t, 0, sizeof(*t));
}

/*
 * add_warning - keep a warning found while reading (in line order); past
 * the limit only count it: later ones can only have later lines.
 */
static void
add_warning(struct dict_text *t, unsigned line, char *text)
{
	if (t->npending >= DICT_TEXT_MAX_WARNINGS) {
		t->dropped++;
		free(text);
		return;
	}
	t->pending = xreallocarray(t->pending, t->npending + 1,
	    sizeof(*t->pending));
	t->pending[t->npending].line = line;
	t->pending[t->npending].text = text;
	t->npending++;
}

/*
 * add_entry - store key and value (folding the key when asked) as a new
 * entry.  -1 (table failed) when a limit is passed.
 */
static int
add_entry(struct dict_text *t, const char *key, size_t klen,
    const char *value, size_t vlen, unsigned line)
{
	struct dict_text_entry *e;
	char shown[SHOW_MAX + 8];
	size_t koff, voff;

	if (klen == 0) {
		t_fail(t, "%s, %s %u: empty key", t->where, unit_name(t),
		    line);
		return -1;
	}
	if (klen > DICT_KEY_MAX_BYTES) {
		t_fail(t, "%s, %s %u: key \"%s\" is longer than %d bytes",
		    t->where, unit_name(t), line, show(key, klen, shown,
		    sizeof(shown)), DICT_KEY_MAX_BYTES);
		return -1;
	}
	if (vlen > DICT_VALUE_MAX_BYTES) {
		t_fail(t, "%s, %s %u: the value of \"%s\" is longer than %d "
		    "bytes", t->where, unit_name(t), line, show(key, klen,
		    shown, sizeof(shown)), DICT_VALUE_MAX_BYTES);
		return -1;
	}
	koff = t->store.len;
	if (buf_append(&t->store, key, klen) < 0 ||
	    buf_append_c(&t->store, '\0') < 0) {
		t_fail(t, "%s: too much text for one table", t->where);
		return -1;
	}
	if (t->flags & DICT_TEXT_FOLD) {
		char *k = t->store.data + koff;

		for (size_t i = 0; i < klen; i++)
			if (k[i] >= 'A' && k[i] <= 'Z')
				k[i] = (char)(k[i] - 'A' + 'a');
	}
	voff = t->store.len;
	if (buf_append(&t->store, value, vlen) < 0 ||
	    buf_append_c(&t->store, '\0') < 0) {
		t_fail(t, "%s: too much text for one table", t->where);
		return -1;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->entries = xreallocarray(t->entries, t->cap,
		    sizeof(*t->entries));
	}
	e = &t->entries[t->n++];
	e->key_off = koff;
	e->key_len = klen;
	e->value_off = voff;
	e->value_len = vlen;
	e->line = line;
	return 0;
}

/*
 * key_end - length of the key at the start of s (up to white space
 * outside double quotes; backslash protects the next byte inside
 * quotes); -1 when a quote is left open.
 */
static long
key_end(const char *s, size_t len)
{
	bool inq = false;
	size_t i = 0;

	while (i < len) {
		char c = s[i];

		if (inq) {
			if (c == '\\' && i + 1 < len) {
				i += 2;
				continue;
			}
			if (c == '"')
				inq = false;
		} else if (c == ' ' || c == '\t') {
			break;
		} else if (c == '"') {
			inq = true;
		}
		i++;
	}
	return inq ? -1 : (long)i;
}

/* text_line - one logical line of a postmap file (cf_lines callback). */
static int
text_line(void *ctx, const char *text, size_t len, unsigned lineno)
{
	struct dict_text *t = ctx;
	char shown[SHOW_MAX + 8];
	long kl = key_end(text, len);
	size_t klen, v;

	if (kl < 0) {
		t_fail(t, "%s, line %u: unbalanced double quote in the key "
		    "(quote a key with white space as \"two words\", and \\\" "
		    "or \\\\ inside the quotes)", t->where, lineno);
		return -1;
	}
	klen = (size_t)kl;
	v = klen;
	while (v < len && (text[v] == ' ' || text[v] == '\t'))
		v++;
	if (v == len) {
		t_fail(t, "%s, line %u: \"%s\" has no value (expected \"key "
		    "whitespace value\")", t->where, lineno,
		    show(text, klen, shown, sizeof(shown)));
		return -1;
	}
	if (klen >= 2 && text[klen - 1] == ':' && text[klen - 2] != ':')
		add_warning(t, lineno, xasprintf("%s, line %u: key \"%s\" "
		    "ends with ':'; in this format the key ends at the first "
		    "white space, so the colon is part of the key (\"name: "
		    "value\" is aliases(5) syntax)", t->where, lineno,
		    show(text, klen, shown, sizeof(shown))));
	return add_entry(t, text, klen, text + v, len - v, lineno);
}

int
dict_text_feed(struct dict_text *t, const char *data, size_t len, char *err,
    size_t errsz)
{
	const char *cerr = NULL;
	unsigned cline = 0;

	if (t->state != 0)
		return t_error(t, err, errsz);
	if (len > DICT_TEXT_MAX_FILE_BYTES - t->fed) {
		t_fail(t, "%s: larger than %zu bytes (the most a text table "
		    "may hold)", t->where, DICT_TEXT_MAX_FILE_BYTES);
		return t_error(t, err, errsz);
	}
	t->fed += len;
	if (cf_lines_feed(&t->lines, data, len, text_line, t, &cerr,
	    &cline) < 0) {
		if (cerr != NULL)
			t_fail(t, "%s, line %u: %s", t->where, cline, cerr);
		return t_error(t, err, errsz);
	}
	return 0;
}

/* qsort_r comparator: LMDB's key order, then the line (first wins). */
static int
entry_cmp(const void *a, const void *b, void *ctx)
{
	const struct dict_text_entry *x = a, *y = b;
	const char *store = ctx;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(store + x->key_off, store + y->key_off, n);

	if (c != 0)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

struct dup {
	unsigned line;
	unsigned first;
	size_t key_off;
	size_t key_len;
};

static int
dup_cmp(const void *a, const void *b)
{
	const struct dup *x = a, *y = b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * sort_and_dedupe - sort the entries, keep the first of each key, and
 * build t->warnings: the reading warnings and one per dropped duplicate,
 * merged in line order, at most DICT_TEXT_MAX_WARNINGS of them.
 */
static void
sort_and_dedupe(struct dict_text *t)
{
	struct dup *dups = NULL;
	size_t ndups = 0, out = 0, a = 0, b = 0;
	unsigned dropped = t->dropped;
	char shown[SHOW_MAX + 8];

	if (t->n > 1)
		qsort_r(t->entries, t->n, sizeof(*t->entries), entry_cmp,
		    t->store.data);
	for (size_t i = 0; i < t->n; i++) {
		/* Index i >= out: not yet overwritten by the compaction. */
		struct dict_text_entry e = t->entries[i];

		if (out > 0) {
			const struct dict_text_entry *k = &t->entries[out - 1];

			if (k->key_len == e.key_len &&
			    memcmp(t->store.data + k->key_off,
			    t->store.data + e.key_off, e.key_len) == 0) {
				dups = xreallocarray(dups, ndups + 1,
				    sizeof(*dups));
				dups[ndups].line = e.line;
				dups[ndups].first = k->line;
				dups[ndups].key_off = e.key_off;
				dups[ndups].key_len = e.key_len;
				ndups++;
				continue;
			}
		}
		t->entries[out++] = e;
	}
	t->n = out;
	if (ndups > 1)
		qsort(dups, ndups, sizeof(*dups), dup_cmp);
	while (a < t->npending || b < ndups) {
		bool take_dup = b < ndups && (a == t->npending ||
		    dups[b].line < t->pending[a].line);

		if (t->warnings.n >= DICT_TEXT_MAX_WARNINGS) {
			dropped += (unsigned)(t->npending - a + ndups - b);
			break;
		}
		if (take_dup) {
			strv_add_take(&t->warnings, xasprintf("%s, %s %u: "
			    "duplicate entry \"%s\" ignored (the first one, "
			    "%s %u, is kept)", t->where, unit_name(t),
			    dups[b].line, show(t->store.data + dups[b].key_off,
			    dups[b].key_len, shown, sizeof(shown)),
			    unit_name(t), dups[b].first));
			b++;
		} else {
			strv_add_take(&t->warnings, t->pending[a].text);
			t->pending[a].text = NULL;
			a++;
		}
	}
	if (dropped > 0)
		strv_add_take(&t->warnings, xasprintf("%s: %u more warning%s "
		    "not shown", t->where, dropped, dropped == 1 ? "" : "s"));
	for (size_t i = 0; i < t->npending; i++)
		free(t->pending[i].text);
	free(t->pending);
	t->pending = NULL;
	t->npending = 0;
	free(dups);
}

int
dict_text_finish(struct dict_text *t, char *err, size_t errsz)
{
	const char *cerr = NULL;
	unsigned cline = 0;

	if (t->state != 0)
		return t_error(t, err, errsz);
	if (cf_lines_finish(&t->lines, text_line, t, &cerr, &cline) < 0) {
		if (cerr != NULL)
			t_fail(t, "%s, line %u: %s", t->where, cline, cerr);
		return t_error(t, err, errsz);
	}
	sort_and_dedupe(t);
	t->state = 1;
	return 0;
}

int
dict_text_parse(struct dict_text *t, const char *where, unsigned flags,
    const char *data, size_t len, char *err, size_t errsz)
{
	dict_text_init(t, where, flags);
	if (dict_text_feed(t, data, len, err, errsz) < 0)
		return -1;
	return dict_text_finish(t, err, errsz);
}

/* ------------------------------------------------------------ inline */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v';
}

/* inline_element - one "key=value" element (braces already removed). */
static int
inline_element(struct dict_text *t, const char *s, size_t len,
    unsigned elem)
{
	const char *eq = memchr(s, '=', len);
	char shown[SHOW_MAX + 8];
	size_t kb = 0, ke, vb, ve = len;

	if (eq == NULL) {
		t_fail(t, "%s, element %u: \"%s\" is not key=value (write "
		    "{ key = text } when the text has white space or commas)",
		    t->where, elem, show(s, len, shown, sizeof(shown)));
		return -1;
	}
	ke = (size_t)(eq - s);
	vb = ke + 1;
	while (kb < ke && is_space(s[kb]))
		kb++;
	while (ke > kb && is_space(s[ke - 1]))
		ke--;
	while (vb < ve && is_space(s[vb]))
		vb++;
	while (ve > vb && is_space(s[ve - 1]))
		ve--;
	if (ke == kb) {
		t_fail(t, "%s, element %u: \"%s\" has an empty key",
		    t->where, elem, show(s, len, shown, sizeof(shown)));
		return -1;
	}
	if (ve == vb) {
		t_fail(t, "%s, element %u: \"%s\" has no value", t->where,
		    elem, show(s + kb, ke - kb, shown, sizeof(shown)));
		return -1;
	}
	return add_entry(t, s + kb, ke - kb, s + vb, ve - vb, elem);
}

int
dict_text_parse_inline(struct dict_text *t, const char *name, unsigned flags,
    char *err, size_t errsz)
{
	size_t len = strlen(name), b = 0, e = len, p;
	unsigned elem = 0;
	int depth = 0;

	dict_text_init(t, "inline table", flags);
	t->is_inline = true;
	if (len > DICT_SPEC_MAX_BYTES) {
		t_fail(t, "inline table: longer than %d bytes",
		    DICT_SPEC_MAX_BYTES);
		return t_error(t, err, errsz);
	}
	while (b < e && is_space(name[b]))
		b++;
	while (e > b && is_space(name[e - 1]))
		e--;
	if (e - b < 2 || name[b] != '{' || name[e - 1] != '}') {
		t_fail(t, "inline table: write inline:{ key=value, "
		    "{ key = text with spaces }, ... }");
		return t_error(t, err, errsz);
	}
	b++;
	e--;
	/* Braces must pair up inside. */
	for (p = b; p < e; p++) {
		if (name[p] == '{')
			depth++;
		else if (name[p] == '}' && --depth < 0)
			break;
	}
	if (depth != 0) {
		t_fail(t, "inline table: unbalanced braces");
		return t_error(t, err, errsz);
	}
	p = b;
	for (;;) {
		size_t start;

		while (p < e && (name[p] == ',' || is_space(name[p])))
			p++;
		if (p >= e)
			break;
		elem++;
		start = p;
		if (name[p] == '{') {
			/* A group: up to its matching brace, braces off. */
			depth = 0;
			for (; p < e; p++) {
				if (name[p] == '{')
					depth++;
				else if (name[p] == '}' && --depth == 0)
					break;
			}
			if (inline_element(t, name + start + 1,
			    p - start - 1, elem) < 0)
				return t_error(t, err, errsz);
			p++;
			if (p < e && name[p] != ',' && !is_space(name[p])) {
				t_fail(t, "inline table, element %u: text "
				    "after the closing brace", elem);
				return t_error(t, err, errsz);
			}
			continue;
		}
		depth = 0;
		while (p < e) {
			if (name[p] == '{')
				depth++;
			else if (name[p] == '}')
				depth--;
			else if (depth == 0 && (name[p] == ',' ||
			    is_space(name[p])))
				break;
			p++;
		}
		if (inline_element(t, name + start, p - start, elem) < 0)
			return t_error(t, err, errsz);
	}
	sort_and_dedupe(t);
	t->state = 1;
	return 0;
}

/* ------------------------------------------------------------ lookups */

const struct dict_text_entry *
dict_text_find(const struct dict_text *t, const char *key, size_t keylen)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dict_text_entry *e = &t->entries[mid];
		size_t n = e->key_len < keylen ? e->key_len : keylen;
		int c = memcmp(t->store.data + e->key_off, key, n);

		if (c == 0 && e->key_len != keylen)
			c = e->key_len < keylen ? -1 : 1;
		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *
dict_text_key(const struct dict_text *t, const struct dict_text_entry *e)
{
	return t->store.data + e->key_off;
}

const char *
dict_text_value(const struct dict_text *t, const struct dict_text_entry *e)
{
	return t->store.data + e->value_off;
}

/* ------------------------------------------------------------ files */

/* trusted_stat - the dict_check_file() rule applied to an opened file. */
static int
trusted_stat(const char *path, const struct stat *st,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		return -1;
	}
	if (opts->trusted_uid != (uid_t)-1 && ((st->st_uid != 0 &&
	    st->st_uid != opts->trusted_uid) ||
	    (st->st_mode & (S_IWGRP | S_IWOTH)))) {
		snprintf(err, errsz, "%s: owner or permissions changed while "
		    "it was being opened: refusing it (try again)", path);
		return -1;
	}
	return 0;
}

int
dict_text_read_file(const char *path, const struct dict_open_opts *opts,
    size_t max, char **text_r, size_t *len_r, struct stat *st_r, char *err,
    size_t errsz)
{
	struct stat st;
	char *text;
	size_t len = 0;
	int fd;

	*text_r = NULL;
	*len_r = 0;
	if (dict_check_file(path, opts, err, errsz) < 0)
		return -1;
	/* O_NONBLOCK: a FIFO put in its place must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (trusted_stat(path, &st, opts, err, errsz) < 0) {
		close(fd);
		return -1;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		snprintf(err, errsz, "%s: larger than %zu bytes (the most a "
		    "text table may hold)", path, max);
		close(fd);
		return -1;
	}
	text = xmalloc((size_t)st.st_size + 2);
	/* Read one byte past the size seen, to notice a file that grew. */
	for (;;) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			free(text);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > (size_t)st.st_size) {
			snprintf(err, errsz, "%s: the file grew while it was "
			    "read (rebuild tables by writing a new file and "
			    "renaming it into place)", path);
			free(text);
			close(fd);
			return -1;
		}
	}
	close(fd);
	text[len] = '\0';
	*text_r = text;
	*len_r = len;
	if (st_r != NULL)
		*st_r = st;
	return 0;
}

int
dict_text_load(struct dict_text *t, const char *path,
    const struct dict_open_opts *opts, unsigned flags, struct stat *st_r,
    char *err, size_t errsz)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (dict_text_read_file(path, opts, DICT_TEXT_MAX_FILE_BYTES, &text,
	    &len, st_r, err, errsz) < 0) {
		dict_text_init(t, path, flags);
		t->state = -1;
		snprintf(t->errmsg, sizeof(t->errmsg), "%s", err);
		return -1;
	}
	ret = dict_text_parse(t, path, flags, text, len, err, errsz);
	free(text);
	return ret;
}

bool
dict_text_file_changed(const char *path, const struct stat *st)
{
	struct stat now;

	if (stat(path, &now) < 0)
		return true;
	return now.st_dev != st->st_dev || now.st_ino != st->st_ino ||
	    now.st_size != st->st_size ||
	    now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != st->st_mtim.tv_nsec;
}
