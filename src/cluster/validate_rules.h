/* validate_rules.h - the checks of `tern cluster validate`, pure: the
 * nodes' facts (as GET /v1/cluster/facts serves them) and the measured
 * round trips in, the report out.  Base only; never logs, never trusts a
 * field to be there or of its type (a missing or mistyped field reads as
 * absent and the check it feeds says what it could not compare). */
#pragma once

#include <jansson.h>

/* Beyond these, a node's clock is a warning, then an error. */
#define CV_SKEW_WARN_MS 1000
#define CV_SKEW_ERROR_MS 5000

/* The report of nodes, an array whose first element is this host:
 *   {"node": NAME, "facts": {...} (absent when it did not answer),
 *    "error": "why it did not answer", "sent_ms": wall ms when the call
 *    went out, "rtt_ms": its round trip}   (this host: no sent_ms/rtt_ms)
 * Returns a new object:
 *   {"nodes": [NAME...], "errors": [{"check","node","message"}],
 *    "warnings": [...], "checks": [{"name","result"}]}
 * with result "pass", "warning" or "error" (the worst finding of that
 * check).  Never NULL; nodes that is not an array gives a report with no
 * node and every check passing. */
json_t *cluster_validate_rules(const json_t *nodes);
