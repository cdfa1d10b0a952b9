/* job_row.c - jobs and events: persisted so that a restarted ternd can
 * resume or roll back what was in flight, and so operators can read the
 * history.  Also renders the API's JSON view of both.  Never logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

#define JOB_COLS "id, type, vm_uuid, vm_name, state, phase, done, total," \
	" unit, rate, eta_s, error, details, created_ms, started_ms," \
	" ended_ms, subject, claim"

int
store_job_insert(struct store *st, struct job_row *job)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO jobs(type, vm_uuid, vm_name, state, phase, done,"
	    " total, unit, rate, eta_s, error, details, created_ms,"
	    " started_ms, ended_ms, subject, claim)"
	    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int r;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, job->type);
	store_bind_str(s, 2, job->vm_uuid);
	store_bind_str(s, 3, job->vm_name);
	store_bind_str(s, 4, job->state);
	store_bind_str(s, 5, job->phase);
	sqlite3_bind_int64(s, 6, job->done);
	sqlite3_bind_int64(s, 7, job->total);
	store_bind_str(s, 8, job->unit);
	sqlite3_bind_double(s, 9, job->rate);
	sqlite3_bind_int64(s, 10, job->eta_s);
	store_bind_str(s, 11, job->error);
	store_bind_str(s, 12, job->details);
	sqlite3_bind_int64(s, 13, job->created_ms);
	sqlite3_bind_int64(s, 14, job->started_ms);
	sqlite3_bind_int64(s, 15, job->ended_ms);
	store_bind_str(s, 16, job->subject);
	store_bind_str(s, 17, job->claim);
	r = store_step_done(s);
	if (r == 0)
		job->id = sqlite3_last_insert_rowid(st->db);
	return r;
}

int
store_job_update(struct store *st, const struct job_row *job)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "UPDATE jobs SET state=?, phase=?, done=?, total=?, unit=?,"
	    " rate=?, eta_s=?, error=?, details=?, started_ms=?, ended_ms=?,"
	    " vm_uuid=?, vm_name=? WHERE id=?");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, job->state);
	store_bind_str(s, 2, job->phase);
	sqlite3_bind_int64(s, 3, job->done);
	sqlite3_bind_int64(s, 4, job->total);
	store_bind_str(s, 5, job->unit);
	sqlite3_bind_double(s, 6, job->rate);
	sqlite3_bind_int64(s, 7, job->eta_s);
	store_bind_str(s, 8, job->error);
	store_bind_str(s, 9, job->details);
	sqlite3_bind_int64(s, 10, job->started_ms);
	sqlite3_bind_int64(s, 11, job->ended_ms);
	store_bind_str(s, 12, job->vm_uuid);
	store_bind_str(s, 13, job->vm_name);
	sqlite3_bind_int64(s, 14, job->id);
	return store_step_done(s);
}

static struct job_row *
job_row_read(sqlite3_stmt *s)
{
	struct job_row *j = xzalloc(sizeof(*j));

	j->id = sqlite3_column_int64(s, 0);
	j->type = store_col_str(s, 1);
	j->vm_uuid = store_col_str(s, 2);
	j->vm_name = store_col_str(s, 3);
	j->state = store_col_str(s, 4);
	j->phase = store_col_str(s, 5);
	j->done = sqlite3_column_int64(s, 6);
	j->total = sqlite3_column_int64(s, 7);
	j->unit = store_col_str(s, 8);
	j->rate = sqlite3_column_double(s, 9);
	j->eta_s = sqlite3_column_int64(s, 10);
	j->error = store_col_str(s, 11);
	j->details = store_col_str(s, 12);
	j->created_ms = sqlite3_column_int64(s, 13);
	j->started_ms = sqlite3_column_int64(s, 14);
	j->ended_ms = sqlite3_column_int64(s, 15);
	j->subject = store_col_str(s, 16);
	j->claim = store_col_str(s, 17);
	return j;
}

int
store_job_load_active(struct store *st, struct job_row ***ret_jobs,
    size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, "SELECT " JOB_COLS
	    " FROM jobs WHERE ended_ms=0 ORDER BY id");
	struct job_row **jobs = NULL;
	size_t n = 0;

	if (!s)
		return -EIO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		jobs = xrealloc(jobs, (n + 1) * sizeof(*jobs));
		jobs[n++] = job_row_read(s);
	}
	*ret_jobs = jobs;
	*ret_n = n;
	return 0;
}

struct job_row *
store_job_row_free(struct job_row *j)
{
	if (!j)
		return NULL;
	free(j->type);
	free(j->vm_uuid);
	free(j->vm_name);
	free(j->state);
	free(j->phase);
	free(j->unit);
	free(j->error);
	free(j->details);
	free(j->subject);
	free(j->claim);
	free(j);
	return NULL;
}

static json_t *
json_time_or_null(uint64_t ms)
{
	char buf[40];

	return ms ? json_string(wall_ms_format(ms, buf, sizeof(buf)))
	    : json_null();
}

static json_t *
json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *
job_row_to_json(const struct job_row *j)
{
	json_t *details = j->details ? json_loads(j->details, 0, NULL) : NULL;

	return json_pack("{sI ss so ss so s{sI sI ss} so so so so so so so}",
	    "id", (json_int_t)j->id, "type", j->type,
	    "vm", json_str_or_null(j->vm_name), "state", j->state,
	    "phase", json_str_or_null(j->phase),
	    "progress", "done", (json_int_t)j->done,
	    "total", (json_int_t)j->total, "unit", j->unit,
	    "rate", j->rate >= 0 ? json_real(j->rate) : json_null(),
	    "eta_s", j->eta_s >= 0 ? json_integer(j->eta_s) : json_null(),
	    "error", json_str_or_null(j->error),
	    "created_at", json_time_or_null(j->created_ms),
	    "started_at", json_time_or_null(j->started_ms),
	    "ended_at", json_time_or_null(j->ended_ms),
	    "details", details ? details : json_object());
}

json_t *
store_job_json(struct store *st, int64_t id)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, "SELECT " JOB_COLS
	    " FROM jobs WHERE id=?");
	struct job_row *j;
	json_t *v;

	if (!s)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) != SQLITE_ROW)
		return NULL;
	j = job_row_read(s);
	v = job_row_to_json(j);
	store_job_row_free(j);
	return v;
}

json_t *
store_job_list_json(struct store *st, const char *vm_name, bool active_only)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, "SELECT " JOB_COLS
	    " FROM jobs WHERE (?1 IS NULL OR vm_name=?1)"
	    " AND (?2 = 0 OR ended_ms = 0) ORDER BY id DESC LIMIT 100");
	json_t *arr = json_array();

	if (!s)
		return arr;
	store_bind_str(s, 1, vm_name);
	sqlite3_bind_int(s, 2, active_only);
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct job_row *j = job_row_read(s);

		json_array_append_new(arr, job_row_to_json(j));
		store_job_row_free(j);
	}
	return arr;
}

int
store_event_add(struct store *st, const char *severity, const char *vm_name,
    int64_t job_id, const char *message, int64_t *ret_id)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO events(time_ms, severity, vm, job, message)"
	    " VALUES(?, ?, ?, ?, ?)");
	int r;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, wall_ms());
	store_bind_str(s, 2, severity);
	store_bind_str(s, 3, vm_name);
	if (job_id > 0)
		sqlite3_bind_int64(s, 4, job_id);
	else
		sqlite3_bind_null(s, 4);
	store_bind_str(s, 5, message);
	r = store_step_done(s);
	if (r == 0 && ret_id)
		*ret_id = sqlite3_last_insert_rowid(st->db);
	return r;
}

json_t *
store_event_list_json(struct store *st, const char *vm_name, int64_t after,
    int limit)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT id, time_ms, severity, vm, job, message FROM events"
	    " WHERE id > ?1 AND (?2 IS NULL OR vm = ?2) ORDER BY id LIMIT ?3");
	json_t *arr = json_array();
	int64_t last = after;

	if (s) {
		sqlite3_bind_int64(s, 1, after);
		store_bind_str(s, 2, vm_name);
		sqlite3_bind_int(s, 3, limit);
	}
	while (s && sqlite3_step(s) == SQLITE_ROW) {
		const char *vm = (const char *)sqlite3_column_text(s, 3);

		last = sqlite3_column_int64(s, 0);
		json_array_append_new(arr, json_pack("{sI so ss so so ss}",
		    "id", (json_int_t)last,
		    "time", json_time_or_null(sqlite3_column_int64(s, 1)),
		    "severity", (const char *)sqlite3_column_text(s, 2),
		    "vm", json_str_or_null(vm),
		    "job", sqlite3_column_type(s, 4) == SQLITE_NULL ?
		    json_null() : json_integer(sqlite3_column_int64(s, 4)),
		    "message", (const char *)sqlite3_column_text(s, 5)));
	}
	return json_pack("{so sI}", "events", arr, "last_id",
	    (json_int_t)last);
}
