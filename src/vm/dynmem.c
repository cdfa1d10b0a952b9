/* dynmem.c - the dynamic-memory controller (see dynmem.h).  One tick:
 *
 *   (tick, VM running, QMP ready)
 *     not set up --qom-set guest-stats-polling-interval, then
 *         balloon(cur)--> set up                 dynmem_setup, on_setup
 *     set up, the balloon settled (query-balloon's actual at cur) and a
 *         sample taken after that --qom-get guest-stats--> demand =
 *         actual - the guest's available memory  dynmem_tick, on_stats
 *         --memspec_decide(demand, cur, host room) == cur--> next tick
 *         --!= cur--> balloon(new) --ok--> cur = new, persisted
 *                                                dynmem_resize, on_resize
 *     --query-balloon--> actual (for vm show)    on_actual
 *   any refusal: logged at debug, the next tick tries again.
 *   an outgoing move's stream active (MIGRATION events): no change.
 *
 * Never blocks the loop; touches the row only on the loop thread.  Not in
 * state running (starting, paused, a move's incoming side): nothing is
 * sent, the balloon stays where it is (a live move carries it). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "dynmem.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "memspec.h"
#include "util.h"
#include "vm.h"

#define MIB (1024ull * 1024)

static void dynmem_tick(struct loop *l, void *data);

bool
dynmem_row_dynamic(const struct vm_row *r)
{
	return r->memory_min_mib && r->memory_min_mib < r->memory_mib;
}

static void
dynmem_again(struct vm *vm)
{
	struct dynmem *d = &vm->dyn;

	d->busy = false;
	if (!d->timer && vm->pidfd >= 0)
		d->timer = loop_timer_add(vm->h->loop, DYNMEM_TICK_MS,
		    dynmem_tick, vm);
}

static void
on_actual(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	json_t *a = ret ? json_object_get(ret, "actual") : NULL;
	struct dynmem *d = &vm->dyn;
	uint64_t cur = vm->row->memory_cur_mib, now = (uint64_t)time(NULL);

	(void)job;
	(void)e;
	if (json_is_integer(a))
		vm->dyn.actual_mib = (uint64_t)json_integer_value(a) / MIB;
	/* the balloon reached its target (or stopped short of it for
	 * DYNMEM_SETTLE_S: a guest that cannot give more back): statistics
	 * from now on are the guest's at this size */
	if (!d->settled_s && ((d->actual_mib + 1 >= cur &&
	    d->actual_mib <= cur + 1) || now >= d->resized_s +
	    DYNMEM_SETTLE_S))
		d->settled_s = now;
	dynmem_again(vm);
}

static void
dynmem_query(struct vm *vm)
{
	if (vm_qmp(vm, NULL, "query-balloon", NULL, DYNMEM_QMP_TIMEOUT_MS,
	    on_actual) < 0)
		dynmem_again(vm);
}

static void
on_resize(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	uint64_t want = vm->dyn.want_mib;

	(void)job;
	if (!ret) {
		log_debug("vm=%s balloon %llu MiB refused: %s, will retry",
		    vm->row->name, (unsigned long long)want, e->msg);
		dynmem_again(vm);
		return;
	}
	if (vm->row->memory_cur_mib != want)
		log_info("vm=%s dynamic memory %llu -> %llu MiB (demand %llu "
		    "MiB)", vm->row->name,
		    (unsigned long long)vm->row->memory_cur_mib,
		    (unsigned long long)want,
		    (unsigned long long)vm->dyn.demand_mib);
	vm->row->memory_cur_mib = want;
	vm->dyn.settled_s = 0;
	vm->dyn.resized_s = (uint64_t)time(NULL);
	(void)store_vm_set_memory_cur(vm->h->store, vm->row->uuid, want);
	dynmem_query(vm);
}

/* The balloon to want_mib. */
static void
dynmem_resize(struct vm *vm, uint64_t want_mib, vm_reply_fn fn)
{
	vm->dyn.want_mib = want_mib;
	if (vm_qmp(vm, NULL, "balloon", json_pack("{sI}", "value",
	    (json_int_t)(want_mib * MIB)), DYNMEM_QMP_TIMEOUT_MS, fn) < 0)
		dynmem_again(vm);
}

/* What the host admits beyond the VM's current size, in MiB. */
static uint64_t
dynmem_host_room(struct vm *vm)
{
	return host_mem_room(vm->h);
}

/* An outgoing move copies the VM now: its description already carries
 * the current size, so the balloon stays where it is until the move ends
 * (the destination sets it to that size again). */
static bool
dynmem_moving(const struct vm *vm)
{
	static const char *const busy[] = { "setup", "active", "device",
		"pre-switchover", "postcopy-active", "wait-unplug", NULL };

	for (size_t i = 0; busy[i]; i++)
		if (streq(vm->mig_status, busy[i]))
			return true;
	return false;
}

static void
on_stats(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	const struct vm_row *r = vm->row;
	json_t *st = ret ? json_object_get(ret, "stats") : NULL;
	double total, avail, upd;
	uint64_t size;
	struct memspec m = { r->memory_min_mib, r->memory_mib,
		r->memory_buffer_pct };
	uint64_t want;

	(void)job;
	(void)e;
	/* QEMU's numbers are uint64, a stat not given UINT64_MAX: jansson
	 * reads what passes INT64_MAX as a real, so read them as numbers */
	total = json_number_value(json_object_get(st, "stat-total-memory"));
	avail = json_number_value(json_object_get(st,
	    "stat-available-memory"));
	/* no statistics yet, a stat not given, or a sample from before the
	 * balloon settled at its size (size and sample would not match) */
	upd = json_number_value(json_object_get(ret, "last-update"));
	if (upd <= 0 || !vm->dyn.settled_s || upd <= vm->dyn.settled_s ||
	    total <= 0 || total >= 0x1p63 || avail < 0 || avail > total) {
		dynmem_query(vm);
		return;
	}
	/* The guest's demand in the balloon's terms: its size less what the
	 * guest has available.  (total - available leaves out what the
	 * guest kernel keeps for itself, ~50 MiB for -m 768M, so a guest
	 * judged by it runs out before its buffer says so.) */
	size = vm->dyn.actual_mib ? vm->dyn.actual_mib : r->memory_cur_mib;
	vm->dyn.demand_mib = (uint64_t)(avail / MIB) < size ?
	    size - (uint64_t)(avail / MIB) : 1;
	want = memspec_decide(&m, vm->dyn.demand_mib, r->memory_cur_mib,
	    dynmem_host_room(vm));
	if (want == r->memory_cur_mib || vm->state != VM_RUNNING ||
	    dynmem_moving(vm)) {
		dynmem_query(vm);
		return;
	}
	dynmem_resize(vm, want, on_resize);
}

/* A set-up step QEMU refused (no answer in ret): logged, tried again on
 * the next tick.  True when it was refused. */
static bool
dynmem_refused(struct vm *vm, const json_t *ret, const char *what,
    const struct err *e)
{
	if (ret)
		return false;
	log_debug("vm=%s %s refused: %s, will retry", vm->row->name, what,
	    e->msg);
	dynmem_again(vm);
	return true;
}

static void
on_setup(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	(void)job;
	if (dynmem_refused(vm, ret, "dynamic memory set-up", e))
		return;
	vm->dyn.set_up = true;
	dynmem_query(vm);
}

static void
on_polling(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	(void)job;
	if (dynmem_refused(vm, ret, "guest-stats polling", e))
		return;
	dynmem_resize(vm, vm->row->memory_cur_mib, on_setup);
}

static void
dynmem_tick(struct loop *l, void *data)
{
	struct vm *vm = data;
	int r;

	(void)l;
	vm->dyn.timer = NULL;
	if (vm->dyn.busy)
		return;		/* the reply's chain sets the next tick */
	if (vm->state != VM_RUNNING || !vm->qmp_ready) {
		dynmem_again(vm);
		return;
	}
	vm->dyn.busy = true;
	if (!vm->dyn.set_up)
		r = vm_qmp(vm, NULL, "qom-set", json_pack("{ss ss si}",
		    "path", "/machine/peripheral/bal0", "property",
		    "guest-stats-polling-interval", "value", DYNMEM_POLL_S),
		    DYNMEM_QMP_TIMEOUT_MS, on_polling);
	else
		r = vm_qmp(vm, NULL, "qom-get", json_pack("{ss ss}",
		    "path", "/machine/peripheral/bal0", "property",
		    "guest-stats"), DYNMEM_QMP_TIMEOUT_MS, on_stats);
	if (r < 0)
		dynmem_again(vm);
}

void
dynmem_start(struct vm *vm)
{
	dynmem_stop(vm);
	if (!dynmem_row_dynamic(vm->row))
		return;
	vm->dyn.timer = loop_timer_add(vm->h->loop, DYNMEM_TICK_MS,
	    dynmem_tick, vm);
}

void
dynmem_stop(struct vm *vm)
{
	vm->dyn.timer = loop_timer_cancel(vm->h->loop, vm->dyn.timer);
	memset(&vm->dyn, 0, sizeof(vm->dyn));
}

json_t *
dynmem_to_json(const struct vm *vm)
{
	const struct vm_row *r = vm->row;
	const struct dynmem *d = &vm->dyn;

	if (!dynmem_row_dynamic(r))
		return json_null();
	return json_pack("{sI sI si sI so so}",
	    "minimum_mib", (json_int_t)r->memory_min_mib,
	    "maximum_mib", (json_int_t)r->memory_mib,
	    "buffer_pct", (int)r->memory_buffer_pct,
	    "current_mib", (json_int_t)r->memory_cur_mib,
	    "actual_mib", vm->pid && d->actual_mib ?
	    json_integer((json_int_t)d->actual_mib) : json_null(),
	    "demand_mib", vm->pid && d->demand_mib ?
	    json_integer((json_int_t)d->demand_mib) : json_null());
}
