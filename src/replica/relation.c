/* relation.c - a replicated VM's relationship: its settings, as a request
 * gives them and as its row keeps them; its state and health as the API
 * shows them (Hyper-V's Measure-VMReplication); pause and resume. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define INITIAL_AT_MAX_MS (7ULL * 24 * 3600 * 1000)	/* as Hyper-V */

static bool
interval_ok(int64_t s)
{
	return s == 30 || s == 300 || s == 900;
}

/* "exclude": disk names of vm, not every disk, no repeats. */
static int
parse_exclude(const json_t *arr, const struct vm *vm, struct err *err)
{
	size_t i, hit = 0;
	json_t *d;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return err_set(err, -EINVAL, "exclude must be a list of disk "
		    "names");
	json_array_foreach(arr, i, d) {
		const char *n = json_string_value(d);
		bool found = false;

		for (size_t k = 0; n && k < vm->row->n_disks; k++)
			found |= streq(vm->row->disks[k].name, n);
		if (!found)
			return err_set(err, -EINVAL, "--exclude-disk '%.16s': vm "
			    "'%s' has no such disk (see 'tern vm show %s')",
			    n ? n : "?", vm->row->name, vm->row->name);
		for (size_t k = 0; k < i; k++)
			if (streq(json_string_value(json_array_get(arr, k)), n))
				return err_set(err, -EINVAL, "--exclude-disk "
				    "'%s' is given twice", n);
		hit++;
	}
	if (hit >= vm->row->n_disks)
		return err_set(err, -EINVAL, "every disk of vm '%s' is "
		    "excluded: nothing would be replicated", vm->row->name);
	return 0;
}

/* "initial": "now" (default), "at" with initial_at (UTC, ISO 8601, within
 * 7 days), "existing" (the replica server has a copy of the disks: the
 * first cycle compares and sends only differing blocks). */
static int
parse_initial(const json_t *body, struct replica_settings *s,
    struct err *err)
{
	const char *ini = "now", *at = NULL, *dir = NULL;
	struct tm tm = { 0 };
	uint64_t now = wall_ms();
	int64_t ms;
	int r;

	if ((r = json_get_str(body, "initial", false, &ini, err)) < 0 ||
	    (r = json_get_str(body, "initial_at", false, &at, err)) < 0 ||
	    (r = json_get_str(body, "initial_dir", false, &dir, err)) < 0)
		return r;
	if (streq(ini, "offline") != !!dir)
		return err_set(err, -EINVAL, "a directory goes with --initial "
		    "offline (--initial 'offline DIR')");
	if (dir) {
		if ((r = replica_seed_dir_check(dir, err)) < 0)
			return r;
		s->initial_dir = xstrdup(dir);
	}
	if (!streq(ini, "now") && !streq(ini, "at") && !streq(ini,
	    "existing") && !streq(ini, "offline"))
		return err_set(err, -EINVAL, "--initial '%.16s': give now, at "
		    "TIME, offline DIR or existing", ini);
	if (at && !streq(ini, "at"))
		return err_set(err, -EINVAL, "a time goes with --initial at");
	snprintf(s->initial, sizeof(s->initial), "%s", ini);
	if (!streq(ini, "at"))
		return 0;
	if (!at || !strptime(at, "%Y-%m-%dT%H:%M:%SZ", &tm) ||
	    strlen(at) != 20)
		return err_set(err, -EINVAL, "--initial at: give the time as "
		    "YYYY-MM-DDTHH:MM:SSZ (UTC)");
	ms = (int64_t)timegm(&tm) * 1000;
	if (ms < (int64_t)now || (uint64_t)ms > now + INITIAL_AT_MAX_MS)
		return err_set(err, -EINVAL, "--initial at %s: the time must "
		    "be in the next 7 days", at);
	s->initial_at_ms = (uint64_t)ms;
	return 0;
}

int
replica_settings_parse(const json_t *body, const struct vm *vm,
    struct replica_settings *s, struct err *err)
{
	int64_t iv = 300, pts = 0, app = 0;
	bool compress = true;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = json_get_int(body, "interval_s", false, 0, 86400, &iv,
	    err)) < 0 ||
	    (r = json_get_bool(body, "compress", &compress, err)) < 0 ||
	    (r = json_get_int(body, "points", false, 0, REPLICA_POINTS_MAX,
	    &pts, err)) < 0 ||
	    (r = json_get_int(body, "app_consistent_every_h", false, 0,
	    REPLICA_APP_EVERY_MAX, &app, err)) < 0)
		return r;
	if (!interval_ok(iv))
		return err_set(err, -EINVAL, "--interval: give 30s, 5m or 15m "
		    "(the intervals Replica offers)");
	if (app && !pts)
		return err_set(err, -EINVAL, "--app-consistent-every needs "
		    "recovery points (--points N, 1..%d)", REPLICA_POINTS_MAX);
	if ((r = parse_exclude(json_object_get(body, "exclude"), vm, err)) < 0
	    || (r = parse_initial(body, s, err)) < 0)
		return r;
	s->interval_s = (unsigned)iv;
	s->compress = compress;
	s->points = (unsigned)pts;
	s->app_every_h = (unsigned)app;
	s->exclude = json_object_get(body, "exclude") ?
	    json_deep_copy(json_object_get(body, "exclude")) : json_array();
	return 0;
}

json_t *
replica_settings_to_json(const struct replica_settings *s)
{
	json_t *o = json_pack("{si sb si si ss sO}", "interval_s",
	    (int)s->interval_s, "compress", s->compress, "points",
	    (int)s->points, "app_consistent_every_h", (int)s->app_every_h,
	    "initial", s->initial, "exclude", s->exclude);

	if (s->initial_at_ms)
		json_object_set_new(o, "initial_at_ms",
		    json_integer((json_int_t)s->initial_at_ms));
	if (s->initial_dir)
		json_object_set_new(o, "initial_dir",
		    json_string(s->initial_dir));
	return o;
}

void
replica_settings_from_json(const json_t *o, struct replica_settings *s)
{
	const char *ini = json_string_value(json_object_get(o, "initial"));
	json_t *ex = json_object_get(o, "exclude");

	memset(s, 0, sizeof(*s));
	s->interval_s = (unsigned)json_integer_value(json_object_get(o,
	    "interval_s"));
	s->compress = json_is_true(json_object_get(o, "compress"));
	s->points = (unsigned)json_integer_value(json_object_get(o,
	    "points"));
	s->app_every_h = (unsigned)json_integer_value(json_object_get(o,
	    "app_consistent_every_h"));
	snprintf(s->initial, sizeof(s->initial), "%s", ini ? ini : "now");
	s->initial_at_ms = (uint64_t)json_integer_value(json_object_get(o,
	    "initial_at_ms"));
	s->exclude = json_is_array(ex) ? json_incref(ex) : json_array();
	if (json_is_string(json_object_get(o, "initial_dir")))
		s->initial_dir = xstrdup(json_string_value(json_object_get(o,
		    "initial_dir")));
}

void
replica_settings_done(struct replica_settings *s)
{
	json_decref(s->exclude);
	s->exclude = NULL;
	free(s->initial_dir);
	s->initial_dir = NULL;
}

/* The recovery points: the list (newest first) on the replica, how many
 * the replica reported on the primary. */
static void
relation_points(const struct replication_row *r, json_t *o)
{
	json_t *pts;

	if (streq(r->role, "replica")) {
		pts = rp_points_show(r);
		json_object_set_new(o, "recovery_points", json_integer(
		    (json_int_t)json_array_size(pts)));
		json_object_set_new(o, "points", pts);
		return;
	}
	json_object_set_new(o, "recovery_points", json_integer(rp_int(
	    json_object_get(o, "stats"), "replica_points")));
}

/* The failover columns (src/failover writes them) shown as they are:
 * "failover", "test", "drill" when set. */
static void
relation_failover(const struct replication_row *r, json_t *o)
{
	const char *text[] = { r->failover, r->test, r->drill };
	static const char *const key[] = { "failover", "test", "drill" };

	for (size_t i = 0; i < 3; i++) {
		json_t *v = text[i] ? json_loads(text[i], 0, NULL) : NULL;

		if (v)
			json_object_set_new(o, key[i], v);
	}
}

static json_t *
relation_json(struct host *h, const struct replication_row *r)
{
	struct vm *vm = vm_find(h, r->vm_uuid);
	json_t *settings = json_loads(r->settings, 0, NULL);
	json_t *stats = rp_stats_load(r->stats);
	json_t *reasons = json_array();
	const char *health;
	uint64_t last;
	json_t *o, *seed, *test;

	health = rp_health_name(rp_health_of(h, r, stats, reasons));
	last = (uint64_t)json_integer_value(json_object_get(stats,
	    "last_success_ms"));
	seed = replica_seed_json(r, settings, stats);
	o = json_pack("{ss ss ss ss ss ss sI so so so sI so}",
	    "vm", vm ? vm->row->name : "?", "uuid", r->vm_uuid,
	    "role", r->role, "peer", r->peer, "state", r->state,
	    "health", health, "seq", (json_int_t)r->seq,
	    "health_reasons", reasons,
	    "settings", settings ? settings : json_object(),
	    "stats", stats,
	    "created_ms", (json_int_t)r->created_ms,
	    "lag_ms", last ? json_integer((json_int_t)(wall_ms() - last)) :
	    json_null());
	relation_points(r, o);
	relation_failover(r, o);
	if (seed)
		json_object_set_new(o, "seed", seed);
	/* The test failover running (src/failover writes it). */
	if (r->test && (test = json_loads(r->test, 0, NULL)))
		json_object_set_new(o, "test", test);
	if (r->drill && (test = json_loads(r->drill, 0, NULL)))
		json_object_set_new(o, "drill", test);
	return o;
}

int
replica_show(struct host *h, struct vm *vm, json_t **ret, struct err *err)
{
	struct replication_row r;
	int rc = store_replication_get(h->store, vm->row->uuid, &r);

	if (rc == -ENOENT)
		return err_set(err, -ENOENT, "vm '%s' is not replicated (enable "
		    "it with 'tern vm replication enable %s --to PEER')",
		    vm->row->name, vm->row->name);
	if (rc < 0)
		return err_setf_errno(err, rc, "cannot read vm '%s' "
		    "replication", vm->row->name);
	*ret = relation_json(h, &r);
	replication_row_done(&r);
	return 0;
}

json_t *
replica_list(struct host *h)
{
	struct replication_row *rows = NULL;
	size_t n = 0;
	json_t *arr = json_array();

	(void)store_replication_list(h->store, &rows, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, relation_json(h, &rows[i]));
	replication_rows_free(rows, n);
	return arr;
}

int
replica_pause(struct host *h, struct vm *vm, bool pause, struct err *err)
{
	struct replication_row r;
	char *next;
	bool held, was_paused;
	int rc = store_replication_get(h->store, vm->row->uuid, &r);

	if (rc < 0)
		return err_set(err, -ENOENT, "vm '%s' is not replicated",
		    vm->row->name);
	if (!streq(r.role, "primary")) {
		replication_row_done(&r);
		return err_set(err, -EINVAL, "vm '%s' is the replica here: "
		    "pause or resume its replication on the primary (%s)",
		    vm->row->name, r.peer);
	}
	held = !pause && rp_health_release(h, &r) == 0;
	if (pause == streq(r.state, "paused") && !held) {
		replication_row_done(&r);
		return err_set(err, -EBUSY, "vm '%s' replication is already "
		    "%s", vm->row->name, pause ? "paused" : "running");
	}
	next = xstrdup(pause ? "paused" : r.seq ? "replicating" :
	    replica_seed_pending(&r) ? "awaiting-seed" : "initial");
	was_paused = streq(r.state, "paused");
	free(r.state);
	r.state = next;
	rc = store_replication_update(h->store, &r);
	replication_row_done(&r);
	if (rc < 0)
		return err_setf_errno(err, rc, "cannot record vm '%s' "
		    "replication", vm->row->name);
	host_event(h, pause ? "warning" : "info", vm, 0, "replication %s",
	    pause ? "paused" : held && !was_paused ? "resumed after critical "
	    "(the next cycle carries everything since the last one "
	    "acknowledged)" : "resumed");
	return 0;
}
