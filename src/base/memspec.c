/* memspec.c - --memory SIZE | MIN..MAX[,buffer=PCT] and the dynamic-memory
 * controller's decision; see memspec.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memspec.h"
#include "size.h"
#include "vm_limits.h"

#define MIB (1024ULL * 1024)

/* One SIZE of the text (what names which part, "minimum" or "maximum"). */
static int
memspec_size(const char *s, const char *what, uint64_t *ret_mib,
    struct err *err)
{
	struct err e = { 0 };
	uint64_t bytes;

	if (size_parse(s, &bytes, &e) < 0)
		return err_set(err, -EINVAL, "--memory: the %s '%s' is not a "
		    "size (%s); write e.g. 512M or 2G", what, s, e.msg);
	if (bytes % MIB)
		return err_set(err, -EINVAL, "--memory: the %s '%s' must be a "
		    "whole number of MiB", what, s);
	if (bytes / MIB < VM_MEMORY_MIB_MIN || bytes / MIB > VM_MEMORY_MIB_MAX)
		return err_set(err, -EINVAL, "--memory: the %s '%s' must be "
		    "between %dM and %dM", what, s, VM_MEMORY_MIB_MIN,
		    VM_MEMORY_MIB_MAX);
	*ret_mib = bytes / MIB;
	return 0;
}

/* ",buffer=PCT" (opt points past the comma). */
static int
memspec_buffer(const char *opt, unsigned *ret, struct err *err)
{
	char *end;
	long v;

	if (strncmp(opt, "buffer=", 7))
		return err_set(err, -EINVAL, "--memory: unknown option '%s'; "
		    "the only option is buffer=PCT (MIN..MAX,buffer=20)", opt);
	opt += 7;
	errno = 0;
	v = strtol(opt, &end, 10);
	if (!*opt || *end || errno || v < MEMSPEC_BUFFER_MIN ||
	    v > MEMSPEC_BUFFER_MAX)
		return err_set(err, -EINVAL, "--memory: buffer '%s' must be a "
		    "whole percentage between %d and %d (the guest's free "
		    "memory kept on top of its demand)", opt,
		    MEMSPEC_BUFFER_MIN, MEMSPEC_BUFFER_MAX);
	*ret = (unsigned)v;
	return 0;
}

int
memspec_parse(const char *s, struct memspec *ret, struct err *err)
{
	char lo[64], hi[64];
	const char *dots = strstr(s, ".."), *comma;
	struct memspec m = { .buffer_pct = MEMSPEC_BUFFER_DEFAULT };
	int r;

	if (!dots) {
		if (strchr(s, ','))
			return err_set(err, -EINVAL, "--memory: buffer= needs "
			    "a range: write MIN..MAX,buffer=PCT");
		if ((r = memspec_size(s, "size", &m.min_mib, err)) < 0)
			return r;
		*ret = (struct memspec){ m.min_mib, m.min_mib, 0 };
		return 0;
	}
	comma = strchr(dots, ',');
	if ((size_t)(dots - s) >= sizeof(lo) || (comma ? (size_t)(comma -
	    dots) : strlen(dots)) >= sizeof(hi))
		return err_set(err, -EINVAL, "--memory: '%s' is too long", s);
	snprintf(lo, sizeof(lo), "%.*s", (int)(dots - s), s);
	snprintf(hi, sizeof(hi), "%.*s", comma ? (int)(comma - dots - 2) :
	    (int)strlen(dots + 2), dots + 2);
	if ((r = memspec_size(lo, "minimum", &m.min_mib, err)) < 0 ||
	    (r = memspec_size(hi, "maximum", &m.max_mib, err)) < 0)
		return r;
	if (m.min_mib > m.max_mib)
		return err_set(err, -EINVAL, "--memory: the minimum %s is "
		    "larger than the maximum %s; write MIN..MAX with MIN <= "
		    "MAX", lo, hi);
	if (comma && (r = memspec_buffer(comma + 1, &m.buffer_pct, err)) < 0)
		return r;
	if (m.min_mib == m.max_mib)	/* 1G..1G: fixed, no balloon */
		m.buffer_pct = 0;
	*ret = m;
	return 0;
}

uint64_t
memspec_decide(const struct memspec *m, uint64_t demand_mib,
    uint64_t cur_mib, uint64_t host_room_mib)
{
	uint64_t want, step;

	if (!memspec_dynamic(m))
		return m->max_mib;
	want = demand_mib + demand_mib * m->buffer_pct / 100;
	if (want < m->min_mib)
		want = m->min_mib;
	if (want > m->max_mib)
		want = m->max_mib;
	/* Growth past MIN only as far as the host admits; MIN itself was
	 * admitted when the VM started, so it is always allowed. */
	if (want > cur_mib && want - cur_mib > host_room_mib)
		want = cur_mib + host_room_mib < m->min_mib ? m->min_mib :
		    cur_mib + host_room_mib;
	if (cur_mib < m->min_mib || cur_mib > m->max_mib)
		return want;
	step = cur_mib / 16;
	if (step < MEMSPEC_HYSTERESIS_MIB)
		step = MEMSPEC_HYSTERESIS_MIB;
	if ((want > cur_mib ? want - cur_mib : cur_mib - want) <= step)
		return cur_mib;
	return want;
}
