/* ws.c - the WebSocket opening handshake, pure (see ws.h).  Reads only the
 * strings it is given: the fuzz target fuzz_ws drives it. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "util.h"
#include "ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
ws_accept_key(const char *key, char out[WS_ACCEPT_LEN])
{
	uint8_t dg[SHA1_DIGEST_SIZE];
	struct sha1_ctx ctx;

	sha1_init(&ctx);
	sha1_update(&ctx, strlen(key), (const uint8_t *)key);
	sha1_update(&ctx, strlen(WS_GUID), (const uint8_t *)WS_GUID);
	sha1_digest(&ctx, sizeof(dg), dg);
	base64_encode_raw(out, sizeof(dg), dg);	/* 28 characters */
	out[WS_ACCEPT_LEN - 1] = '\0';
}

bool
ws_list_has(const char *list, const char *token)
{
	size_t n = strlen(token);

	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		while (len > 0 && (*list == ' ' || *list == '\t'))
			list++, len--;
		while (len > 0 && (list[len - 1] == ' ' ||
		    list[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(list, token, n) == 0)
			return true;
		list = end ? end + 1 : NULL;
	}
	return false;
}

/* A key is 16 bytes in base64: 22 characters of the alphabet and "==". */
static bool
ws_key_ok(const char *key)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";

	if (strlen(key) != 24 || strcmp(key + 22, "==") != 0)
		return false;
	return strspn(key, b64) == 22;
}

int
ws_upgrade_check(const struct ws_request *rq, char out[WS_ACCEPT_LEN],
    struct err *err)
{
	if (!rq->method || strcmp(rq->method, "GET") != 0)
		return err_set(err, -EINVAL, "a WebSocket opens with GET");
	if (!ws_list_has(rq->upgrade, "websocket") ||
	    !ws_list_has(rq->connection, "upgrade"))
		return err_set(err, -EINVAL, "this path is a WebSocket: send "
		    "'Connection: Upgrade' and 'Upgrade: websocket'");
	if (!rq->version || strcmp(rq->version, "13") != 0)
		return err_set(err, -EINVAL, "Sec-WebSocket-Version must be "
		    "13");
	if (!rq->key || !ws_key_ok(rq->key))
		return err_set(err, -EINVAL, "Sec-WebSocket-Key must be 16 "
		    "bytes in base64");
	if (rq->protocol && !ws_list_has(rq->protocol, "binary"))
		return err_set(err, -EINVAL, "the only WebSocket subprotocol "
		    "is 'binary'");
	ws_accept_key(rq->key, out);
	return 0;
}

bool
ws_origin_ok(const char *origin, const char *host)
{
	if (!origin || !host || strncasecmp(origin, "https://", 8) != 0)
		return false;
	return *host && strcasecmp(origin + 8, host) == 0;
}
