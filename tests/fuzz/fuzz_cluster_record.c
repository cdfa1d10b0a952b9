/* fuzz_cluster_record.c - fuzz the cluster record's checks and
 * corosync.conf rendering (src/cluster/conf.c): a record reaches a node
 * from another over the network (POST /v1/cluster/join and /update) and
 * is written into corosync.conf once it passes.  Whatever passes must
 * render into a configuration whose every node line is the checked
 * value alone: no brace, newline or '#' of a value's own can open a
 * section or a comment. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each "name: ", "ring0_addr: " and "cluster_name: " line holds one
 * word of [A-Za-z0-9._:-]. */
static void
conf_check(const char *conf)
{
	static const char *const keys[] = { "name: ", "ring0_addr: ",
		"cluster_name: ", "host: " };
	const char *p;

	for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
		for (p = strstr(conf, keys[k]); p; p = strstr(p + 1, keys[k]))
			for (const char *v = p + strlen(keys[k]); *v != '\n';
			    v++)
				if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEF"
				    "GHIJKLMNOPQRSTUVWXYZ0123456789._:-", *v))
					abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *rec = json_loadb((const char *)data, size, 0, NULL);
	struct err e = { 0 };
	char *conf;

	if (!rec)
		return 0;
	if (cluster_record_check(rec, &e) == 0) {
		conf = cluster_conf_render(rec, "/k", "/s");
		conf_check(conf);
		free(conf);
	} else if (!e.msg[0]) {
		abort();	/* a refusal always says why */
	}
	json_decref(rec);
	return 0;
}
