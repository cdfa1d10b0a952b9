/* fuzz_cluster_state.c - fuzz the cluster state's change rules
 * (src/cluster/state_rules.c): every message a node's ternd delivers
 * from the CPG group is parsed as JSON and applied to its state.  The
 * input is a JSON array of messages applied in order to one state, then
 * a sync round's choice over them: nothing may crash, and a change that
 * says it changed nothing must leave the state as it was.  "settings"
 * and "node" messages go to the settings' rules, "balance" to the
 * balance rules, as state.c does; the first message's "load" (node ->
 * load message) is planned over. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "state_rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *msgs = json_loadb((const char *)data, size, 0, NULL);
	json_t *vms = json_object(), *m, *syncs = json_object();
	json_t *settings = json_object();
	size_t i;

	json_array_foreach(msgs, i, m) {
		json_t *before = json_deep_copy(vms);
		json_t *sbefore = json_deep_copy(settings);
		const char *t = json_string_value(json_object_get(m, "t"));
		bool changed = streq(t, "settings") ? cl_settings_apply(settings,
		    m) : streq(t, "node") ? cl_node_apply(settings, vms, m) :
		    streq(t, "balance") ? cl_balance_apply(vms, m) :
		    cl_state_apply(vms, t, m);

		if (!changed && (!json_equal(before, vms) ||
		    !json_equal(sbefore, settings)))
			abort();
		(void)cl_resiliency_ms(settings, json_object_get(vms,
		    json_string_value(json_object_get(m, "uuid"))));
		(void)cl_node_paused(settings, json_string_value(
		    json_object_get(m, "name")));
		json_decref(before);
		json_decref(sbefore);
		if (json_is_object(m) && i < 8) {
			char key[8];

			snprintf(key, sizeof(key), "%zu", i);
			json_object_set(syncs, key, m);
		}
	}
	(void)cl_sync_best(syncs);
	/* a plan over whatever state that left, the messages' "load"
	 * objects as the nodes */
	if (json_is_object(json_object_get(json_array_get(msgs, 0), "load")))
		json_decref(cl_balance_plan(vms, json_object_get(
		    json_array_get(msgs, 0), "load"), settings, 1, 0));
	json_decref(syncs);
	json_decref(settings);
	json_decref(vms);
	json_decref(msgs);
	return 0;
}
