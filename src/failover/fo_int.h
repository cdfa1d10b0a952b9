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
/* The row's "failover" object (new reference) or NULL when none. */
json_t *fo_failover_load(const struct replication_row *r);
/* The files of json object o's values (paths) removed. */
void fo_unlink_values(const json_t *o);
/* vm's disks named in files ({DISK: path}) put on those paths: in
 * memory, and in the store (inside the caller's transaction). */
void fo_disks_point_at(struct vm *vm, const json_t *files);
int fo_disks_store(struct vm *vm, const json_t *files);
/* notify.c: tell r's peer (the old primary) that the VM failed over
 * here, unless it knows already; the periodic retry started. */
void fo_notify(struct host *h, const struct replication_row *r);
void fo_notify_start(struct host *h);
