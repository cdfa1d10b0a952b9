/* ws.h - the WebSocket opening handshake (RFC 6455 section 4.2), pure:
 * checks an upgrade request's headers and computes Sec-WebSocket-Accept.
 * The frames themselves are wslay's (vnc.c). */
#pragma once

#include <stdbool.h>

#include "err.h"

#define WS_ACCEPT_LEN 29	/* base64 of a SHA-1, and the NUL */

/* What an upgrade request says; a header absent is NULL. */
struct ws_request {
	const char *method;
	const char *upgrade;		/* Upgrade */
	const char *connection;		/* Connection */
	const char *version;		/* Sec-WebSocket-Version */
	const char *key;		/* Sec-WebSocket-Key */
	const char *protocol;		/* Sec-WebSocket-Protocol */
};

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + the RFC's GUID)). */
void ws_accept_key(const char *key, char out[WS_ACCEPT_LEN]);
/* 0 and the accept value in out when rq is a WebSocket upgrade this server
 * takes (GET, version 13, a key of 16 bytes in base64, the subprotocol
 * "binary" offered or none); -EINVAL naming what is wrong otherwise. */
int ws_upgrade_check(const struct ws_request *rq, char out[WS_ACCEPT_LEN],
    struct err *err);
/* Whether token appears in the comma-separated header list (ASCII case
 * ignored, spaces around items ignored). */
bool ws_list_has(const char *list, const char *token);
/* A browser's Origin names the host it was served from: "https://HOST"
 * with HOST exactly the Host header (case ignored).  A WebSocket cannot
 * carry the CSRF header, so this is its CSRF check. */
bool ws_origin_ok(const char *origin, const char *host);
