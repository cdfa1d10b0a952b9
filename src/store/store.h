/* store.h - the host's state in SQLite (WAL): pools, switches, peers, VMs
 * with their disks and NICs, jobs and events.  Every function runs on the
 * loop thread, in short transactions, and never logs above debug.  Rows
 * are plain structs owned by the caller (free with the matching _free). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;

#define STORE_SCHEMA_VERSION 15

/* Open (creating if needed) the database at path, switch it to WAL, and
 * run every schema migration newer than the file's version in one
 * transaction.  Fails with -EPROTO when the file is from a newer tern. */
int store_open(const char *path, struct store **ret_st, struct err *err);
struct store *store_close(struct store *st);

/* Transactions nest by counting: only the outermost commits or rolls
 * back; a rollback anywhere makes the outermost commit a rollback. */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* Key/value host settings and identity (e.g. "host.uuid"). */
int store_meta_get(struct store *st, const char *key, char **ret_value);
int store_meta_set(struct store *st, const char *key, const char *value);
int store_meta_delete(struct store *st, const char *key);

/* ---- named objects: pools, switches, peers ---- */
struct obj_row {
	char *name;
	char *a;	/* pool: path; switch: bridge; peer: url */
	char *b;	/* peer: fingerprint; switch: "isolated" or NULL */
	/* switch only (the table switch_uplinks; NULL for the others and
	 * a switch without uplinks): uplink names "eth1,eth2", and the
	 * bond's mode (NULL: fewer than 2 uplinks) */
	char *uplinks, *bond_mode;
};

enum store_kind { STORE_POOL, STORE_SWITCH, STORE_PEER, STORE__COUNT };

/* -EEXIST when the name (or the unique a/b column) is taken. */
int store_obj_insert(struct store *st, enum store_kind kind,
    const struct obj_row *row);
/* -ENOENT when there is no such name. */
int store_obj_delete(struct store *st, enum store_kind kind,
    const char *name);
int store_obj_list(struct store *st, enum store_kind kind,
    struct obj_row **ret_rows, size_t *ret_n);
void obj_rows_free(struct obj_row *rows, size_t n);
/* Free one row's strings (a row taken out of a list). */
void obj_row_done(struct obj_row *row);

/* ---- VMs ---- */
struct disk_row {
	char name[8];		/* vda, vdb, ... */
	char *path;
	char *pool;		/* NULL for a path outside tern's pools */
	uint64_t size_bytes;	/* virtual size */
	bool owned;		/* created by tern: deleted with the VM */
};

/* vlan: the access VLAN (PVID, untagged), 0: none (the switch's
 * untagged default); trunks: tagged VLANs as checked text "10-20,30"
 * (net/vlan.c), "" none. */
#define NIC_TRUNKS_MAX 161
/* port: 0 for a NIC on the root bus (given at create, or added while
 * the VM was off), K+1 for one hot-plugged on the VM's root port K
 * (QEMU ids hpnetK/hpnicK, bus hpK: vm/nic.c). */
struct nic_row {
	char mac[18];
	char *switch_name;
	unsigned vlan;
	char trunks[NIC_TRUNKS_MAX];
	unsigned port;
};

/* A VM's configuration plus the runtime facts a restarted ternd needs to
 * re-attach: the QEMU pid and its start time (to tell a reused pid). */
struct vm_row {
	char uuid[37];
	char *name;
	int cpus;
	uint64_t memory_mib;	/* the guest's memory; dynamic: its maximum */
	/* Dynamic memory (issue 18, base/memspec.h): min < memory_mib with
	 * buffer 5..95 and cur the balloon's size in min..memory_mib; fixed
	 * memory: min = cur = memory_mib, buffer 0. */
	uint64_t memory_min_mib, memory_cur_mib;
	unsigned memory_buffer_pct;
	bool cpu_compat;
	char *machine;		/* QEMU machine type, "pc-q35-10.0" */
	char *kernel, *initrd, *cmdline;	/* NULL: boot from disk */
	char *state;				/* vm_state_name() */
	int64_t pid;				/* 0 when no QEMU */
	uint64_t pid_start;			/* /proc/PID/stat field 22 */
	uint64_t created_ms, started_ms;	/* wall clock */
	char *state_file;	/* saved memory+device state, NULL: none */
	char *services;		/* JSON {"heartbeat": false, ...}; NULL: all on */
	char *kvp;		/* JSON {"key": "value"} for the guest; NULL */
	char *hold;		/* why a plain start is refused (failed over
				 * to another host: src/failover); NULL */
	char *firmware;		/* NULL: bios; "uefi" */
	bool secure_boot;
	char *nvram;		/* DIR/NAME-nvram.fd next to disk 0; NULL */
	bool tpm;
	char *tpm_dir;		/* DIR/NAME-tpm/ next to disk 0; NULL */
	char *boot;		/* "cdrom,disk"; NULL: the default order */
	char *cdrom;		/* ISO in the CD drive; NULL: empty/none */
	bool has_cdrom;		/* the VM has a CD drive */
	char *cloud_init_seed;	/* DIR/NAME-seed.iso (second CD); NULL */
	char *cloud_init_net;	/* JSON {"nic0": {addr, prefix, gw, dns}}:
				 * the seed's static addresses; NULL */
	unsigned hotplug_ports;	/* PCIe root ports for hot-plug NICs */
	size_t n_disks, n_nics;
	struct disk_row *disks;
	struct nic_row *nics;
};

/* The row's memory now: a dynamic VM's current size, else (fixed memory,
 * or a row made in memory without it) memory_mib. */
static inline uint64_t
store_vm_mem_now(const struct vm_row *r)
{
	return r->memory_cur_mib && r->memory_cur_mib <= r->memory_mib ?
	    r->memory_cur_mib : r->memory_mib;
}

/* Insert the VM with its disks and NICs atomically.  -EEXIST when the
 * name, a disk path or a MAC is taken. */
int store_vm_insert(struct store *st, const struct vm_row *vm);
int store_vm_set_runtime(struct store *st, const char *uuid,
    const char *state, int64_t pid, uint64_t pid_start,
    uint64_t started_ms);
int store_vm_delete(struct store *st, const char *uuid);
/* Replace the VM's NICs with nics[0..n) in one transaction.  -ENOENT
 * for no VM, -EEXIST when a MAC is another VM's. */
int store_vm_set_nics(struct store *st, const char *uuid,
    const struct nic_row *nics, size_t n);
/* A dynamic VM's balloon size now (memory_cur_mib).  -ENOENT: no such VM. */
int store_vm_set_memory_cur(struct store *st, const char *uuid,
    uint64_t cur_mib);
/* A disk's file moved: its new path and pool (NULL: none).  -ENOENT for no
 * such VM or disk, -EEXIST when another disk has that path. */
int store_vm_set_disk(struct store *st, const char *uuid, const char *name,
    const char *path, const char *pool);
/* Set one text column of a VM ("state_file", "services", "kvp", "name",
 * "hold", "nvram", "tpm_dir", "cdrom", "cloud_init_seed",
 * "cloud_init_net");
 * NULL stores NULL.  -EINVAL for another column, -ENOENT for no VM,
 * -EEXIST when a new name is taken. */
int store_vm_set_text(struct store *st, const char *uuid, const char *column,
    const char *value);
int store_vm_load_all(struct store *st, struct vm_row ***ret_vms,
    size_t *ret_n);
/* Frees one row and returns NULL. */
struct vm_row *store_vm_row_free(struct vm_row *vm);

/* ---- jobs ---- */
struct job_row {
	int64_t id;		/* assigned by store_job_insert */
	char *type;		/* "vm.start" */
	char *vm_uuid, *vm_name;
	char *subject;		/* "vm:UUID", "host", ... (src/job) */
	char *claim;		/* "exclusive" | "shared" */
	char *state;		/* job_state_name() */
	char *phase;		/* where a restarted ternd resumes */
	uint64_t done, total;
	char *unit;		/* "bytes" | "steps" */
	double rate;		/* unit/s, < 0 when unknown */
	int64_t eta_s;		/* < 0 when unknown */
	char *error;
	char *details;		/* JSON object text */
	uint64_t created_ms, started_ms, ended_ms;
};

int store_job_insert(struct store *st, struct job_row *job);
int store_job_update(struct store *st, const struct job_row *job);
/* Jobs not yet ended (queued, running or cancelling), oldest first. */
int store_job_load_active(struct store *st, struct job_row ***ret_jobs,
    size_t *ret_n);
/* The API view of one job (NULL: not found) or of the newest 100. */
json_t *store_job_json(struct store *st, int64_t id);
json_t *store_job_list_json(struct store *st, const char *vm_name,
    bool active_only);
struct job_row *store_job_row_free(struct job_row *job);
/* The API view of a row. */
json_t *job_row_to_json(const struct job_row *job);

/* ---- events ---- */
int store_event_add(struct store *st, const char *severity,
    const char *vm_name, int64_t job_id, const char *message,
    int64_t *ret_id);
/* {"events": [...], "last_id": N}: events with id > after, oldest first. */
json_t *store_event_list_json(struct store *st, const char *vm_name,
    int64_t after, int limit);

/* ---- reference points of change tracking (src/track) ---- */
struct refpoint_row {
	char *vm_uuid;
	char *name;		/* the point; its QEMU bitmap is "tern-NAME" */
	char *disk;		/* the VM's disk name */
	int64_t created_ms;
	int64_t gen;		/* QEMU runs the bitmap came through intact */
	bool complete;		/* every write since the point is tracked */
	char *reason;		/* why not complete, NULL when complete */
	char *owner;		/* "created", "backup" */
	char *target;		/* the backup repository, NULL for none */
	char *point;		/* the backup point it stands for, or NULL */
	char *map;		/* the disk's block map at the point, or NULL */
};

/* -EEXIST when (vm, name, disk) is there already. */
int store_refpoint_insert(struct store *st, const struct refpoint_row *r);
/* The VM's points, by creation then name then disk; *ret NULL when none. */
int store_refpoint_list(struct store *st, const char *vm_uuid,
    struct refpoint_row **ret, size_t *ret_n);
/* Tracking of (vm, name, disk) is incomplete from now on, for reason (name
 * NULL: every point of the disk; disk NULL: of every disk). */
int store_refpoint_lose(struct store *st, const char *vm_uuid,
    const char *name, const char *disk, const char *reason);
/* The bitmap came through one more QEMU run. */
int store_refpoint_bump(struct store *st, const char *vm_uuid,
    const char *name, const char *disk);
/* Drop a point (every disk); -ENOENT when there is none. */
int store_refpoint_delete(struct store *st, const char *vm_uuid,
    const char *name);
void refpoint_rows_free(struct refpoint_row *rows, size_t n);

/* ---- checkpoints (src/checkpoint) ---- */
struct checkpoint_row {
	char *vm_uuid;
	char *name;
	char *parent;		/* the checkpoint it builds on, NULL: none */
	int64_t created_ms;
	char *kind;		/* "production" | "standard" */
	char *consistency;	/* "filesystem", "crash", "memory", "off" */
	char *state_file;	/* memory and devices (standard), or NULL */
	char *images;		/* JSON {"vda": "/frozen/image.qcow2"} */
	char *status;		/* "ready", "deleting", "hidden" */
	bool current;		/* the VM's disks build on this one */
};

/* -EEXIST when the VM has a checkpoint of that name. */
int store_checkpoint_insert(struct store *st, const struct checkpoint_row *r);
/* The VM's checkpoints, oldest first; *ret NULL when none. */
int store_checkpoint_list(struct store *st, const char *vm_uuid,
    struct checkpoint_row **ret, size_t *ret_n);
/* Every column of (vm, name) but the key; -ENOENT when there is none. */
int store_checkpoint_update(struct store *st, const struct checkpoint_row *r);
int store_checkpoint_delete(struct store *st, const char *vm_uuid,
    const char *name);
/* The one the VM's disks build on (NULL: none). */
int store_checkpoint_set_current(struct store *st, const char *vm_uuid,
    const char *name);
/* The checkpoints built on from now build on to (NULL: none). */
int store_checkpoint_reparent(struct store *st, const char *vm_uuid,
    const char *from, const char *to);
/* How many checkpoints the VM has (any status); < 0 on error. */
int store_checkpoint_count(struct store *st, const char *vm_uuid);
void checkpoint_rows_free(struct checkpoint_row *rows, size_t n);

/* ---- replication relationships (src/replica) ---- */
struct replication_row {
	char *vm_uuid;
	char *role;		/* "primary" | "replica" */
	char *peer;		/* the other host, by its peer name here */
	char *settings;		/* JSON object (src/replica/replica.h) */
	char *state;		/* replica.h: "initial", "replicating", ... */
	int64_t seq;		/* the last acknowledged cycle; 0: none */
	char *stats;		/* JSON object: counts, sizes, last error */
	int64_t created_ms;
	char *points;		/* JSON array: the replica's recovery points,
				 * oldest first (NULL: none) */
	char *failover;		/* JSON object: a failover (src/failover);
				 * NULL: none */
	char *test;		/* JSON object: the test failover running */
	char *drill;		/* JSON object: drill schedule and results */
};

/* -EEXIST when the VM has one already. */
int store_replication_insert(struct store *st,
    const struct replication_row *r);
/* Every column but vm_uuid and created_ms; -ENOENT when there is none. */
int store_replication_update(struct store *st,
    const struct replication_row *r);
/* -ENOENT when the VM has none. */
int store_replication_get(struct store *st, const char *vm_uuid,
    struct replication_row *ret);
int store_replication_list(struct store *st, struct replication_row **ret,
    size_t *ret_n);
int store_replication_delete(struct store *st, const char *vm_uuid);
void replication_row_done(struct replication_row *r);
void replication_rows_free(struct replication_row *rows, size_t n);
