/* call.c - one request to a peer: checking its arguments, setting up its
 * easy handle, collecting the reply, and turning libcurl's outcome into a
 * status, a JSON body or a sentence in one place (call_curl_error).  Never
 * logs; never calls back from inside peer_call(). */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jsonutil.h"
#include "peer_internal.h"
#include "util.h"

#define MEASURE_MAX_ERROR_BODY (64 * 1024)	/* of a failed probe */

static void
call_free(struct peer_call *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->method);
	free(c->base);
	free(c->url);
	free(c->req);
	free(c->buf);
	free(c);
}

static void
call_freep(struct peer_call **c)
{
	if (*c)
		call_free(*c);
}

/* Out of pc->calls and pc->multi: from here on nothing of curl's can
 * reach c, and curl forgets any message about it. */
static void
call_unlink(struct peer_call *c)
{
	struct peer_client *pc = c->pc;

	if (c->prev)
		c->prev->next = c->next;
	else
		pc->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	(void)curl_multi_remove_handle(pc->multi, c->easy);
}

void
peer_call_drop(struct peer_call *c)
{
	call_unlink(c);
	call_free(c);
}

struct peer_call *
peer_call_cancel(struct peer_call *c)
{
	/* A firing call is already out of the client; its dispatcher frees
	 * it once its callback returns. */
	if (c && !c->firing)
		peer_call_drop(c);
	return NULL;
}

static bool
method_is_valid(const char *m)
{
	size_t n = m ? strlen(m) : 0;

	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

/* A path goes into the request line as is: no spaces, no controls. */
static bool
path_is_valid(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* A call with its arguments checked and copied; NULL when one is bad. */
static struct peer_call *
call_new(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *method, const char *path,
    uint64_t timeout_ms)
{
	_cleanup_(call_freep) struct peer_call *c = xzalloc(sizeof(*c));
	size_t n;

	if (!base_url || strncasecmp(base_url, "https://", 8) != 0 ||
	    strlen(base_url) > 1024 || !method_is_valid(method) ||
	    !path_is_valid(path) || timeout_ms == 0 ||
	    tls_pin_from_fingerprint(fingerprint, c->pin, sizeof(c->pin)) < 0)
		return NULL;
	c->pc = pc;
	c->out_fd = -1;
	snprintf(c->fingerprint, sizeof(c->fingerprint), "%s", fingerprint);
	c->method = xstrdup(method);
	c->base = xstrdup(base_url);
	n = strlen(c->base);
	while (n > 8 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	c->url = xasprintf("%s%s", c->base, path);
	c->timeout_ms = MIN(timeout_ms, (uint64_t)LONG_MAX);
	return TAKE_PTR(c);
}

static size_t
call_on_reply_data(char *p, size_t size, size_t n, void *data)
{
	struct peer_call *c = data;
	size_t len = size * n;

	if (c->len + len > PEER_MAX_REPLY) {
		c->too_big = true;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	c->buf = xrealloc(c->buf, c->len + len + 1);
	memcpy(c->buf + c->len, p, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return len;
}

/* Every byte of p to fd; false on a write error. */
static bool
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

/* A probe's data is counted and dropped (a download's written to its
 * file); an error answer is kept (up to
 * a limit) for its message. */
static size_t
call_on_probe_data(char *p, size_t size, size_t n, void *data)
{
	struct peer_call *c = data;
	size_t len = size * n;
	long status = 0;

	(void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		if (c->len + len <= MEASURE_MAX_ERROR_BODY)
			return call_on_reply_data(p, size, n, data);
		return len;
	}
	if (c->got + len > c->want) {
		c->too_big = true;
		return 0;
	}
	if (c->out_fd >= 0 && !write_all(c->out_fd, p, len))
		return 0;	/* CURLE_WRITE_ERROR */
	c->got += len;
	return len;
}

/* Method and body.  POSTFIELDS carries any body; another method with a
 * body is a POST renamed. */
static CURLcode
call_setup_method(struct peer_call *c)
{
	CURL *e = c->easy;
	CURLcode rc = CURLE_OK;

	if (c->req || streq(c->method, "POST")) {
		rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(c->req ? strlen(c->req) : 0));
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS,
			    c->req ? c->req : "");
	}
	if (rc == CURLE_OK && !streq(c->method, "GET") &&
	    !streq(c->method, "POST"))
		rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
	return rc;
}

static CURLcode
call_setup_headers(struct peer_call *c)
{
	struct curl_slist *h = curl_slist_append(NULL,
	    "Accept: application/json");

	/* no 100-continue round trip; an empty value drops curl's default
	 * form content type */
	if (h)
		h = curl_slist_append(h, "Expect:");
	if (h)
		h = curl_slist_append(h, c->req ?
		    "Content-Type: application/json" : "Content-Type:");
	if (!h)
		return CURLE_OUT_OF_MEMORY;
	c->headers = h;
	return curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, h);
}

/* Every option; any refusal is fatal (the TLS ones carry the trust). */
static CURLcode
call_setup(struct peer_call *c)
{
	CURL *e = c->easy;
	bool probe = c->measure_fn != NULL;
	CURLcode rc = peer_client_setup_easy(c->pc, e, c->pin);

	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	/* ternd talks to peers directly, whatever https_proxy says */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	/* A download may run long, but not stall: a dead link ends it in
	 * PEER_STALL_S instead of at its (hour-long) timeout, so that the
	 * job waiting for it fails and the next attempt can start. */
	if (c->out_fd >= 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)PEER_STALL_S);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe ?
	    call_on_probe_data : call_on_reply_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	if (!probe)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)PEER_MAX_REPLY);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_URL, c->url);
	if (rc == CURLE_OK)
		rc = call_setup_method(c);
	if (rc == CURLE_OK)
		rc = call_setup_headers(c);
	return rc;
}

/* Set up c (taken) and put it in flight. */
static int
call_start(struct peer_call *c, struct peer_call **ret)
{
	_cleanup_(call_freep) struct peer_call *owned = c;
	struct peer_client *pc = c->pc;

	c->easy = curl_easy_init();
	if (!c->easy)
		return -ENOMEM;
	if (call_setup(c) != CURLE_OK)
		return -ENOTSUP;
	/* curl only asks for a timer here; the transfer starts from the
	 * loop, so fn cannot run before peer_call() returns. */
	if (curl_multi_add_handle(pc->multi, c->easy) != CURLM_OK)
		return -ENOMEM;
	c->next = pc->calls;
	if (pc->calls)
		pc->calls->prev = c;
	pc->calls = TAKE_PTR(owned);
	if (ret)
		*ret = c;
	return 0;
}

int
peer_call(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *method, const char *path,
    json_t *body, uint64_t timeout_ms, peer_reply_fn fn, void *data,
    struct peer_call **ret)
{
	struct peer_call *c = call_new(pc, base_url, fingerprint, method, path,
	    timeout_ms);

	assert(fn);
	if (!c) {
		json_decref(body);
		return -EINVAL;
	}
	if (body)
		c->req = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(body);
	if (body && !c->req) {
		call_free(c);
		return -ENOMEM;
	}
	c->reply_fn = fn;
	c->data = data;
	return call_start(c, ret);
}

int
peer_get_bytes(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *path, uint64_t timeout_ms,
    peer_bytes_fn fn, void *data, struct peer_call **ret)
{
	struct peer_call *c = call_new(pc, base_url, fingerprint, "GET", path,
	    timeout_ms);

	assert(fn);
	if (!c)
		return -EINVAL;
	c->bytes_fn = fn;
	c->data = data;
	return call_start(c, ret);
}

int
peer_measure(struct peer_client *pc, const char *base_url,
    const char *fingerprint, uint64_t bytes, uint64_t timeout_ms,
    peer_measure_fn fn, void *data, struct peer_call **ret)
{
	char path[64];
	struct peer_call *c;

	assert(fn);
	if (bytes < 1 || bytes > PEER_MEASURE_MAX_BYTES)
		return -EINVAL;
	snprintf(path, sizeof(path), "/v1/link-probe/%llu",
	    (unsigned long long)bytes);
	c = call_new(pc, base_url, fingerprint, "GET", path, timeout_ms);
	if (!c)
		return -EINVAL;
	c->measure_fn = fn;
	c->data = data;
	c->want = bytes;
	return call_start(c, ret);
}

int
peer_download(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *path, int fd, uint64_t bytes,
    uint64_t timeout_ms, peer_measure_fn fn, void *data,
    struct peer_call **ret)
{
	struct peer_call *c;

	assert(fn);
	if (fd < 0 || bytes > PEER_DOWNLOAD_MAX_BYTES)
		return -EINVAL;
	c = call_new(pc, base_url, fingerprint, "GET", path, timeout_ms);
	if (!c)
		return -EINVAL;
	c->measure_fn = fn;
	c->data = data;
	c->want = bytes;
	c->out_fd = fd;
	return call_start(c, ret);
}

/* The one place where libcurl's codes become -errno and a sentence. */
static void
call_curl_error(struct peer_call *c, CURLcode rc, struct err *e)
{
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	long os_errno = 0;

	(void)curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		err_set(e, -ETIMEDOUT, "%s %s timed out after %llu ms",
		    c->method, c->url, (unsigned long long)c->timeout_ms);
		break;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		err_set(e, -EKEYREJECTED, "peer certificate does not match "
		    "the pinned fingerprint %s (at %s)", c->fingerprint,
		    c->base);
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		err_set(e, os_errno > 0 ? -(int)os_errno : -EHOSTUNREACH,
		    "cannot reach %s: %s", c->base, os_errno > 0 ?
		    strerror((int)os_errno) : why);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		err_set(e, -ECONNABORTED, "TLS with %s failed: %s", c->base,
		    why);
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (c->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
			err_set(e, -EFBIG, "the reply to %s %s is over %s",
			    c->method, c->url, c->measure_fn ?
			    "the bytes asked" : "4 MiB");
			break;
		}
		/* fall through */
	default:
		err_set(e, -EIO, "%s %s failed: %s", c->method, c->url, why);
	}
}

static void
call_fire_bytes(struct peer_call *c, CURLcode rc, long status)
{
	const char *ct = NULL;
	struct err e = { 0 };

	if (rc != CURLE_OK) {
		call_curl_error(c, rc, &e);
		c->bytes_fn(0, NULL, NULL, 0, &e, c->data);
		return;
	}
	(void)curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
	c->bytes_fn(status, ct, c->buf ? c->buf : "", c->len, NULL, c->data);
}

static void
call_fire_reply(struct peer_call *c, CURLcode rc, long status)
{
	_cleanup_json_ json_t *body = NULL;
	struct err e = { 0 };

	if (rc != CURLE_OK) {
		call_curl_error(c, rc, &e);
		c->reply_fn(0, NULL, &e, c->data);
		return;
	}
	if (c->len > 0)
		body = json_loadb(c->buf, c->len, 0, NULL);
	c->reply_fn(status, body, NULL, c->data);
}

/* An HTTP error: the server's {"error": {"message"}}, if it sent one. */
static void
call_status_error(struct peer_call *c, long status, struct err *e)
{
	_cleanup_json_ json_t *v = NULL;
	const char *msg = NULL;

	if (c->len > 0)
		v = json_loadb(c->buf, c->len, 0, NULL);
	msg = json_string_value(json_object_get(json_object_get(v, "error"),
	    "message"));
	err_set(e, -EPROTO, "%s of %s answered HTTP %ld: %s", c->out_fd >= 0 ?
	    "download" : "link probe", c->base,
	    status, msg ? msg : "(no message)");
}

static void
call_fire_measure(struct peer_call *c, CURLcode rc, long status)
{
	curl_off_t total = 0, handshake = 0;
	struct err e = { 0 };
	uint64_t usec = 0;

	if (rc != CURLE_OK)
		call_curl_error(c, rc, &e);
	else if (status != 200)
		call_status_error(c, status, &e);
	else if (c->got != c->want)
		err_set(&e, -EPROTO, "%s of %s ended after %llu of "
		    "%llu bytes", c->out_fd >= 0 ? "download" : "link probe",
		    c->base, (unsigned long long)c->got,
		    (unsigned long long)c->want);
	if (!err_is_set(&e)) {
		(void)curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &total);
		(void)curl_easy_getinfo(c->easy, CURLINFO_APPCONNECT_TIME_T,
		    &handshake);
		usec = total > handshake ? (uint64_t)(total - handshake) : 0;
	}
	c->measure_fn(c->got, usec, err_is_set(&e) ? &e : NULL, c->data);
}

void
peer_call_fire(struct peer_call *c, CURLcode rc)
{
	long status = 0;

	call_unlink(c);
	c->firing = true;
	if (rc == CURLE_OK)
		(void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE,
		    &status);
	if (c->measure_fn)
		call_fire_measure(c, rc, status);
	else if (c->bytes_fn)
		call_fire_bytes(c, rc, status);
	else
		call_fire_reply(c, rc, status);
	call_free(c);
}
