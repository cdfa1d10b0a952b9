/* fuzz_cloudinit.c - fuzz what tern reads of a cloud-init seed's inputs
 * (src/vm/cloudinit_yaml.c): the operator's user-data file through the
 * YAML check, and the same bytes as an --ssh-key file, whose accepted
 * keys must come out as meta-data that is itself YAML of a mapping; and
 * the same bytes as JSON --cloud-init-net settings (as a request or a row
 * carries them): whatever passes must render as a network-config that is
 * YAML of a mapping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudinit_yaml.h"
#include "jsonutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_net(const uint8_t *data, size_t size)
{
	static const char *const macs[] = { "52:54:00:00:00:01",
		"52:54:00:00:00:02" };
	json_t *net = json_loadb((const char *)data, size, 0, NULL);
	char *nc = NULL;

	if (net && ci_network_config(macs, 2, net, &nc, NULL) == 0) {
		if (!nc || ci_user_data_check(nc, strlen(nc), NULL) != 0)
			abort();
		free(nc);
	}
	json_decref(net);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *md = NULL;

	(void)ci_user_data_check((const char *)data, size, NULL);
	if (ci_meta_data("00000000-0000-4000-8000-000000000000", "fuzz",
	    (const char *)data, size, &md, NULL) == 0) {
		if (ci_user_data_check(md, strlen(md), NULL) != 0)
			abort();
		free(md);
	}
	fuzz_net(data, size);
	return 0;
}
