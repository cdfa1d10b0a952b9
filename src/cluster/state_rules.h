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

/* Apply a "settings" message m: resiliency_period_s (0..86400),
 * resiliency_level (always-isolated | isolated-if-storage-alive), each
 * optional.  true when settings changed; a malformed m changes nothing. */
bool cl_settings_apply(json_t *settings, const json_t *m);
/* The resiliency period of VM entry e, in ms: its HA setting
 * resiliency_period_s, else the cluster's, else 240 s. */
int64_t cl_resiliency_ms(const json_t *settings, const json_t *e);
/* true: a node that left the membership is isolated for the period even
 * when its storage heartbeat is gone (Hyper-V's AlwaysIsolate). */
bool cl_isolate_always(const json_t *settings);
