/* teardown.c - the end of vm.backup, after a sealed point or going back
 * (the diagram: create.c).  Idempotent, from facts: each step removes
 * what may be there and ignores "not found", so the same path serves a
 * failure at any phase, a cancel and a restart.
 *
 *   exports (block-export-del; wait until query-block-exports no longer
 *   shows them: an exported bitmap stays busy until then) --> jobs
 *   (job-cancel the fleecing jobs; wait until concluded; job-dismiss) -->
 *   nodes (blockdev-del the scratch nodes, remove the frozen bitmap; going
 *   back: the new reference point's bitmap too; nbd-server-stop) -->
 *   files (the scratch images, the run files; going back: the point's
 *   directory) --> done */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "bk_int.h"
#include "fsutil.h"
#include "log.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "util.h"

#define BK_WAIT_TRIES 50	/* of BK_TEARDOWN_MS: exports and jobs go */
#define BK_TEARDOWN_MS 200

enum { TD_EXPORTS, TD_EXPORTS_WAIT, TD_JOBS, TD_JOBS_WAIT, TD_NODES,
       TD_FILES };

void
bk_teardown_begin(struct job *job, int r, const char *why)
{
	struct bk_ctx *c = bk_ctx(job);

	if (job_phase_is(job, BK_PH_TEARDOWN))
		return;
	json_object_set_new(job->details, "result", json_integer(r));
	if (why)
		json_object_set_new(job->details, "error", json_string(why));
	if (job->child)
		(void)child_kill(job->child, SIGTERM);
	/* A cancel between freeze and the snap's answer: bk_snap() will
	 * not run to thaw the guest (a no-op unless it is frozen; the job
	 * is the VM's only one, so the freeze is ours). */
	agent_thaw(vm_of(job));
	c->sub = TD_EXPORTS;
	c->b.failed = false;
	c->asked = false;
	c->tries = 0;
	job_set_phase(job, BK_PH_TEARDOWN);
	job_poke(job);
}

/* Whether reply (a list of objects) still has one whose key is ours. */
static bool
still_there(const struct job *job, const json_t *reply, const char *key,
    bool fleece_job)
{
	const json_t *o, *d;
	size_t i, j;
	char name[VM_NODE_NAME_MAX];

	json_array_foreach(reply, i, o) {
		const char *v = bk_str(o, key);

		json_array_foreach(bk_disks(job), j, d) {
			if (fleece_job)
				bk_fleece_job(job, d, name);
			else
				bk_fleece_node(job, d, name);
			if (streq(v, name) && (!fleece_job || !streq(bk_str(o,
			    "status"), "concluded")))
				return true;
		}
	}
	return false;
}

/* Ask query until ours are gone (or BK_WAIT_TRIES answers later): true
 * once they are. */
static bool
td_wait(struct job *job, struct bk_ctx *c, bool jobs)
{
	bool there;

	if (!c->asked) {
		c->asked = true;
		json_decref(c->b.reply);
		c->b.reply = NULL;
		(void)bk_qmp(job, jobs ? qmp_query_jobs() :
		    qmp_query_block_exports());
		return false;
	}
	c->asked = false;
	there = c->b.reply && still_there(job, c->b.reply, "id", jobs);
	if (there && ++c->tries < BK_WAIT_TRIES) {
		job_wake_after(job, BK_TEARDOWN_MS);
		return false;
	}
	c->tries = 0;
	return true;
}

static void
td_qemu(struct job *job, struct bk_ctx *c)
{
	char name[VM_NODE_NAME_MAX], bm[TRACK_NAME_MAX + 8];
	bool back = json_integer_value(json_object_get(job->details,
	    "result")) != 0;
	json_t *d;
	size_t i;

	json_array_foreach(bk_disks(job), i, d) {
		const char *node = bk_str(d, "node");

		switch (c->sub) {
		case TD_EXPORTS:
			bk_fleece_node(job, d, name);
			bk_qmp_quiet(job, qmp_block_export_del(name));
			break;
		case TD_JOBS:
			bk_fleece_job(job, d, name);
			bk_qmp_quiet(job, qmp_job_cancel(name));
			break;
		case TD_NODES:
			bk_fleece_job(job, d, name);
			bk_qmp_quiet(job, qmp_job_dismiss(name));
			bk_fleece_node(job, d, name);
			bk_qmp_quiet(job, qmp_blockdev_del(name));
			if (!node)
				break;
			bk_xfer_bitmap(job, bm);
			bk_qmp_quiet(job, qmp_bitmap_remove(node, bm));
			track_bitmap_name(bm, bk_str(job->details, "ref"));
			if (back)
				bk_qmp_quiet(job, qmp_bitmap_remove(node, bm));
			break;
		}
	}
	if (c->sub == TD_NODES)
		bk_qmp_quiet(job, qmp_nbd_server_stop());
}

static void
td_files(struct job *job)
{
	struct vm *vm = vm_of(job);
	int r = (int)json_integer_value(json_object_get(job->details,
	    "result"));
	const char *why = bk_str(job->details, "error");
	_cleanup_free_ char *dir = bk_job_dir(job);
	_cleanup_free_ char *sock = bk_socket_path(job);
	json_t *d;
	size_t i;

	json_array_foreach(bk_disks(job), i, d) {
		static const char *const what[] = { "log", "progress",
			"summary" };
		_cleanup_free_ char *s = bk_scratch_path(job, d);

		(void)unlink(s);
		for (size_t k = 0; k < ARRAY_SIZE(what); k++) {
			_cleanup_free_ char *f = bk_run_file(job, d, what[k]);

			(void)unlink(f);
		}
	}
	{
		_cleanup_free_ char *f = bk_run_file(job, NULL, "sha256");

		(void)unlink(f);
	}
	(void)unlink(sock);
	if (r != 0 && !json_is_true(json_object_get(job->details, "sealed")))
		(void)dir_remove_flat(dir);
	bk_ctx_free(job);
	job_set_phase(job, BK_PH_DONE);
	if (bk_is_delta(job)) {
		if (bk_sink_end)
			bk_sink_end(job, r, why);
		job_finish(job, r, r ? "%s" : NULL, why ? why : "failed");
		return;
	}
	if (r == 0)
		host_event(vm->h, "info", vm, job->row->id, "backup point %s "
		    "(%s) of vm '%s' in %s", bk_str(job->details, "point"),
		    bk_str(job->details, "kind"), vm->row->name,
		    bk_str(job->details, "repo"));
	job_finish(job, r, r ? "vm '%s' not backed up: %s" : NULL,
	    vm->row->name, why ? why : "failed");
}

void
bk_teardown(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct bk_ctx *c = bk_ctx(job);
	bool qemu = vm->pidfd >= 0 && vm->qmp_ready;

	if (job->child || !bk_replied(job))
		return;
	if (!qemu && c->sub < TD_FILES)
		c->sub = TD_FILES;
	switch (c->sub) {
	case TD_EXPORTS:
	case TD_JOBS:
	case TD_NODES:
		td_qemu(job, c);
		c->sub++;
		if (c->sub == TD_NODES + 1)
			c->sub = TD_FILES;
		if (bk_replied(job))
			job_poke(job);
		return;
	case TD_EXPORTS_WAIT:
	case TD_JOBS_WAIT:
		c->b.failed = false;	/* a refused query: nothing to wait for */
		if (td_wait(job, c, c->sub == TD_JOBS_WAIT)) {
			c->sub++;
			job_poke(job);
		}
		return;
	default:
		td_files(job);
	}
}
