/* fuzz_ws.c - fuzz the WebSocket upgrade check (src/api/ws.c) with what a
 * client sends: the input's lines are the method, Upgrade, Connection,
 * Sec-WebSocket-Version, Sec-WebSocket-Key, Sec-WebSocket-Protocol,
 * Origin and Host headers, in that order (missing lines: absent headers),
 * and the VNC path check of the access decision on the method line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *f[8] = { 0 }, *p;
	char out[WS_ACCEPT_LEN];
	struct ws_request rq;
	size_t n = 0;

	memcpy(buf, data, size);
	buf[size] = '\0';
	for (p = buf; p && n < 8; n++) {
		f[n] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
	}
	rq = (struct ws_request){ .method = f[0], .upgrade = f[1],
		.connection = f[2], .version = f[3], .key = f[4],
		.protocol = f[5] };
	if (ws_upgrade_check(&rq, out, NULL) == 0 && strlen(out) != 28)
		abort();
	(void)ws_origin_ok(f[6], f[7]);
	(void)access_is_vnc(f[0]);
	free(buf);
	return 0;
}
