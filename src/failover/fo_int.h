/* fo_int.h - what the failover module's files share; not for others. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct host;
struct job;
struct vm;

/* The replica row of vm for a failover command: 0 with *ret (its
 * replication_row_done() is the caller's); else an error saying the VM
 * is not a replica here. */
int fo_replica_row(struct host *h, const struct vm *vm,
    struct replication_row *ret, struct err *err);
/* The point seq (0: the latest) of pts (a row's points), borrowed; NULL
 * with err (-ENOENT) saying there is none yet, or listing those there
 * are. */
json_t *fo_point_find(const struct vm *vm, const json_t *pts, int64_t seq,
    struct err *err);
/* The row's "failover" object (new reference) or NULL when none. */
json_t *fo_failover_load(const struct replication_row *r);
/* A row's "failover" text reduced to its "chain" ({"state": "chain",
 * "chain": {DISK: [file, ...]}}: files below the disk's image that no
 * point names, removed with the VM by follow.c), or NULL when it has
 * none.  Caller frees. */
char *fo_chain_only(const char *failover);
/* The files of json object o's values (paths) removed. */
void fo_unlink_values(const json_t *o);
/* vm's disks named in files ({DISK: path}) put on those paths: in
 * memory, and in the store (inside the caller's transaction). */
void fo_disks_point_at(struct vm *vm, const json_t *files);
int fo_disks_store(struct vm *vm, const json_t *files);
/* The VM's NVRAM file and TPM state become details[key] ({nvram, tpm},
 * a point's copies: replica/rp_fw.c); 0 also when it names none. */
int fo_fw_install(struct vm *vm, const json_t *details, const char *key);
/* notify.c: tell r's peer (the old primary) that the VM failed over
 * here, unless it knows already; the periodic retry started. */
void fo_notify(struct host *h, const struct replication_row *r);
void fo_notify_start(struct host *h);

#include "job.h"
#include "rp_int.h"

struct host;
struct vm_row;

/* The row's "drill" (drill) or "test" JSON of vm uuid: *ret a new
 * reference, NULL when none; -ENOENT when it has no relationship.  Save:
 * o (NULL: none) stored. */
int fo_row_json_load(struct host *h, const char *uuid, bool drill,
    json_t **ret);
int fo_row_json_save(struct host *h, const char *uuid, bool drill,
    const json_t *o);
int fo_drill_load(struct host *h, const char *uuid, json_t **ret);
int fo_drill_save(struct host *h, const char *uuid, const json_t *drill);
/* 0 when vm is a replica here that has not failed over; else err says
 * why not (test_start.c). */
struct vm;
int fo_replica_check(struct host *h, struct vm *vm, struct err *err);
/* drill.c: the drill job type and the schedule's timer. */
void fo_drill_init(struct host *h);
extern const struct job_ops job_replication_drill;

/* The row's "test" of the replica uuid: *ret a new reference, NULL when
 * none; -ENOENT when the VM has no relationship. */
int fo_test_load(struct host *h, const char *uuid, json_t **ret);
/* Store test (NULL: none) as the row's "test". */
int fo_test_save(struct host *h, const char *uuid, const json_t *test);
/* Remove what the test of replica ruuid made (test.c): 1 done, 0 the
 * job is woken again later. */
int fo_test_teardown(struct job *job, const char *ruuid);
/* The test VM's row from a test job's details (NULL: the replica VM is
 * gone): new UUID and MACs, disks the overlays (owned), NICs on the
 * test's switch. */
struct vm_row *fo_test_row(struct host *h, const json_t *details);

extern const struct job_ops job_failover_test, job_failover_test_stop;

/* altip.c: the failover IPs of relationship ruuid (its settings'
 * "failover_ip"), when set, given to the started vm (a failover's VM)
 * with failover_altip_apply(); a refusal is a warning event (job_id's):
 * the VM keeps running with what it had. */
void fo_altip_start(struct host *h, const char *ruuid, struct vm *vm,
    int64_t job_id);
