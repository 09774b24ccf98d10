/* SPDX-License-Identifier: MIT */
/*
 * fuzz_main_cf - config_load_text() on arbitrary main.cf text (no
 * master.cf).  It must not crash, leak or read out of bounds; it must
 * return a configuration exactly when there was no error; and every
 * getter must then work on every parameter (abort() otherwise).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_schema.h"
#include "diag.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONFIG_DIR "/nonexistent-fuzz"

/* read_all - every getter of the right type on every parameter. */
static void
read_all(const struct config *cf)
{
	const struct config_view *v = config_main(cf);
	const struct config_setting *s;
	size_t n = config_main_settings(cf, &s);

	for (int id = 0; id < P__COUNT; id++) {
		char **l;

		if (config_str(v, id) == NULL)
			abort();
		switch (config_params[id].type) {
		case PT_INT:
			(void)config_int(v, id);
			break;
		case PT_TIME:
			if (config_time(v, id) < config_params[id].min ||
			    config_time(v, id) > config_params[id].max)
				abort();
			break;
		case PT_SIZE:
			(void)config_size(v, id);
			break;
		case PT_BOOL:
			(void)config_bool(v, id);
			break;
		case PT_LIST:
		case PT_MAPS:
			l = config_list(v, id);
			strv_free(&l);
			break;
		case PT_STRING:
		case PT_ENUM:
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *err = NULL;
		char *x;

		/* The effective value of every name set is reachable. */
		if (config_raw(v, s[i].name, NULL) == NULL)
			abort();
		x = config_expand(v, s[i].value, &err);
		if (x == NULL && err == NULL)
			abort();
		free(x);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list dl;
	struct config *cf;

	diag_list_init(&dl);
	cf = config_load_text(FUZZ_CONFIG_DIR, (const char *)data, size, NULL,
	    0, CONFIG_LOAD_NO_MASTER, &dl);
	if ((cf == NULL) != diag_has_errors(&dl))
		abort();
	if (cf != NULL) {
		if (strcmp(config_dir(cf), FUZZ_CONFIG_DIR) != 0 ||
		    config_master(cf) != NULL)
			abort();
		read_all(cf);
	}
	config_free(&cf);
	diag_list_deinit(&dl);
	return 0;
}
