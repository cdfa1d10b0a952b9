/* fuzz_export.c - fuzz the vm.json parser: an export directory is
 * untrusted input (tampered, truncated, made by hand).  Whatever it
 * accepts must survive the writer: writing an accepted manifest and
 * parsing it again must give the same text, or the target aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "jsonutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct export_manifest *m = NULL, *m2 = NULL;
	json_t *o;
	char *t1, *t2;

	if (export_manifest_parse((const char *)data, size, &m, NULL) < 0)
		return 0;
	o = export_manifest_to_json(m);
	if (!o)
		abort();
	t1 = json_to_string(o);
	json_decref(o);
	if (export_manifest_parse(t1, strlen(t1), &m2, NULL) < 0)
		abort();
	o = export_manifest_to_json(m2);
	t2 = json_to_string(o);
	json_decref(o);
	if (strcmp(t1, t2) != 0)
		abort();
	free(t1);
	free(t2);
	export_manifest_free(m);
	export_manifest_free(m2);
	return 0;
}
