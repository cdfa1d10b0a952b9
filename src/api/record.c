/* record.c - the test-only recorder of API answers: with TERN_API_RECORD=FILE
 * in ternd's environment, every answer appends one JSON line to FILE
 * (tests/openapi/validate.py checks them against docs/openapi.yaml).  Off,
 * it costs one branch per answer; it never fails a request. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

#define RECORD_MAX_BODY (64 * 1024)

static int record_fd = -2;	/* -2: not looked at yet, -1: off */

static void
record_open(void)
{
	const char *path = getenv("TERN_API_RECORD");

	record_fd = -1;
	if (path && path[0])
		record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600);
}

/* One line {method, path, route, status, content_type[, body]}: the body when
 * it is JSON of at most 64 KiB; written with one write() to an O_APPEND
 * file, so the lab's ternds can share FILE. */
static void
record_line(const struct http_req *req, unsigned status, const char *ct,
    const char *body)
{
	size_t len = body ? strlen(body) : 0;
	json_t *o = json_pack("{ss ss so si ss}", "method", req->method,
	    "path", req->url, "route", req->route ? json_string(req->route) :
	    json_null(), "status", (int)status, "content_type", ct ? ct : "");
	char *s;

	if (body && len <= RECORD_MAX_BODY &&
	    streq(ct, "application/json")) {
		json_t *b = json_loadb(body, len, JSON_DECODE_ANY, NULL);

		json_object_set_new(o, b ? "body" : "body_invalid",
		    b ? b : json_true());
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return;
	len = strlen(s);
	s[len] = '\n';	/* json_dumps' NUL, replaced: written by length */
	(void)!write(record_fd, s, len + 1);
	free(s);
}

void
http_record(const struct http_req *req, unsigned status, const char *ct,
    const char *body)
{
	if (record_fd == -2)
		record_open();
	if (record_fd >= 0)
		record_line(req, status, ct, body);
}
