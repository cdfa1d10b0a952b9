/* track_row.c - reference points of change tracking, one row per point
 * and disk (the tracking itself: src/track).  Never logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

int
store_refpoint_insert(struct store *st, const struct refpoint_row *r)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO refpoints(vm_uuid, name, disk, created_ms, gen,"
	    " complete, reason, owner, target, point, map)"
	    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, r->vm_uuid);
	store_bind_str(s, 2, r->name);
	store_bind_str(s, 3, r->disk);
	sqlite3_bind_int64(s, 4, r->created_ms);
	sqlite3_bind_int64(s, 5, r->gen);
	sqlite3_bind_int(s, 6, r->complete);
	store_bind_str(s, 7, r->reason);
	store_bind_str(s, 8, r->owner);
	store_bind_str(s, 9, r->target);
	store_bind_str(s, 10, r->point);
	store_bind_str(s, 11, r->map);
	return store_step_done(s);
}

static void
refpoint_read(sqlite3_stmt *s, struct refpoint_row *r)
{
	r->vm_uuid = store_col_str(s, 0);
	r->name = store_col_str(s, 1);
	r->disk = store_col_str(s, 2);
	r->created_ms = sqlite3_column_int64(s, 3);
	r->gen = sqlite3_column_int64(s, 4);
	r->complete = sqlite3_column_int(s, 5) != 0;
	r->reason = store_col_str(s, 6);
	r->owner = store_col_str(s, 7);
	r->target = store_col_str(s, 8);
	r->point = store_col_str(s, 9);
	r->map = store_col_str(s, 10);
}

int
store_refpoint_list(struct store *st, const char *vm_uuid,
    struct refpoint_row **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT vm_uuid, name, disk, created_ms, gen, complete, reason,"
	    " owner, target, point, map FROM refpoints WHERE vm_uuid = ?"
	    " ORDER BY created_ms, name, disk");
	struct refpoint_row *rows = NULL;
	size_t n = 0;
	int rc;

	*ret = NULL;
	*ret_n = 0;
	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		refpoint_read(s, &rows[n++]);
	}
	if (rc != SQLITE_DONE) {
		refpoint_rows_free(rows, n);
		return store_sqlite_errno(rc);
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

/* UPDATE ... WHERE vm_uuid = ?1 [AND name = ?2] [AND disk = ?3]. */
static int
refpoint_update(struct store *st, const char *set, const char *vm_uuid,
    const char *name, const char *disk, const char *reason)
{
	_cleanup_free_ char *sql = xasprintf("UPDATE refpoints SET %s"
	    " WHERE vm_uuid = ?1%s%s", set, name ? " AND name = ?2" : "",
	    disk ? " AND disk = ?3" : "");
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);

	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	if (name)
		store_bind_str(s, 2, name);
	if (disk)
		store_bind_str(s, 3, disk);
	if (reason)
		store_bind_str(s, 4, reason);
	return store_step_done(s);
}

int
store_refpoint_lose(struct store *st, const char *vm_uuid,
    const char *name, const char *disk, const char *reason)
{
	return refpoint_update(st, "complete = 0, reason = ?4", vm_uuid,
	    name, disk, reason);
}

int
store_refpoint_bump(struct store *st, const char *vm_uuid,
    const char *name, const char *disk)
{
	return refpoint_update(st, "gen = gen + 1", vm_uuid, name, disk,
	    NULL);
}

int
store_refpoint_delete(struct store *st, const char *vm_uuid,
    const char *name)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "DELETE FROM refpoints WHERE vm_uuid = ? AND name = ?");
	int r;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	store_bind_str(s, 2, name);
	r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	return r;
}

void
refpoint_rows_free(struct refpoint_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct refpoint_row *r = &rows[i];

		free(r->vm_uuid);
		free(r->name);
		free(r->disk);
		free(r->reason);
		free(r->owner);
		free(r->target);
		free(r->point);
		free(r->map);
	}
	free(rows);
}
