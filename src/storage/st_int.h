/* st_int.h - what the files of the storage module share: the job's
 * persisted details (the plan and how far each disk got), the in-memory
 * state of one job (never persisted: a restarted ternd decides from what
 * QEMU and the files say), and the helpers both kinds of move use.
 *
 * Details of vm.move-storage (persisted with the job):
 *   mode          "live" | "copy"
 *   target        what --to named (null for per-disk targets)
 *   disks         [{name, idx, src, src_pool, dst, dst_pool, size (virtual),
 *                   alloc (bytes of src), created (dst may exist because of
 *                   us), added, mirror, complete_sent, completed (QEMU said
 *                   the pivot happened), where ("new"|"old"), recorded,
 *                   done}]
 *                 live: a UEFI VM's NVRAM file is one more entry, name
 *                 "nvram", idx -1, "nvram": true (mirror.c)
 *   state         {src, dst, size, done} when a saved state moves along
 *   nvram, tpm    {src, dst, size, ...} the NVRAM file (copy only) and the
 *                 TPM directory when they follow disk 0; live, tpm also
 *                 has paused, created, copied, recorded, settled, resumed
 *                 (tpm_move.c)
 *   storage_slot, storage_wait   the queue (storage.h)
 *   pivot_sent    job-complete went out: from here on no cancel
 *   began_ms      wall clock when it got its slot
 *   copied_bytes, total_ms (from began_ms), why (when it went back) */
#pragma once

#include "refpoint.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "qmp.h"
#include "qmp_block.h"
#include "vm.h"

struct vm;

/* The phases of vm.move-storage (diagrams: move.c, mirror.c, copy.c). */
enum st_phase { ST_PH_START, ST_PH_QUEUED, ST_PH_CHECK, ST_PH_CREATE,
		ST_PH_ATTACH, ST_PH_MIRROR, ST_PH_MIRRORING, ST_PH_PIVOT,
		ST_PH_RESOLVE, ST_PH_ROLLBACK, ST_PH_CANCELLING, ST_PH_COPY,
		ST_PH_DONE, ST_PH__COUNT };

#define ST_QMP_MS 10000
#define ST_POLL_MS 500		/* progress, and a query to try again */
#define ST_SYNC_POLL_MS 20	/* all READY: is each actively synced yet? */

struct st_ctx {
	/* the one QMP query in flight, and its answer */
	char cmd[40];			/* the command it answers */
	bool waiting;
	json_t *reply;			/* NULL when it failed */
	char reply_err[240];
	bool replied;
	/* resolve */
	int sub;			/* its step: jobs, where, cleanup */
	uint64_t sub_t0_ms;
	int cleanup_passes;
	bool fp_pivoted_done;
};

struct st_ctx *st_ctx(struct job *job);

static inline const char *
st_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static inline int64_t
st_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static inline bool
st_flag(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static inline void
st_set_flag(json_t *o, const char *key, bool v)
{
	json_object_set_new(o, key, json_boolean(v));
}

static inline json_t *
st_disks(const struct job *job)
{
	return json_object_get(job->details, "disks");
}

/* Persist the details as they are now. */
void st_save(struct job *job);
/* End the job (r as job_finish), free its ctx, poke the queue. */
void st_finish(struct job *job, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Send q to the VM's QEMU; the answer lands in the ctx (replied, reply
 * or reply_err) and pokes the job.  One at a time. */
int st_query(struct job *job, struct qmp_command q);
/* Send q and ignore the answer (an error included). */
void st_send(struct job *job, struct qmp_command q);
/* Whether the answer to cmd (sent with st_query) is in; an answer to
 * another command is dropped (the phase moved on meanwhile). */
bool st_answered(struct job *job, const char *cmd);
/* Take the answer of st_query: the reply (the caller unrefs) or NULL with
 * the error in ctx->reply_err. */
json_t *st_take_reply(struct job *job);

/* A helper process for the job: output to RUN_DIR/job-ID.out; fn on
 * exit. */
int st_spawn(struct job *job, const char *const *argv, child_exit_fn fn);
/* qemu-img create of an empty qcow2 at path (vm_image_create), its output
 * to the job's output file. */
int st_image_create(struct job *job, const char *path, uint64_t size,
    child_exit_fn fn);
char *st_out_path(const struct job *job);
/* The helper's last output line, for a message. */
void st_out_tail(const struct job *job, char *buf, size_t len);
/* "vda moved to p2; vdb stays in local" for messages. */
void st_outcome(const struct job *job, char *buf, size_t len);
/* Record that disk d (a details entry) now lives at its dst: the store,
 * then the VM's row.  -errno when the store refuses. */
int st_record_disk(struct job *job, json_t *d);

/* The node and file (borrowed from blocks, query-block's answer) of a
 * details entry: a disk's device, or the pflash of the NVRAM entry. */
const char *st_entry_node(const json_t *blocks, const json_t *d,
    const char **ret_file);

/* mirror.c: a running VM */
void live_step(struct job *job);
/* -EBUSY (err says why) once a disk may have switched, or when it is
 * already going back. */
int live_cancel(struct job *job, struct err *err);
/* Go back (rollback, or cancelling for -ECANCELED) with why. */
void live_back(struct job *job, int code, const char *why);
/* The QEMU job id of disk d's mirror ("mv-vda-ID"), and back. */
void st_mirror_id(const struct job *job, const json_t *d,
    char buf[VM_NODE_NAME_MAX]);
json_t *st_disk_of_mirror(const struct job *job, const char *id);
/* resolve.c: the end of a live move (the resolve steps, ctx->sub) */
enum { SUB_JOBS, SUB_WHERE, SUB_CLEANUP, SUB_FINISH };
void live_resolve(struct job *job);
/* QEMU is gone: decide each disk from what QEMU had reported. */
void live_offline(struct job *job);
/* Remember a switch QEMU reported (persisted: the witness without QEMU). */
void live_note_events(struct job *job);
/* tpm_move.c: a running VM's TPM state (details "tpm"), diagram there.
 * At the pivot, before any job-complete: 1 when the vCPUs are stopped
 * and the state copied (or there is no TPM), 0 to wait, -1 gone back. */
int st_tpm_pause(struct job *job);
/* In resolve, the disks recorded: the link and the row to the new copy
 * (disk 0 moved) or the copy removed; cont if st_tpm_pause stopped. */
void st_tpm_settle(struct job *job);
/* QEMU gone: decided by where the link points. */
void st_tpm_offline(struct job *job);

/* copy.c: a VM that is down */
void copy_step(struct job *job);
int copy_cancel(struct job *job, struct err *err);

/* The recording bitmap on a storage move's target that catches the
 * writes around the switch (mirror.c, resolve.c). */
#define ST_ACTIVEWRITE TRACK_BITMAP_PREFIX "activewrite"
/* Disk d is on its new file: its reference points' bitmaps made again
 * there (resolve.c). */
void st_carry_bitmaps(struct job *job, json_t *d);
