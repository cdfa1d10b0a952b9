/* fuzz_cloudinit.c - fuzz what tern reads of a cloud-init seed's inputs
 * (src/vm/cloudinit_yaml.c): the operator's user-data file through the
 * YAML check, and the same bytes as an --ssh-key file, whose accepted
 * keys must come out as meta-data that is itself YAML of a mapping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudinit_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
