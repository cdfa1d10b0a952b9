/* desc.c - the VM description codec (see desc.h).  Never logs. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desc.h"
#include "host.h"
#include "jsonutil.h"
#include "memspec.h"
#include "net.h"
#include "util.h"

static const char *const desc_fields[] = { "name", "cpus", "memory_mib",
	"cpu_compat", "machine", "cmdline", "nics", "firmware", "secure_boot",
	"tpm", "boot", "cd_drive", "hotplug_ports", "memory_min_mib",
	"memory_buffer_pct", "memory_cur_mib", NULL };
static const char *const boot_names[] = { "disk", "cdrom", "network",
	"kernel", NULL };
static const char *const nic_fields[] = { "mac", "switch", "vlan", "trunks",
	"port", NULL };

static bool
field_in(const char *const *list, const char *key)
{
	for (size_t i = 0; list && list[i]; i++)
		if (streq(list[i], key))
			return true;
	return false;
}

/* Every key of o is the description's, the caller's, or (for a record)
 * "uuid". */
static int
desc_check_fields(const json_t *o, enum vm_desc_kind kind,
    const char *const *extra, const char *what, struct err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		(void)v;
		if (field_in(desc_fields, key) || field_in(extra, key) ||
		    (kind == VM_DESC_RECORD && streq(key, "uuid")))
			continue;
		return err_set(err, -EINVAL, "unknown field '%.64s'%s%s", key,
		    what ? " in " : "", what ? what : "");
	}
	return 0;
}

/* A NIC's "vlan" (1..4094, absent: none) and "trunks" ("10-20,30",
 * absent: none), checked by net/vlan.c: a peer's description is
 * untrusted too. */
static int
desc_parse_nic_vlans(const json_t *o, size_t i, struct nic_row *n,
    struct err *err)
{
	struct net_vlans v = { 0 };
	const char *trunks = NULL;
	int64_t vlan = 0, port = 0;
	struct err e = { 0 };
	int r;

	if ((r = json_get_int(o, "vlan", false, INT32_MIN, INT32_MAX, &vlan,
	    err)) < 0 || (r = json_get_str(o, "trunks", false, &trunks,
	    err)) < 0 || (r = json_get_int(o, "port", false, 1,
	    VM_HOTPLUG_PORTS_MAX, &port, err)) < 0)
		return r;
	n->port = (unsigned)port;
	if (json_object_get(o, "vlan") && (vlan < 1 || vlan > NET_VLAN_MAX))
		return err_set(err, -EINVAL, "nics[%zu] vlan %lld is outside "
		    "1-4094: give a VLAN ID from 1 to 4094, or no vlan for "
		    "the untagged network", i, (long long)vlan);
	v.vlan = (uint16_t)vlan;
	if (trunks && net_trunks_parse(trunks, &v, &e) < 0)
		return err_set(err, -EINVAL, "nics[%zu]: %s", i, e.msg);
	n->vlan = v.vlan;
	net_trunks_format(&v, n->trunks, sizeof(n->trunks));
	return 0;
}

/* {"mac", "switch", "vlan", "trunks"}: a request may leave mac out (one
 * is generated). */
static int
desc_parse_nic(const json_t *o, size_t i, enum vm_desc_kind kind,
    struct nic_row *n, struct err *err)
{
	const char *mac = NULL, *sw = NULL;
	char where[32];
	int r;

	if (!json_is_object(o))
		return err_set(err, -EINVAL, "nics[%zu] must be an object", i);
	snprintf(where, sizeof(where), "nics[%zu]", i);
	if ((r = desc_check_fields(o, VM_DESC_REQUEST, nic_fields, where,
	    err)) < 0 ||
	    (r = json_get_str(o, "mac", kind == VM_DESC_RECORD, &mac,
	    err)) < 0 ||
	    (r = json_get_str(o, "switch", true, &sw, err)) < 0 ||
	    (r = desc_parse_nic_vlans(o, i, n, err)) < 0)
		return r;
	if (mac && !net_mac_is_valid(mac))
		return err_set(err, -EINVAL, "nics[%zu] mac '%.40s' is not a "
		    "unicast MAC like 52:54:00:12:34:56", i, mac);
	if (!name_is_valid(sw))
		return err_set(err, -EINVAL, "nics[%zu] switch '%.64s' is not "
		    "a valid switch name", i, sw);
	/* Lower case, as tern writes MACs, so that comparisons see a MAC
	 * already in use whatever its case. */
	if (mac)
		for (size_t k = 0; k < sizeof(n->mac) - 1; k++)
			n->mac[k] = tolower((unsigned char)mac[k]);
	else
		net_mac_generate(n->mac);
	n->switch_name = xstrdup(sw);
	return 0;
}

/* Each hot-plugged NIC on its own root port, one the VM has. */
static int
desc_check_ports(const struct vm_desc *d, struct err *err)
{
	int ports = d->hotplug_ports < 0 ? VM_HOTPLUG_PORTS_DEFAULT :
	    d->hotplug_ports;

	for (size_t i = 0; i < d->n_nics; i++) {
		if (d->nics[i].port > (unsigned)ports)
			return err_set(err, -EINVAL, "nics[%zu] port %u is "
			    "beyond the vm's %d hot-plug ports", i,
			    d->nics[i].port, ports);
		for (size_t j = i + 1; j < d->n_nics && d->nics[i].port; j++)
			if (d->nics[i].port == d->nics[j].port)
				return err_set(err, -EINVAL, "nics[%zu] and "
				    "nics[%zu] are both on port %u", i, j,
				    d->nics[i].port);
	}
	return 0;
}

int
vm_desc_parse_nic(const json_t *o, struct nic_row *n, struct err *err)
{
	int r = desc_parse_nic(o, 0, VM_DESC_REQUEST, n, err);

	if (r < 0) {
		free(n->switch_name);
		n->switch_name = NULL;
	}
	return r;
}

static int
desc_parse_nics(const json_t *o, enum vm_desc_kind kind, struct vm_desc *d,
    struct err *err)
{
	const json_t *nics = json_object_get(o, "nics");
	int r = 0;

	if (!nics && kind == VM_DESC_REQUEST)
		return 0;
	if (!json_is_array(nics) || json_array_size(nics) > VM_MAX_NICS)
		return err_set(err, -EINVAL, "nics must be an array of at most "
		    "%d NICs", VM_MAX_NICS);
	for (size_t i = 0; r == 0 && i < json_array_size(nics); i++) {
		r = desc_parse_nic(json_array_get(nics, i), i, kind,
		    &d->nics[i], err);
		d->n_nics += d->nics[i].switch_name != NULL;
	}
	for (size_t i = 0; r == 0 && i < d->n_nics; i++)
		for (size_t j = i + 1; j < d->n_nics; j++)
			if (streq(d->nics[i].mac, d->nics[j].mac))
				return err_set(err, -EINVAL, "mac %s is given "
				    "twice", d->nics[i].mac);
	return r < 0 ? r : desc_check_ports(d, err);
}

/* "hotplug_ports": 0..VM_HOTPLUG_PORTS_MAX; absent: -1 in a request
 * (the caller's default), 0 in a record (a VM made before hot-plug). */
static int
desc_parse_hotplug(const json_t *o, enum vm_desc_kind kind,
    struct vm_desc *d, struct err *err)
{
	int64_t n = kind == VM_DESC_REQUEST ? -1 : 0;
	int r = json_get_int(o, "hotplug_ports", false, 0,
	    VM_HOTPLUG_PORTS_MAX, &n, err);

	d->hotplug_ports = (int)n;
	return r < 0 ? r : 0;
}

static int
desc_parse_identity(const json_t *o, enum vm_desc_kind kind,
    struct vm_desc *d, struct err *err)
{
	const char *uuid = NULL, *name = NULL;
	int r;

	if (kind == VM_DESC_RECORD &&
	    (r = json_get_str(o, "uuid", true, &uuid, err)) < 0)
		return r;
	if ((r = json_get_str(o, "name", true, &name, err)) < 0)
		return r;
	if (uuid && !uuid_is_valid(uuid))
		return err_set(err, -EINVAL, "uuid '%.40s' is not a UUID", uuid);
	if (!name_is_valid(name))
		return err_set(err, -EINVAL, "invalid vm name '%.64s': use 1-63 "
		    "letters, digits, '.', '_' or '-'", name);
	if (uuid)
		snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
	d->name = xstrdup(name);
	return 0;
}

static int
desc_parse_machine(const json_t *o, struct vm_desc *d, struct err *err)
{
	const char *machine = NULL, *cmdline = NULL;
	int r;

	if ((r = json_get_str(o, "machine", false, &machine, err)) < 0 ||
	    (r = json_get_str(o, "cmdline", false, &cmdline, err)) < 0 ||
	    (r = json_get_bool(o, "cpu_compat", &d->cpu_compat, err)) < 0)
		return r;
	if (machine && !host_machine_name_ok(machine))
		return err_set(err, -EINVAL, "machine must be a QEMU machine "
		    "type such as pc-q35-10.0 (see 'tern host info'); "
		    "'%.64s' is not a machine type name", machine);
	if (cmdline && strlen(cmdline) > VM_CMDLINE_MAX)
		return err_set(err, -EINVAL, "cmdline is longer than %d bytes",
		    VM_CMDLINE_MAX);
	d->machine = machine ? xstrdup(machine) : NULL;
	d->cmdline = cmdline ? xstrdup(cmdline) : NULL;
	return 0;
}

bool
vm_boot_name_ok(const char *name)
{
	return field_in(boot_names, name);
}

bool
vm_boot_has(const char *boot, const char *dev)
{
	size_t n = strlen(dev);

	for (const char *p = boot; p && *p; p = strchr(p, ',') ?
	    strchr(p, ',') + 1 : "")
		if (strncmp(p, dev, n) == 0 && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

/* "boot": ["cdrom", "disk"], distinct names, kept as "cdrom,disk". */
static int
desc_parse_boot(const json_t *o, struct vm_desc *d, struct err *err)
{
	const json_t *a = json_object_get(o, "boot");
	_cleanup_free_ char *list = NULL;

	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) < 1 ||
	    json_array_size(a) > 4)
		return err_set(err, -EINVAL, "boot must be a list of 1 to 4 of "
		    "disk, cdrom, network, kernel");
	for (size_t i = 0; i < json_array_size(a); i++) {
		const char *v = json_string_value(json_array_get(a, i));
		char *next;

		if (!v || !vm_boot_name_ok(v))
			return err_set(err, -EINVAL, "boot[%zu] '%.32s' is "
			    "not one of disk, cdrom, network, kernel", i,
			    v ? v : "(not a string)");
		if (vm_boot_has(list, v))
			return err_set(err, -EINVAL, "boot names '%s' twice",
			    v);
		next = list ? xasprintf("%s,%s", list, v) : xstrdup(v);
		free(list);
		list = next;
	}
	d->boot = TAKE_PTR(list);
	return 0;
}

/* firmware, secure_boot, tpm, boot, cd_drive: how the guest boots. */
static int
desc_parse_guest(const json_t *o, struct vm_desc *d, struct err *err)
{
	const char *fw = NULL;
	int r;

	if ((r = json_get_str(o, "firmware", false, &fw, err)) < 0 ||
	    (r = json_get_bool(o, "secure_boot", &d->secure_boot, err)) < 0 ||
	    (r = json_get_bool(o, "tpm", &d->tpm, err)) < 0 ||
	    (r = json_get_bool(o, "cd_drive", &d->cd_drive, err)) < 0)
		return r;
	if (fw && !streq(fw, "bios") && !streq(fw, "uefi"))
		return err_set(err, -EINVAL, "firmware must be bios or uefi, "
		    "not '%.32s'", fw);
	if (fw && streq(fw, "uefi"))
		d->firmware = xstrdup("uefi");
	if (d->secure_boot && !d->firmware)
		return err_set(err, -EINVAL, "secure boot needs UEFI: add "
		    "--firmware uefi (firmware \"uefi\")");
	return desc_parse_boot(o, d, err);
}

/* Dynamic memory (issue 18): memory_min_mib below memory_mib (the maximum)
 * with memory_buffer_pct 5..95 (default 20) and memory_cur_mib, the
 * balloon's size, within them (default the minimum); all absent: fixed
 * memory.  A peer's description is untrusted, so each is checked here. */
static int
desc_parse_dynmem(const json_t *o, uint64_t max, struct vm_desc *d,
    struct err *err)
{
	int64_t min = 0, pct = 0, cur = 0;
	int r;

	if ((r = json_get_int(o, "memory_min_mib", false, VM_MEMORY_MIB_MIN,
	    VM_MEMORY_MIB_MAX, &min, err)) < 0 ||
	    (r = json_get_int(o, "memory_buffer_pct", false, INT32_MIN,
	    INT32_MAX, &pct, err)) < 0 ||
	    (r = json_get_int(o, "memory_cur_mib", false, 0, VM_MEMORY_MIB_MAX,
	    &cur, err)) < 0)
		return r;
	if (!min)
		min = max;
	if ((uint64_t)min > max)
		return err_set(err, -EINVAL, "memory_min_mib %lld is larger "
		    "than the maximum memory_mib %llu; write MIN..MAX with "
		    "MIN <= MAX", (long long)min, (unsigned long long)max);
	if ((pct || cur) && (uint64_t)min == max)
		return err_set(err, -EINVAL, "memory_buffer_pct and "
		    "memory_cur_mib need dynamic memory: give memory_min_mib "
		    "below memory_mib (--memory MIN..MAX)");
	if ((uint64_t)min < max && !json_object_get(o, "memory_buffer_pct"))
		pct = MEMSPEC_BUFFER_DEFAULT;
	if ((uint64_t)min < max && (pct < MEMSPEC_BUFFER_MIN ||
	    pct > MEMSPEC_BUFFER_MAX))
		return err_set(err, -EINVAL, "memory_buffer_pct %lld is outside "
		    "%d-%d: give the free share of the guest's memory in "
		    "percent (--memory MIN..MAX,buffer=20)", (long long)pct,
		    MEMSPEC_BUFFER_MIN, MEMSPEC_BUFFER_MAX);
	if (cur && (cur < min || (uint64_t)cur > max))
		return err_set(err, -EINVAL, "memory_cur_mib %lld is outside "
		    "memory_min_mib..memory_mib (%lld..%llu)", (long long)cur,
		    (long long)min, (unsigned long long)max);
	d->memory_min_mib = min;
	d->memory_buffer_pct = pct;
	d->memory_cur_mib = cur ? (uint64_t)cur : (uint64_t)min;
	return 0;
}

int
vm_desc_parse(const json_t *o, enum vm_desc_kind kind,
    const char *const *extra, const char *what, struct vm_desc *ret,
    struct err *err)
{
	int64_t cpus = 0, mem = 0;
	int r;

	assert(kind < VM_DESC_KIND__COUNT);
	if (!json_is_object(o))
		return err_set(err, -EINVAL, "%s must be a JSON object",
		    what ? what : "a vm description");
	if ((r = desc_check_fields(o, kind, extra, what, err)) < 0 ||
	    (r = desc_parse_identity(o, kind, ret, err)) < 0 ||
	    (r = json_get_int(o, "cpus", true, VM_CPUS_MIN, VM_CPUS_MAX,
	    &cpus, err)) < 0 ||
	    (r = json_get_int(o, "memory_mib", true, VM_MEMORY_MIB_MIN,
	    VM_MEMORY_MIB_MAX, &mem, err)) < 0 ||
	    (r = desc_parse_dynmem(o, mem, ret, err)) < 0 ||
	    (r = desc_parse_machine(o, ret, err)) < 0 ||
	    (r = desc_parse_guest(o, ret, err)) < 0 ||
	    (r = desc_parse_hotplug(o, kind, ret, err)) < 0 ||
	    (r = desc_parse_nics(o, kind, ret, err)) < 0)
		return r;
	ret->cpus = cpus;
	ret->memory_mib = mem;
	return 0;
}

static void
desc_guest_to_json(const struct vm_desc *d, json_t *o)
{
	if (d->firmware)
		json_object_set_new(o, "firmware", json_string(d->firmware));
	if (d->secure_boot)
		json_object_set_new(o, "secure_boot", json_true());
	if (d->tpm)
		json_object_set_new(o, "tpm", json_true());
	if (d->cd_drive)
		json_object_set_new(o, "cd_drive", json_true());
	if (d->hotplug_ports > 0)
		json_object_set_new(o, "hotplug_ports",
		    json_integer(d->hotplug_ports));
	if (d->boot) {
		json_t *a = json_array();
		_cleanup_free_ char *copy = xstrdup(d->boot);
		char *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t;
		    t = strtok_r(NULL, ",", &save))
			json_array_append_new(a, json_string(t));
		json_object_set_new(o, "boot", a);
	}
}

/* vlan and trunks only when set, so that a VM without VLANs still moves
 * to a ternd that knows none (one with VLANs is refused there). */
static json_t *
desc_nic_to_json(const struct nic_row *n)
{
	json_t *o = json_pack("{ss ss}", "mac", n->mac, "switch",
	    n->switch_name);

	if (n->vlan)
		json_object_set_new(o, "vlan", json_integer(n->vlan));
	if (n->trunks[0])
		json_object_set_new(o, "trunks", json_string(n->trunks));
	if (n->port)
		json_object_set_new(o, "port", json_integer(n->port));
	return o;
}

json_t *
vm_desc_to_json(const struct vm_desc *d)
{
	json_t *nics = json_array();
	json_t *o = json_pack("{ss si sI sb so}", "name", d->name,
	    "cpus", d->cpus, "memory_mib", (json_int_t)d->memory_mib,
	    "cpu_compat", d->cpu_compat, "nics", nics);

	for (size_t i = 0; i < d->n_nics; i++)
		json_array_append_new(nics, desc_nic_to_json(&d->nics[i]));
	if (d->uuid[0])
		json_object_set_new(o, "uuid", json_string(d->uuid));
	if (d->machine)
		json_object_set_new(o, "machine", json_string(d->machine));
	if (d->cmdline)
		json_object_set_new(o, "cmdline", json_string(d->cmdline));
	/* only when dynamic, so that a fixed VM still moves to a ternd
	 * without dynamic memory (a dynamic one is refused there) */
	if (d->memory_min_mib && d->memory_min_mib < d->memory_mib) {
		json_object_set_new(o, "memory_min_mib",
		    json_integer(d->memory_min_mib));
		json_object_set_new(o, "memory_buffer_pct",
		    json_integer(d->memory_buffer_pct));
		json_object_set_new(o, "memory_cur_mib",
		    json_integer(d->memory_cur_mib));
	}
	desc_guest_to_json(d, o);
	return o;
}

void
vm_desc_from_row(struct vm_desc *d, const struct vm_row *row)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->uuid, sizeof(d->uuid), "%s", row->uuid);
	d->name = xstrdup(row->name);
	d->cpus = row->cpus;
	d->memory_mib = row->memory_mib;
	d->memory_min_mib = row->memory_min_mib;
	d->memory_cur_mib = row->memory_cur_mib;
	d->memory_buffer_pct = row->memory_buffer_pct;
	d->cpu_compat = row->cpu_compat;
	d->machine = row->machine ? xstrdup(row->machine) : NULL;
	d->cmdline = row->cmdline ? xstrdup(row->cmdline) : NULL;
	d->firmware = row->firmware ? xstrdup(row->firmware) : NULL;
	d->secure_boot = row->secure_boot;
	d->tpm = row->tpm;
	d->boot = row->boot ? xstrdup(row->boot) : NULL;
	d->cd_drive = row->has_cdrom;
	d->hotplug_ports = (int)row->hotplug_ports;
	for (size_t i = 0; i < row->n_nics && i < VM_MAX_NICS; i++) {
		d->nics[i].switch_name = xstrdup(row->nics[i].switch_name);
		memcpy(d->nics[i].mac, row->nics[i].mac, sizeof(d->nics[i].mac));
		d->nics[i].vlan = row->nics[i].vlan;
		memcpy(d->nics[i].trunks, row->nics[i].trunks,
		    sizeof(d->nics[i].trunks));
		d->nics[i].port = row->nics[i].port;
		d->n_nics++;
	}
}

void
vm_desc_to_row(struct vm_desc *d, struct vm_row *row)
{
	if (d->uuid[0])
		memcpy(row->uuid, d->uuid, sizeof(row->uuid));
	row->name = TAKE_PTR(d->name);
	row->cpus = d->cpus;
	row->memory_mib = d->memory_mib;
	row->memory_min_mib = d->memory_min_mib ? d->memory_min_mib :
	    d->memory_mib;
	row->memory_cur_mib = d->memory_cur_mib ? d->memory_cur_mib :
	    row->memory_min_mib;
	row->memory_buffer_pct = d->memory_buffer_pct;
	row->cpu_compat = d->cpu_compat;
	row->machine = TAKE_PTR(d->machine);
	row->cmdline = TAKE_PTR(d->cmdline);
	row->firmware = TAKE_PTR(d->firmware);
	row->secure_boot = d->secure_boot;
	row->tpm = d->tpm;
	row->boot = TAKE_PTR(d->boot);
	row->has_cdrom = d->cd_drive;
	row->hotplug_ports = d->hotplug_ports < 0 ? VM_HOTPLUG_PORTS_DEFAULT :
	    (unsigned)d->hotplug_ports;
	row->nics = xzalloc((d->n_nics + 1) * sizeof(*row->nics));
	memcpy(row->nics, d->nics, d->n_nics * sizeof(*row->nics));
	row->n_nics = d->n_nics;
	memset(d, 0, sizeof(*d));
}

void
vm_desc_done(struct vm_desc *d)
{
	for (size_t i = 0; i < d->n_nics; i++)
		free(d->nics[i].switch_name);
	free(d->name);
	free(d->machine);
	free(d->cmdline);
	free(d->firmware);
	free(d->boot);
	memset(d, 0, sizeof(*d));
}
