/* migrate.h - moving a VM to another host: live migration over shared
 * storage (and, cold, a VM that is off or saved).  Two jobs, one per host:
 * vm.move on the source (source.c) drives; vm.move-in on the destination
 * (dest.c) receives.  The destination's `cont` is the commit point; the
 * shared image's write lock makes it exclusive (see source.c).
 *
 * Trust: the destination's API only answers peers it pinned, and the
 * source pins the destination, so a move happens only between hosts that
 * trust each other both ways.  That channel carries a fresh pre-shared key
 * per move, which QEMU's TLS (tls-creds-psk) uses for the stream: QEMU
 * never holds a host's identity key. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "host.h"
#include "job.h"
#include "store.h"

struct vm;

/* Register the job types and start the periodic link measurement. */
void migrate_init(struct host *h);

/* Source: POST /v1/vms/NAME/move {"to": PEER}.  Checks what it can here
 * (the peer, the VM, not to itself) and starts vm.move, whose first phase
 * asks the destination to check the rest before anything changes. */
int migrate_move_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);

/* Destination: POST /v1/migrations from the peer with fingerprint
 * peer_fp.  {"check": true} only validates (*ret_check: {"ok", "storage":
 * shared|copy}); otherwise records the VM and starts vm.move-in
 * (*ret_job). */
int migrate_incoming(struct host *h, const char *peer_fp, const json_t *body,
    struct job **ret_job, json_t **ret_check, struct err *err);
/* Destination: POST /v1/migrations/JOB/commit: resume the VM here. */
int migrate_commit(struct host *h, int64_t job_id, struct err *err);

/* Measure the link to peer NAME now (job peer.measure). */
int migrate_measure_start(struct host *h, const char *peer,
    struct job **ret_job, struct err *err);
/* {"rate_bytes_per_s", "measured_at"} for peer NAME, or NULL. */
json_t *migrate_link_json(struct host *h, const char *peer);

/* ---- inside the module ---- */

#define LINK_MAX_AGE_MS (10 * 60 * 1000)	/* re-measure after this */
/* What follows from a rate: QEMU's max-bandwidth, multifd channels (1:
 * no multifd; an encrypted stream is bound by the CPU that encrypts it,
 * so it gets one channel per core, up to 4, whatever the link), and moves
 * at once for max-migrations auto. */
uint64_t link_bandwidth_cap(uint64_t rate);
int link_channels(uint64_t rate, bool encrypted);
int link_auto_slots(uint64_t rate);
/* Start measuring peer (unless already measuring); done(ok) on the loop. */
int link_measure(struct host *h, const struct host_peer *p,
    void (*done)(struct host *h, const char *peer, uint64_t rate,
    const struct err *e, void *data), void *data, struct err *err);

/* wire.c: the VM's description for the destination (copy: its disks
 * will be copied, so they need not be in a pool the destination shares),
 * and the destination's parse of it into a new row (state incoming when
 * running, else off). */
struct wire_opts {
	bool running;		/* a live move (memory reservation) */
	bool copy;		/* shared-nothing: new disks in pools here */
	const char *pool;	/* copy: the pool for every disk; NULL first */
	const json_t *disk_pools;	/* copy: {"vda": POOL} overrides */
	bool existing;		/* copy: the files are there already (a
				 * replica onto the operator's copies) */
};
int wire_vm_describe(struct host *h, const struct vm *vm, bool copy,
    json_t **ret, struct err *err);
int wire_vm_resolve(struct host *h, const json_t *o,
    const struct wire_opts *opt, struct vm_row **ret_row, struct err *err);
/* Every disk (and saved state) of description o is on storage this host
 * mounts. */
bool wire_vm_shared(struct host *h, const json_t *o);

extern const struct job_ops job_vm_move, job_vm_move_in, job_peer_measure;
