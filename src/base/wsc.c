/* wsc.c - the client's WebSocket opening handshake (see wsc.h).  Reads
 * only the bytes it is given: the fuzz target fuzz_wsc drives it, since
 * the answer comes from another host. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "util.h"
#include "wsc.h"

void
wsc_key(char out[WSC_KEY_LEN])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t k[18] = { 0 };	/* two zero bytes pad the last group */

	if (getrandom(k, 16, 0) != 16)
		memset(k, 0x5a, 16);
	for (int i = 0; i < 6; i++) {
		uint32_t v = (uint32_t)k[3 * i] << 16 | k[3 * i + 1] << 8 |
		    k[3 * i + 2];

		for (int j = 0; j < 4; j++)
			out[4 * i + j] = b64[v >> (18 - 6 * j) & 63];
	}
	out[22] = out[23] = '=';
	out[24] = '\0';
}

char *
wsc_request(const char *path, const char *host, const char *key)
{
	return xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Protocol: binary\r\n"
	    "Accept: application/json\r\n\r\n", path, host, key);
}

/* The value of Content-Length in the header head (NUL-terminated), 0
 * when absent; -1 when it is not a plain number in bounds. */
static long
wsc_content_length(const char *head)
{
	const char *p = head;
	char *end;
	long v;

	while ((p = strstr(p, "\r\n")) && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, "Content-Length:", 15) != 0)
			continue;
		p += 15;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -1;
		v = strtol(p, &end, 10);
		if (v < 0 || v >= WSC_HEAD_MAX * 64L ||
		    (*end != '\r' && *end != ' ' && *end != '\t'))
			return -1;
		return v;
	}
	return 0;
}

int
wsc_answer_parse(const char *buf, size_t len, struct wsc_answer *ret)
{
	size_t n = MIN(len, (size_t)WSC_HEAD_MAX);
	_cleanup_free_ char *head = NULL;
	char *end;
	long cl;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) != 0)
		return -EPROTO;
	head = xmalloc(n + 1);
	memcpy(head, buf, n);
	head[n] = '\0';
	if (strlen(head) != n)
		return -EPROTO;	/* a NUL in a header */
	end = strstr(head, "\r\n\r\n");
	if (!end)
		return len >= WSC_HEAD_MAX ? -EPROTO : -EAGAIN;
	end[2] = '\0';	/* keep the last line's CRLF for the scan */
	if (strncmp(head, "HTTP/1.", 7) != 0 || head[7] == '\0' ||
	    head[8] != ' ' || head[9] < '1' || head[9] > '5' ||
	    head[10] < '0' || head[10] > '9' || head[11] < '0' ||
	    head[11] > '9')
		return -EPROTO;
	ret->status = (head[9] - '0') * 100 + (head[10] - '0') * 10 +
	    (head[11] - '0');
	ret->head_len = (size_t)(end - head) + 4;
	cl = ret->status == 101 ? 0 : wsc_content_length(head);
	if (cl < 0)
		return -EPROTO;
	ret->body_len = (size_t)cl;
	return 0;
}
