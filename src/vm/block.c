/* block.c - what storage moves and shared-nothing moves share about their
 * mirrors: the copy mode they start in and the switch to write-blocking
 * once they are in sync.
 *
 * On QEMU 8.2 and later a mirror copies in background mode (the guest's
 * writes only mark regions dirty, so the bulk copy runs at full speed and
 * the guest's writes stay fast), and once it is READY it is switched to
 * write-blocking (block-job-change): from then on every guest write
 * reaches both sides before it completes.  Only when QEMU reports
 * actively-synced is the mirror in sync for good; a move may switch over
 * from there.  Before 8.2 the mirror starts in write-blocking mode.
 *
 *   started --READY--> (background: block-job-change) --actively-synced-->
 *   synced               (write-blocking from the start: READY = synced)
 */
#include <errno.h>
#include <stdlib.h>

#include "job.h"
#include "util.h"
#include "vm.h"

#define BLOCK_QMP_MS 10000

const char *
vm_mirror_mode(const struct vm *vm)
{
	return host_qemu_at_least(vm->h, 8, 2) ? "background" :
	    "write-blocking";
}

void
vm_block_jobs_update(struct vm *vm, const json_t *list)
{
	const json_t *j;
	size_t i;

	json_array_foreach(list, i, j) {
		struct vm_block_job *b = vm_block_job_find(vm,
		    json_string_value(json_object_get(j, "device")) ?: "");

		if (b && json_is_true(json_object_get(j, "actively-synced")))
			b->synced = true;
	}
}

static void
on_change(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct vm *vm = data;

	(void)q;
	if (ret || !e)
		return;
	/* Which mirror: the first switched one not yet synced. */
	for (size_t i = 0; i < vm->n_bjobs; i++) {
		struct vm_block_job *b = &vm->bjobs[i];

		if (b->switched && !b->synced && !b->change_error) {
			b->change_error = xstrdup(e->msg);
			break;
		}
	}
	if (vm->job)
		job_poke(vm->job);
}

int
vm_mirror_synced(struct vm *vm, const char *id)
{
	struct vm_block_job *b = vm_block_job_find(vm, id);

	if (!b || !b->ready)
		return 0;
	if (b->change_error)
		return -EIO;
	if (b->synced || !b->background)
		return 1;
	if (!b->switched) {
		b->switched = true;
		host_event(vm->h, "info", vm, vm->job ? vm->job->row->id : 0,
		    "mirror %s in sync after its background copy: switching "
		    "it to write-blocking", id);
		if (vm_qmp(vm, "block-job-change", json_pack("{ss ss ss}",
		    "id", id, "type", "mirror", "copy-mode", "write-blocking"),
		    BLOCK_QMP_MS, on_change) < 0)
			b->change_error = xstrdup("QMP is gone");
	}
	return 0;
}
