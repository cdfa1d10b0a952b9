/* wsc.h - the client's half of the WebSocket opening handshake (RFC 6455
 * section 4.1), pure: a key, the upgrade request, and the server's answer
 * header parsed.  Shared by the CLI (`tern vm vnc --listen`) and ternd's
 * peer tunnels (src/peer/tunnel.c), which both write the request and read
 * the answer by hand on a libcurl CONNECT_ONLY connection (Debian 12's
 * libcurl has no WebSocket support).  The frames are the caller's. */
#pragma once

#include <stddef.h>

#define WSC_KEY_LEN 25		/* 24 base64 characters and the NUL */
#define WSC_HEAD_MAX (16 * 1024)	/* an answer header longer fails */

/* 16 random bytes in base64: a Sec-WebSocket-Key. */
void wsc_key(char out[WSC_KEY_LEN]);
/* The GET upgrading path on host (the Host header) to a WebSocket with
 * subprotocol "binary" (caller frees). */
char *wsc_request(const char *path, const char *host, const char *key);

/* The server's answer to the upgrade, from its first bytes. */
struct wsc_answer {
	int status;		/* 101 when upgraded */
	size_t head_len;	/* bytes up to and with the blank line */
	size_t body_len;	/* Content-Length (0 for a 101 or none) */
};
/* Parse the len bytes at buf (need not be NUL-terminated): 0 and *ret
 * once the header is complete, -EAGAIN while more is needed, -EPROTO when
 * it is no HTTP/1.x status line, is over WSC_HEAD_MAX or a Content-Length
 * is not a number below WSC_HEAD_MAX * 64. */
int wsc_answer_parse(const char *buf, size_t len, struct wsc_answer *ret);
