/* bk_int.h - what the backup job's files share; not for other modules. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "backup.h"
#include "batch.h"
#include "job.h"
#include "vm.h"

#define BK_QMP_MS 10000
#define BK_POLL_MS 500
#define BK_FREEZE_MS 10000	/* the guest is thawed after this anyway */

/* vm.backup's phases (create.c has the diagram; backup.h's enum). */
enum bk_phase { BK_PH_START = BACKUP_PH_START, BK_PH_CHECK, BK_PH_PREPARE,
		BK_PH_ATTACH, BK_PH_FREEZE, BK_PH_SNAP, BK_PH_EXPORT,
		BK_PH_COPY, BK_PH_SEAL, BK_PH_TEARDOWN, BK_PH_DONE,
		BK_PH__COUNT };

/* The point is read for another module: deltas, not images. */
bool bk_is_delta(const struct job *job);
/* backup_point_sink()'s end, or NULL. */
extern void (*bk_sink_end)(struct job *job, int r, const char *why);

/* In memory only: the QMP replies a step waits for. */
struct bk_ctx {
	struct vm_batch b;	/* first: the replies find it (batch.h) */
	unsigned sub;		/* a step's own progress */
	bool asked;		/* teardown: a query is out */
	unsigned tries;		/* teardown: answers that still showed ours */
	void *sink;		/* backup_point_priv() */
	void (*sink_free)(void *sink);
};

struct bk_ctx *bk_ctx(struct job *job);
void bk_ctx_free(struct job *job);
/* Send c for job, counted in pending; errors kept (first) in the ctx. */
int bk_qmp(struct job *job, struct qmp_command c);
/* A unix socket listening at path, handed to QEMU as fdname (getfd; its
 * reply counted like bk_qmp's). */
int bk_qmp_listen(struct job *job, const char *path, const char *fdname);
/* Send c, its answer ignored (teardown: the thing may not be there). */
void bk_qmp_quiet(struct job *job, struct qmp_command c);
/* True once every reply is in (pokes follow each reply). */
bool bk_replied(struct job *job);

/* Details. */
const char *bk_str(const json_t *o, const char *key);
json_t *bk_disks(const struct job *job);
/* The point's directory, the repository's VM directory (caller frees). */
char *bk_job_dir(const struct job *job);
/* Names of this job's QEMU things for disk d. */
void bk_fleece_node(const struct job *job, const json_t *d, char *buf);
void bk_fleece_job(const struct job *job, const json_t *d, char *buf);
void bk_xfer_bitmap(const struct job *job, char *buf);
char *bk_scratch_path(const struct job *job, const json_t *d);
char *bk_socket_path(const struct job *job);
/* The job's file what ("log", "progress", "summary") for disk d (NULL:
 * the job's own, "sha256") in the VM's run directory. */
char *bk_run_file(const struct job *job, const json_t *d, const char *what);


/* The end: teardown.c.  ok: the point is sealed. */
void bk_teardown_begin(struct job *job, int r, const char *why);
void bk_teardown(struct job *job);
/* copy.c */
void bk_copy(struct job *job);
void bk_seal(struct job *job);
/* The point's manifest is written (it exists). */
bool bk_manifest_on_disk(const struct job *job);
/* Record the new reference point; drop the older ones of the repository. */
void bk_record_refpoint(struct job *job);

/* fw.c: a UEFI VM's NVRAM file (nvram, NULL: none) and its TPM's state
 * (tpm_dir/tpm2-00.permall, when there) copied into the point's
 * directory dir, their sha256 (or "") returned; and put back from point
 * directory pdir (the TPM directory made even when has_tpm is false). */
int bk_fw_save(const char *nvram, const char *tpm_dir, const char *dir,
    char nvram_sha[65], char tpm_sha[65], struct err *err);
int bk_fw_restore(const char *pdir, bool has_nvram, bool has_tpm,
    const char *nvram, const char *tpm_dir, struct err *err);
