/* batch.h - a job's QMP commands as a batch: the step sends some, then
 * waits until every reply is in (each reply pokes the job), knowing the
 * first error and the last answer.  A job type's private state (job_priv)
 * begins with a struct vm_batch, which is how the replies find it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "qmp_block.h"

struct vm_batch {
	unsigned pending;	/* replies not yet in */
	bool failed;		/* one of them was an error */
	char err[256];		/* the first error */
	json_t *reply;		/* the last answer (NULL after an error) */
};

/* Send c for job's VM, counted in b; the first error kept. */
int vm_batch_qmp(struct job *job, struct vm_batch *b, struct qmp_command c,
    uint64_t timeout_ms);
/* cmd with fd passed along (getfd), counted like vm_batch_qmp. */
int vm_batch_fd(struct job *job, struct vm_batch *b, const char *cmd,
    json_t *args, int fd, uint64_t timeout_ms);
/* Send c, its answer counted but not judged (the thing may be gone). */
void vm_batch_quiet(struct job *job, struct vm_batch *b,
    struct qmp_command c, uint64_t timeout_ms);
/* Forget the error and the answer (a new step). */
void vm_batch_reset(struct vm_batch *b);
/* Free what b holds. */
void vm_batch_free(struct vm_batch *b);
