/* fuzz_backup_manifest.c - fuzz the backup point manifest parser: a
 * manifest is read back from a backup repository, which may sit on a
 * share, so untrusted.  Whatever it accepts must write back (to_json) to
 * JSON that parses again to the same manifest; anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_manifest a, b;
	json_t *ja, *jb;
	char *text;

	if (bk_manifest_parse((const char *)data, size, &a, NULL) < 0)
		return 0;
	ja = bk_manifest_to_json(&a);
	if (!ja)
		abort();
	text = json_to_string(ja);
	if (bk_manifest_parse(text, strlen(text), &b, NULL) < 0)
		abort();
	jb = bk_manifest_to_json(&b);
	if (!jb || !json_equal(ja, jb) || memcmp(&a.disks, &b.disks,
	    sizeof(a.disks)) != 0 || strcmp(a.point, b.point) != 0 ||
	    strcmp(a.parent, b.parent) != 0 || a.n_disks != b.n_disks)
		abort();
	json_decref(ja);
	json_decref(jb);
	free(text);
	bk_manifest_clear(&a);
	bk_manifest_clear(&b);
	return 0;
}
