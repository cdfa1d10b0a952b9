/* validate_rules.c - the checks of `tern cluster validate` (Hyper-V's
 * "Validate a Configuration" in spirit), pure and base only: the nodes'
 * facts in, the report out.  It must never crash on what a peer sent:
 * every field is read through cv_str/cv_int/cv_get, which give NULL or
 * "absent" for a missing or mistyped one.
 *
 * Severity, the rule every check follows: an error is something that
 * stops the cluster doing its job (a node that does not answer, a VM that
 * cannot start on another node, a guest that may crash after a move); a
 * warning is something that works worse or needs the operator (a live
 * move that fails while a restart works, storage not shared, clocks
 * apart, memory short for one failover). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate_rules.h"

enum { CV_PASS, CV_WARNING, CV_ERROR };

/* One run of the rules.  Invariant: worst is the worst finding of the
 * check named check, the one running. */
struct cv {
	const json_t *nodes;	/* the input, as given */
	json_t *errors, *warnings;
	const char *check;
	int worst;
};

#define CV_MSG_MAX 512
#define CV_LIST_MAX 256		/* a list of names in a message */

static const char *
cv_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* An integer member into *ret; false when absent or not an integer. */
static bool
cv_int(const json_t *o, const char *key, long long *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*ret = json_integer_value(v);
	return true;
}

/* A member of the type wanted (json_is_array, json_is_object), or NULL. */
static const json_t *
cv_get(const json_t *o, const char *key, int (*is)(const json_t *))
{
	const json_t *v = json_object_get(o, key);

	return v && is(v) ? v : NULL;
}

static int
cv_is_array(const json_t *v)
{
	return json_is_array(v);
}

static int
cv_is_object(const json_t *v)
{
	return json_is_object(v);
}

/* A node's facts (NULL: it did not answer). */
static const json_t *
cv_facts(const json_t *node)
{
	return cv_get(node, "facts", cv_is_object);
}

static const char *
cv_name(const json_t *node)
{
	const char *s = cv_str(node, "node");

	if (!s)
		s = cv_str(cv_facts(node), "name");
	return s ? s : "?";
}

static bool
cv_has_str(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (streq(json_string_value(v), s))
			return true;
	return false;
}

/* Add name to the ", "-separated list in buf (len bytes). */
static void
cv_list_add(char *buf, size_t len, const char *name)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

static void
cv_add(struct cv *c, int sev, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
cv_add(struct cv *c, int sev, const char *node, const char *fmt, ...)
{
	char msg[CV_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(sev == CV_ERROR ? c->errors : c->warnings,
	    json_pack("{ss ss ss}", "check", c->check, "node", node,
	    "message", msg));
	if (sev > c->worst)
		c->worst = sev;
}

/* The first node that answered (this host when it did): what the
 * version checks compare with. */
static const json_t *
cv_first_reached(const struct cv *c)
{
	size_t i;
	json_t *n;

	json_array_foreach(c->nodes, i, n)
		if (cv_facts(n))
			return n;
	return NULL;
}

/* ---- the checks ---- */

static void
cv_reach(struct cv *c)
{
	size_t i;
	json_t *n;

	json_array_foreach(c->nodes, i, n) {
		const char *why = cv_str(n, "error");

		if (cv_facts(n))
			continue;
		cv_add(c, CV_ERROR, cv_name(n), "%s does not answer (%s): "
		    "check that its ternd runs and that it trusts this host "
		    "('tern peer add' there)", cv_name(n),
		    why ? why : "no facts");
	}
}

/* "10.0" of "10.0.2" into buf; false when it does not parse. */
static bool
cv_qemu_mm(const char *v, char *buf, size_t len)
{
	int major, minor;

	if (!v || sscanf(v, "%d.%d", &major, &minor) != 2)
		return false;
	snprintf(buf, len, "%d.%d", major, minor);
	return true;
}

static void
cv_versions_one(struct cv *c, const json_t *ref, const json_t *n)
{
	const json_t *rf = cv_facts(ref), *nf = cv_facts(n);
	const char *rv = cv_str(rf, "version"), *nv = cv_str(nf, "version");
	const char *rq = cv_str(rf, "qemu_version");
	const char *nq = cv_str(nf, "qemu_version");
	char rmm[32], nmm[32];

	if (!streq(rv, nv))
		cv_add(c, CV_WARNING, cv_name(n), "tern versions differ: %s "
		    "runs %s, %s runs %s: run the same tern on every node",
		    cv_name(ref), rv ? rv : "(unknown)", cv_name(n),
		    nv ? nv : "(unknown)");
	if (!cv_qemu_mm(rq, rmm, sizeof(rmm)) ||
	    !cv_qemu_mm(nq, nmm, sizeof(nmm)) || !streq(rmm, nmm))
		cv_add(c, CV_WARNING, cv_name(n), "QEMU versions differ: %s "
		    "has %s, %s has %s: a VM moves only to a QEMU that offers "
		    "its machine type; run the same QEMU major.minor on every "
		    "node", cv_name(ref), rq ? rq : "(unknown)", cv_name(n),
		    nq ? nq : "(unknown)");
}

static void
cv_versions(struct cv *c)
{
	const json_t *ref = cv_first_reached(c);
	size_t i;
	json_t *n;

	json_array_foreach(c->nodes, i, n)
		if (n != ref && cv_facts(n))
			cv_versions_one(c, ref, n);
}

/* Call fn for every VM of every node that answered, with every other node
 * that answered. */
static void
cv_each_vm_other(struct cv *c, void (*fn)(struct cv *c, const json_t *a,
    const json_t *vm, const json_t *b))
{
	size_t i, j, k;
	json_t *a, *b, *vm;

	json_array_foreach(c->nodes, i, a) {
		const json_t *vms = cv_get(cv_facts(a), "vms", cv_is_array);

		json_array_foreach(vms, k, vm) {
			json_array_foreach(c->nodes, j, b)
				if (j != i && cv_facts(b) &&
				    json_is_object(vm))
					fn(c, a, vm, b);
		}
	}
}

static void
cv_machine_one(struct cv *c, const json_t *a, const json_t *vm,
    const json_t *b)
{
	const char *m = cv_str(vm, "machine");
	const json_t *offered = cv_get(cv_facts(b), "machines", cv_is_array);

	if (!m || cv_has_str(offered, m))
		return;
	cv_add(c, CV_ERROR, cv_name(b), "vm '%s' on %s uses machine type %s, "
	    "which %s's QEMU (%s) does not offer: it cannot move or fail "
	    "over there; upgrade QEMU on %s", cv_str(vm, "name") ?
	    cv_str(vm, "name") : "?", cv_name(a), m, cv_name(b),
	    cv_str(cv_facts(b), "qemu_version") ?
	    cv_str(cv_facts(b), "qemu_version") : "unknown", cv_name(b));
}

static void
cv_machines(struct cv *c)
{
	cv_each_vm_other(c, cv_machine_one);
}

/* The flags of a's CPU that b's lacks, listed into buf; how many. */
static size_t
cv_flags_missing(const json_t *a, const json_t *b, char *buf, size_t len)
{
	const json_t *af = cv_get(cv_get(cv_facts(a), "cpu", cv_is_object),
	    "flags", cv_is_array);
	const json_t *bf = cv_get(cv_get(cv_facts(b), "cpu", cv_is_object),
	    "flags", cv_is_array);
	size_t i, n = 0;
	json_t *f;

	buf[0] = '\0';
	json_array_foreach(af, i, f) {
		const char *s = json_string_value(f);

		if (!s || cv_has_str(bf, s))
			continue;
		if (n++ < 8)
			cv_list_add(buf, len, s);
	}
	return n;
}

/* A VM's CPU on another node.  qemu64 (processor compatibility) runs
 * anywhere.  -cpu host where the other CPU lacks a flag: error (the guest
 * may use an instruction that is not there after a move: it crashes).
 * KVM on one node and TCG on the other, or another CPU model with every
 * flag: warning (a live move fails or is not guaranteed; a restart there
 * picks that node's model and works). */
static void
cv_cpu_one(struct cv *c, const json_t *a, const json_t *vm, const json_t *b)
{
	const char *model = cv_str(vm, "cpu_model"), *name = cv_str(vm, "name");
	const json_t *ac = cv_get(cv_facts(a), "cpu", cv_is_object);
	const json_t *bc = cv_get(cv_facts(b), "cpu", cv_is_object);
	bool ak = json_is_true(json_object_get(cv_facts(a), "kvm"));
	bool bk = json_is_true(json_object_get(cv_facts(b), "kvm"));
	char missing[CV_LIST_MAX];
	size_t n;

	if (!model || streq(model, "qemu64"))
		return;
	name = name ? name : "?";
	if (ak != bk) {
		cv_add(c, CV_WARNING, cv_name(b), "vm '%s' runs under %s (-cpu "
		    "%s) on %s and %s uses %s: a live move between them fails "
		    "(a restart works)", name, ak ? "KVM" : "TCG", model,
		    cv_name(a), cv_name(b), bk ? "KVM" : "TCG");
		return;
	}
	if (!streq(model, "host"))
		return;
	if ((n = cv_flags_missing(a, b, missing, sizeof(missing))) > 0)
		cv_add(c, CV_ERROR, cv_name(b), "vm '%s' on %s uses -cpu host "
		    "and %s's CPU lacks %zu of its flags (%s%s): the guest can "
		    "crash after a move there; create it with --cpu-compat "
		    "(processor compatibility)", name, cv_name(a), cv_name(b),
		    n, missing, n > 8 ? ", ..." : "");
	else if (!streq(cv_str(ac, "model"), cv_str(bc, "model")))
		cv_add(c, CV_WARNING, cv_name(b), "CPU models differ (%s: %s, "
		    "%s: %s) and vm '%s' uses -cpu host: a live move may fail; "
		    "use --cpu-compat for VMs that move between them",
		    cv_name(a), cv_str(ac, "model") ? cv_str(ac, "model") : "?",
		    cv_name(b), cv_str(bc, "model") ? cv_str(bc, "model") : "?",
		    name);
}

static void
cv_cpu(struct cv *c)
{
	cv_each_vm_other(c, cv_cpu_one);
}

/* The largest VM (by memory) on a node other than b: its size, 0 when
 * none; *ret_vm and *ret_node name it. */
static long long
cv_largest_elsewhere(const struct cv *c, const json_t *b,
    const char **ret_vm, const char **ret_node)
{
	long long best = 0, m;
	size_t i, k;
	json_t *a, *vm;

	json_array_foreach(c->nodes, i, a) {
		if (a == b)
			continue;
		json_array_foreach(cv_get(cv_facts(a), "vms", cv_is_array),
		    k, vm) {
			if (!cv_int(vm, "memory_mib", &m) || m <= best)
				continue;
			best = m;
			*ret_vm = cv_str(vm, "name") ? cv_str(vm, "name") : "?";
			*ret_node = cv_name(a);
		}
	}
	return best;
}

static void
cv_memory(struct cv *c)
{
	size_t i;
	json_t *b;

	json_array_foreach(c->nodes, i, b) {
		const json_t *mem = cv_get(cv_facts(b), "memory", cv_is_object);
		const char *vm = NULL, *from = NULL;
		long long avail, need;

		if (!cv_int(mem, "available_mib", &avail))
			continue;
		need = cv_largest_elsewhere(c, b, &vm, &from);
		if (need > avail)
			cv_add(c, CV_WARNING, cv_name(b), "%s has %lld MiB "
			    "available: vm '%s' (%lld MiB) on %s would not "
			    "start there if %s failed; free memory on %s",
			    cv_name(b), avail, vm, need, from, from,
			    cv_name(b));
	}
}

/* The member of a node's list key ("pools", "switches") named name, or
 * NULL. */
static const json_t *
cv_named(const json_t *node, const char *key, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(cv_get(cv_facts(node), key, cv_is_array), i, o)
		if (streq(cv_str(o, "name"), name))
			return o;
	return NULL;
}

/* Call fn once for every name any node that answered has in its list
 * key. */
static void
cv_each_name(struct cv *c, const char *key,
    void (*fn)(struct cv *c, const char *name))
{
	json_t *seen = json_object();
	size_t i, k;
	json_t *n, *o;

	json_array_foreach(c->nodes, i, n) {
		json_array_foreach(cv_get(cv_facts(n), key, cv_is_array), k,
		    o) {
			const char *name = cv_str(o, "name");

			if (!name || json_object_get(seen, name))
				continue;
			json_object_set_new(seen, name, json_true());
			fn(c, name);
		}
	}
	json_decref(seen);
}

/* The nodes that answered and have (have) or lack (!have) name in their
 * list key, into buf; the first one that has it. */
static const json_t *
cv_who(const struct cv *c, const char *key, const char *name, bool have,
    char *buf, size_t len)
{
	const json_t *first = NULL;
	size_t i;
	json_t *n;

	buf[0] = '\0';
	json_array_foreach(c->nodes, i, n) {
		bool has = cv_named(n, key, name) != NULL;

		if (!cv_facts(n) || has != have)
			continue;
		if (!first)
			first = n;
		cv_list_add(buf, len, cv_name(n));
	}
	return first;
}

static void
cv_pool_identity(struct cv *c, const char *name)
{
	char have[CV_LIST_MAX];
	const json_t *ref = cv_who(c, "pools", name, true, have, sizeof(have));
	const char *ref_id = cv_str(cv_named(ref, "pools", name), "id");
	size_t i;
	json_t *n;

	json_array_foreach(c->nodes, i, n) {
		const json_t *p = cv_named(n, "pools", name);
		const char *id = cv_str(p, "id");

		if (!p || n == ref || !cv_facts(n))
			continue;
		if (!id || !ref_id)
			cv_add(c, CV_WARNING, cv_name(n), "pool '%s' has no "
			    "readable identity on %s: cannot tell whether it "
			    "is the same storage; check its directory there",
			    name, id ? cv_name(ref) : cv_name(n));
		else if (!streq(id, ref_id))
			cv_add(c, CV_WARNING, cv_name(n), "pool '%s' is not "
			    "the same storage on %s and %s: HA needs the VMs' "
			    "disks on a pool every node mounts (one shared "
			    "directory, e.g. NFS)", name, cv_name(ref),
			    cv_name(n));
	}
}

static void
cv_pool_one(struct cv *c, const char *name)
{
	char have[CV_LIST_MAX], lack[CV_LIST_MAX];

	(void)cv_who(c, "pools", name, true, have, sizeof(have));
	if (cv_who(c, "pools", name, false, lack, sizeof(lack)))
		cv_add(c, CV_WARNING, lack, "pool '%s' is on %s but not on %s: "
		    "HA needs the VMs' disks on a pool every node has, on the "
		    "same storage; create it there ('tern pool create')", name,
		    have, lack);
	cv_pool_identity(c, name);
}

static void
cv_pools(struct cv *c)
{
	cv_each_name(c, "pools", cv_pool_one);
}

static void
cv_switch_one(struct cv *c, const char *name)
{
	char have[CV_LIST_MAX], lack[CV_LIST_MAX];

	(void)cv_who(c, "switches", name, true, have, sizeof(have));
	if (cv_who(c, "switches", name, false, lack, sizeof(lack)))
		cv_add(c, CV_WARNING, lack, "switch '%s' is on %s but not on "
		    "%s: a VM with a NIC on it cannot start there; create it "
		    "('tern switch create %s') on %s", name, have, lack, name,
		    lack);
}

static void
cv_switches(struct cv *c)
{
	cv_each_name(c, "switches", cv_switch_one);
}

/* A node's clock against ours: its time_ms when it answered minus our
 * wall clock halfway through the call (sent_ms + rtt_ms / 2). */
static void
cv_time(struct cv *c)
{
	size_t i;
	json_t *n;

	json_array_foreach(c->nodes, i, n) {
		long long t, sent, rtt, skew;

		if (!cv_int(cv_facts(n), "time_ms", &t) ||
		    !cv_int(n, "sent_ms", &sent) || !cv_int(n, "rtt_ms", &rtt))
			continue;	/* this host, or no clock to compare */
		skew = t - (sent + rtt / 2);
		if (llabs(skew) <= CV_SKEW_WARN_MS)
			continue;
		cv_add(c, llabs(skew) > CV_SKEW_ERROR_MS ? CV_ERROR :
		    CV_WARNING, cv_name(n), "%s's clock is %lld ms %s this "
		    "host's (more than %d ms): keep every node's clock in sync "
		    "(NTP, chrony)", cv_name(n), llabs(skew), skew > 0 ?
		    "ahead of" : "behind", llabs(skew) > CV_SKEW_ERROR_MS ?
		    CV_SKEW_ERROR_MS : CV_SKEW_WARN_MS);
	}
}

/* A node of a cluster with a witness whose qdevice does not see the
 * witness alive: the cluster has lost the vote that lets half of it
 * survive the other half's loss. */
static void
cv_witness(struct cv *c, const json_t *n, const json_t *cl)
{
	const char *w = cv_str(cl, "witness");

	if (!w || !streq(cv_str(cl, "corosync"), "running") ||
	    json_is_true(json_object_get(cl, "witness_alive")))
		return;
	cv_add(c, CV_ERROR, cv_name(n), "%s does not see the witness %.64s "
	    "alive: start corosync-qnetd there and corosync-qdevice on %s "
	    "(systemctl restart corosync-qdevice)", cv_name(n), w,
	    cv_name(n));
}

/* The cluster as each node sees it (facts "cluster"): no node in one,
 * nothing to check; else every node in the same one (by id), its
 * Corosync running, its partition quorate, and every node of the
 * cluster up in its view of the membership.  A link that is down shows
 * as a node some other sees down.  With a witness, each node's qdevice
 * sees it alive. */
static void
cv_corosync(struct cv *c)
{
	const json_t *n, *first = NULL, *cl, *m;
	size_t i, j;

	json_array_foreach(c->nodes, i, n)
		if (!first && cv_get(cv_facts(n), "cluster", cv_is_object))
			first = cv_get(cv_facts(n), "cluster", cv_is_object);
	if (!first)
		return;
	json_array_foreach(c->nodes, i, n) {
		if (!cv_facts(n))
			continue;	/* reach says it */
		cl = cv_get(cv_facts(n), "cluster", cv_is_object);
		if (!cl || !streq(cv_str(cl, "id"), cv_str(first, "id"))) {
			cv_add(c, CV_ERROR, cv_name(n), "%s is not in cluster "
			    "'%s' (%s): add it (tern cluster node add %s)",
			    cv_name(n), cv_str(first, "name") ?
			    cv_str(first, "name") : "?", cl ? "it is in another"
			    : "it is in none", cv_name(n));
			continue;
		}
		if (!streq(cv_str(cl, "corosync"), "running"))
			cv_add(c, CV_ERROR, cv_name(n), "ternd on %s does not "
			    "reach Corosync: start it there (systemctl start "
			    "corosync)", cv_name(n));
		else if (!json_is_true(json_object_get(cl, "quorate")))
			cv_add(c, CV_ERROR, cv_name(n), "%s's partition has "
			    "no quorum", cv_name(n));
		cv_witness(c, n, cl);
		json_array_foreach(cv_get(cl, "nodes", cv_is_array), j, m) {
			const char *name = json_string_value(m);
			bool up = false;
			const json_t *u;
			size_t k;

			json_array_foreach(cv_get(cl, "up", cv_is_array), k, u)
				up |= name && streq(name, json_string_value(u));
			if (name && !up && streq(cv_str(cl, "corosync"),
			    "running"))
				cv_add(c, CV_ERROR, cv_name(n), "%s sees %s "
				    "down in Corosync's membership: check the "
				    "link between them (corosync-cfgtool -s)",
				    cv_name(n), name);
		}
	}
}

/* The checks, in the order the report lists them. */
static const struct cv_rule {
	const char *name;
	void (*fn)(struct cv *c);
} cv_rules[] = {
	{ "reach", cv_reach },
	{ "versions", cv_versions },
	{ "machines", cv_machines },
	{ "cpu", cv_cpu },
	{ "memory", cv_memory },
	{ "pools", cv_pools },
	{ "switches", cv_switches },
	{ "time", cv_time },
	{ "corosync", cv_corosync },
};

json_t *
cluster_validate_rules(const json_t *nodes)
{
	struct cv c = { .nodes = json_is_array(nodes) ? nodes : NULL,
		.errors = json_array(), .warnings = json_array() };
	static const char *const result[] = { "pass", "warning", "error" };
	json_t *names = json_array(), *checks = json_array(), *n;
	size_t i;

	json_array_foreach(c.nodes, i, n)
		json_array_append_new(names, json_string(cv_name(n)));
	for (i = 0; i < ARRAY_SIZE(cv_rules); i++) {
		c.check = cv_rules[i].name;
		c.worst = CV_PASS;
		cv_rules[i].fn(&c);
		json_array_append_new(checks, json_pack("{ss ss}", "name",
		    c.check, "result", result[c.worst]));
	}
	return json_pack("{so so so so}", "nodes", names, "errors", c.errors,
	    "warnings", c.warnings, "checks", checks);
}
