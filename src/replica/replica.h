/* replica.h - Replica (Hyper-V's): a VM's disks copied to a second host
 * (its replica server) and kept minutes behind.  This module holds the
 * replica server's settings (server.c: who may replicate here, into
 * which pool), the relationship of each replicated VM on both sides
 * (relation.c: settings, state, health), enabling it (enable.c: the
 * primary's job that makes the replica VM on the peer), and the replica
 * side's answers to the primary (incoming.c); cycles (cycle.c, sched.c,
 * receive.c) and a first cycle carried on a disk (seed.c,
 * seed_import.c).  The delta stream codec
 * and the helpers that read and apply deltas are in delta.h and
 * apply.c.
 *
 * A relationship's state (replication_row.state), on the primary:
 *
 *   enable job ok       first cycle acknowledged
 *   ------------> initial -------------------------> replicating
 *                    |                                    ^
 *                    | --initial offline: the first       | the replica
 *                    | cycle's seed written into DIR      | has applied
 *                    +-------------> awaiting-seed -------+ the seed
 *                                    (no cycles; the replica asked
 *                                    every 10 s: seed.c)
 *
 *   pause: any of the three --> paused --resume--> back to what it was
 *   the VM failed over to the replica host (its 409 to a cycle, or its
 *   POST .../failed-over: stale.c): any --> failed-over (no cycles, the
 *   VM held); then remove (the row and the hold go) or the new
 *   primary's reverse (adopt.c: the row becomes the replica's)
 *   remove: the row goes (the replica VM deleted or kept as an ordinary
 *   VM on the peer)
 *
 * On the replica side the row (role "replica") is made with the replica
 * VM (state VM_REPLICA) and goes with it; a failover (src/failover)
 * makes it "failed-over" (cycles refused, receive.c), a cancel puts it
 * back, a reverse makes it the primary's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "job.h"

struct host;
struct vm;

#define REPLICA_POINTS_MAX 24		/* hourly recovery points kept */
#define REPLICA_APP_EVERY_MAX 12	/* hours between app-consistent */

/* A relationship's settings (the "settings" JSON of its row). */
struct replica_settings {
	unsigned interval_s;	/* 30, 300 (the default) or 900 */
	bool compress;		/* zstd on the wire; on by default */
	unsigned points;	/* 0..REPLICA_POINTS_MAX hourly points */
	unsigned app_every_h;	/* 0: never; else 1..REPLICA_APP_EVERY_MAX */
	char initial[12];	/* "now" | "at" | "existing" | "offline" */
	uint64_t initial_at_ms;	/* "at": wall clock */
	char *initial_dir;	/* "offline": the seed's directory, or NULL */
	json_t *exclude;	/* array of disk names, never NULL */
};

/* ---- server.c: the replica server of this host ---- */

/* GET: {"enabled", "any", "pool", "allow": {PEER: POOL}}. */
json_t *replica_server_get(struct host *h);
/* Enable (or change) from the request body {"allow": {PEER: POOL}} or
 * {"any": true, "pool": POOL}: every peer must be trusted here and every
 * pool exist.  Nothing changes on error. */
int replica_server_enable(struct host *h, const json_t *body,
    struct err *err);
int replica_server_disable(struct host *h, struct err *err);
/* POST /v1/replications/UUID/replica-moved (broker.c): the node with
 * fingerprint fp took the replica of this primary's vm over in its
 * cluster; taken when fp is one of that cluster's nodes the last cycle
 * listed and a trusted peer (-EACCES else). */
int replica_broker_moved(struct host *h, const char *fp, const char *uuid,
    struct err *err);
/* May the peer presenting fingerprint fp replicate here?  0 with its
 * peer name and the pool its VMs land in (caller frees both); -EACCES
 * with err saying why not and what to do. */
int replica_server_allows(struct host *h, const char *fp, char **ret_peer,
    char **ret_pool, struct err *err);

/* ---- relation.c: relationships ---- */

/* Settings from an enable request (defaults filled in; disks checked
 * against vm).  s->exclude is a new reference: replica_settings_done. */
int replica_settings_parse(const json_t *body, const struct vm *vm,
    struct replica_settings *s, struct err *err);
json_t *replica_settings_to_json(const struct replica_settings *s);
/* From a row's JSON (trusted: written by us). */
void replica_settings_from_json(const json_t *o, struct replica_settings *s);
void replica_settings_done(struct replica_settings *s);

/* The relationship of vm as the API shows it (with its health), or
 * -ENOENT with err saying the VM is not replicated. */
int replica_show(struct host *h, struct vm *vm, json_t **ret,
    struct err *err);
/* Every relationship of this host, both roles. */
json_t *replica_list(struct host *h);
/* pause / resume on the primary. */
int replica_pause(struct host *h, struct vm *vm, bool pause,
    struct err *err);

/* ---- enable.c, remove.c: the primary's jobs ---- */

/* vm.replication-enable: details {"peer", "settings"}. */
int replica_enable_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);
/* vm.replication-remove: tells the replica (keep: the copy stays as an
 * ordinary VM there), then drops the row.  On the replica host: drops
 * the row and deletes the replica VM, or keeps it as an ordinary VM. */
int replica_remove_start(struct host *h, struct vm *vm, bool keep,
    struct job **ret_job, struct err *err);

/* ---- incoming.c: the replica side's answers to a primary ---- */

/* POST /v1/replica/vms from the peer with fingerprint fp: {"vm": the
 * wire description, "settings"}: the replica VM made in the allowed
 * pool (job vm.create ending in state replica). */
int replica_incoming_create(struct host *h, const char *fp,
    const json_t *body, struct job **ret_job, struct err *err);
/* DELETE /v1/replica/vms/UUID?keep=1 from the primary. */
int replica_incoming_remove(struct host *h, const char *fp,
    const char *uuid, bool keep, struct job **ret_job, struct err *err);

/* `tern vm replication remove` on the replica host: the row dropped,
 * the replica deleted (job) or kept as an ordinary VM. */
int replica_remove_local(struct host *h, struct vm *vm, bool keep,
    struct job **ret_job, struct err *err);

/* cycle.c: start one cycle of vm now (`tern vm replication now`). */
int replica_cycle_start(struct host *h, struct vm *vm, struct job **ret_job,
    struct err *err);

/* POST /v1/replica/vms/UUID/cycles from the primary: {seq, base_seq,
 * time_ms, consistency, disks: [{name, size, delta_bytes}]}: the
 * replica.apply job (*ret_job), or nothing when that cycle is applied
 * already (*ret_applied_ms: the time of the point applied, so that the
 * primary tells its own lost ack from an earlier attempt's); -EEXIST
 * (409) for a cycle out of order. */
int replica_incoming_cycle(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct job **ret_job, int64_t *ret_applied_ms,
    struct err *err);
/* GET /v1/replica/deltas/UUID/POINT/DISK from the replica server: the
 * delta file, open (*ret_fd, taken by the caller) and its size. */
int replica_delta_open(struct host *h, const char *fp, const char *uuid,
    const char *point, const char *disk, int *ret_fd, uint64_t *ret_size,
    struct err *err);
extern const struct job_ops job_replica_apply;

/* verify.c: vm.replication-verify on the primary: the replica's latest
 * point compared block by block (checksums) with ours; resync: its map
 * then becomes the next cycle's parent map (that cycle a resync). */
int replica_verify_start(struct host *h, struct vm *vm, bool resync,
    struct job **ret_job, struct err *err);
extern const struct job_ops job_replication_verify;
/* remap.c, on the replica: POST /v1/replica/vms/UUID/maps from the
 * primary: the replica.map job (the latest point's map recomputed from
 * its images); GET /v1/replica/maps/UUID/DISK: that map, open. */
int replica_incoming_map(struct host *h, const char *fp, const char *uuid,
    struct job **ret_job, struct err *err);
int replica_map_open(struct host *h, const char *fp, const char *uuid,
    const char *disk, int *ret_fd, uint64_t *ret_size, struct err *err);
extern const struct job_ops job_replica_map;
/* seed.c, seed_import.c: initial replication by offline media.  GET
 * /v1/replica/vms/UUID from the primary: {seq, base_seq} of its replica
 * here.  POST /v1/replica/seeds {"dir"} on the replica host: the seed in
 * dir checked (every error before anything changes) and applied by a
 * replica.apply job reading its deltas from dir. */
int replica_incoming_status(struct host *h, const char *fp, const char *uuid,
    json_t **ret, struct err *err);
int replica_seed_import(struct host *h, const json_t *body,
    struct job **ret_job, struct err *err);

/* stale.c: the old primary of a VM that failed over to its replica host
 * (at time_ms, wall clock): the row "failed-over" (no more cycles), the
 * VM held (a plain start refused), paused if it runs; a critical event.
 * Nothing when it is so already or vm is not a primary here. */
int replica_failed_over_mark(struct host *h, struct vm *vm,
    int64_t time_ms);
/* POST /v1/replications/UUID/failed-over from the replica host
 * (fingerprint fp): {"time_ms"}. */
int replica_incoming_failed_over(struct host *h, const char *fp,
    const char *uuid, const json_t *body, struct err *err);
/* `tern vm replication remove` of a failed-over primary: the row
 * dropped and the hold cleared (the copy kept here), at once. */
int replica_stale_remove(struct host *h, struct vm *vm, struct err *err);

/* adopt.c: POST /v1/replica/vms/UUID/adopt from the new primary of a
 * VM that failed over there ({"settings"}, initial "existing"): this
 * host's copy (off, held for that failover) becomes its replica, the
 * disk files as they are the existing copy; the hold cleared. */
int replica_incoming_adopt(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct err *err);

/* Register this module's job types and start its scheduler (cycles on
 * their interval). */
void replica_jobs_register(struct host *h);
extern const struct job_ops job_replication_enable, job_replication_remove;

/* follow.c: host.h's repl_* hooks (a moving VM's relationship carried,
 * recorded where it arrives, dropped where it left or was deleted). */
void replica_follow_register(struct host *h);
