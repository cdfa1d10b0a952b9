/* fuzz_storage.c - fuzz the move-storage request parser: the body of
 * POST /v1/vms/NAME/move-storage is untrusted.  Whatever it accepts must
 * name, for each disk of the VM, either nothing or a target that is a
 * pool name or an absolute directory taken from the body; anything else
 * aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "storage.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const disks[] = { "vda", "vdb", "vdc" };
	const char *to[3];
	bool explicit_disks = false, any = false;
	json_t *o = NULL;

	if (json_parse_object((const char *)data, size, &o, NULL) < 0)
		return 0;
	if (storage_plan_parse(o, disks, 3, to, &explicit_disks, NULL) == 0) {
		for (int i = 0; i < 3; i++) {
			if (!to[i])
				continue;
			any = true;
			if (to[i][0] != '/' && !name_is_valid(to[i]))
				abort();
			if (strpbrk(to[i], ",\"\\\n\r\t=:"))
				abort();
		}
		if (!any || (!explicit_disks && (!to[0] || !to[2])))
			abort();
	}
	json_decref(o);
	return 0;
}
