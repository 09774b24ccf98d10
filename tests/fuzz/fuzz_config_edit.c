/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config_edit - config_edit_text() against the loader.
 *
 * Input: "name" up to the first NUL or LF, then main.cf text.  When name
 * is a valid parameter name and the text loads without errors, the text
 * edited with "name = fuzz" must load without syntax errors, give the
 * same settings in the same order except that name's entries become one
 * "name = fuzz" where the first one was (or at the end), and name's raw
 * value must be "fuzz" (abort() otherwise).  config_directory is the one
 * name whose raw value never comes from main.cf (the directory given to
 * the loader wins).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_edit.h"
#include "diag.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONFIG_DIR "/nonexistent-fuzz"
#define FUZZ_VALUE "fuzz"
#define FUZZ_FLAGS (CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET)

/* The messages of main.cf syntax errors (config.c and cf_lines.c). */
static const char *const syntax_errors[] = {
	"expected \"name = value\"",
	"NUL byte",
	"line too long",
	"nothing before it to continue",
	"too many lines",
};

static bool
has_syntax_error(const struct diag_list *dl)
{
	for (size_t i = 0; i < sizeof(syntax_errors) / sizeof(*syntax_errors);
	    i++)
		if (diag_list_contains(dl, DIAG_ERROR, syntax_errors[i]))
			return true;
	return false;
}

static bool
is_valid_name(const char *name, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-')
			return false;
	return true;
}

/*
 * same_settings - edited's settings are before's with every entry of
 * name dropped and name = FUZZ_VALUE put where the first one was.
 */
static bool
same_settings(const struct config *before, const struct config *edited,
    const char *name)
{
	const struct config_setting *a, *b;
	size_t na = config_main_settings(before, &a);
	size_t nb = config_main_settings(edited, &b);
	size_t j = 0;
	bool placed = false;

	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i].name, name) == 0) {
			if (placed)
				continue;
			placed = true;
			if (j >= nb || strcmp(b[j].name, name) != 0 ||
			    strcmp(b[j].value, FUZZ_VALUE) != 0)
				return false;
			j++;
			continue;
		}
		if (j >= nb || strcmp(a[i].name, b[j].name) != 0 ||
		    strcmp(a[i].value, b[j].value) != 0)
			return false;
		j++;
	}
	if (!placed) {
		if (j >= nb || strcmp(b[j].name, name) != 0 ||
		    strcmp(b[j].value, FUZZ_VALUE) != 0)
			return false;
		j++;
	}
	return j == nb;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct diag_list dl, dl2;
	struct config *before = NULL, *edited = NULL;
	struct config_edit e;
	const char *text, *raw;
	size_t nlen, tlen;
	char *name, *out;

	for (nlen = 0; nlen < size && in[nlen] != '\0' && in[nlen] != '\n';
	    nlen++)
		;
	if (!is_valid_name(in, nlen))
		return 0;
	text = nlen < size ? in + nlen + 1 : in + size;
	tlen = nlen < size ? size - nlen - 1 : 0;

	diag_list_init(&dl);
	before = config_load_text(FUZZ_CONFIG_DIR, text, tlen, NULL, 0,
	    FUZZ_FLAGS, &dl);
	if (before == NULL || diag_has_errors(&dl)) {
		config_free(&before);
		diag_list_deinit(&dl);
		return 0;
	}

	name = xstrndup(in, nlen);
	e.name = name;
	e.value = FUZZ_VALUE;
	out = config_edit_text(text, tlen, &e, 1);

	/* Lenient: a value error (name may be an int, say) is allowed. */
	diag_list_init(&dl2);
	edited = config_load_text(FUZZ_CONFIG_DIR, out, strlen(out), NULL, 0,
	    FUZZ_FLAGS | CONFIG_LOAD_LENIENT, &dl2);
	if (has_syntax_error(&dl2) || edited == NULL)
		abort();
	if (!same_settings(before, edited, name))
		abort();
	raw = config_raw(config_main(edited), name, NULL);
	if (strcmp(name, "config_directory") != 0 &&
	    (raw == NULL || strcmp(raw, FUZZ_VALUE) != 0))
		abort();

	config_free(&edited);
	config_free(&before);
	diag_list_deinit(&dl2);
	diag_list_deinit(&dl);
	free(out);
	free(name);
	return 0;
}
