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

#include "err.h"

struct host;
struct job;
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "job.h"

struct host;
struct vm;

/* Register this module's job types and timers. */
void failover_init(struct host *h);

#include <jansson.h>

#include "err.h"

struct vm;

/* altip.c: the MAC of the VM's NIC named as `tern vm show` names it
 * ("nic0", "nic1": QEMU's device ids), or NULL when there is none. */
const char *failover_nic_mac(const struct vm *vm, const char *nic);
/* cfg ({NIC: {addr, prefix, gw, dns}}, a relationship's "failover_ip")
 * checked against vm: every NIC exists, every setting parses.  -EINVAL
 * with err naming the NIC and what is wrong. */
int failover_altip_check(const struct vm *vm, const json_t *cfg,
    struct err *err);
/* Give the started (or starting) vm the alternate IP cfg (borrowed: copied) through
 * its guest agent: waits up to 120 s for the agent, finds each NIC's
 * interface by MAC, runs busybox ip in the guest (addresses, default
 * route, resolv.conf).  Asynchronous: 0 once started; the result is an
 * event and, for a failed-over replica, "altip" in its row's failover
 * JSON.  -EINVAL (cfg), -EBUSY (vm neither running nor starting). */
int failover_altip_apply(struct host *h, struct vm *vm, const json_t *cfg,
    struct err *err);

struct job;

/* altip_set.c: PUT /v1/vms/NAME/replication/settings {"failover_ip":
 * ["NIC=ADDR/PREFIX[,gw=GW][,dns=D1;D2]" | "NIC=none", ...]}.  On the
 * replica host: stored at once (*ret_job NULL).  On the primary: the job
 * vm.failover-ip-set (sent to the replica server, then stored here).
 * Every bad value: -EINVAL naming it, nothing changed. */
int failover_ip_set(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);
/* PUT /v1/replica/vms/UUID/settings from the primary (fp): {"failover_ip":
 * {NIC: {...}}} checked and stored in the replica's row. */
int failover_ip_incoming(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct err *err);
extern const struct job_ops job_failover_ip_set;

/* test.c, test_start.c: `tern vm failover test VM` on the replica host:
 * body {"point": SEQ (optional: the latest), "switch": SW (optional: an
 * isolated switch of the test's own)}.  Every check before anything
 * changes: -EINVAL not a replica here, -ENOENT no such point (err lists
 * them) or switch, -EBUSY a test already runs (409), -EEXIST a VM
 * NAME-test or an overlay file in the way.  The job vm.failover-test
 * makes and starts NAME-test. */
int failover_test_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);
/* `tern vm failover test-stop VM`: the job vm.failover-test-stop removes
 * the test VM, its overlays, the switch it made and the old chain's files
 * a new chain left meanwhile, and clears the row's "test"; -ENOENT when
 * no test runs. */
int failover_test_stop(struct host *h, struct vm *vm, struct job **ret_job,
    struct err *err);

/* drill.c: `tern vm replication drill VM [--every 24h|Nh|Nm|off] [--check
 * CMD]` on the replica host, body {"every", "check"}.  With every: the
 * schedule recorded in the row's "drill" (*ret: that JSON, no job);
 * without: the job vm.replication-drill started now (*ret_job).  -EINVAL
 * not a replica here, a bad --every or --check; -EBUSY a test failover or
 * a drill runs. */
int failover_drill(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, json_t **ret, struct err *err);
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
