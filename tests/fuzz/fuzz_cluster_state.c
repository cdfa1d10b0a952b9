/* fuzz_cluster_state.c - fuzz the cluster state's change rules
 * (src/cluster/state_rules.c): every message a node's ternd delivers
 * from the CPG group is parsed as JSON and applied to its state.  The
 * input is a JSON array of messages applied in order to one state, then
 * a sync round's choice over them: nothing may crash, and a change that
 * says it changed nothing must leave the state as it was. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "state_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *msgs = json_loadb((const char *)data, size, 0, NULL);
	json_t *vms = json_object(), *m, *syncs = json_object();
	size_t i;

	json_array_foreach(msgs, i, m) {
		json_t *before = json_deep_copy(vms);
		const char *t = json_string_value(json_object_get(m, "t"));

		if (!cl_state_apply(vms, t, m) && !json_equal(before, vms))
			abort();
		json_decref(before);
		if (json_is_object(m) && i < 8) {
			char key[8];

			snprintf(key, sizeof(key), "%zu", i);
			json_object_set(syncs, key, m);
		}
	}
	(void)cl_sync_best(syncs);
	json_decref(syncs);
	json_decref(vms);
	json_decref(msgs);
	return 0;
}
