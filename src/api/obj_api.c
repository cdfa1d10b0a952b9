/* obj_api.c - host, pools, switches, peers, jobs, events and the link
 * probe (/metrics is metrics.c).
 * Each handler validates everything before it changes anything. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "api.h"
#include "fsutil.h"
#include "job.h"
#include "migrate.h"
#include "jsonutil.h"
#include "net.h"
#include "util.h"
#include "vm.h"

static const char *const kind_names[STORE__COUNT] = {
	[STORE_POOL] = "pool", [STORE_SWITCH] = "switch",
	[STORE_PEER] = "peer",
};

static enum store_kind
kind_of(const char *url)
{
	if (strncmp(url, "/v1/pools", 9) == 0)
		return STORE_POOL;
	if (strncmp(url, "/v1/switches", 12) == 0)
		return STORE_SWITCH;
	return STORE_PEER;
}

int
api_host_get(struct api *a, struct http_req *req, char **p, struct err *e)
{
	(void)p;
	(void)e;
	http_reply_json(req, 200, host_to_json(a->h));
	return 0;
}

static json_t *
obj_to_json(enum store_kind k, const struct obj_row *o)
{
	uint64_t free_b = 0, size_b = 0;
	struct statvfs sv;
	char id[37];

	switch (k) {
	case STORE_POOL:
		(void)fs_free_bytes(o->a, &free_b);
		if (statvfs(o->a, &sv) == 0)
			size_b = (uint64_t)sv.f_blocks * sv.f_frsize;
		return json_pack("{ss ss sI sI so}", "name", o->name, "path",
		    o->a, "size_bytes", (json_int_t)size_b,
		    "free_bytes", (json_int_t)free_b, "identity",
		    host_pool_identity(o->a, id) == 0 ? json_string(id) :
		    json_null());
	case STORE_SWITCH:
		return json_pack("{ss ss sb ss* ss*}", "name", o->name, "bridge",
		    o->a, "isolated", o->b && streq(o->b, "isolated"),
		    "uplinks", o->uplinks, "bond_mode", o->bond_mode);
	default:
		return json_pack("{ss ss ss}", "name", o->name, "url", o->a,
		    "fingerprint", o->b);
	}
}

int
api_obj_list(struct api *a, struct http_req *req, char **p, struct err *e)
{
	enum store_kind k = kind_of(req->url);
	struct obj_row *rows;
	size_t n;
	json_t *arr = json_array();
	int r = store_obj_list(a->h->store, k, &rows, &n);

	(void)p;
	if (r < 0) {
		json_decref(arr);
		return err_set(e, r, "cannot read %ss", kind_names[k]);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = obj_to_json(k, &rows[i]);
		json_t *link = k == STORE_PEER ?
		    migrate_link_json(a->h, rows[i].name) : NULL;

		if (link)
			json_object_set_new(o, "link", link);
		json_array_append_new(arr, o);
	}
	obj_rows_free(rows, n);
	http_reply_json(req, 200, json_pack("{so}", k == STORE_POOL ? "pools" :
	    k == STORE_SWITCH ? "switches" : "peers", arr));
	return 0;
}

static int
pool_prepare(const char *path, struct err *e)
{
	char id[37];
	struct stat st;
	int r;

	if (path[0] != '/' || strpbrk(path, ",\"\\\n:=") || strlen(path) > 512)
		return err_set(e, -EINVAL, "pool path '%.200s' must be an "
		    "absolute path free of , \" \\ : =", path);
	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
		return err_set(e, -EINVAL, "pool path '%s' is not a directory",
		    path);
	r = mkdir_p(path, 0700);
	if (r < 0)
		return err_setf_errno(e, r, "cannot create pool directory '%s'",
		    path);
	if ((r = host_pool_identity(path, id)) < 0)
		return err_setf_errno(e, r, "cannot read or create the pool "
		    "identity '%s/%s'", path, POOL_MARKER);
	return 0;
}

/* Check the body of a create request and fill row. */
static int
obj_parse(struct api *a, enum store_kind k, json_t *body, struct obj_row *o,
    struct api_switch_req *sw, struct err *e)
{
	static const char *const f_pool[] = { "name", "path", NULL };
	static const char *const f_switch[] = { "name", "isolated", "uplinks",
		"bond_mode", NULL };
	static const char *const f_peer[] = { "name", "url", "fingerprint",
		NULL };
	const char *const *fields = k == STORE_POOL ? f_pool :
	    k == STORE_SWITCH ? f_switch : f_peer;
	const char *name = NULL, *x = NULL, *fp = NULL;
	int r;

	(void)a;
	if ((r = json_check_fields(body, fields, kind_names[k], e)) < 0 ||
	    (r = json_get_str(body, "name", true, &name, e)) < 0)
		return r;
	if (k == STORE_SWITCH ? !net_switch_name_is_valid(name) :
	    !name_is_valid(name))
		return err_set(e, -EINVAL, "invalid %s name '%.64s': use %s",
		    kind_names[k], name, k == STORE_SWITCH ?
		    "1-12 of a-z, 0-9, '_' or '-'" :
		    "1-63 letters, digits, '.', '_' or '-'");
	o->name = (char *)name;
	if (k == STORE_SWITCH)
		return api_switch_parse(body, name, o, sw, e);
	if ((r = json_get_str(body, k == STORE_POOL ? "path" : "url", true,
	    &x, e)) < 0)
		return r;
	o->a = (char *)x;
	if (k == STORE_POOL)
		return 0;
	if ((r = json_get_str(body, "fingerprint", true, &fp, e)) < 0)
		return r;
	if (strncmp(x, "https://", 8) != 0 || strlen(x) > 256)
		return err_set(e, -EINVAL, "peer url '%.64s' must start with "
		    "https://", x);
	if (!tls_fingerprint_is_valid(fp))
		return err_set(e, -EINVAL, "fingerprint must be 'sha256:' and "
		    "64 hex digits, as 'tern host info' shows on that host");
	o->b = (char *)fp;
	return 0;
}

int
api_obj_create(struct api *a, struct http_req *req, char **p, struct err *e)
{
	enum store_kind k = kind_of(req->url);
	_cleanup_json_ json_t *body = NULL;
	struct obj_row o = { 0 };
	struct api_switch_req sw;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = obj_parse(a, k, body, &o, &sw, e)) < 0)
		return r;
	if (k == STORE_POOL && (r = pool_prepare(o.a, e)) < 0)
		return r;
	r = store_obj_insert(a->h->store, k, &o);
	if (r == -EEXIST)
		return err_set(e, r, "a %s named '%s' (or with the same %s) "
		    "already exists", kind_names[k], o.name, k == STORE_POOL ?
		    "path" : k == STORE_PEER ? "fingerprint" : "bridge");
	if (r < 0)
		return err_setf_errno(e, r, "cannot record %s", kind_names[k]);
	/* all or nothing: a bond the kernel cannot make leaves no bridge,
	 * no row and the uplinks as they were */
	if (k == STORE_SWITCH && ((r = net_bridge_create(sw.bridge, e)) < 0 ||
	    (o.b && (r = net_bridge_isolate(sw.bridge, e)) < 0) ||
	    (r = net_uplink_attach(o.name, &sw.u, e)) < 0)) {
		(void)net_uplink_release(o.name, &sw.u, NULL);
		(void)net_bridge_delete(sw.bridge, NULL);
		(void)store_obj_delete(a->h->store, k, o.name);
		return r;
	}
	host_event(a->h, "info", NULL, 0, "%s '%s' created", kind_names[k],
	    o.name);
	http_reply_json(req, 201, obj_to_json(k, &o));
	return 0;
}

static bool
obj_in_use(struct host *h, enum store_kind k, const char *name)
{
	for (size_t i = 0; i < h->n_vms; i++) {
		const struct vm_row *r = h->vms[i]->row;

		for (size_t j = 0; k == STORE_POOL && j < r->n_disks; j++)
			if (streq(r->disks[j].pool, name))
				return true;
		for (size_t j = 0; k == STORE_SWITCH && j < r->n_nics; j++)
			if (streq(r->nics[j].switch_name, name))
				return true;
	}
	return false;
}

int
api_obj_delete(struct api *a, struct http_req *req, char **p, struct err *e)
{
	enum store_kind k = kind_of(req->url);
	struct obj_row o = { 0 };
	char bridge[16];
	int r;

	if (obj_in_use(a->h, k, p[0]))
		return err_set(e, -EBUSY, "%s '%s' is in use by a VM",
		    kind_names[k], p[0]);
	/* the uplinks go back to the host before the row goes: a failed
	 * release leaves the switch to delete again */
	if (k == STORE_SWITCH && host_switch_get(a->h, p[0], &o) == 0) {
		r = api_switch_uplinks_release(&o, e);
		obj_row_done(&o);
		if (r < 0)
			return r;
	}
	r = store_obj_delete(a->h->store, k, p[0]);
	if (r == -ENOENT)
		return err_set(e, r, "%s '%s' not found", kind_names[k], p[0]);
	if (r < 0)
		return err_setf_errno(e, r, "cannot delete %s", kind_names[k]);
	if (k == STORE_SWITCH) {
		net_bridge_name(p[0], bridge);
		(void)net_bridge_delete(bridge, NULL);
	}
	host_event(a->h, "info", NULL, 0, "%s '%s' deleted", kind_names[k],
	    p[0]);
	http_reply_json(req, 200, NULL);
	return 0;
}

int
api_parse_id(const char *s, int64_t *ret, struct err *e)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (!*s || *end || v <= 0)
		return err_set(e, -EINVAL, "invalid job id '%.32s'", s);
	*ret = v;
	return 0;
}

/* A job as it is now: an active one from memory (its progress reaches
 * the store at most every JOB_PROGRESS_MS), else from the store. */
static json_t *
api_job_json(struct api *a, int64_t id)
{
	struct job *job = job_find(&a->h->jobs, id);

	return job ? job_to_json(job) : store_job_json(a->h->store, id);
}

int
api_jobs_list(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *vm = http_req_arg(req, "vm");
	const char *active = http_req_arg(req, "active");
	json_t *list = store_job_list_json(a->h->store, vm, active &&
	    !streq(active, "0")), *j;
	struct job *job;
	size_t i;

	(void)p;
	(void)e;
	json_array_foreach(list, i, j) {
		job = job_find(&a->h->jobs, json_integer_value(
		    json_object_get(j, "id")));
		if (job)
			json_array_set_new(list, i, job_to_json(job));
	}
	http_reply_json(req, 200, json_pack("{so}", "jobs", list));
	return 0;
}

int
api_job_get(struct api *a, struct http_req *req, char **p, struct err *e)
{
	int64_t id;
	int r = api_parse_id(p[0], &id, e);
	json_t *j;

	if (r < 0)
		return r;
	j = api_job_json(a, id);
	if (!j)
		return err_set(e, -ENOENT, "job %lld not found", (long long)id);
	http_reply_json(req, 200, j);
	return 0;
}

int
api_job_cancel(struct api *a, struct http_req *req, char **p, struct err *e)
{
	int64_t id;
	int r = api_parse_id(p[0], &id, e);

	if (r < 0 || (r = job_cancel(&a->h->jobs, id, e)) < 0)
		return r;
	http_reply_json(req, 200, api_job_json(a, id));
	return 0;
}

int
api_events(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *after = http_req_arg(req, "after");
	const char *limit = http_req_arg(req, "limit");
	long long af = after ? strtoll(after, NULL, 10) : 0;
	long lim = limit ? strtol(limit, NULL, 10) : 100;

	(void)p;
	if (af < 0 || lim <= 0 || lim > 1000)
		return err_set(e, -EINVAL, "after must be >= 0 and limit "
		    "between 1 and 1000");
	http_reply_json(req, 200, store_event_list_json(a->h->store,
	    http_req_arg(req, "vm"), af, lim));
	return 0;
}

/* GET /v1/link-probe/BYTES: BYTES of incompressible data, by which a peer
 * measures the path between two hosts (peer_measure() in src/peer).  Needs
 * nothing of the host, so a probe works whatever state the host is in. */
int
api_link_probe(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *s = p[0];
	unsigned long long n = 0;

	(void)a;
	for (; *s >= '0' && *s <= '9' && n <= API_LINK_PROBE_MAX; s++)
		n = n * 10 + (unsigned)(*s - '0');
	if (*s || s == p[0] || n < 1 || n > API_LINK_PROBE_MAX)
		return err_set(e, -EINVAL, "link probe size '%.32s' is not a "
		    "number of bytes from 1 to %llu", p[0],
		    API_LINK_PROBE_MAX);
	http_reply_stream(req, n);
	return 0;
}
