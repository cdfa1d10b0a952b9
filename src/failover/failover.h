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

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "job.h"

struct host;
struct vm;

/* Register this module's job types and timers. */
void failover_init(struct host *h);

/* ---- unplanned.c, resolve.c: the unplanned failover (replica host) ---- */

/* vm.failover: vm (a replica here, no failover pending, no test failover
 * running) started from recovery point seq (0: the latest) on an overlay
 * per disk.  planned: seq must be the latest, and the failover is
 * completed at once.  -EINVAL/-ENOENT/-EBUSY with err saying why, and
 * nothing changed. */
int failover_unplanned_start(struct host *h, struct vm *vm, int64_t seq,
    bool planned, struct job **ret_job, struct err *err);
/* POST /v1/replica/vms/UUID/failover from the primary (fingerprint fp):
 * {"seq": N, "planned": true}; N the latest point here. */
int failover_incoming(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct job **ret_job, struct err *err);
/* `tern vm failover complete`: the pending failover kept, the other
 * points given up (at once). */
int failover_complete(struct host *h, struct vm *vm, struct err *err);
/* `tern vm failover cancel`: vm.failover-cancel (the VM killed when it
 * runs, back to a replica on its latest point). */
int failover_cancel_start(struct host *h, struct vm *vm,
    struct job **ret_job, struct err *err);
extern const struct job_ops job_vm_failover, job_vm_failover_cancel;

/* ---- reverse.c: reverse replication (on the new primary) ---- */

/* vm.replication-reverse: vm failed over here (completed) replicates
 * back to its old primary, whose held copy becomes the replica (only
 * differing blocks sent).  -EINVAL with err when vm has no completed
 * failover here or the old primary is not a trusted peer. */
int failover_reverse_start(struct host *h, struct vm *vm,
    struct job **ret_job, struct err *err);
extern const struct job_ops job_replication_reverse;

/* planned.c: `tern vm failover planned` on the primary: the job
 * vm.failover-planned (its diagram at the top of planned.c: shutdown,
 * final cycle, the replica's failover, its reverse).  body:
 * {"timeout_s": how long the guest gets to shut down (120), "force":
 * turn it off after that}.  Refused with a clear error and nothing
 * changed: not the primary, replication not replicating or not of
 * normal health, the VM not running or off, held, or busy. */
int failover_planned_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);
extern const struct job_ops job_failover_planned;
