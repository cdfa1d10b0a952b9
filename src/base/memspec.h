/* memspec.h - a VM's memory as the operator writes it (--memory) and the
 * dynamic-memory controller's decision (issue 18).  Pure: no I/O, no log.
 * It lives in base, next to size.c and vm_limits.h, because the CLI (which
 * links only base) checks the text before sending it and ternd checks it
 * again, and the controller's decision is tested without a VM.
 *
 * Text:  SIZE               fixed memory: min = max = SIZE, no balloon
 *        MIN..MAX[,buffer=PCT]
 *                           dynamic memory (Hyper-V's minimum/maximum and
 *                           buffer): QEMU gets -m MAX and a virtio-balloon;
 *                           ternd keeps the guest between MIN and MAX with
 *                           PCT % of its demand free (default 20).
 * SIZE as size_parse() reads it, a whole number of MiB, within
 * VM_MEMORY_MIB_MIN..VM_MEMORY_MIB_MAX; MIN < MAX; PCT 5..95. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define MEMSPEC_BUFFER_MIN 5
#define MEMSPEC_BUFFER_MAX 95
#define MEMSPEC_BUFFER_DEFAULT 20
/* The controller leaves the balloon alone unless its target moves by more
 * than this (or by more than 1/16 of the current size, whichever is
 * larger): the guest's free memory moves all the time. */
#define MEMSPEC_HYSTERESIS_MIB 32

struct memspec {
	uint64_t min_mib;
	uint64_t max_mib;	/* == min_mib: fixed memory */
	unsigned buffer_pct;	/* 0 when fixed */
};

static inline bool
memspec_dynamic(const struct memspec *m)
{
	return m->max_mib > m->min_mib;
}

/* s parsed into *ret.  -EINVAL with err naming what is wrong and what to
 * write instead ("--memory" first); *ret untouched then. */
int memspec_parse(const char *s, struct memspec *ret, struct err *err);

/* One step of the controller: the guest's demand (its used memory, total -
 * available, in MiB), its current balloon size cur_mib, and how many MiB
 * the host admits beyond cur_mib (host_room_mib).  Returns the new balloon
 * size, or cur_mib when nothing should change:
 *   want = demand * (100 + buffer) / 100, clamped to [min, max];
 *   growth is limited to host_room_mib (never past what the host admits);
 *   changes within the hysteresis step are ignored, except that a
 *   balloon below min or above max is always brought back inside. */
uint64_t memspec_decide(const struct memspec *m, uint64_t demand_mib,
    uint64_t cur_mib, uint64_t host_room_mib);
