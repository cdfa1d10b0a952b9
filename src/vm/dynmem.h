/* dynmem.h - dynamic memory (issue 18): a running VM's balloon moved by
 * ternd from the guest's own statistics, between the row's minimum and
 * maximum, keeping the buffer free (base/memspec.h decides).  One timer
 * per dynamic VM on ternd's loop; every QMP command async. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct vm;
struct loop_timer;

/* How often the controller looks (the guest's statistics are polled by
 * QEMU every DYNMEM_POLL_S). */
#define DYNMEM_TICK_MS 2000
#define DYNMEM_POLL_S 1
#define DYNMEM_QMP_TIMEOUT_MS 5000
/* A balloon that has not reached its target after this long counts as
 * settled where it is (a guest that cannot give more memory back). */
#define DYNMEM_SETTLE_S 10

/* A VM's controller while its QEMU runs.  Invariant: timer != NULL only
 * while the VM's row is dynamic and a QEMU is watched. */
struct dynmem {
	struct loop_timer *timer;
	bool set_up;		/* polling set and the balloon put at cur */
	bool busy;		/* a command is out: the tick waits */
	uint64_t want_mib;	/* the balloon size asked for */
	uint64_t demand_mib;	/* the guest's used memory, 0: not known */
	uint64_t actual_mib;	/* query-balloon's actual, 0: not known */
	uint64_t settled_s;	/* wall s when actual reached cur; 0: not yet
				 * (QEMU stamps the guest's stats in wall s) */
	uint64_t resized_s;	/* wall s of the last balloon change */
};

/* Is the row's memory dynamic (min below max)? */
bool dynmem_row_dynamic(const struct vm_row *r);

/* QEMU is watched: start the controller of a dynamic VM (no-op for a
 * fixed one).  dynmem_stop(): QEMU gone or the VM removed; idempotent. */
void dynmem_start(struct vm *vm);
void dynmem_stop(struct vm *vm);

/* The VM's memory for vm show: null for fixed memory, else {minimum_mib,
 * maximum_mib, buffer_pct, current_mib, actual_mib, demand_mib} (the last
 * two null while not known). */
json_t *dynmem_to_json(const struct vm *vm);
