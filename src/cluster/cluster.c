/* cluster.c - the module's start, the cluster's record on this node and
 * the files written from it (corosync.conf, the authkey), the commands
 * that start, reload and stop Corosync, and the status shown. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "cl_int.h"
#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "lease.h"
#include "log.h"
#include "state_rules.h"
#include "store.h"
#include "util.h"
#include "vm.h"

/* A node starts a VM on a pool's disks only while it is quorate and in
 * step with the cluster's state, and only a VM the state gives to no
 * other node: the majority may be restarting that very VM, or already
 * has. */
static int
cl_may_start(const struct vm *vm, struct err *err)
{
	const struct cluster *c = vm->h->cluster;
	const json_t *e;
	const char *owner;
	json_t *rec;
	char me[64];
	bool pooled = false, mine;

	for (size_t i = 0; i < vm->row->n_disks; i++)
		pooled |= vm->row->disks[i].pool != NULL;
	if (!c->want || !pooled)
		return 0;
	if (!cl_state_ready(c))
		return err_set(err, -EAGAIN, "vm '%s' is not started: this "
		    "node is not in a quorate partition of its cluster in step "
		    "with its state, and another node may be running it (see "
		    "'tern cluster show')", vm->row->name);
	e = json_object_get(c->vms, vm->row->uuid);
	owner = json_string_value(json_object_get(e, "owner"));
	if (!owner)
		return 0;
	rec = cluster_record(vm->h);
	mine = streq(owner, cl_self_name(vm->h, rec, me, sizeof(me)));
	json_decref(rec);
	if (mine)
		return 0;
	return err_set(err, -EBUSY, "vm '%s' is not started: the cluster "
	    "gives it to node %s (see 'tern vm list --cluster')",
	    vm->row->name, owner);
}

void
cluster_init(struct host *h)
{
	json_t *rec = cluster_record(h);

	/* the cluster commands' children see where the files are */
	setenv("TERN_CLUSTER_DIR", h->cfg.cluster_dir, 1);
	cl_members_init(h);
	h->may_start = cl_may_start;
	h->vm_stale = cl_vm_stale_copy;
	cl_lease_init(h);
	cl_jobs_init(h);
	cluster_validate_init(h);
	if (rec)
		cl_members_follow(h, true);
	json_decref(rec);
}

json_t *
cluster_record(struct host *h)
{
	_cleanup_free_ char *text = NULL;
	json_t *o;

	if (store_meta_get(h->store, CL_META_KEY, &text) < 0 || !text)
		return NULL;
	o = json_loads(text, 0, NULL);
	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

int
cl_record_save(struct host *h, const json_t *rec)
{
	_cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT);

	return store_meta_set(h->store, CL_META_KEY, text);
}

int
cl_record_drop(struct host *h)
{
	return store_meta_delete(h->store, CL_META_KEY);
}

static const json_t *
node_where(const json_t *rec, const char *key, const char *value)
{
	const json_t *n;
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		if (value && streq(value, json_string_value(json_object_get(n,
		    key))))
			return n;
	return NULL;
}

uint32_t
cl_record_nodeid(const json_t *rec, const char *name)
{
	return json_integer_value(json_object_get(cl_record_node(rec, name),
	    "nodeid"));
}

const json_t *
cl_record_self(struct host *h, const json_t *rec)
{
	return node_where(rec, "fp", h->fingerprint);
}

const json_t *
cl_record_node(const json_t *rec, const char *name)
{
	return node_where(rec, "name", name);
}

json_t *
cl_names_but(const json_t *rec, const char *skip)
{
	const json_t *n;
	json_t *v = json_array();
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_is_string(n) ? json_string_value(n) :
		    json_string_value(json_object_get(n, "name"));

		if (name && !streq(name, skip))
			json_array_append_new(v, json_string(name));
	}
	return v;
}

json_t *
cluster_other_nodes(struct host *h)
{
	json_t *rec = cluster_record(h), *v;

	if (!rec)
		return NULL;
	v = cl_names_but(rec, h->cfg.name);
	json_decref(rec);
	return v;
}

/* Corosync's state directory: Debian's on a real host, else the
 * cluster directory itself (the lab's hosts each have their own). */
static const char *
state_dir(struct host *h)
{
	return streq(h->cfg.cluster_dir, "/etc/corosync") ?
	    "/var/lib/corosync" : h->cfg.cluster_dir;
}

int
cl_files_write(struct host *h, const json_t *rec, const uint8_t *key,
    size_t key_len, struct err *err)
{
	const char *dir = h->cfg.cluster_dir;
	_cleanup_free_ char *kp = xasprintf("%s/authkey", dir);
	_cleanup_free_ char *cp = xasprintf("%s/corosync.conf", dir);
	_cleanup_free_ char *conf = cluster_conf_render(rec, kp,
	    state_dir(h));
	int r;

	if ((r = mkdir_p(dir, 0755)) < 0)
		return err_setf_errno(err, r, "cannot make %s", dir);
	if (key && (r = file_write_atomic(kp, key, key_len, 0400)) < 0)
		return err_setf_errno(err, r, "cannot write %s", kp);
	if ((r = file_write_atomic(cp, conf, strlen(conf), 0644)) < 0)
		return err_setf_errno(err, r, "cannot write %s", cp);
	return 0;
}

void
cl_files_remove(struct host *h)
{
	_cleanup_free_ char *kp = xasprintf("%s/authkey",
	    h->cfg.cluster_dir);
	_cleanup_free_ char *cp = xasprintf("%s/corosync.conf",
	    h->cfg.cluster_dir);

	(void)unlink(cp);
	(void)unlink(kp);
}

/* The start, reload and stop commands run one at a time, in the order
 * asked: a stop asked while a start still runs (a create undone as the
 * nodes join) waits for it, else it could find no Corosync yet and leave
 * the one the start then brings up running. */
struct cl_cmd {
	struct host *h;
	char what[16];
	char *cmd;
	struct child *child;
	struct cl_cmd *next;
};

static void cl_command_next(struct host *h);

static void
on_command_exit(struct child *ch, int status, void *data)
{
	struct cl_cmd *c = data;
	struct host *h = c->h;

	(void)ch;
	if (status != 0)
		host_event(h, "error", NULL, 0, "cluster: the %s command "
		    "failed (status %d); see %s/cluster-commands.log", c->what,
		    status, h->cfg.state_dir);
	else
		log_info("cluster: %s command done", c->what);
	h->cluster->cmds = c->next;
	child_free(c->child);
	free(c->cmd);
	free(c);
	cl_command_next(h);
}

/* Start the first queued command; one that cannot start is dropped with
 * an event, and the next one tried. */
static void
cl_command_next(struct host *h)
{
	struct cl_cmd *c;
	int r;

	while ((c = h->cluster->cmds)) {
		_cleanup_free_ char *logp = xasprintf(
		    "%s/cluster-commands.log", h->cfg.state_dir);
		const char *argv[] = { "/bin/sh", "-c", c->cmd, NULL };
		struct child_opts o = { .argv = argv, .log_path = logp };

		if ((r = child_spawn(h->loop, &o, on_command_exit, c,
		    &c->child)) == 0)
			return;
		host_event(h, "error", NULL, 0, "cluster: cannot run the %s "
		    "command: %s", c->what, strerror(-r));
		h->cluster->cmds = c->next;
		free(c->cmd);
		free(c);
	}
}

void
cl_command(struct host *h, const char *what, const char *cmd)
{
	struct cl_cmd *c = xzalloc(sizeof(*c)), **tail;
	bool idle = !h->cluster->cmds;

	c->h = h;
	snprintf(c->what, sizeof(c->what), "%s", what);
	c->cmd = xstrdup(cmd);
	for (tail = &h->cluster->cmds; *tail; tail = &(*tail)->next)
		;
	*tail = c;
	if (idle)
		cl_command_next(h);
}

const char *
cl_own_addr(struct host *h, char *buf, size_t len)
{
	_cleanup_free_ char *host = NULL;
	unsigned char a[16];

	if (h->cfg.cluster_address) {
		snprintf(buf, len, "%s", h->cfg.cluster_address);
		return buf;
	}
	if (!h->cfg.listen)
		return NULL;
	host = host_peer_url_host(h->cfg.listen);
	if (!host || (inet_pton(AF_INET, host, a) != 1 &&
	    inet_pton(AF_INET6, host, a) != 1) || streq(host, "0.0.0.0") ||
	    streq(host, "::"))
		return NULL;
	snprintf(buf, len, "%s", host);
	return buf;
}

json_t *
cluster_status(struct host *h)
{
	json_t *rec = cluster_record(h), *n;
	struct cluster *c = h->cluster;
	size_t i;

	if (!rec)
		return json_pack("{sn}", "cluster");
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		uint32_t id = (uint32_t)json_integer_value(json_object_get(n,
		    "nodeid"));

		uint64_t left = 0;
		enum cl_node_state st = cl_node_state(c, rec,
		    json_string_value(json_object_get(n, "name")), NULL, &left);

		/* isolated or down: as a quorate node judges; else Corosync's
		 * membership alone */
		if (st != CL_NODE_UP && !cl_state_ready(c))
			st = CL_NODE_DOWN;
		json_object_set_new(n, "state", json_string(
		    cl_node_state_name(st)));
		if (st != CL_NODE_UP)
			json_object_set_new(n, "left_s", json_integer(
			    (json_int_t)(now_ms() - left) / 1000));
		cl_node_show(c, json_string_value(json_object_get(n, "name")),
		    n);
		json_object_set_new(n, "ternd", json_boolean(
		    cl_member_in_group(c, id)));
		json_object_set_new(n, "self", json_boolean(streq(
		    json_string_value(json_object_get(n, "fp")),
		    h->fingerprint)));
	}
	json_object_set_new(rec, "quorum", cl_quorum_json(c));
	json_object_set_new(rec, "corosync", json_string(c->connected ?
	    "running" : "not running"));
	json_object_set_new(rec, "lockspaces", cl_lease_states(h));
	json_object_set_new(rec, "settings", json_pack("{sIsssIsIsIsIss}",
	    "resiliency_period_s", (json_int_t)cl_resiliency_ms(c->settings,
	    NULL) / 1000, "resiliency_level", cl_isolate_always(c->settings) ?
	    "always-isolated" : "isolated-if-storage-alive",
	    "quarantine_threshold", (json_int_t)cl_quarantine_threshold(
	    c->settings), "quarantine_duration_s", (json_int_t)
	    cl_quarantine_ms(c->settings) / 1000, "balance_threshold_pct",
	    (json_int_t)cl_balance_threshold(c->settings),
	    "balance_interval_s", (json_int_t)cl_balance_interval_ms(
	    c->settings) / 1000, "balance_by", cl_balance_by_cpu(
	    c->settings) ? "cpu" : "memory"));
	if (!cl_state_ready(c) && c->quorum_lost_ms)
		json_object_set_new(rec, "without_quorum_s", json_integer(
		    (json_int_t)(now_ms() - c->quorum_lost_ms) / 1000));
	return json_pack("{so}", "cluster", rec);
}

json_t *
cluster_get(struct host *h)
{
	json_t *o = cluster_status(h);
	char addr[64];
	const char *a = cl_own_addr(h, addr, sizeof(addr));

	json_object_set_new(o, "node", json_pack("{ssso ss}", "name",
	    h->cfg.name, "addr", a ? json_string(a) : json_null(), "fp",
	    h->fingerprint));
	return o;
}

void
cl_jobs_init(struct host *h)
{
	job_type_register(&h->jobs, &job_cluster_create);
	job_type_register(&h->jobs, &job_cluster_destroy);
	job_type_register(&h->jobs, &job_cluster_node_add);
	job_type_register(&h->jobs, &job_cluster_node_evict);
	job_type_register(&h->jobs, &job_cluster_drain);
	job_type_register(&h->jobs, &job_cluster_maintain);
	job_type_register(&h->jobs, &job_cluster_run);
}

bool
cluster_quorate(struct host *h)
{
	const struct cluster *c = h->cluster;

	/* want is set exactly while a record is stored (init, join, leave) */
	return !c || !c->want || (c->connected && c->quorate);
}
