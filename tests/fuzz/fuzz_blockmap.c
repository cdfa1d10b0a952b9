/* fuzz_blockmap.c - fuzz the block checksum map parser: maps are read
 * back from backup repositories, which may sit on a share, so untrusted.
 * Whatever it accepts must encode back to the very same bytes; anything
 * else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blockmap *m = NULL;
	void *again;
	size_t len;

	if (blockmap_decode(data, size, &m, NULL) < 0)
		return 0;
	again = blockmap_encode(m, &len);
	if (len != size || memcmp(again, data, size) != 0)
		abort();
	free(again);
	blockmap_free(m);
	return 0;
}
