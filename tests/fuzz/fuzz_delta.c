/* fuzz_delta.c - fuzz the delta stream reader: the replica host reads
 * streams a primary sent, so untrusted.  Whatever frames it yields must
 * keep its promises (in order, inside the disk, data of the stated
 * length whose checksum matches); anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <xxhash.h>

#include "delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
frame_check(const struct delta_header *h, const struct delta_frame *f,
    uint64_t *next)
{
	if (f->offset < *next || f->length == 0 ||
	    f->offset + f->length > h->disk_size)
		abort();
	if (f->type == DELTA_DATA && (f->length > DELTA_DATA_MAX ||
	    XXH3_64bits(f->data, f->length) != f->data_sum))
		abort();
	*next = f->offset + f->length;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct delta_reader *r = delta_reader_new_mem(data, size);
	struct delta_header h;
	struct delta_frame f;
	uint64_t next = 0;
	int c;

	if (delta_read_header(r, &h, NULL) == 0) {
		while ((c = delta_next(r, &f, NULL)) > 0)
			frame_check(&h, &f, &next);
		if (c == 0 && delta_reader_stats(r)->stream_bytes != size)
			abort();
	}
	delta_reader_free(r);
	return 0;
}
