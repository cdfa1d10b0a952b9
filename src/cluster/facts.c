/* facts.c - what this host tells a validating node about itself (GET
 * /v1/cluster/facts): versions, KVM, machine types, its CPU, memory, its
 * VMs' CPU models, machine types and sizes, pools with their storage
 * identity, switches and the wall clock.  Reads only; never changes a VM
 * or a record (a pool's identity marker is made once, if missing, as
 * every reader of host_pool_identity does). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "host.h"
#include "jsonutil.h"
#include "qemu.h"
#include "store.h"
#include "util.h"
#include "vm.h"

/* The value of a "key<TAB>: value" line of /proc/cpuinfo, or NULL. */
static const char *
facts_cpuinfo_value(const char *line, const char *key)
{
	size_t n = strlen(key);
	const char *colon;

	if (strncmp(line, key, n) != 0 || (line[n] != ' ' && line[n] != '\t'))
		return NULL;
	colon = strchr(line, ':');
	if (!colon)
		return NULL;
	colon++;
	while (*colon == ' ')
		colon++;
	return colon;
}

/* The words of a flags line as a JSON array. */
static json_t *
facts_flags(const char *v)
{
	_cleanup_free_ char *copy = xstrdup(v);
	json_t *flags = json_array();
	char *save = NULL;

	for (char *t = strtok_r(copy, " ", &save); t;
	    t = strtok_r(NULL, " ", &save))
		json_array_append_new(flags, json_string(t));
	return flags;
}

/* {"model": NAME, "flags": [...]} of the first CPU in /proc/cpuinfo (the
 * flags a live move with -cpu host depends on); {} when unreadable. */
static json_t *
facts_cpu(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	_cleanup_free_ char *line = NULL;
	json_t *o = json_object();
	size_t cap = 0;
	const char *v;

	if (!f)
		return o;
	while (getline(&line, &cap, f) > 0 && json_object_size(o) < 2) {
		line[strcspn(line, "\n")] = '\0';
		if ((v = facts_cpuinfo_value(line, "model name")) &&
		    !json_object_get(o, "model"))
			json_object_set_new(o, "model", json_string(v));
		if ((v = facts_cpuinfo_value(line, "flags")) &&
		    !json_object_get(o, "flags"))
			json_object_set_new(o, "flags", facts_flags(v));
	}
	fclose(f);
	return o;
}

/* The VMs that take part in a cluster (a replica is a DR copy, not one
 * of them) and the set of CPU models they run with here. */
static void
facts_vms(struct host *h, json_t **ret_vms, json_t **ret_models)
{
	json_t *vms = json_array(), *models = json_array();

	for (size_t i = 0; i < h->n_vms; i++) {
		struct vm_row *r = h->vms[i]->row;
		const char *model = qemu_cpu_model(r->cpu_compat, h->kvm);
		size_t k;
		json_t *m;
		bool seen = false;

		if (h->vms[i]->state == VM_REPLICA)
			continue;
		json_array_append_new(vms, json_pack("{ss ss ss sI ss}",
		    "name", r->name, "machine", r->machine ? r->machine : "",
		    "cpu_model", model, "memory_mib", (json_int_t)r->memory_mib,
		    "state", vm_state_name(h->vms[i]->state)));
		json_array_foreach(models, k, m)
			seen |= streq(json_string_value(m), model);
		if (!seen)
			json_array_append_new(models, json_string(model));
	}
	*ret_vms = vms;
	*ret_models = models;
}

/* pools [{name, path, id}] (id: the storage identity in the pool's
 * marker, null when unreadable) or switches [{name, bridge}]. */
static json_t *
facts_objs(struct host *h, enum store_kind k)
{
	struct obj_row *rows;
	size_t n;
	json_t *arr = json_array();
	char id[37];

	if (store_obj_list(h->store, k, &rows, &n) < 0)
		return arr;
	for (size_t i = 0; i < n; i++) {
		if (k == STORE_SWITCH) {
			json_array_append_new(arr, json_pack("{ss ss}", "name",
			    rows[i].name, "bridge", rows[i].a));
			continue;
		}
		json_array_append_new(arr, json_pack("{ss ss so}", "name",
		    rows[i].name, "path", rows[i].a, "id",
		    host_pool_identity(rows[i].a, id) == 0 ? json_string(id) :
		    json_null()));
	}
	obj_rows_free(rows, n);
	return arr;
}

/* The witness as this node sees it: its address (null: none) and
 * whether its vote counts (the qdevice registered and alive, the qnetd
 * answering it). */
static void
facts_witness(json_t *o, const json_t *st)
{
	const json_t *w = json_object_get(json_object_get(st, "quorum"),
	    "witness");

	json_object_set(o, "witness", json_is_string(json_object_get(st,
	    "witness")) ? json_object_get(st, "witness") : json_null());
	json_object_set_new(o, "witness_alive", json_boolean(
	    json_is_true(json_object_get(w, "alive")) &&
	    json_is_true(json_object_get(w, "casts_vote"))));
}

/* This node's view of its cluster for the corosync check: null, or
 * {name, id, corosync, quorate, nodes: [names], up: [names], witness:
 * ADDR or null, witness_alive}. */
static json_t *
facts_cluster(struct host *h)
{
	_cleanup_json_ json_t *all = cluster_status(h);
	json_t *st = json_object_get(all, "cluster"), *n;
	json_t *o = json_null(), *nodes = json_array(), *up = json_array();
	size_t i;

	if (json_is_object(st)) {
		json_array_foreach(json_object_get(st, "nodes"), i, n) {
			json_t *name = json_object_get(n, "name");

			json_array_append(nodes, name);
			if (streq(json_string_value(json_object_get(n,
			    "state")), "up"))
				json_array_append(up, name);
		}
		o = json_pack("{sOsOsOsOsOsO}", "name", json_object_get(st,
		    "name"), "id", json_object_get(st, "id"), "corosync",
		    json_object_get(st, "corosync"), "quorate",
		    json_object_get(json_object_get(st, "quorum"), "quorate"),
		    "nodes", nodes, "up", up);
		facts_witness(o, st);
	}
	json_decref(nodes);
	json_decref(up);
	return o;
}

json_t *
cluster_facts(struct host *h)
{
	uint64_t total = 0, avail = 0;
	json_t *machines = json_array(), *vms, *models;

	(void)host_memory_mib(&total, &avail);
	for (size_t i = 0; i < h->n_machines; i++)
		json_array_append_new(machines, json_string(h->machines[i]));
	facts_vms(h, &vms, &models);
	return json_pack("{ss ss ss sb so so so so s{sI sI} so so sI so}",
	    "name", h->cfg.name, "version", TERN_VERSION,
	    "qemu_version", h->qemu_version, "kvm", h->kvm,
	    "machines", machines, "cpu", facts_cpu(), "cpu_models", models,
	    "vms", vms, "memory", "total_mib", (json_int_t)total,
	    "available_mib", (json_int_t)avail,
	    "pools", facts_objs(h, STORE_POOL),
	    "switches", facts_objs(h, STORE_SWITCH),
	    "time_ms", (json_int_t)wall_ms(), "cluster", facts_cluster(h));
}
