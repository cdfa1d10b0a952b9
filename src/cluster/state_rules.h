/* state_rules.h - the cluster state's rules (state_rules.c): pure. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Apply change message m of type t ("vm", "gone", "ha", "place",
 * "moved", "ha-failed") to vms (uuid -> entry, as state.c keeps it).  true when
 * it changed something; false for a stale change (a "gone" or "place"
 * (or "moved") from a node that no longer owns the VM, "ha" for an unknown VM), an
 * unknown type or a malformed message, which leave vms as it was. */
bool cl_state_apply(json_t *vms, const char *t, const json_t *m);

/* The key (a node id) of the sync a round keeps: the highest "gen", on a
 * tie the lowest node id; NULL when syncs is empty. */
const char *cl_sync_best(const json_t *syncs);

/* An HA VM's failback f allows a move back at local hour: "immediate",
 * or "window A-B" with A <= hour < B (over midnight when A > B). */
bool cl_failback_in_window(const char *f, int hour);

/* Compute resiliency (resiliency.c): the cluster's settings, replicated
 * like the VMs ("settings" messages). */
#define CL_RESILIENCY_DEFAULT_S 240	/* Hyper-V's ResiliencyDefaultPeriod */
#define CL_RESILIENCY_MAX_S 86400

/* Quarantine (Hyper-V's QuarantineThreshold, QuarantineDuration): a
 * node isolated threshold times within an hour is drained and takes no
 * VMs for the duration.  Threshold 0: never. */
#define CL_QUARANTINE_DEFAULT_THRESHOLD 3
#define CL_QUARANTINE_MAX_THRESHOLD 100
#define CL_QUARANTINE_DEFAULT_S 7200
#define CL_QUARANTINE_MAX_S 604800
#define CL_QUARANTINE_WINDOW_MS 3600000

/* Load balancing: a node above balance_threshold_pct (0: off) of its
 * memory (balance_by memory, the default: the running VMs' memory over
 * the node's) or of its cores (cpu: their vCPUs over its cores) has VMs
 * moved to the least loaded nodes, every balance_interval_s. */
#define CL_BALANCE_MAX_PCT 1000
#define CL_BALANCE_MIN_S 10
#define CL_BALANCE_MAX_S 86400
#define CL_BALANCE_DEFAULT_S 1800	/* Hyper-V's 30 minutes */
#define CL_BALANCE_MAX_MOVES 16		/* per round */

/* Apply a "settings" message m: resiliency_period_s (0..86400),
 * resiliency_level (always-isolated | isolated-if-storage-alive),
 * quarantine_threshold (0..100), quarantine_duration_s (1..604800),
 * balance_threshold_pct (0..1000), balance_interval_s (10..86400),
 * balance_by (memory | cpu), each optional.  true when settings changed; a malformed m changes nothing. */
bool cl_settings_apply(json_t *settings, const json_t *m);
/* Balancing turned off (its threshold was `was` and is 0 in settings
 * now): the moves a balance round queued ("move_by": "balance") are
 * dropped; true when one was. */
bool cl_balance_off(json_int_t was, const json_t *settings, json_t *vms);
/* The cluster's integer settings and their ranges (`cluster set`
 * checks a request with them, cl_settings_apply a message). */
struct cl_setting_int {
	const char *key;
	json_int_t lo, hi;
};
extern const struct cl_setting_int cl_setting_ints[];
extern const size_t cl_n_setting_ints;
/* A resiliency level, a balance-by value that exists. */
bool cl_level_ok(const char *level);
bool cl_balance_by_ok(const char *by);
/* The resiliency period of VM entry e, in ms: its HA setting
 * resiliency_period_s, else the cluster's, else 240 s. */
int64_t cl_resiliency_ms(const json_t *settings, const json_t *e);
/* true: a node that left the membership is isolated for the period even
 * when its storage heartbeat is gone (Hyper-V's AlwaysIsolate). */
bool cl_isolate_always(const json_t *settings);
int64_t cl_quarantine_threshold(const json_t *settings);
int64_t cl_quarantine_ms(const json_t *settings);

/* Apply a "node" message m {name, op, ...} to settings' "nodes" (name ->
 * {paused: "drain" | "quarantine", drain: "due" | "done" | "failed", why,
 * quarantined_until_ms, isolations: [ms]}) and, for a resume, to vms:
 *   isolated {at_ms}: counted; the threshold-th within an hour
 *       quarantines the node (paused, a drain due)
 *   drain: paused, a drain due (false when paused already)
 *   drained {ok, why}: the drain's outcome (only while one is due)
 *   resume {at_ms, failback}: not paused; refused (false) while
 *       quarantined past at_ms; the VMs drained off it get "move_to"
 *       (failback) or forget where they came from
 *   clear-quarantine: the quarantine ends; the node stays paused
 * true when it changed something; false leaves both as they were. */
bool cl_node_apply(json_t *settings, json_t *vms, const json_t *m);
/* Node name's drain: "due", "done", "failed"; NULL: none. */
const char *cl_node_drain(const json_t *settings, const char *name);
/* Why node name is paused ("drain", "quarantine"), NULL: it is not. */
const char *cl_node_paused(const json_t *settings, const char *name);

int64_t cl_balance_threshold(const json_t *settings);
int64_t cl_balance_interval_ms(const json_t *settings);
bool cl_balance_by_cpu(const json_t *settings);
/* A node whose load message is load can take VM entry e: e is not HA,
 * or the node joined the lockspace of e's pool. */
bool cl_node_can_take(const json_t *load, const json_t *e);
/* The moves that would balance the cluster: nodes {name: its load
 * message (total_mib, cpus, pools, leases)} of the nodes that may take
 * VMs; a node above threshold percent loses, one at a time, the running
 * VM whose move leaves the higher of it and the target least loaded, to
 * a target that stays below the node's load before (equal loads never
 * trade VMs: no thrashing); a VM balanced within the interval (its
 * balanced_ms, against now) or with a move due stays (and counts on the
 * node it is going to).  A new
 * {"moves": [{uuid, name, from, to}], "loads": {node: pct},
 * "loads_after": {node: pct}}. */
json_t *cl_balance_plan(const json_t *vms, const json_t *nodes,
    const json_t *settings, int64_t threshold, int64_t now);
/* Apply a "balance" message {at_ms, moves}: each move whose VM its
 * "from" still owns gets move_to (failback.c moves it) and
 * balanced_ms.  true when one did. */
bool cl_balance_apply(json_t *vms, const json_t *m);
