/* obj_row.c - pools, switches and peers: named rows with one or two text
 * columns.  Never logs. */
#include <errno.h>
#include <stdlib.h>

#include "store_internal.h"
#include "util.h"

static const char *const obj_tables[STORE__COUNT] = {
	[STORE_POOL] = "pools",
	[STORE_SWITCH] = "switches",
	[STORE_PEER] = "peers",
};

int
store_obj_insert(struct store *st, enum store_kind kind,
    const struct obj_row *row)
{
	_cleanup_free_ char *sql = xasprintf(
	    "INSERT INTO %s(name, a, b) VALUES(?, ?, ?)", obj_tables[kind]);
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);

	if (!s)
		return -EIO;
	store_bind_str(s, 1, row->name);
	store_bind_str(s, 2, row->a);
	store_bind_str(s, 3, row->b);
	return store_step_done(s);
}

int
store_obj_delete(struct store *st, enum store_kind kind, const char *name)
{
	_cleanup_free_ char *sql = xasprintf("DELETE FROM %s WHERE name=?",
	    obj_tables[kind]);
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);
	int r;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, name);
	r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return r;
}

int
store_obj_list(struct store *st, enum store_kind kind,
    struct obj_row **ret_rows, size_t *ret_n)
{
	_cleanup_free_ char *sql = xasprintf(
	    "SELECT name, a, b FROM %s ORDER BY name", obj_tables[kind]);
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);
	struct obj_row *rows = NULL;
	size_t n = 0;

	if (!s)
		return -EIO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		rows[n].name = store_col_str(s, 0);
		rows[n].a = store_col_str(s, 1);
		rows[n].b = store_col_str(s, 2);
		n++;
	}
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}

void
obj_rows_free(struct obj_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].a);
		free(rows[i].b);
	}
	free(rows);
}
