/* SPDX-License-Identifier: MIT */
/*
 * lookup_lists - the FIND and ROUTE requests in the lookup process
 * (lookup_proto.h): lists of tables (maps.h) and the address resolver's
 * tables (route.h), built over the tables the process already has open.
 *
 * Nothing here opens a table.  A borrow function (the lookup process's)
 * gives the open table for a "type:name" (proxy: already removed), or
 * NULL with the reason when the lookup process does not serve it; the
 * lists only borrow what it gives (maps_add_borrowed), so they must be
 * dropped (lookup_lists_clear) before the borrowed tables go away.  The
 * lookup process hands out tables that stay valid for its whole life
 * (they look up through its cache and follow file changes themselves),
 * so the lists hold no answers: SIGHUP empties the cache they look up
 * through, and drops the FIND lists.
 *
 * Caches:
 *   FIND   one maps list per distinct list of tables as written, at most
 *          LOOKUP_LISTS_FIND_MAX (when full, all are dropped and built
 *          again as they are asked for); a list naming a table the
 *          process does not serve is not cached and answers TEMPFAIL
 *          "SPEC: table not configured in the lookup process ..."
 *   ROUTE  one route_tables per view (main.cf, or a master.cf service:
 *          see lookup_lists_view), built with route_tables_new() whose
 *          opener borrows; a table it names that the process does not
 *          serve becomes a failing table (route.h: lookups through it
 *          are ROUTE_TEMPFAIL with the reason).  The lookup process
 *          builds them all at its preinit, as root, because the domain
 *          lists' /file elements are read then (route_dlist.h); they are
 *          kept until the process exits (a reload starts a new one), so
 *          such a file only needs to be readable by root, as in Postfix.
 *
 * Single-threaded, like the tables.
 */
#ifndef OSTIA_LOOKUP_LISTS_H
#define OSTIA_LOOKUP_LISTS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "lookup_proto.h"
#include "maps.h"

/* Most distinct FIND lists kept. */
#define LOOKUP_LISTS_FIND_MAX 256

/*
 * The open table for spec ("type:name", no proxy:), valid until the
 * lists are cleared; or NULL with err (the table is not served).
 */
typedef struct dict *lookup_borrow_fn(void *ctx, const char *spec,
    char *err, size_t errsz);

struct lookup_lists;

/* Lists over cf (which must outlive them) and the borrow function. */
struct lookup_lists *lookup_lists_new(const struct config *cf,
    lookup_borrow_fn *borrow, void *ctx);
/* Drop the cached FIND lists, and the route tables when routes_too;
 * returns how many were dropped. */
size_t lookup_lists_clear(struct lookup_lists *ll, bool routes_too);
/*
 * Build the route tables of main.cf and of every master.cf service now
 * (the lookup process's preinit).  A view whose routing parameters do
 * not parse is logged as an error and not cached (ROUTE requests for it
 * answer TEMPFAIL with the reason); returns how many failed.
 */
size_t lookup_lists_prepare_routes(struct lookup_lists *ll);
void lookup_lists_free(struct lookup_lists **llp);

/*
 * The view of a ROUTE's service: "" = main.cf; "NAME/TYPE" = that
 * master.cf entry (TYPE inet, unix, unix-dgram, fifo, pass); "NAME" =
 * the first entry called NAME.  NULL when there is no such service.
 */
const struct config_view *lookup_lists_view(const struct config *cf,
    const char *service);

/*
 * Answer a FIND: the search f->order over f->tables.  The result is in r
 * (DICT_FOUND: r->value; DICT_TEMPFAIL: r->err, which also says when a
 * table is not served or the list does not parse).
 */
enum dict_status lookup_lists_find(struct lookup_lists *ll,
    const struct lookup_find *f, struct maps_result *r);

/*
 * Answer a ROUTE: DICT_FOUND with the answer's lines
 * (lookup_route_answer_format) in text (reset first; its max bounds the
 * answer), or DICT_TEMPFAIL with err (a table failed, no such service,
 * the answer does not fit, a value holds a line break).  Never
 * DICT_NOTFOUND.
 */
enum dict_status lookup_lists_route(struct lookup_lists *ll,
    const struct lookup_route *q, struct buf *text, char *err,
    size_t errsz);

#endif
