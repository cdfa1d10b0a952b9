/* fuzz_request.c - fuzz the API's handling of untrusted requests short of
 * the host: route lookup on the URL, strict JSON body parsing, and the VM
 * creation spec (types, ranges, names, paths, MACs).  Input: a first line
 * "METHOD URL", then the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonutil.h"
#include "store.h"
#include "vm_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *nl, *sp, *params[API_MAX_SEGS];
	json_t *body = NULL;
	struct vm_row *row = NULL;
	bool found;

	memcpy(buf, data, size);
	buf[size] = '\0';
	nl = memchr(buf, '\n', size);
	if (nl) {
		*nl = '\0';
		sp = strchr(buf, ' ');
		if (sp) {
			*sp = '\0';
			(void)api_route_find(buf, sp + 1, params, &found);
		}
		if (json_parse_object(nl + 1, size - (nl + 1 - buf), &body,
		    NULL) == 0) {
			if (vm_spec_parse(body, &row, NULL) == 0)
				store_vm_row_free(row);
			json_decref(body);
		}
	}
	free(buf);
	return 0;
}
