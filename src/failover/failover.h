/* failover.h - failover of replicated VMs (Hyper-V's three failovers):
 * a test failover on the replica host (a throwaway VM from a recovery
 * point on an isolated switch; test.c), DR drills that run one on a
 * schedule (drill.c), the unplanned failover on the replica host (the
 * VM started from a recovery point, then completed or cancelled;
 * unplanned.c), the planned failover from the primary (zero loss:
 * shut down, final cycle, started on the replica, replication reversed;
 * planned.c), reverse replication (reverse.c) and the alternate IP a
 * failed-over guest is given through its agent (altip.c).
 *
 * State lives in the relationship's row (src/store: replication_row):
 * "failover" (a JSON object while a failover is pending or done),
 * "test" (the test failover running), "drill" (schedule and results);
 * a VM that failed over elsewhere carries vm_row.hold, and a plain start
 * of it is refused (src/vm/vm_action.c) until the operator resolves it. */
#pragma once

struct host;

/* Register this module's job types and timers. */
void failover_init(struct host *h);
