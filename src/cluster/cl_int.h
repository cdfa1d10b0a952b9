/* cl_int.h - what the cluster module's files share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "conf.h"
#include "job.h"
#include "lease.h"

struct host;
struct loop_timer;
struct peer_call;

#define CL_META_KEY "cluster"
#define CL_GROUP "tern"		/* the CPG group every node's ternd joins */
#define CL_RETRY_MS 1000	/* connecting to Corosync again */
#define CL_CALL_MS 15000	/* a call to another node */
#define CL_FORM_MS 60000	/* create: the nodes seen, quorate */
#define CL_SYNC_RETRY_MS 100	/* CPG said try again: our sync again */
#define CL_KEY_BYTES 256	/* the authkey, as corosync-keygen makes */

/* members.c: Corosync followed through libquorum, libvotequorum and
 * libcpg, their fds in the loop.  Connected while this host has a
 * record; retried every CL_RETRY_MS while Corosync does not answer. */
struct cluster {
	struct host *h;
	bool want;		/* a record is here: stay connected */
	bool connected;		/* all three handles up */
	uint64_t qh, vqh, cpgh;	/* the libraries' handles (0: none) */
	int qfd, vqfd, cpgfd;
	struct loop_timer *retry;
	uint32_t local_nodeid;
	bool quorate;
	uint32_t members[CLUSTER_MAX_NODES];	/* Corosync's membership */
	size_t n_members;
	uint32_t group[CLUSTER_MAX_NODES];	/* ternds in CL_GROUP */
	size_t n_group;
	unsigned int votes, expected, quorum, flags, qdevice_votes;
	/* state.c: the cluster's state, replicated over CPG */
	json_t *vms;		/* uuid -> entry */
	json_t *settings;	/* resiliency_period_s, resiliency_level */
	int64_t gen;		/* changes applied */
	bool synced;		/* in step with the group */
	json_t *syncs;		/* while syncing: node id -> its sync */
	json_t *queue;		/* while syncing: changes delivered */
	json_t *load;		/* node name -> {avail_mib, at_ms} */
	struct loop_timer *sync_retry;	/* our sync, CPG said try again */
	struct loop_timer *tick;	/* vms.c */
	struct cl_leases *leases;	/* lease.c */
	json_t *failback;	/* failback.c: uuid -> {since, tried} */
	json_t *ha_wanted;	/* ha.c: uuid -> true, HA on once its
				 * entry is this node's (a failover) */
	/* resiliency.c: when each node left the membership, and when this
	 * one lost quorum (0: has it) */
	struct { uint32_t id; uint64_t ms; } left[CLUSTER_MAX_NODES];
	size_t n_left;
	uint64_t quorum_lost_ms;
	json_t *told;		/* node name -> the state last told */
	bool self_drain;	/* drain.c: this node's drain asked at shutdown */
	uint64_t balance_ms;	/* balance.c: the last round (coordinator) */
	struct cl_cmd *cmds;	/* cluster.c: start/reload/stop commands in
				 * order, the first one running */
};

/* lease.c: set host->vm_lease; cl_lease_follow (lease.h) with
 * cl_members_follow. */
void cl_lease_init(struct host *h);
/* The storage identities of the pools whose lockspace this host joined
 * (in its "load" message: an HA VM's lease can be taken here). */
json_t *cl_lease_joined(struct host *h);
/* {pool: its lockspace's state here: new, writing, joining, joined,
 * failed} (cluster show). */
json_t *cl_lease_states(struct host *h);
/* The storage heartbeat of node host_id (its delta lease in this host's
 * lockspaces, as the local sanlock sees it): 1 renewing on some pool, 0
 * stopped renewing (failing or dead) where it held one, -1 not known (no
 * lockspace joined, none it is in, or sanlock has not watched it long
 * enough). */
int cl_lease_host_alive(struct host *h, uint32_t host_id);

/* resiliency.c: compute resiliency (drawn there). */
/* Before members.c takes Corosync's new membership list: who left. */
void cl_res_membership(struct cluster *c, const uint32_t *list, size_t n,
    bool quorate);
enum cl_node_state { CL_NODE_UP, CL_NODE_ISOLATED, CL_NODE_DOWN };
/* Node name's state as this (quorate) node sees it, for VM entry e (its
 * own resiliency period; NULL: the cluster's); *left_ms when it left. */
enum cl_node_state cl_node_state(struct cluster *c, const json_t *rec,
    const char *name, const json_t *e, uint64_t *left_ms);
/* Each tick, quorate: events as nodes become isolated, down, or return. */
void cl_res_watch(struct cluster *c, const json_t *rec);
/* Each second (lease.c): this node without quorum past a VM's period
 * stops that HA VM, so the majority can restart it. */
void cl_res_self(struct cluster *c);
const char *cl_node_state_name(enum cl_node_state s);

void cl_members_init(struct host *h);
/* Follow Corosync (a record was stored) or stop (it was removed). */
void cl_members_follow(struct host *h, bool on);
bool cl_member_up(const struct cluster *c, uint32_t nodeid);
bool cl_in_list(const uint32_t *v, size_t n, uint32_t id);
bool cl_member_in_group(const struct cluster *c, uint32_t nodeid);
/* The quorum part of cluster_status(), the votes read afresh: votequorum
 * notifies membership changes, not the witness's vote coming and going. */
json_t *cl_quorum_json(struct cluster *c);

/* state.c: the replicated state (its protocol drawn there). */
void cl_state_init(struct cluster *c);
void cl_state_drop(struct cluster *c);
void cl_state_deliver(struct cluster *c, uint32_t nodeid, const void *msg,
    size_t len);
/* The group changed; n_joined members came. */
void cl_state_confchg(struct cluster *c, size_t n_joined);
void cl_state_disconnected(struct cluster *c);
/* Multicast msg (consumed) to the group in agreed order. */
int cl_state_send(struct cluster *c, json_t *msg);
/* Connected, quorate and in step: this node may change the state. */
bool cl_state_ready(const struct cluster *c);

/* cl_metrics.c: the cluster's samples rebuilt (each tick), or dropped
 * (on false: this node leaves the cluster). */
void cl_metrics_update(struct cluster *c, bool on);

/* vms.c: this node's VMs published; reactions to changes. */
void cl_vms_start(struct cluster *c);
void cl_vms_stop(struct cluster *c);
void cl_vms_applied(struct cluster *c);
struct vm;
json_t *cl_vm_record(const struct vm *vm);
/* This host's name in rec (its cluster's record), in buf; NULL: none. */
const char *cl_self_name(struct host *h, const json_t *rec, char *buf,
    size_t len);
/* The hold vms.c puts on a stale copy starts with this; only such a
 * hold is lifted when the cluster gives the VM back (ha_restart.c). */
#define CL_HOLD_STALE "the cluster gave this VM"
/* vm is held as the cluster's stale copy (host->vm_stale). */
bool cl_vm_stale_copy(const struct vm *vm);
/* A VM's key in the state's VMs: its uuid; a replica VM's (src/replica's
 * broker.c) prefixed, as its primary VM may be in this cluster too. */
#define CL_REPLICA_KEY "replica:"
const char *cl_vm_key(const struct vm *vm, char *buf, size_t len);
/* This node's VM whose key is key (a replica only under its own key),
 * or NULL. */
struct vm *cl_key_vm(struct host *h, const char *key);
/* ha.c: the VMs that failed over here made HA (cluster_vm_ha_wanted). */
void cl_ha_wanted_tick(struct cluster *c, const json_t *rec, const char *me);
/* This host's pools as {name: storage identity}. */
json_t *cl_pool_ids(struct host *h);
/* ha_restart.c: the restart of a dead node's HA VMs. */
/* The restarts this node was given, and (the coordinator) the placing of
 * a dead node's HA VMs: each tick and on each change applied; rec the
 * record, me this node's name in it. */
void cl_ha_tick(struct cluster *c, const json_t *rec, const char *me);
/* A node that can take VMs: in the membership, its ternd in the group,
 * not paused (drain.c). */
bool cl_node_live(const struct cluster *c, const json_t *rec,
    const char *name);
/* An HA VM's restart priority: 3 high .. 0 no-auto-start; -1 not HA. */
int cl_ha_prio(const json_t *e);
/* This node has the lowest id of the live members: it places. */
bool cl_coordinator(const struct cluster *c);
/* node is in step: its load message (each tick) is fresh. */
bool cl_node_fresh(const struct cluster *c, const char *node);
/* node is in step (its load message fresh) and, for an HA VM e, has
 * joined the lease lockspace of its pool (it can take its lease). */
bool cl_node_ready(const struct cluster *c, const char *node,
    const json_t *e);
/* failback.c: this node's HA VMs that an HA restart put here, moved back
 * to their preferred node (drawn there); each tick. */
void cl_failback_tick(struct cluster *c, const json_t *rec, const char *me);

/* drain.c: pausing, draining, resuming and quarantining nodes (drawn
 * there). */
extern const struct job_ops job_cluster_drain;
/* The moves that would drain node: its running VMs (HA by priority
 * first), each to the live, ready node with the most room left; *ret a
 * new array [{uuid, name, to, memory_mib}], or -ENOSPC with the numbers
 * when one fits nowhere. */
int cl_drain_plan(struct cluster *c, const json_t *rec, const char *node,
    json_t **ret, struct err *err);
/* Each tick: this node's drain when one is due; the coordinator ends
 * quarantines whose time is up. */
void cl_drain_tick(struct cluster *c, const json_t *rec, const char *me);
/* Is this node paused (drained or quarantined)?  why: the refusal. */
bool cl_self_paused(struct host *h, char *why, size_t len);
/* What cluster show adds to node name's entry n (paused, quarantined,
 * the drain's outcome). */
void cl_node_show(const struct cluster *c, const char *name, json_t *n);

/* maintain.c: rolling maintenance (drawn there). */
extern const struct job_ops job_cluster_maintain, job_cluster_run;

/* balance.c: each tick, the coordinator balances every interval (drawn
 * there). */
void cl_balance_tick(struct cluster *c, const json_t *rec);

/* create.c, nodes.c: the jobs */
extern const struct job_ops job_cluster_create, job_cluster_destroy,
    job_cluster_node_add, job_cluster_node_evict;
void cl_jobs_init(struct host *h);
/* A job on subject "cluster" (exclusive), started. */
int cl_job_new(struct host *h, const struct job_ops *ops, json_t *details,
    struct job **ret_job, struct err *err);

/* cluster.c: the record and the files written from it. */
int cl_record_save(struct host *h, const json_t *rec);
int cl_record_drop(struct host *h);
/* This host's entry in rec (by fingerprint), or NULL. */
const json_t *cl_record_self(struct host *h, const json_t *rec);
const json_t *cl_record_node(const json_t *rec, const char *name);
/* The Corosync node id of rec's node name (0: no such node). */
uint32_t cl_record_nodeid(const json_t *rec, const char *name);
/* The names of rec's nodes (objects with "name", or strings) but
 * skip, a new array. */
json_t *cl_names_but(const json_t *rec, const char *skip);
/* corosync.conf and the authkey (key NULL: keep the one there) into the
 * cluster directory, atomically. */
int cl_files_write(struct host *h, const json_t *rec, const uint8_t *key,
    size_t key_len, struct err *err);
void cl_files_remove(struct host *h);
/* Run the settings' command (cluster-start, -reload or -stop) in a child
 * of ternd's loop, TERN_CLUSTER_DIR in its environment; its failure is
 * an event. */
void cl_command(struct host *h, const char *what, const char *cmd);
/* This host's ring address: the setting cluster-address, else the host
 * of listen; NULL when neither names one. */
const char *cl_own_addr(struct host *h, char *buf, size_t len);

/* fan.c: one request to many nodes at once, for a job; each reply kept;
 * the job poked when the last one came back. */
struct cl_reply {
	char name[64];
	struct peer_call *call;
	long status;		/* 0: the transport failed */
	json_t *body;
	char err[240];
	uint64_t sent_ms;	/* wall clock when it went out */
	uint64_t t0_ms, rtt_ms;	/* monotonic: sent, the round trip */
};
struct cl_fan {
	struct host *h;
	struct job_ref ref;
	size_t n, pending;
	bool out;
	uint64_t timeout_ms;	/* each call's (0: CL_CALL_MS) */
	struct cl_reply *r;
	void *slots;		/* each call's way back to its reply */
};
/* Send method path body (each node gets its copy; body is consumed) to
 * every name in names (peers of this host). */
void cl_fan_send(struct job *job, struct cl_fan *f, const json_t *names,
    const char *method, const char *path, json_t *body);
/* true once every reply is in (then f->out is false again). */
bool cl_fan_done(struct cl_fan *f);
void cl_fan_clear(struct cl_fan *f);
/* The first reply that is not a 2xx, in words for the operator (NULL:
 * none). */
const char *cl_fan_error(const struct cl_fan *f, char *buf, size_t len);
/* Reply r in words when it is not a 2xx ("h3 does not answer: ..."),
 * else NULL. */
const char *cl_reply_error(const struct cl_reply *r, char *buf, size_t len);
