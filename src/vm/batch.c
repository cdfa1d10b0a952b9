/* batch.c - a job's QMP commands as a batch (batch.h). */
#include <errno.h>
#include <stdio.h>

#include "batch.h"
#include "vm.h"
#include "vm_job.h"

/* The batch at the start of job's private state. */
static struct vm_batch *
batch_of(struct job *job)
{
	return job ? job->priv : NULL;
}

static void
on_reply(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	struct vm_batch *b = batch_of(job);

	(void)vm;
	if (!b)		/* a late answer: the job moved on */
		return;
	if (b->pending > 0)
		b->pending--;
	if (!ret && !b->failed) {
		b->failed = true;
		snprintf(b->err, sizeof(b->err), "QEMU refused: %s",
		    qmp_err_desc(e));
	}
	json_decref(b->reply);
	b->reply = ret ? json_incref(ret) : NULL;
	job_poke(job);
}

static void
on_quiet(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	struct vm_batch *b = batch_of(job);

	(void)vm;
	(void)ret;
	(void)e;
	if (b && b->pending > 0) {
		b->pending--;
		job_poke(job);
	}
}

static int
sent(struct vm_batch *b, int r)
{
	if (r < 0) {
		if (!b->failed)
			snprintf(b->err, sizeof(b->err), "the QMP connection "
			    "to QEMU is gone");
		b->failed = true;
		return -EIO;
	}
	b->pending++;
	return 0;
}

int
vm_batch_qmp(struct job *job, struct vm_batch *b, struct qmp_command c,
    uint64_t timeout_ms)
{
	return sent(b, vm_qmp_cmd(vm_of(job), job, c, timeout_ms, on_reply));
}

int
vm_batch_fd(struct job *job, struct vm_batch *b, const char *cmd,
    json_t *args, int fd, uint64_t timeout_ms)
{
	return sent(b, vm_qmp_fd(vm_of(job), job, cmd, args, fd, timeout_ms,
	    on_reply));
}

void
vm_batch_quiet(struct job *job, struct vm_batch *b, struct qmp_command c,
    uint64_t timeout_ms)
{
	if (vm_qmp_cmd(vm_of(job), job, c, timeout_ms, on_quiet) == 0)
		b->pending++;
}

void
vm_batch_reset(struct vm_batch *b)
{
	b->failed = false;
	b->err[0] = '\0';
}

void
vm_batch_free(struct vm_batch *b)
{
	json_decref(b->reply);
	b->reply = NULL;
}
