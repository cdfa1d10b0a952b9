/* cluster.h - the failover cluster (Hyper-V's Failover Clustering) on
 * Corosync 3.  Membership and quorum are Corosync's (knet, votequorum,
 * optionally a corosync-qnetd witness through corosync-qdevice); ternd
 * reads them through libquorum, libvotequorum and libcpg, their fds in
 * its loop (members.c).  tern never decides membership or quorum itself.
 *
 * The cluster's record (name, nodes with their Corosync node ids and
 * ring addresses, the witness, the token timeout) is kept on every node
 * (store meta key "cluster", JSON), and corosync.conf and the authkey are
 * written from it (conf.c) into the cluster directory (settings:
 * cluster-dir, /etc/corosync on a real host; the lab gives each host its
 * own).  Corosync is started, reloaded and stopped by commands from the
 * settings (cluster-start, cluster-reload, cluster-stop: systemctl on a
 * real host, tests/lab/corosync-ctl.sh in the lab), run by /bin/sh with
 * TERN_CLUSTER_DIR in the environment.
 *
 * The jobs (create.c): cluster.create, cluster.destroy, cluster.node-add,
 * cluster.node-evict, all on subject "cluster"; validation (validate.c):
 * cluster.validate, shared claim on "cluster". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct host;
struct vm;

/* Register the job types, load the record, connect to Corosync when
 * this host is in a cluster. */
void cluster_init(struct host *h);

/* The cluster's record as stored here, a new reference (NULL: this host
 * is in no cluster):
 *   {"name": "c1", "id": UUID, "created_ms": N, "token_ms": N,
 *    "witness": "ADDR[:PORT]" | null,
 *    "nodes": [{"name": "h1", "nodeid": 1, "addr": "10.0.0.1",
 *               "url": "https://10.0.0.1:8443", "fp": "sha256:..."}]}
 * A node's url and fp are as the node that wrote the record knows them;
 * a node reaches the others through its own peer rows, by name. */
json_t *cluster_record(struct host *h);

/* The names of the cluster's nodes other than this host, in node id
 * order: a new JSON array of strings; NULL when this host is in no
 * cluster. */
json_t *cluster_other_nodes(struct host *h);

/* What `tern cluster show` prints (GET /v1/cluster): the record with
 * each node's "state" (up, down) and "ternd" (its ternd is in the
 * group), "quorum" {quorate, votes, expected, quorum, witness}, and
 * "corosync" (running | not running).  {"cluster": null} when none. */
json_t *cluster_status(struct host *h);

/* Is this host in a quorate partition of its cluster right now?  true
 * when it is in no cluster (a standalone host acts on its own). */
bool cluster_quorate(struct host *h);

struct job;

/* tern cluster create: body {"name", "nodes": [names, this host among
 * them], "witness": "ADDR[:PORT]" (optional), "token_ms" (optional)};
 * the cluster.create job started, or a refusal with nothing changed. */
int cluster_create_start(struct host *h, const json_t *body,
    struct job **ret_job, struct err *err);
int cluster_destroy_start(struct host *h, struct job **ret_job,
    struct err *err);
/* tern cluster node add NAME / evict NAME (a node of this cluster). */
int cluster_node_add_start(struct host *h, const char *name,
    struct job **ret_job, struct err *err);
int cluster_node_evict_start(struct host *h, const char *name,
    struct job **ret_job, struct err *err);

/* What a node does when another of its cluster tells it (the API's
 * peer-only routes; caller_fp the caller's certificate). */
int cluster_join(struct host *h, const json_t *body, const char *caller_fp,
    struct err *err);
int cluster_update(struct host *h, const json_t *body,
    const char *caller_fp, struct err *err);
int cluster_leave(struct host *h, const char *caller_fp, struct err *err);
/* GET /v1/cluster: cluster_status() and this host as a node would be
 * recorded ("node": {name, addr, fp}). */
json_t *cluster_get(struct host *h);
/* ---- the cluster's VMs (state.c, vms.c, ha.c) ---- */

/* GET /v1/cluster/vms: {"vms": [{uuid, name, owner, state, memory_mib,
 * ha (null: not HA), restarting}], "in_step", "gen", "quorate"}: every VM
 * of the cluster once, as the replicated state has it.  {"vms": []} when
 * this host is in no cluster. */
json_t *cluster_vms(struct host *h);
/* A move of vm from this node to host `to` committed (src/migrate): the
 * cluster's state gives it to `to` in one change, or, `to` being no node
 * of the cluster (a standalone host, another cluster's node), lets it go
 * ("gone") at once.  Nothing when this host is in no cluster, not in
 * step or not the VM's owner (the ticks of both nodes settle it then). */
void cluster_vm_moved(struct host *h, const struct vm *vm, const char *to);
/* A move of vm to host `to`: refused (-EINVAL, saying what to do) when
 * vm is an HA VM of this host's cluster and `to` is no node of it (its
 * lease guards it only inside the cluster); 0 otherwise. */
int cluster_vm_may_leave(struct host *h, const struct vm *vm, const char *to,
    struct err *err);
/* vm is a stale copy the cluster held here (off, no job on it): the VM
 * runs on another node now.  A move of the VM here replaces it. */
bool cluster_vm_stale(const struct vm *vm);
/* The name of this host's cluster when host `name` is a node of it
 * (this host too), else NULL; free() it. */
char *cluster_of_node(struct host *h, const char *name);
/* A replica VM of this node takes cycles: 0 when this host is in no
 * cluster, or in step with it and the cluster's state does not give the
 * replica to another node (which took it over: src/replica/broker.c);
 * else -EAGAIN with err. */
int cluster_replica_here(struct host *h, const struct vm *vm,
    struct err *err);
/* A replica VM's record as the cluster's state holds it is its current
 * one (published now if not): 1 yes, or this host is in no cluster;
 * 0 not yet (ask again).  replica.apply waits on it before its merges
 * and before it ends, so a node that takes the replica over has what
 * the primary was told (src/replica/broker.c). */
int cluster_replica_published(struct host *h, struct vm *vm);
/* vm failed over here from its replica (src/failover): in a cluster it
 * becomes an HA VM (default settings) once the cluster's state has it as
 * this node's, if its disks are on a pool the other nodes share; an
 * event says so, or why not. */
void cluster_vm_ha_wanted(struct host *h, const struct vm *vm);
/* This host's cluster's nodes as [{name, fp}] ([] when in none). */
json_t *cluster_node_keys(struct host *h);
/* PUT /v1/cluster/settings: the cluster-wide settings (compute
 * resiliency: resiliency_period_s 0..86400, resiliency_level
 * always-isolated | isolated-if-storage-alive; quarantine:
 * quarantine_threshold 0..100, quarantine_duration_s 1..604800), checked, then sent to the
 * cluster's state; *ret the settings asked.  -EAGAIN when this node is
 * not quorate and in step. */
int cluster_settings_set(struct host *h, const json_t *body, json_t **ret,
    struct err *err);
/* tern cluster node drain NAME: node NAME (any node of this cluster)
 * paused and its running VMs moved away (drain.c); *ret {node, moves:
 * [{uuid, name, to, memory_mib}]}.  -ENOSPC with the numbers when the
 * others lack room, -EBUSY when paused already, -EAGAIN when the node is
 * not up or this node not quorate and in step: nothing changed then. */
int cluster_node_drain(struct host *h, const char *name, json_t **ret,
    struct err *err);
/* on-host-shutdown drain: drain this node (as above); then
 * cluster_self_draining() is true until its drain has ended. */
int cluster_drain_self(struct host *h, struct err *err);
bool cluster_self_draining(struct host *h);
/* tern cluster maintain --run NAME (maintain.c): the cluster.maintain
 * job, each node in turn drained, NAME run there, resumed with
 * failback.  -EAGAIN naming a node not up, -EBUSY one paused. */
int cluster_maintain_start(struct host *h, const char *run,
    struct job **ret_job, struct err *err);
/* POST /v1/cluster/maintenance/run: NAME (a file in maintenance-dir)
 * as the job cluster.run; only on a paused node. */
int cluster_run_start(struct host *h, const char *name,
    struct job **ret_job, struct err *err);
/* tern cluster balance [--dry-run] [--threshold PCT] (balance.c): body
 * {dry_run, threshold_pct (default the setting's)}; *ret the plan
 * {moves [{uuid, name, from, to}], loads, loads_after, threshold_pct,
 * by, dry_run}, sent to the cluster's state unless dry_run. */
int cluster_balance(struct host *h, const json_t *body, json_t **ret,
    struct err *err);
/* tern cluster node resume NAME [--failback]: -EBUSY while quarantined,
 * -EINVAL when not paused. */
int cluster_node_resume(struct host *h, const char *name, bool failback,
    struct err *err);
/* tern cluster node clear-quarantine NAME (it stays paused). */
int cluster_node_clear_quarantine(struct host *h, const char *name,
    struct err *err);
/* tern vm ha enable NAME: body {priority (high | medium | low |
 * no-auto-start; default medium), preferred [nodes], anti_affinity
 * GROUP, failback (never | immediate | "window HH-HH")}; *ret the
 * settings sent.  The VM must be this node's, every disk on one pool;
 * -EAGAIN while this node is not quorate and in step. */
int cluster_ha_set(struct host *h, const char *name, const json_t *body,
    json_t **ret, struct err *err);
int cluster_ha_clear(struct host *h, const char *name, struct err *err);

/* ---- validation (validate.c, facts.c, validate_rules.c) ---- */

struct job;

/* Register cluster.validate (cluster_init calls it). */
void cluster_validate_init(struct host *h);

/* This host's facts as GET /v1/cluster/facts serves them to a
 * validating node: {name, version, qemu_version, kvm, machines,
 * cpu {model, flags}, cpu_models, vms [{name, machine, cpu_model,
 * memory_mib, state}], memory {total_mib, available_mib}, pools
 * [{name, path, id}], switches [{name, bridge}], time_ms}.  A new
 * reference; reads only (a pool's identity marker is made if missing). */
json_t *cluster_facts(struct host *h);

/* Start cluster.validate over this host and nodes (an array of peer
 * names; NULL or empty: the other nodes of this host's cluster).  The
 * report lands in the job's details ("report", validate_rules.h).
 * -EINVAL (with what to do) when nodes is malformed, names one twice, or
 * is absent while this host is in no cluster; -ENOENT naming a node that
 * is not a trusted peer; -EBUSY as job_create.  Nothing changes on
 * failure. */
int cluster_validate_start(struct host *h, const json_t *nodes,
    struct job **ret_job, struct err *err);
