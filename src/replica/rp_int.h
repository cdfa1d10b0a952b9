/* rp_int.h - what the replica module's files share; not for others. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "peer.h"
#include "store.h"

struct vm;

#define RP_CALL_MS 15000	/* one call to the peer */
#define RP_POLL_MS 500		/* the peer's job, while it runs */

/* One call to the peer in flight for a job; its reply pokes the job
 * (found again by reference: a reply for a job that ended reaches
 * nobody).  First member of the job's private state. */
struct rp_call {
	struct host *h;
	struct job_ref ref;
	struct peer_call *call;
	bool out, replied;
	long status;		/* HTTP status; 0: transport failed */
	json_t *reply;		/* the reply's body, or NULL */
	char err[256];		/* the transport's or the peer's message */
};

/* o[key] as a string (NULL when absent) or an integer (0). */
const char *rp_str(const json_t *o, const char *key);
int64_t rp_int(const json_t *o, const char *key);
/* A relationship's stats (its row's JSON text) as an object, empty when
 * the text is missing or not one. */
json_t *rp_stats_load(const char *text);

/* For the step of a job whose private state is one rp_call: the call,
 * made on first use (after a restart: nothing out); NULL when the job's
 * VM is gone (the job has finished). */
struct rp_call *rp_job_call(struct job *job);
/* Send METHOD path with body (stolen) to the job's details "peer_url",
 * "peer_fp", its reply into c (the job's: rp_job_call(), or a part of the
 * job's private state). */
void rp_call_send(struct job *job, struct rp_call *c, const char *method,
    const char *path, json_t *body);
/* Forget a call in flight and the reply kept. */
void rp_call_clear(struct rp_call *c);
/* Send METHOD path without a body, its reply ignored (it outlives the
 * job: a cancel of the peer's job on the way out). */
void rp_call_forget(struct job *job, const char *method, const char *path);
/* True once the reply is in (then c->out is false again). */
bool rp_call_done(struct rp_call *c);
/* The job's private state freed, a call in flight forgotten. */
void rp_call_free(struct job *job);
/* The peer's job id from a 202 reply, or 0. */
int64_t rp_call_job_id(const struct rp_call *c);

/* The peer's job id, polled: RUNNING (a call is out, or the job is
 * asked about again after RP_POLL_MS), SUCCEEDED, FAILED (*ret_msg its
 * error), UNKNOWN (the call failed: *ret_msg why). */
enum { RP_JOB_RUNNING, RP_JOB_SUCCEEDED, RP_JOB_FAILED, RP_JOB_UNKNOWN };
int rp_call_poll_job(struct job *job, struct rp_call *c, int64_t id,
    const char **ret_msg);

/* What a peer asks about the VM uuid: its relationship here must have
 * role and that peer (the one presenting fp) on the other side.  0 with
 * *ret_vm and *ret (replication_row_done() it); -ENOENT no such VM or
 * relationship (*ret_vm NULL); -EACCES another role or peer (*ret_vm
 * set, for messages). */
int rp_relation_for_peer(struct host *h, const char *uuid, const char *fp,
    const char *role, struct vm **ret_vm, struct replication_row *ret);
/* The same for a replica asked about by its primary, with the errors
 * said: -ENOENT no such replica here, -EACCES "only the primary of vm
 * 'NAME' WHAT". */
int rp_replica_for_primary(struct host *h, const char *uuid, const char *fp,
    const char *what, struct vm **ret_vm, struct replication_row *ret,
    struct err *err);
/* st becomes r's stats, r is stored (a failure logged). */
void rp_stats_save(struct host *h, struct replication_row *r,
    const json_t *st);

/* details "peer", "peer_url", "peer_fp" for peer name; -ENOENT when it
 * is not a trusted peer. */
int rp_peer_details(struct host *h, json_t *details, const char *peer,
    struct err *err);

/* remap.c: --initial existing: every replicated disk of row (settings:
 * its "exclude") has the operator's copy at its path: a qcow2 of its
 * size without a backing file (chain_ok: with one, an adopted copy,
 * adopt.c); else a clear error.  rp_backing_chain: the files below
 * image (its qcow2 headers followed), appended to files. */
struct vm_row;
int rp_existing_check(const struct vm_row *row, const json_t *settings,
    bool chain_ok, struct err *err);
int rp_backing_chain(const char *image, json_t *files, struct err *err);

/* verify.c: does relationship r (--initial existing, no cycle yet) need
 * the replica's maps of its copies first (the seed)? */
bool rp_seed_needed(const struct vm *vm, const struct replication_row *r);

/* cycle.c: the spool of vm's cycles (POOL of its first disk/.tern-replica;
 * caller frees), a cycle's directory name, every cycle's directory in
 * vdir removed but keep's. */
char *replica_spool_dir(const struct vm *vm);
/* broker.c: a replica VM's row as the cluster's state holds it (NULL:
 * not now: a failover or test runs), and recorded on the node that takes
 * the replica over (<0: not, an event says why). */
json_t *replica_broker_carry(const struct vm *vm,
    const struct replication_row *r);
int replica_broker_arrived(struct vm *vm, const json_t *o);
/* follow.c: a relationship row as a move or the cluster's state carries
 * it (peer and its key's fingerprint, settings, state, seq, stats,
 * created_ms); each adds its own fields. */
json_t *rp_row_carry(struct host *h, const struct replication_row *r);
/* The primary: a cycle's reply names the replica server's cluster
 * nodes ("cluster_nodes": [{name, fp}]), kept in the stats. */
void replica_broker_nodes(struct host *h, const char *uuid,
    const json_t *reply);
/* The node that took a replica over tells its primary (its stats'
 * "tell"), from the scheduler's tick, every 10 s until told. */
void replica_broker_tell(struct host *h, struct replication_row *r);
void replica_point_name(int64_t seq, char buf[24]);
void replica_spool_keep(const char *vdir, const char *keep);
extern const struct job_ops job_vm_replicate;
/* backup_point_sink()'s end for vm.replicate. */
void replica_cycle_end(struct job *job, int r, const char *why);
/* sched.c: a cycle ended (r: 0 or its error): the relationship's seq,
 * state and stats. */
void replica_cycle_record(struct vm *vm, struct job *job, int r,
    const char *why);

/* Does replica.apply's cycle (its details) start a new chain (base 0, no
 * copy to build on)?  An initial cycle onto an existing copy (--initial
 * existing) has base 0 too, but is applied over that copy, against its
 * map (replica.map's), and the copy is its chain's bottom. */
bool rp_new_chain(const json_t *details);

/* points.c: a replica's recovery points (the row's "points": a JSON
 * array, oldest first).  The array of text (never NULL; empty when
 * text is missing or not one); the API's list, newest first. */
json_t *rp_points_load(const char *text);
json_t *rp_points_show(const struct replication_row *r);
/* replica.apply's record: the new point (its files {DISK: path}) added
 * to r->points, those beyond the retention dropped, the merges left
 * planned in the job's details ("chain", "drop", "unlink", "points":
 * how many are kept). */
int rp_points_plan(struct job *job, struct replication_row *r,
    const json_t *files, const json_t *fw, uint64_t period_ms);
/* replica.apply's merge step: 1 when every planned merge is done, 0
 * while a helper runs (the job is poked when it ends). */
int rp_points_merge(struct job *job);
/* The files of every point but the disks' images removed (the replica
 * is deleted: its delete job removes the images). */
void rp_points_remove(struct host *h, struct vm *vm);
/* rp_fw.c: a point's own NVRAM file and TPM state (the point's "fw":
 * {nvram, tpm}, each optional; the files named after the point like its
 * disks').  The path of point seq's copy (nvram, else the TPM's
 * permall) for vm; NULL when vm has no such state. */
char *rp_fw_point_path(const struct vm *vm, int64_t seq, bool nvram);
/* src (a cycle's fw file) kept as point seq's copy, written to a
 * temporary file, fsynced and renamed; fw[nvram|tpm] names it. */
int rp_fw_keep(struct vm *vm, int64_t seq, const char *src, bool nvram,
    json_t *fw);
/* Point seq's own copies removed (a cycle that was not recorded). */
void rp_fw_unlink_own(struct vm *vm, int64_t seq);
/* What point lacks of prev's "fw" named in point's (the nearest older
 * copy of a file the cycle did not carry). */
void rp_fw_inherit(json_t *point, const json_t *prev);
/* Every fw file the points pts name, as keys of set. */
void rp_fw_collect(const json_t *pts, json_t *set);
/* The fw files points before name and points after do not (new). */
json_t *rp_fw_orphans(const json_t *before, const json_t *after);
void rp_fw_unlink_list(const json_t *list);
/* The points' fw files as the cluster's state carries them (broker.c):
 * base names (to_rel), or this node's paths next to vm's own files; a
 * name that is not one of vm's copies, or whose file is not here, is
 * dropped (the point then has none: a failover keeps the VM's). */
void rp_fw_paths(const struct vm *vm, json_t *points, bool to_rel);
/* Every fw file the points pts name removed (the points are gone). */
void rp_fw_unlink_all(const json_t *pts);
/* The point's files copied into vm's NVRAM file and TPM directory (write
 * temp, fsync, rename; idempotent); 0 also when the point has none (the
 * VM's files stay as they are). */
int rp_fw_install(struct vm *vm, const json_t *point);
/* follow.c: the last acknowledged cycle (seq) found in this host's spool
 * after a storage or live move, and replication's reference points
 * pointed at it. */
void rp_follow_rehome(struct vm *vm, int64_t seq);
/* The replica side: the replica VM vm's relationship r asked about by
 * another primary host (fp): taken over (r->peer is that host, recorded)
 * when this replica server allows it into the replica's pool; else
 * -EACCES with err saying what to allow.  rp_follow_claim: the same,
 * the row read (*ret, replication_row_done it). */
int rp_follow_peer(struct host *h, struct vm *vm, struct replication_row *r,
    const char *fp, struct err *err);
int rp_follow_claim(struct host *h, struct vm *vm, const char *fp,
    struct replication_row *ret, struct err *err);

/* The same from a cycle's details (seq, snap_ms, disks[].summary) for a
 * cycle acknowledged after its job ended (a seed); job_id for events. */
void replica_ack_record(struct vm *vm, const json_t *details,
    int64_t job_id, int r, const char *why);

/* seed.c: --initial offline DIR on the primary.  DIR fit for a seed
 * (absolute, a writable directory, no seed in it). */
int replica_seed_dir_check(const char *dir, struct err *err);
/* A seed cycle's seal (details "seed_dir"): 1 while it runs, 0 once the
 * seed is written (the caller acknowledges the point), -1 when it ended
 * the job. */
int replica_seed_export(struct job *job);
/* A cycle's end: true when it was a seed's and is recorded (awaiting
 * the import); false to record it as any cycle (a failed seed's files
 * removed first). */
bool replica_seed_cycle_end(struct vm *vm, struct job *job, int r,
    const char *why);
/* The relationship waits for its seed to be imported. */
bool replica_seed_pending(const struct replication_row *r);
/* Ask the replica, now and then, whether it applied the seed (r is
 * awaiting-seed); its ack recorded when it did. */
void replica_seed_poll(struct host *h, struct replication_row *r);
/* What show says of the seed (a new reference), or NULL. */
json_t *replica_seed_json(const struct replication_row *r,
    const json_t *settings, const json_t *stats);
