/* obj_row.c - pools, switches and peers: named rows with one or two text
 * columns.  Never logs. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "store_internal.h"
#include "util.h"

static const char *const obj_tables[STORE__COUNT] = {
	[STORE_POOL] = "pools",
	[STORE_SWITCH] = "switches",
	[STORE_PEER] = "peers",
};

static int
obj_insert(struct store *st, enum store_kind kind, const struct obj_row *row)
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

static int
uplinks_insert(struct store *st, const struct obj_row *row)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, "INSERT INTO "
	    "switch_uplinks(name, uplinks, bond_mode) VALUES(?, ?, ?)");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, row->name);
	store_bind_str(s, 2, row->uplinks);
	store_bind_str(s, 3, row->bond_mode);
	return store_step_done(s);
}

/* A switch with uplinks is two rows, written at once. */
int
store_obj_insert(struct store *st, enum store_kind kind,
    const struct obj_row *row)
{
	bool up = kind == STORE_SWITCH && row->uplinks && *row->uplinks;
	int r;

	if (!up)
		return obj_insert(st, kind, row);
	if ((r = store_begin(st)) < 0)
		return r;
	r = obj_insert(st, kind, row);
	if (r == 0)
		r = uplinks_insert(st, row);
	if (r < 0)
		store_rollback(st);
	return store_commit(st) < 0 && r == 0 ? -EIO : r;
}

static int
store_exec_name(struct store *st, const char *sql, const char *name)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);

	if (!s)
		return -EIO;
	store_bind_str(s, 1, name);
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
	if (r == 0 && kind == STORE_SWITCH)
		r = store_exec_name(st, "DELETE FROM switch_uplinks "
		    "WHERE name=?", name);
	return r;
}

int
store_obj_list(struct store *st, enum store_kind kind,
    struct obj_row **ret_rows, size_t *ret_n)
{
	bool sw = kind == STORE_SWITCH;
	_cleanup_free_ char *sql = xasprintf(sw ?
	    "SELECT o.name, o.a, o.b, u.uplinks, u.bond_mode FROM %s o "
	    "LEFT JOIN switch_uplinks u ON u.name = o.name ORDER BY o.name" :
	    "SELECT name, a, b, NULL, NULL FROM %s ORDER BY name",
	    obj_tables[kind]);
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
		rows[n].uplinks = store_col_str(s, 3);
		rows[n].bond_mode = store_col_str(s, 4);
		n++;
	}
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}

void
obj_row_done(struct obj_row *row)
{
	free(row->name);
	free(row->a);
	free(row->b);
	free(row->uplinks);
	free(row->bond_mode);
	*row = (struct obj_row){ 0 };
}

void
obj_rows_free(struct obj_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		obj_row_done(&rows[i]);
	free(rows);
}
