/* replication_row.c - replication relationships, one row per VM on each
 * side (the replication itself: src/replica).  Never logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

#define RP_COLUMNS "vm_uuid, role, peer, settings, state, seq, stats," \
	" created_ms, points, failover, test, drill"

static void
rp_bind(sqlite3_stmt *s, const struct replication_row *r)
{
	store_bind_str(s, 1, r->vm_uuid);
	store_bind_str(s, 2, r->role);
	store_bind_str(s, 3, r->peer);
	store_bind_str(s, 4, r->settings);
	store_bind_str(s, 5, r->state);
	sqlite3_bind_int64(s, 6, r->seq);
	store_bind_str(s, 7, r->stats);
	sqlite3_bind_int64(s, 8, r->created_ms);
	store_bind_str(s, 9, r->points ? r->points : "[]");
	store_bind_str(s, 10, r->failover);
	store_bind_str(s, 11, r->test);
	store_bind_str(s, 12, r->drill);
}

static void
rp_read(sqlite3_stmt *s, struct replication_row *r)
{
	r->vm_uuid = store_col_str(s, 0);
	r->role = store_col_str(s, 1);
	r->peer = store_col_str(s, 2);
	r->settings = store_col_str(s, 3);
	r->state = store_col_str(s, 4);
	r->seq = sqlite3_column_int64(s, 5);
	r->stats = store_col_str(s, 6);
	r->created_ms = sqlite3_column_int64(s, 7);
	r->points = store_col_str(s, 8);
	r->failover = store_col_str(s, 9);
	r->test = store_col_str(s, 10);
	r->drill = store_col_str(s, 11);
}

int
store_replication_insert(struct store *st, const struct replication_row *r)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO replications(" RP_COLUMNS ")"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");

	if (!s)
		return -EIO;
	rp_bind(s, r);
	return store_step_done(s);
}

int
store_replication_update(struct store *st, const struct replication_row *r)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "UPDATE replications SET role = ?2, peer = ?3, settings = ?4,"
	    " state = ?5, seq = ?6, stats = ?7, points = ?9, failover = ?10,"
	    " test = ?11, drill = ?12"
	    " WHERE vm_uuid = ?1");
	int rc;

	if (!s)
		return -EIO;
	rp_bind(s, r);
	rc = store_step_done(s);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = -ENOENT;
	return rc;
}

int
store_replication_get(struct store *st, const char *vm_uuid,
    struct replication_row *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT " RP_COLUMNS " FROM replications WHERE vm_uuid = ?");
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_sqlite_errno(rc);
	rp_read(s, ret);
	return 0;
}

int
store_replication_list(struct store *st, struct replication_row **ret,
    size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT " RP_COLUMNS " FROM replications ORDER BY created_ms");
	struct replication_row *rows = NULL;
	size_t n = 0;
	int rc;

	*ret = NULL;
	*ret_n = 0;
	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		rp_read(s, &rows[n++]);
	}
	if (rc != SQLITE_DONE) {
		replication_rows_free(rows, n);
		return store_sqlite_errno(rc);
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

int
store_replication_delete(struct store *st, const char *vm_uuid)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "DELETE FROM replications WHERE vm_uuid = ?");
	int rc;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm_uuid);
	rc = store_step_done(s);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = -ENOENT;
	return rc;
}

void
replication_row_done(struct replication_row *r)
{
	free(r->vm_uuid);
	free(r->role);
	free(r->peer);
	free(r->settings);
	free(r->state);
	free(r->stats);
	free(r->points);
	free(r->failover);
	free(r->test);
	free(r->drill);
	memset(r, 0, sizeof(*r));
}

void
replication_rows_free(struct replication_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		replication_row_done(&rows[i]);
	free(rows);
}
