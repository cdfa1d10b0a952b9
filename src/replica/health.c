/* health.c - a replicated VM's health, Hyper-V's Measure-VMReplication
 * rules (HA-DR-ANCHORS §b.1) on our intervals.  In order:
 *
 *   critical  the replica read back other data than a cycle wrote (a
 *             read-back checksum mismatch: resync); a verify found
 *             differing blocks (resync); the replica server refused our
 *             cycles (the VM moved to a host it does not allow); or no cycle
 *             succeeded for critical_after (30 min; ternd's
 *             replica-critical-after-s) since the last good point, the
 *             relationship's creation or an operator's resume.  Critical
 *             holds the cycles until `tern vm replication resume VM`.
 *   warning   a seed waits to be imported (no time rule meanwhile: it
 *             travels on a disk); initial replication has not
 *             finished; replication is
 *             paused; no good cycle for more than 2 x the interval; or
 *             more than 20 % of the cycles of the last hour (ternd's
 *             replica-monitor-window-s) missed or failed.
 *   normal    none of these.
 *   A relationship that failed over (state "failed-over", either side)
 *   is a warning saying what to do, before every rule above: its cycles
 *   ended on purpose.
 *
 * The replica side's own view uses the time rules on the last point it
 * applied (its lag) and the mismatch it saw; it holds nothing. */
#include <stdio.h>
#include <string.h>

#include "health.h"

static const char *const names[RP_HEALTH__COUNT] = {
	[RP_HEALTH_NORMAL] = "normal",
	[RP_HEALTH_WARNING] = "warning",
	[RP_HEALTH_CRITICAL] = "critical",
};

const char *
rp_health_name(enum rp_health h)
{
	return h < RP_HEALTH__COUNT ? names[h] : "?";
}

static void
add(json_t *reasons, const char *s)
{
	json_array_append_new(reasons, json_string(s));
}

static void
why(json_t *reasons, const char *fmt, unsigned long long n)
{
	char b[240];

	snprintf(b, sizeof(b), fmt, n);
	json_array_append_new(reasons, json_string(b));
}

/* More than RP_RECENT_BAD_PCT % of the last hour's cycles bad? */
static bool
recent_bad(const struct rp_health_in *in, unsigned *ret_bad,
    unsigned *ret_all)
{
	uint64_t win = in->window_ms ? in->window_ms : RP_RECENT_MS;
	const json_t *e;
	size_t i;
	unsigned all = 0, bad = 0;

	json_array_foreach(in->recent, i, e) {
		uint64_t t = (uint64_t)json_integer_value(json_array_get(e, 0));

		if (t + win < in->now_ms)
			continue;
		all++;
		bad += !json_is_true(json_array_get(e, 1));
	}
	*ret_bad = bad;
	*ret_all = all;
	return all && bad * 100 > all * RP_RECENT_BAD_PCT;
}

static enum rp_health
critical_of(const struct rp_health_in *in, json_t *reasons)
{
	uint64_t crit = in->critical_after_ms ? in->critical_after_ms :
	    RP_CRITICAL_AFTER_MS;
	uint64_t since = in->last_success_ms;

	if (in->created_ms > since)
		since = in->created_ms;
	if (in->resumed_ms > since)
		since = in->resumed_ms;
	if (in->state && strcmp(in->state, "awaiting-seed") == 0)
		return RP_HEALTH_NORMAL;	/* days, on a disk */
	if (in->refused && !in->replica)
		add(reasons, in->refused);
	else if (in->differing > 0 && !in->replica)
		why(reasons, "verify found %llu differing blocks; run tern vm "
		    "replication resync VM", (unsigned long long)in->differing);
	else if (in->mismatch && !in->replica)
		add(reasons, "the replica read back other data than a cycle "
		    "wrote (checksum mismatch): resync, then 'tern vm "
		    "replication resume'");
	else if (in->mismatch)
		add(reasons, "this replica read back other data than a cycle "
		    "wrote (checksum mismatch): resync it from the primary");
	else if (in->now_ms > since && in->now_ms - since > crit)
		why(reasons, in->replica ? "no cycle applied for %llu s: is "
		    "the primary or the link down?" : "no successful cycle "
		    "for %llu s: fix the link or the replica, then 'tern vm "
		    "replication resume'", (unsigned long long)(in->now_ms -
		    since) / 1000);
	else if (in->held)
		add(reasons, "cycles are held after critical: 'tern vm "
		    "replication resume' lets them run");
	else
		return RP_HEALTH_NORMAL;
	return RP_HEALTH_CRITICAL;
}

enum rp_health
rp_health_eval(const struct rp_health_in *in, json_t *reasons)
{
	uint64_t lim = 2000ULL * in->interval_s, last = in->last_success_ms;
	unsigned bad, all;

	/* A failover (src/failover) ended the cycles on purpose: no time
	 * rule, no critical hold; the operator has a step to take. */
	if (in->state && strcmp(in->state, "failed-over") == 0) {
		add(reasons, in->replica ? "the vm failed over here: complete "
		    "or cancel the failover, then reverse the replication" :
		    "the vm failed over to the replica host; the copy here is "
		    "held (reverse the replication there, or remove it here)");
		return RP_HEALTH_WARNING;
	}
	if (critical_of(in, reasons) == RP_HEALTH_CRITICAL)
		return RP_HEALTH_CRITICAL;
	if (in->state && strcmp(in->state, "awaiting-seed") == 0)
		add(reasons, "the seed waits to be imported on the replica "
		    "server ('tern vm replication import-seed DIR' there)");
	else if (in->state && strcmp(in->state, "paused") == 0)
		add(reasons, "replication is paused ('tern vm replication "
		    "resume' restarts it)");
	else if (in->state && strcmp(in->state, "initial") == 0 && !last)
		add(reasons, "initial replication has not finished");
	else if (last && in->now_ms > last && in->now_ms - last > lim)
		why(reasons, in->replica ? "the last point applied is %llu s "
		    "old, more than twice the interval" : "no successful "
		    "cycle for %llu s, more than twice the interval (the "
		    "link or the replica?)", (unsigned long long)(in->now_ms -
		    last) / 1000);
	if (in->drill_failed) {
		char d[240];

		snprintf(d, sizeof(d), "the last DR drill failed: %.150s (run "
		    "'tern vm replication drill VM' again once fixed)",
		    in->drill_failed);
		add(reasons, d);
	}
	if (!in->replica && recent_bad(in, &bad, &all)) {
		char b[160];

		snprintf(b, sizeof(b), "%u of the last %llu min's %u cycles "
		    "missed or failed (more than %d %%)", bad,
		    (unsigned long long)(in->window_ms ? in->window_ms :
		    RP_RECENT_MS) / 60000, all, RP_RECENT_BAD_PCT);
		json_array_append_new(reasons, json_string(b));
	}
	return json_array_size(reasons) ? RP_HEALTH_WARNING :
	    RP_HEALTH_NORMAL;
}

void
rp_health_note(json_t *st, uint64_t now_ms, bool ok)
{
	json_t *old = json_object_get(st, "recent"), *keep = json_array();
	json_t *e;
	size_t i;

	json_array_foreach(old, i, e)
		if ((uint64_t)json_integer_value(json_array_get(e, 0)) +
		    RP_RECENT_MS >= now_ms && json_array_size(old) - i <
		    RP_RECENT_MAX)
			json_array_append(keep, e);
	json_array_append_new(keep, json_pack("[I b]", (json_int_t)now_ms,
	    ok));
	json_object_set_new(st, "recent", keep);
}
