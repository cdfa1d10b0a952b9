/* fuzz_wsc.c - fuzz the parser of a WebSocket upgrade's answer
 * (src/base/wsc.c), which reads what a peer ternd (or, for the CLI, any
 * server) sends back: every prefix must parse or ask for more, never read
 * past the bytes given. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so that ASan sees any overread */
	char *buf = malloc(size ? size : 1);
	struct wsc_answer w;
	int r;

	memcpy(buf, data, size);
	r = wsc_answer_parse(buf, size, &w);
	if (r == 0 && (w.head_len > size || w.status < 100 || w.status > 599))
		abort();
	if (r != 0 && r != -EAGAIN && r != -EPROTO)
		abort();
	free(buf);
	return 0;
}
