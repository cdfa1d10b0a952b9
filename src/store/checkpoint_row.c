/* checkpoint_row.c - checkpoints of VMs, one row each (the checkpoints
 * themselves: src/checkpoint).  Never logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

#define CP_COLUMNS "vm_uuid, name, parent, created_ms, kind, consistency," \
	" state_file, images, status, current"

static void
cp_bind(sqlite3_stmt *s, const struct checkpoint_row *r)
{
	store_bind_str(s, 1, r->vm_uuid);
	store_bind_str(s, 2, r->name);
	store_bind_str(s, 3, r->parent);
	sqlite3_bind_int64(s, 4, r->created_ms);
	store_bind_str(s, 5, r->kind);
	store_bind_str(s, 6, r->consistency);
	store_bind_str(s, 7, r->state_file);
	store_bind_str(s, 8, r->images);
	store_bind_str(s, 9, r->status);
	sqlite3_bind_int(s, 10, r->current);
}

int
store_checkpoint_insert(struct store *st, const struct checkpoint_row *r)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO checkpoints(" CP_COLUMNS ")"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");

	if (!s)
		return -EIO;
	cp_bind(s, r);
	return store_step_done(s);
}

int
store_checkpoint_update(struct store *st, const struct checkpoint_row *row)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "UPDATE checkpoints SET parent = ?3, created_ms = ?4, kind = ?5,"
	    " consistency = ?6, state_file = ?7, images = ?8, status = ?9,"
	    " current = ?10 WHERE vm_uuid = ?1 AND name = ?2");
	int r;

	if (!s)
		return -EIO;
	cp_bind(s, row);
	r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	return r;
}

static void
cp_read(sqlite3_stmt *s, struct checkpoint_row *r)
{
	r->vm_uuid = store_col_str(s, 0);
	r->name = store_col_str(s, 1);
	r->parent = store_col_str(s, 2);
	r->created_ms = sqlite3_column_int64(s, 3);
	r->kind = store_col_str(s, 4);
	r->consistency = store_col_str(s, 5);
	r->state_file = store_col_str(s, 6);
	r->images = store_col_str(s, 7);
	r->status = store_col_str(s, 8);
	r->current = sqlite3_column_int(s, 9) != 0;
}

int
store_checkpoint_list(struct store *st, const char *vm_uuid,
    struct checkpoint_row **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT " CP_COLUMNS " FROM checkpoints WHERE vm_uuid = ?"
	    " ORDER BY created_ms, name");
	struct checkpoint_row *rows = NULL;
	size_t n = 0;
	int rc;

	*ret = NULL;
	*ret_n = 0;
	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		cp_read(s, &rows[n++]);
	}
	if (rc != SQLITE_DONE) {
		checkpoint_rows_free(rows, n);
		return store_sqlite_errno(rc);
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

/* Run sql with ?1 the VM and ?2, ?3 the strings a, b (may be NULL). */
static int
cp_exec(struct store *st, const char *sql, const char *vm_uuid,
    const char *a, const char *b)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);

	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	store_bind_str(s, 2, a);
	store_bind_str(s, 3, b);
	return store_step_done(s);
}

int
store_checkpoint_delete(struct store *st, const char *vm_uuid,
    const char *name)
{
	int r = cp_exec(st, "DELETE FROM checkpoints WHERE vm_uuid = ?1"
	    " AND name = ?2", vm_uuid, name, NULL);

	if (r == 0 && sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	return r;
}

int
store_checkpoint_set_current(struct store *st, const char *vm_uuid,
    const char *name)
{
	return cp_exec(st, "UPDATE checkpoints SET current = (name IS ?2)"
	    " WHERE vm_uuid = ?1", vm_uuid, name, NULL);
}

int
store_checkpoint_reparent(struct store *st, const char *vm_uuid,
    const char *from, const char *to)
{
	return cp_exec(st, "UPDATE checkpoints SET parent = ?3"
	    " WHERE vm_uuid = ?1 AND parent = ?2", vm_uuid, from, to);
}

int
store_checkpoint_count(struct store *st, const char *vm_uuid)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT count(*) FROM checkpoints WHERE vm_uuid = ?");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	if (sqlite3_step(s) != SQLITE_ROW)
		return -EIO;
	return sqlite3_column_int(s, 0);
}

void
checkpoint_rows_free(struct checkpoint_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct checkpoint_row *r = &rows[i];

		free(r->vm_uuid);
		free(r->name);
		free(r->parent);
		free(r->kind);
		free(r->consistency);
		free(r->state_file);
		free(r->images);
		free(r->status);
	}
	free(rows);
}
