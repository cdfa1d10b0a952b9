/* vswitch.c - a switch seen whole: its row, its uplinks applied again at
 * ternd's start, what `switch show` answers (the bridge, the uplinks'
 * link state, the VMs' NICs on it with their taps), and a moved VM's MACs
 * announced on its trunk VLANs out of the uplink.  Reads the kernel and
 * the store; changes nothing but the uplinks at start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "net.h"
#include "util.h"
#include "vm.h"

int
host_switch_get(struct host *h, const char *name, struct obj_row *ret)
{
	struct obj_row *rows;
	size_t n;
	int r = store_obj_list(h->store, STORE_SWITCH, &rows, &n);

	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n && r < 0; i++) {
		if (!streq(rows[i].name, name))
			continue;
		*ret = rows[i];
		rows[i] = (struct obj_row){ 0 };
		r = 0;
	}
	obj_rows_free(rows, n);
	return r;
}

/* One switch's bridge, isolation and uplinks, as create made them. */
static int
switch_apply(const struct obj_row *o, struct err *err)
{
	struct net_uplinks u;
	char br[16];
	int r;

	net_bridge_name(o->name, br);
	if ((r = net_bridge_create(br, err)) < 0)
		return r;
	if (o->b && (r = net_bridge_isolate(br, err)) < 0)
		return r;
	if ((r = net_uplinks_parse(o->uplinks, o->bond_mode, &u, err)) < 0)
		return r;
	return net_uplink_attach(o->name, &u, err);
}

void
host_switches_apply(struct host *h)
{
	struct obj_row *rows;
	size_t n;

	if (store_obj_list(h->store, STORE_SWITCH, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct err e = { 0 };

		if (!rows[i].uplinks || !*rows[i].uplinks)
			continue;	/* a bridge is made at a VM's launch */
		if (switch_apply(&rows[i], &e) < 0)
			log_warn("switch=%s uplinks '%s' not applied: %s, "
			    "ignoring", rows[i].name, rows[i].uplinks, e.msg);
		else
			log_info("switch=%s uplinks '%s' applied",
			    rows[i].name, rows[i].uplinks);
	}
	obj_rows_free(rows, n);
}

static json_t *
link_json(const char *name)
{
	struct net_link l;

	if (net_link_get(name, &l) < 0)
		return json_pack("{ss ss sb sn}", "name", name, "operstate",
		    "missing", "carrier", 0, "master");
	return json_pack("{ss ss sb so}", "name", name, "operstate",
	    l.operstate, "carrier", l.carrier, "master", l.master ?
	    json_string(l.master_name) : json_null());
}

static json_t *
bond_json(const char *sw, const char *mode)
{
	struct net_link l;
	char bond[16];

	net_bond_name(sw, bond);
	if (net_link_get(bond, &l) < 0)
		return json_pack("{ss ss ss sb sn}", "name", bond, "mode", mode,
		    "operstate", "missing", "carrier", 0, "active");
	return json_pack("{ss ss ss sb so}", "name", bond, "mode", mode,
	    "operstate", l.operstate, "carrier", l.carrier, "active",
	    l.active[0] ? json_string(l.active) : json_null());
}

/* The tap of a running VM's NIC i: the one tagged with its MAC when
 * opened (net_tap_find: every tap, hot-plugged ones too); for a VM whose
 * taps were opened before tags, QEMU's fd 3 + i (qemu.c), whose device
 * the tun driver names in its fdinfo. */
static bool
nic_tap(const struct vm *vm, size_t i, char name[16])
{
	_cleanup_free_ char *path = NULL;
	char line[128];
	FILE *f;
	bool found = false;

	if (vm->pid <= 0)
		return false;
	if (net_tap_find(vm->row->nics[i].mac, name) == 0)
		return true;
	if (vm->row->nics[i].port)
		return false;	/* hot-plugged: not at 3 + i */
	path = xasprintf("/proc/%d/fdinfo/%zu", (int)vm->pid, 3 + i);
	if (!(f = fopen(path, "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "iff: %15s", name) == 1;
	fclose(f);
	return found;
}

static json_t *
port_json(const struct vm *vm, size_t i)
{
	const struct nic_row *n = &vm->row->nics[i];
	char tap[16], nic[24];
	struct net_link l;
	bool has = nic_tap(vm, i, tap) && net_link_get(tap, &l) == 0;

	snprintf(nic, sizeof(nic), "nic%zu", i);
	return json_pack("{ss ss sI ss sI ss so so}", "vm", vm->row->name,
	    "nic", nic, "index", (json_int_t)i,
	    "mac", n->mac, "vlan", (json_int_t)n->vlan, "trunks", n->trunks,
	    "tap", has ? json_string(tap) : json_null(), "state",
	    json_string(has ? l.operstate : vm_state_name(vm->state)));
}

static json_t *
ports_json(struct host *h, const char *sw)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < h->n_vms; i++)
		for (size_t j = 0; j < h->vms[i]->row->n_nics; j++)
			if (streq(h->vms[i]->row->nics[j].switch_name, sw))
				json_array_append_new(arr,
				    port_json(h->vms[i], j));
	return arr;
}

json_t *
host_switch_json(struct host *h, const struct obj_row *o)
{
	struct net_uplinks u;
	struct net_link l;
	json_t *ups = json_array();
	char br[16];
	bool have = false;

	net_bridge_name(o->name, br);
	have = net_link_get(br, &l) == 0;
	if (net_uplinks_parse(o->uplinks, o->bond_mode, &u, NULL) < 0)
		u.n = 0;
	for (size_t i = 0; i < u.n; i++)
		json_array_append_new(ups, link_json(u.ifs[i]));
	return json_pack("{ss ss sb ss sb so so so}", "name", o->name,
	    "bridge", br, "isolated", o->b && streq(o->b, "isolated"),
	    "bridge_state", have ? l.operstate : "missing",
	    "vlan_filtering", net_bridge_vlan_filtering(br), "uplinks", ups,
	    "bond", u.n >= 2 ? bond_json(o->name, net_bond_mode_name(u.mode))
	    : json_null(), "ports", ports_json(h, o->name));
}

/* The device a switch's traffic leaves by: its bond, its one uplink, or
 * none (""). */
static void
uplink_dev(const struct obj_row *o, char dev[16])
{
	struct net_uplinks u;

	dev[0] = '\0';
	if (net_uplinks_parse(o->uplinks, o->bond_mode, &u, NULL) < 0 ||
	    u.n == 0)
		return;
	if (u.n >= 2)
		net_bond_name(o->name, dev);
	else
		snprintf(dev, 16, "%s", u.ifs[0]);
}

void
host_switch_announce(struct host *h, const struct vm *vm)
{
	for (size_t i = 0; i < vm->row->n_nics; i++) {
		const struct nic_row *n = &vm->row->nics[i];
		struct net_vlans v = { .vlan = (uint16_t)n->vlan };
		struct obj_row o = { 0 };
		struct err e = { 0 };
		char dev[16];
		int r;

		if (!n->trunks[0] || host_switch_get(h, n->switch_name, &o) < 0)
			continue;
		uplink_dev(&o, dev);
		obj_row_done(&o);
		if (!dev[0] || net_trunks_parse(n->trunks, &v, &e) < 0)
			continue;	/* no wire to tell, or (never) bad text */
		r = net_announce_tagged(dev, n->mac, &v, &e);
		if (r < 0)
			log_warn("vm=%s nic%zu not announced on its trunks "
			    "'%s': %s, ignoring", vm->row->name, i, n->trunks,
			    e.msg);
		else
			log_info("vm=%s nic%zu announced on %d trunk VLANs "
			    "out of '%s'", vm->row->name, i, r, dev);
	}
}
