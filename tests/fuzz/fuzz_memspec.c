/* fuzz_memspec.c - fuzz --memory's text (src/base/memspec.c), which the CLI
 * reads from an operator and ternd will read again from a request, and the
 * controller's decision on what it accepted.  Whatever is accepted lies in
 * VM_MEMORY_MIB_MIN..VM_MEMORY_MIB_MAX with MIN <= MAX and a buffer of 0
 * (fixed) or 5..95; the decision for any demand, current size and host
 * room lies in [MIN, MAX] and never grows past the room unless to reach
 * MIN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memspec.h"
#include "vm_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decide_check(const struct memspec *m, const uint8_t *data, size_t size)
{
	uint64_t v[3] = { 0, 0, 0 }, t;

	for (size_t i = 0; i < size; i++)
		v[i % 3] = v[i % 3] * 131 + data[i];
	v[0] %= 2 * (uint64_t)VM_MEMORY_MIB_MAX;
	v[1] %= 2 * (uint64_t)VM_MEMORY_MIB_MAX;
	t = memspec_decide(m, v[0], v[1], v[2]);
	if (t < m->min_mib || t > m->max_mib)
		abort();
	if (t > v[1] && t - v[1] > v[2] && t > m->min_mib)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memspec m;
	struct err e = { 0 };
	char *s;

	if (size > 256)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (memspec_parse(s, &m, &e) == 0) {
		if (m.min_mib < VM_MEMORY_MIB_MIN || m.max_mib >
		    VM_MEMORY_MIB_MAX || m.min_mib > m.max_mib)
			abort();
		if (memspec_dynamic(&m) ? m.buffer_pct < MEMSPEC_BUFFER_MIN ||
		    m.buffer_pct > MEMSPEC_BUFFER_MAX : m.buffer_pct != 0)
			abort();
		decide_check(&m, data, size);
	} else if (!e.msg[0]) {
		abort();
	}
	free(s);
	return 0;
}
