/* vm_row.c - VMs with their disks and NICs.  A VM and its children are
 * written in one transaction so a crash never leaves half a VM.  Never
 * logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

static int
vm_insert_nics(struct store *st, const char *uuid, const struct nic_row *nics,
    size_t n_nics)
{
	_cleanup_stmt_ sqlite3_stmt *n = store_prepare(st,
	    "INSERT INTO nics(vm_uuid, idx, mac, switch, vlan, trunks, port)"
	    " VALUES(?, ?, ?, ?, ?, ?, ?)");
	int r = 0;

	if (!n)
		return -EIO;
	for (size_t i = 0; r == 0 && i < n_nics; i++) {
		sqlite3_reset(n);
		store_bind_str(n, 1, uuid);
		sqlite3_bind_int64(n, 2, i);
		store_bind_str(n, 3, nics[i].mac);
		store_bind_str(n, 4, nics[i].switch_name);
		sqlite3_bind_int(n, 5, (int)nics[i].vlan);
		store_bind_str(n, 6, nics[i].trunks);
		sqlite3_bind_int(n, 7, (int)nics[i].port);
		r = store_step_done(n);
	}
	return r;
}

static int
vm_insert_children(struct store *st, const struct vm_row *vm)
{
	_cleanup_stmt_ sqlite3_stmt *d = store_prepare(st,
	    "INSERT INTO disks(vm_uuid, idx, name, path, pool, size_bytes,"
	    " owned) VALUES(?, ?, ?, ?, ?, ?, ?)");
	int r = 0;

	if (!d)
		return -EIO;
	for (size_t i = 0; r == 0 && i < vm->n_disks; i++) {
		const struct disk_row *k = &vm->disks[i];

		sqlite3_reset(d);
		store_bind_str(d, 1, vm->uuid);
		sqlite3_bind_int64(d, 2, i);
		store_bind_str(d, 3, k->name);
		store_bind_str(d, 4, k->path);
		store_bind_str(d, 5, k->pool);
		sqlite3_bind_int64(d, 6, k->size_bytes);
		sqlite3_bind_int(d, 7, k->owned);
		r = store_step_done(d);
	}
	return r == 0 ? vm_insert_nics(st, vm->uuid, vm->nics, vm->n_nics) :
	    r;
}

int
store_vm_set_nics(struct store *st, const char *uuid,
    const struct nic_row *nics, size_t n)
{
	_cleanup_stmt_ sqlite3_stmt *e = store_prepare(st,
	    "SELECT 1 FROM vms WHERE uuid=?");
	_cleanup_stmt_ sqlite3_stmt *d = store_prepare(st,
	    "DELETE FROM nics WHERE vm_uuid=?");
	int r;

	if (!e || !d)
		return -EIO;
	store_bind_str(e, 1, uuid);
	if (sqlite3_step(e) != SQLITE_ROW)
		return -ENOENT;
	store_bind_str(d, 1, uuid);
	r = store_begin(st);
	if (r == 0)
		r = store_step_done(d);
	if (r == 0)
		r = vm_insert_nics(st, uuid, nics, n);
	if (r < 0)
		store_rollback(st);
	return store_commit(st) < 0 && r == 0 ? -EIO : r;
}

/* The columns of migration 10, from index i on. */
static void
vm_bind_guest(sqlite3_stmt *s, int i, const struct vm_row *vm)
{
	store_bind_str(s, i, vm->firmware);
	sqlite3_bind_int(s, i + 1, vm->secure_boot);
	store_bind_str(s, i + 2, vm->nvram);
	sqlite3_bind_int(s, i + 3, vm->tpm);
	store_bind_str(s, i + 4, vm->tpm_dir);
	store_bind_str(s, i + 5, vm->boot);
	store_bind_str(s, i + 6, vm->cdrom);
	sqlite3_bind_int(s, i + 7, vm->has_cdrom);
	store_bind_str(s, i + 8, vm->cloud_init_seed);
	store_bind_str(s, i + 9, vm->cloud_init_net);
	sqlite3_bind_int64(s, i + 10, vm->memory_min_mib);
	sqlite3_bind_int64(s, i + 11, vm->memory_cur_mib);
	sqlite3_bind_int(s, i + 12, (int)vm->memory_buffer_pct);
}

static void
vm_load_guest(sqlite3_stmt *s, int i, struct vm_row *vm)
{
	vm->firmware = store_col_str(s, i);
	vm->secure_boot = sqlite3_column_int(s, i + 1);
	vm->nvram = store_col_str(s, i + 2);
	vm->tpm = sqlite3_column_int(s, i + 3);
	vm->tpm_dir = store_col_str(s, i + 4);
	vm->boot = store_col_str(s, i + 5);
	vm->cdrom = store_col_str(s, i + 6);
	vm->has_cdrom = sqlite3_column_int(s, i + 7);
	vm->cloud_init_seed = store_col_str(s, i + 8);
	vm->cloud_init_net = store_col_str(s, i + 9);
	vm->memory_min_mib = sqlite3_column_int64(s, i + 10);
	vm->memory_cur_mib = sqlite3_column_int64(s, i + 11);
	vm->memory_buffer_pct = (unsigned)sqlite3_column_int(s, i + 12);
	/* a row written before migration 15's columns were filled */
	if (!vm->memory_min_mib || vm->memory_min_mib > vm->memory_mib)
		vm->memory_min_mib = vm->memory_mib;
	if (vm->memory_cur_mib < vm->memory_min_mib ||
	    vm->memory_cur_mib > vm->memory_mib)
		vm->memory_cur_mib = vm->memory_mib;
}

int
store_vm_insert(struct store *st, const struct vm_row *vm)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO vms(uuid, name, cpus, memory_mib, cpu_compat, kernel,"
	    " initrd, cmdline, state, pid, pid_start, created_ms, started_ms,"
	    " state_file, services, kvp, machine, hold, firmware, secure_boot,"
	    " nvram, tpm, tpm_dir, boot, cdrom, has_cdrom, cloud_init_seed,"
	    " cloud_init_net, memory_min_mib, memory_cur_mib,"
	    " memory_buffer_pct, hotplug_ports)"
	    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
	    " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int r;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, vm->uuid);
	store_bind_str(s, 2, vm->name);
	sqlite3_bind_int(s, 3, vm->cpus);
	sqlite3_bind_int64(s, 4, vm->memory_mib);
	sqlite3_bind_int(s, 5, vm->cpu_compat);
	store_bind_str(s, 6, vm->kernel);
	store_bind_str(s, 7, vm->initrd);
	store_bind_str(s, 8, vm->cmdline);
	store_bind_str(s, 9, vm->state);
	sqlite3_bind_int64(s, 10, vm->pid);
	sqlite3_bind_int64(s, 11, vm->pid_start);
	sqlite3_bind_int64(s, 12, vm->created_ms);
	sqlite3_bind_int64(s, 13, vm->started_ms);
	store_bind_str(s, 14, vm->state_file);
	store_bind_str(s, 15, vm->services);
	store_bind_str(s, 16, vm->kvp);
	store_bind_str(s, 17, vm->machine);
	store_bind_str(s, 18, vm->hold);
	vm_bind_guest(s, 19, vm);
	sqlite3_bind_int(s, 32, (int)vm->hotplug_ports);
	r = store_begin(st);
	if (r == 0)
		r = store_step_done(s);
	if (r == 0)
		r = vm_insert_children(st, vm);
	if (r < 0)
		store_rollback(st);
	return store_commit(st) < 0 && r == 0 ? -EIO : r;
}

int
store_vm_set_runtime(struct store *st, const char *uuid, const char *state,
    int64_t pid, uint64_t pid_start, uint64_t started_ms)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "UPDATE vms SET state=?, pid=?, pid_start=?, started_ms=?"
	    " WHERE uuid=?");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, state);
	sqlite3_bind_int64(s, 2, pid);
	sqlite3_bind_int64(s, 3, pid_start);
	sqlite3_bind_int64(s, 4, started_ms);
	store_bind_str(s, 5, uuid);
	return store_step_done(s);
}

int
store_vm_set_memory_cur(struct store *st, const char *uuid, uint64_t cur_mib)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "UPDATE vms SET memory_cur_mib=? WHERE uuid=?");
	int r;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, cur_mib);
	store_bind_str(s, 2, uuid);
	r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return r;
}

int
store_vm_set_disk(struct store *st, const char *uuid, const char *name,
    const char *path, const char *pool)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "UPDATE disks SET path=?, pool=? WHERE vm_uuid=? AND name=?");
	int r;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, path);
	store_bind_str(s, 2, pool);
	store_bind_str(s, 3, uuid);
	store_bind_str(s, 4, name);
	r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return r;
}

int
store_vm_delete(struct store *st, const char *uuid)
{
	_cleanup_stmt_ sqlite3_stmt *s =
	    store_prepare(st, "DELETE FROM vms WHERE uuid=?");
	int r;

	if (!s)
		return -EIO;
	store_bind_str(s, 1, uuid);
	r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return r;
}

static void
vm_load_children(struct store *st, struct vm_row *vm)
{
	_cleanup_stmt_ sqlite3_stmt *d = store_prepare(st,
	    "SELECT name, path, pool, size_bytes, owned FROM disks"
	    " WHERE vm_uuid=? ORDER BY idx");
	_cleanup_stmt_ sqlite3_stmt *n = store_prepare(st,
	    "SELECT mac, switch, vlan, trunks, port FROM nics WHERE vm_uuid=?"
	    " ORDER BY idx");

	store_bind_str(d, 1, vm->uuid);
	while (sqlite3_step(d) == SQLITE_ROW) {
		struct disk_row *k;

		vm->disks = xrealloc(vm->disks,
		    (vm->n_disks + 1) * sizeof(*vm->disks));
		k = &vm->disks[vm->n_disks++];
		memset(k, 0, sizeof(*k));
		snprintf(k->name, sizeof(k->name), "%s",
		    (const char *)sqlite3_column_text(d, 0));
		k->path = store_col_str(d, 1);
		k->pool = store_col_str(d, 2);
		k->size_bytes = sqlite3_column_int64(d, 3);
		k->owned = sqlite3_column_int(d, 4);
	}
	store_bind_str(n, 1, vm->uuid);
	while (sqlite3_step(n) == SQLITE_ROW) {
		struct nic_row *c;

		vm->nics = xrealloc(vm->nics,
		    (vm->n_nics + 1) * sizeof(*vm->nics));
		c = &vm->nics[vm->n_nics++];
		snprintf(c->mac, sizeof(c->mac), "%s",
		    (const char *)sqlite3_column_text(n, 0));
		c->switch_name = store_col_str(n, 1);
		c->vlan = (unsigned)sqlite3_column_int(n, 2);
		snprintf(c->trunks, sizeof(c->trunks), "%s",
		    sqlite3_column_text(n, 3) ?
		    (const char *)sqlite3_column_text(n, 3) : "");
		c->port = (unsigned)sqlite3_column_int(n, 4);
	}
}

int
store_vm_load_all(struct store *st, struct vm_row ***ret_vms, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "SELECT uuid, name, cpus, memory_mib, cpu_compat, kernel, initrd,"
	    " cmdline, state, pid, pid_start, created_ms, started_ms,"
	    " state_file, services, kvp, machine, hold, firmware, secure_boot,"
	    " nvram, tpm, tpm_dir, boot, cdrom, has_cdrom, cloud_init_seed,"
	    " cloud_init_net, memory_min_mib, memory_cur_mib,"
	    " memory_buffer_pct, hotplug_ports FROM vms ORDER BY name");
	struct vm_row **vms = NULL;
	size_t n = 0;

	if (!s)
		return -EIO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct vm_row *vm = xzalloc(sizeof(*vm));

		snprintf(vm->uuid, sizeof(vm->uuid), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		vm->name = store_col_str(s, 1);
		vm->cpus = sqlite3_column_int(s, 2);
		vm->memory_mib = sqlite3_column_int64(s, 3);
		vm->cpu_compat = sqlite3_column_int(s, 4);
		vm->kernel = store_col_str(s, 5);
		vm->initrd = store_col_str(s, 6);
		vm->cmdline = store_col_str(s, 7);
		vm->state = store_col_str(s, 8);
		vm->pid = sqlite3_column_int64(s, 9);
		vm->pid_start = sqlite3_column_int64(s, 10);
		vm->created_ms = sqlite3_column_int64(s, 11);
		vm->started_ms = sqlite3_column_int64(s, 12);
		vm->state_file = store_col_str(s, 13);
		vm->services = store_col_str(s, 14);
		vm->kvp = store_col_str(s, 15);
		vm->machine = store_col_str(s, 16);
		vm->hold = store_col_str(s, 17);
		vm_load_guest(s, 18, vm);
		vm->hotplug_ports = (unsigned)sqlite3_column_int(s, 31);
		vm_load_children(st, vm);
		vms = xrealloc(vms, (n + 1) * sizeof(*vms));
		vms[n++] = vm;
	}
	*ret_vms = vms;
	*ret_n = n;
	return 0;
}

struct vm_row *
store_vm_row_free(struct vm_row *vm)
{
	if (!vm)
		return NULL;
	for (size_t i = 0; i < vm->n_disks; i++) {
		free(vm->disks[i].path);
		free(vm->disks[i].pool);
	}
	for (size_t i = 0; i < vm->n_nics; i++)
		free(vm->nics[i].switch_name);
	free(vm->disks);
	free(vm->nics);
	free(vm->name);
	free(vm->kernel);
	free(vm->initrd);
	free(vm->cmdline);
	free(vm->machine);
	free(vm->state);
	free(vm->state_file);
	free(vm->services);
	free(vm->kvp);
	free(vm->hold);
	free(vm->firmware);
	free(vm->nvram);
	free(vm->tpm_dir);
	free(vm->boot);
	free(vm->cdrom);
	free(vm->cloud_init_seed);
	free(vm->cloud_init_net);
	free(vm);
	return NULL;
}
