/* health.h - a relationship's health from its row, stats and the clock:
 * pure (no store, no host), so that the rules are tested on their own
 * (tests/unit/test_replica_health.c).  The rules are in health.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum rp_health {
	RP_HEALTH_NORMAL,
	RP_HEALTH_WARNING,
	RP_HEALTH_CRITICAL,
	RP_HEALTH__COUNT
};

#define RP_CRITICAL_AFTER_MS (30ULL * 60 * 1000)	/* Hyper-V's */
#define RP_RECENT_MS (3600ULL * 1000)	/* the window of the 20 % rule */
#define RP_RECENT_MAX 512	/* entries kept in stats "recent" */
#define RP_RECENT_BAD_PCT 20

/* What the rules look at. */
struct rp_health_in {
	bool replica;		/* the replica side's own view */
	const char *state;	/* "initial", "awaiting-seed", "replicating",
				 * "paused" */
	uint64_t now_ms;	/* wall clock */
	uint64_t created_ms;	/* the relationship's */
	uint64_t last_success_ms;	/* the last good point's time; 0 none */
	uint64_t resumed_ms;	/* an operator's resume after critical */
	unsigned interval_s;
	uint64_t critical_after_ms;	/* 0: RP_CRITICAL_AFTER_MS */
	const char *mismatch;	/* the replica read back other data */
	const char *refused;	/* the replica server refused our cycles */
	int64_t differing;	/* blocks a verify found different */
	bool held;		/* cycles held for the operator */
	const json_t *recent;	/* stats "recent": [[ms, ok], ...] */
	uint64_t window_ms;	/* of the 20 % rule; 0: RP_RECENT_MS */
	const char *drill_failed;	/* the last DR drill's error (the
					 * replica side; src/failover) */
};

const char *rp_health_name(enum rp_health h);
/* The health and, appended to reasons (an array), why and what to do. */
enum rp_health rp_health_eval(const struct rp_health_in *in,
    json_t *reasons);
/* Note one cycle's outcome (ok) or a missed/failed one at now in stats
 * st's "recent", dropping entries older than RP_RECENT_MS (or beyond
 * RP_RECENT_MAX). */
void rp_health_note(json_t *st, uint64_t now_ms, bool ok);

struct host;
struct replication_row;

/* ---- watch.c: the rules on a row of this host ---- */

/* Row r's health now, reasons appended (stats: r's, loaded). */
enum rp_health rp_health_of(struct host *h, const struct replication_row *r,
    const json_t *stats, json_t *reasons);
/* Once a tick, per row: a change of health since the last look becomes
 * an event (VM, old and new health, the reason) and is kept in r's stats
 * ("health"); a primary turning critical gets "held".  True when r's
 * cycles are held (critical waits for the operator). */
bool rp_health_watch(struct host *h, struct replication_row *r);
/* rp_metrics.c: the replication families declared and emptied (each
 * scheduler tick, before its rows), then one row's samples from its row,
 * stats st and health. */
void rp_metrics_begin(void);
void rp_metrics_row(struct host *h, const struct replication_row *r,
    const json_t *st, enum rp_health health);
/* The replica side read back other data than the cycle of point time
 * point_ms wrote: kept in vm uuid's row ("mismatch", until a later point
 * is applied), critical on this side too. */
void rp_health_mismatch(struct host *h, const char *uuid, int64_t point_ms,
    const char *why);
/* Resume after critical: the hold and a mismatch cleared, the critical
 * clock restarted.  -EALREADY when r is not held. */
int rp_health_release(struct host *h, struct replication_row *r);
