/* http.c - tern's libcurl client for ternd's JSON API, over the local unix
 * socket or over mutual-TLS HTTPS where the pinned server key is the only
 * trust (no CA, no host name).  Never prints and never exits: every
 * failure, of the transport or of the request, becomes -errno and a
 * sentence in err, in http_curl_error() and http_status_error(). */
#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "http.h"
#include "jsonutil.h"
#include "util.h"
#include "wsc.h"


/* Invariant: curl is set up for one transport for the life of the client;
 * base + path is a request's URL. */
struct http {
	CURL *curl;
	struct curl_slist *hdr_body;	/* headers for a request with a body */
	struct curl_slist *hdr_none;	/* ... and for one without */
	char *base;			/* "http://ternd" or the https URL */
	const char *where;		/* socket path or URL, for messages */
	bool tls;
	bool curl_global;		/* curl_global_init() succeeded */
	volatile sig_atomic_t *interrupted;
	char errbuf[CURL_ERROR_SIZE];
	char pin[TLS_PIN_LEN];
};

/* An answer's body as it arrives; too_big when it passed the limit. */
struct answer {
	char *data;
	size_t len;
	bool too_big;
};

static void
http_freep(struct http **h)
{
	http_free(*h);
}

static size_t
http_on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct answer *a = userdata;
	size_t len = size * n;

	if (a->len + len > HTTP_MAX_ANSWER) {
		a->too_big = true;
		return 0;
	}
	a->data = xrealloc(a->data, a->len + len + 1);
	memcpy(a->data + a->len, p, len);
	a->len += len;
	a->data[a->len] = '\0';
	return len;
}

/* libcurl calls this about once a second even while nothing arrives, so
 * an interrupt abandons a transfer quickly. */
static int
http_on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct http *h = userdata;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return h->interrupted && *h->interrupted ? 1 : 0;
}

/* The client identity and the pin, checked before any connection so that
 * their problems are told as such rather than as a TLS failure. */
static int
http_check_tls(struct http *h, const struct http_conf *conf, struct err *err)
{
	const char *files[] = { conf->cert, conf->key };

	if (tls_pin_from_fingerprint(conf->fingerprint, h->pin,
	    sizeof(h->pin)) < 0)
		return err_set(err, -EINVAL, "invalid fingerprint '%s': "
		    "expected sha256: and 64 hex digits",
		    conf->fingerprint ? conf->fingerprint : "");
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		const char *what = i ? "key" : "certificate";

		if (!files[i])
			return err_set(err, -EINVAL, "no client %s given "
			    "(give --cert and --key)", what);
		if (access(files[i], R_OK) == -1)
			return err_set(err, -errno, "cannot read the client "
			    "%s '%s': %s; give --cert and --key", what,
			    files[i], strerror(errno));
	}
	return 0;
}

/* TLS options; any one libcurl refuses is fatal, since the pin is the
 * only thing that makes the connection trustworthy. */
static int
http_setup_tls(struct http *h, const struct http_conf *conf, struct err *err)
{
	CURL *c = h->curl;
	CURLcode rc;

	rc = curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->pin);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_SSLCERT, conf->cert);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_SSLKEY, conf->key);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	if (rc != CURLE_OK)
		return err_set(err, -ENOTSUP, "this libcurl cannot do pinned "
		    "mutual TLS: %s", curl_easy_strerror(rc));
	return 0;
}

static void
http_setup_common(struct http *h, const struct http_conf *conf)
{
	CURL *c = h->curl;

	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_data);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
	if (conf->user_agent)
		curl_easy_setopt(c, CURLOPT_USERAGENT, conf->user_agent);
	h->hdr_none = curl_slist_append(NULL, "Accept: application/json");
	/* An empty value removes curl's default form content type. */
	h->hdr_none = curl_slist_append(h->hdr_none, "Content-Type:");
	h->hdr_body = curl_slist_append(NULL, "Accept: application/json");
	h->hdr_body = curl_slist_append(h->hdr_body,
	    "Content-Type: application/json");
	h->hdr_body = curl_slist_append(h->hdr_body, "Expect:");
}

int
http_new(const struct http_conf *conf, struct http **ret_http,
    struct err *err)
{
	_cleanup_(http_freep) struct http *h = xzalloc(sizeof(*h));
	int r;

	h->tls = conf->url != NULL;
	h->where = h->tls ? conf->url : conf->socket_path;
	h->interrupted = conf->interrupted;
	if (h->tls && (r = http_check_tls(h, conf, err)) < 0)
		return r;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, -EIO, "cannot initialise libcurl");
	h->curl_global = true;
	h->curl = curl_easy_init();
	if (!h->curl)
		return err_set(err, -ENOMEM, "cannot initialise libcurl");
	http_setup_common(h, conf);
	if (!h->hdr_none || !h->hdr_body)
		return err_set(err, -ENOMEM, "out of memory");
	if (h->tls) {
		r = http_setup_tls(h, conf, err);
		if (r < 0)
			return r;
		h->base = xstrdup(conf->url);
		while (*h->base && h->base[strlen(h->base) - 1] == '/')
			h->base[strlen(h->base) - 1] = '\0';
	} else {
		curl_easy_setopt(h->curl, CURLOPT_UNIX_SOCKET_PATH,
		    conf->socket_path);
		curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http");
		h->base = xstrdup("http://ternd");
	}
	*ret_http = TAKE_PTR(h);
	return 0;
}

struct http *
http_free(struct http *h)
{
	if (!h)
		return NULL;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->hdr_none);
	curl_slist_free_all(h->hdr_body);
	if (h->curl_global)
		curl_global_cleanup();
	free(h->base);
	free(h);
	return NULL;
}

char *
http_escape(struct http *h, const char *s)
{
	char *e = curl_easy_escape(h->curl, s, 0);
	char *copy;

	if (!e)
		return xstrdup("");
	copy = xstrdup(e);
	curl_free(e);
	return copy;
}

/* Hints for a local socket that cannot be reached. */
static const char *
http_socket_hint(long os_errno)
{
	if (os_errno == EACCES || os_errno == EPERM)
		return " (the socket is root's; run tern as root)";
	return " (is ternd running?)";
}

/* The one place where libcurl's codes become -errno and a sentence. */
static int
http_curl_error(struct http *h, CURLcode rc, struct err *err)
{
	const char *reason = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
	long os_errno = 0;

	(void)curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return err_set(err, -EINTR, "interrupted");
	case CURLE_OPERATION_TIMEDOUT:
		return err_set(err, -ETIMEDOUT, "ternd at %s did not answer "
		    "in time: %s", h->where, reason);
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return err_set(err, -EPERM, "the host at %s does not have the "
		    "key of the given fingerprint; check --fingerprint "
		    "against 'tern host info' on that host", h->where);
	case CURLE_SSL_CONNECT_ERROR:
		return err_set(err, -ECONNABORTED, "TLS with %s failed: %s "
		    "(does that host trust this one? see 'tern peer add')",
		    h->where, reason);
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		if (os_errno > 0)
			reason = strerror(os_errno);
		return err_set(err, os_errno > 0 ? -os_errno : -EHOSTUNREACH,
		    "cannot reach ternd at %s: %s%s", h->where, reason,
		    h->tls ? "" : http_socket_hint(os_errno));
	default:
		return err_set(err, -EIO, "cannot talk to ternd at %s: %s",
		    h->where, reason);
	}
}

/* The one place where HTTP statuses become -errno; the inverse of the
 * daemon's errno-to-status table in api/. */
static int
http_status_errno(long status)
{
	switch (status) {
	case 400: return -EINVAL;
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 405: return -EOPNOTSUPP;
	case 409: return -EBUSY;
	case 413: return -E2BIG;
	case 507: return -ENOSPC;
	case 500: return -EIO;
	default:  return -EPROTO;
	}
}

/* A non-2xx answer: {"error": {"code", "message"}}, message verbatim. */
static int
http_status_error(long status, const struct answer *a, struct err *err)
{
	_cleanup_json_ json_t *v = NULL;
	const char *msg;

	if (a->len > 0)
		v = json_loadb(a->data, a->len, 0, NULL);
	msg = json_string_value(json_object_get(json_object_get(v, "error"),
	    "message"));
	if (msg && *msg)
		return err_set(err, http_status_errno(status), "%s", msg);
	return err_set(err, http_status_errno(status), "ternd answered HTTP "
	    "%ld without saying why", status);
}

static int
http_parse_answer(const char *method, const char *path,
    const struct answer *a, json_t **ret_answer, struct err *err)
{
	json_error_t je = { .text = "out of memory" };
	json_t *v;

	if (a->len == 0)
		v = json_object();
	else
		v = json_loadb(a->data, a->len, 0, &je);
	if (!v)
		return err_set(err, -EPROTO, "malformed answer from ternd to "
		    "%s %s: %s", method, path, je.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return err_set(err, -EPROTO, "malformed answer from ternd to "
		    "%s %s: not a JSON object", method, path);
	}
	*ret_answer = v;
	return 0;
}

/* Method and body for the next transfer on the reused handle: every
 * option a previous request may have set is set again. */
static void
http_prepare(struct http *h, const char *method, const char *req)
{
	CURL *c = h->curl;

	if (streq(method, "POST") || (req && streq(method, "PUT"))) {
		/* POSTFIELDS carries the body; a PUT is a POST renamed. */
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req ? req : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
		    (long)(req ? strlen(req) : 0));
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
		    streq(method, "PUT") ? "PUT" : NULL);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
		    streq(method, "GET") ? NULL : method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER,
	    req ? h->hdr_body : h->hdr_none);
}

/* One transfer; its answer in a (the caller frees a->data).  0 on a 2xx,
 * else -errno with err set. */
static int
http_transfer(struct http *h, const char *method, const char *path,
    const json_t *body, struct answer *a, struct err *err)
{
	_cleanup_free_ char *url = xasprintf("%s%s", h->base, path);
	_cleanup_free_ char *req = body ? json_to_string(body) : NULL;
	long status = 0;
	CURLcode rc;

	http_prepare(h, method, req);
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, a);
	h->errbuf[0] = '\0';
	rc = curl_easy_perform(h->curl);
	if (rc == CURLE_OK)
		(void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE,
		    &status);
	if (rc == CURLE_WRITE_ERROR && a->too_big)
		return err_set(err, -EFBIG, "ternd's answer to %s %s is over "
		    "%d bytes", method, path, HTTP_MAX_ANSWER);
	if (rc != CURLE_OK)
		return http_curl_error(h, rc, err);
	if (status < 200 || status > 299)
		return http_status_error(status, a, err);
	return 0;
}

int
http_get_bytes(struct http *h, const char *path, char **ret_data,
    size_t *ret_len, struct err *err)
{
	struct answer a = { 0 };
	int r = http_transfer(h, "GET", path, NULL, &a, err);

	if (r < 0) {
		free(a.data);
		return r;
	}
	*ret_data = a.data ? a.data : xstrdup("");
	*ret_len = a.len;
	return 0;
}

int
http_call(struct http *h, const char *method, const char *path,
    const json_t *body, json_t **ret_answer, struct err *err)
{
	struct answer a = { 0 };
	int r = http_transfer(h, method, path, body, &a, err);

	if (r == 0)
		r = http_parse_answer(method, path, &a, ret_answer, err);
	free(a.data);
	return r;
}

/* ---- a raw byte tunnel for a WebSocket (tern vm vnc) ----
 *
 * Debian 12's libcurl (7.88) is built without WebSocket support, so the
 * tunnel is a CONNECT_ONLY transfer on a copy of the client's handle (the
 * same socket or pinned mutual TLS), the upgrade request written and its
 * answer read by hand; the frames are the caller's (wslay). */
struct http_tunnel {
	struct http *h;
	CURL *curl;
	int fd;
	char *pending;		/* bytes read past the 101's header */
	size_t n_pending, off;
};

static int
tunnel_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, timeout_ms);
}

static int
tunnel_send_all(struct http_tunnel *t, const char *buf, size_t len,
    struct err *err)
{
	while (len > 0) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(t->curl, buf, len, &n);

		if (rc == CURLE_AGAIN) {
			(void)tunnel_wait(t->fd, POLLOUT, 1000);
			continue;
		}
		if (rc != CURLE_OK)
			return err_set(err, -EIO, "cannot send to ternd at "
			    "%s: %s", t->h->where, curl_easy_strerror(rc));
		buf += n;
		len -= n;
	}
	return 0;
}

/* Read the answer's header (and, for an error, its body) into a; the
 * header's length in *ret_head.  wsc_answer_parse() (shared with ternd's
 * peer tunnels) says where the header ends. */
static int
tunnel_read_head(struct http_tunnel *t, struct answer *a, size_t *ret_head,
    struct err *err)
{
	char buf[4096];
	struct wsc_answer w = { 0 };
	int r = -EAGAIN;
	uint64_t until = now_ms() + HTTP_TIMEOUT_MS;

	while (r == -EAGAIN || (r == 0 && a->len < w.head_len + w.body_len)) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(t->curl, buf, sizeof(buf), &n);

		if (rc == CURLE_AGAIN) {
			if (now_ms() > until)
				return err_set(err, -ETIMEDOUT, "ternd at %s "
				    "did not answer in time", t->h->where);
			(void)tunnel_wait(t->fd, POLLIN, 1000);
			continue;
		}
		if (rc != CURLE_OK || n == 0)
			break;	/* closed: what came is the answer */
		(void)http_on_data(buf, 1, n, a);
		r = wsc_answer_parse(a->data, a->len, &w);
		if (r == 0 && w.status == 101)
			break;
	}
	if (r == -EPROTO)
		return err_set(err, -EPROTO, "ternd's answer header is not "
		    "HTTP or too long");
	if (r != 0)
		return err_set(err, -EPROTO, "ternd at %s closed the "
		    "connection without an answer", t->h->where);
	*ret_head = w.head_len;
	return 0;
}

/* The upgrade's answer: 101, or the error the server gave. */
static int
tunnel_answer(struct http_tunnel *t, struct err *err)
{
	struct answer a = { 0 };
	size_t head = 0;
	int r = tunnel_read_head(t, &a, &head, err);

	if (r == 0 && strncmp(a.data, "HTTP/1.1 101", 12) != 0) {
		char *body = strstr(a.data, "\r\n\r\n") + 4;
		struct answer b = { .data = body, .len = strlen(body) };

		r = http_status_error(strtol(a.data + 9, NULL, 10), &b, err);
	} else if (r == 0 && a.len > head) {
		t->n_pending = a.len - head;
		t->pending = xmalloc(t->n_pending);
		memcpy(t->pending, a.data + head, t->n_pending);
	}
	free(a.data);
	return r;
}

int
http_tunnel_open(struct http *h, const char *path,
    struct http_tunnel **ret, struct err *err)
{
	_cleanup_free_ char *url = xasprintf("%s%s", h->base, path);
	struct http_tunnel *t = xzalloc(sizeof(*t));
	_cleanup_free_ char *req = NULL;
	const char *host = strstr(h->base, "://") + 3;
	curl_socket_t s = CURL_SOCKET_BAD;
	char key[WSC_KEY_LEN];
	CURLcode rc;
	int r;

	*t = (struct http_tunnel){ .h = h, .fd = -1 };
	t->curl = curl_easy_duphandle(h->curl);
	if (!t->curl) {
		free(t);
		return err_set(err, -ENOMEM, "cannot copy the libcurl handle");
	}
	curl_easy_setopt(t->curl, CURLOPT_URL, url);
	curl_easy_setopt(t->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, 0L);
	h->errbuf[0] = '\0';
	rc = curl_easy_perform(t->curl);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(t->curl, CURLINFO_ACTIVESOCKET, &s);
	if (rc != CURLE_OK) {
		http_tunnel_free(t);
		return http_curl_error(h, rc, err);
	}
	t->fd = (int)s;
	wsc_key(key);
	req = wsc_request(path, host, key);
	if ((r = tunnel_send_all(t, req, strlen(req), err)) < 0 ||
	    (r = tunnel_answer(t, err)) < 0) {
		http_tunnel_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int
http_tunnel_fd(const struct http_tunnel *t)
{
	return t->fd;
}

ssize_t
http_tunnel_recv(struct http_tunnel *t, void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc;

	if (t->off < t->n_pending) {
		n = MIN(len, t->n_pending - t->off);
		memcpy(buf, t->pending + t->off, n);
		t->off += n;
		return (ssize_t)n;
	}
	rc = curl_easy_recv(t->curl, buf, len, &n);
	if (rc == CURLE_AGAIN)
		return -EAGAIN;
	return rc == CURLE_OK ? (ssize_t)n : -EIO;
}

ssize_t
http_tunnel_send(struct http_tunnel *t, const void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc = curl_easy_send(t->curl, buf, len, &n);

	if (rc == CURLE_AGAIN)
		return -EAGAIN;
	return rc == CURLE_OK ? (ssize_t)n : -EIO;
}

struct http_tunnel *
http_tunnel_free(struct http_tunnel *t)
{
	if (!t)
		return NULL;
	if (t->curl)
		curl_easy_cleanup(t->curl);
	free(t->pending);
	free(t);
	return NULL;
}
