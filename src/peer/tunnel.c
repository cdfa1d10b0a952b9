/* tunnel.c - a WebSocket to a peer (see peer.h peer_tunnel_open): a
 * CONNECT_ONLY libcurl transfer, the upgrade written and answered by hand.
 *
 *   open --curl: TCP+TLS done--> REQUEST --request sent--> ANSWER
 *   ANSWER --101--> fn(101): OPEN (the caller's)
 *   any step --failure, timeout, other status--> fn(error), freed
 *
 * Each tunnel has a multi handle of its own rather than the client's:
 * once its transfer is done, libcurl counts a CONNECT_ONLY connection as
 * idle in its multi's cache, and another transfer of that multi would
 * close it as "dead" after CURLOPT_MAXAGE_CONN (118 s) - a console left
 * open longer would drop.  Alone in its multi, nothing prunes it.  The
 * connection stays in that multi (removing the handle closes it); after
 * the connect phase the socket is watched here, not by curl. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonutil.h"
#include "peer_internal.h"
#include "util.h"
#include "wsc.h"

enum tunnel_state { T_CONNECT, T_REQUEST, T_ANSWER, T_OPEN };

struct peer_tunnel {
	struct peer_client *pc;
	CURLM *multi;
	CURL *easy;
	struct loop_timer *curl_timer, *deadline;
	enum tunnel_state state;
	int fd;			/* once connected */
	bool watched;		/* a loop watch on fd is ours */
	char pin[TLS_PIN_LEN];
	char *base, *req;
	size_t req_off;
	char *ans;		/* the answer so far (NUL-terminated) */
	size_t ans_len, ans_off;	/* ans_off: bytes past 101 handed */
	size_t head_len;	/* of the 101 */
	peer_tunnel_fn fn;
	void *data;
	char errbuf[CURL_ERROR_SIZE];
};

struct peer_tunnel *
peer_tunnel_free(struct peer_tunnel *t)
{
	if (!t)
		return NULL;
	if (t->watched)
		loop_del_fd(t->pc->loop, t->fd);
	t->curl_timer = loop_timer_cancel(t->pc->loop, t->curl_timer);
	t->deadline = loop_timer_cancel(t->pc->loop, t->deadline);
	if (t->easy) {
		(void)curl_multi_remove_handle(t->multi, t->easy);
		curl_easy_cleanup(t->easy);
	}
	if (t->multi)
		curl_multi_cleanup(t->multi);
	free(t->base);
	free(t->req);
	free(t->ans);
	free(t);
	return NULL;
}

/* The end of the handshake that failed: tell, then free. */
static void
tunnel_fail(struct peer_tunnel *t, long status, const struct err *e)
{
	t->fn(t, status, e, t->data);
	peer_tunnel_free(t);
}

static void
tunnel_fail_msg(struct peer_tunnel *t, int code, const char *msg)
{
	struct err e = { 0 };

	err_set(&e, code, "WebSocket to %s: %s", t->base, msg);
	tunnel_fail(t, 0, &e);
}

static void
tunnel_on_deadline(struct loop *l, void *data)
{
	struct peer_tunnel *t = data;

	(void)l;
	t->deadline = NULL;
	tunnel_fail_msg(t, -ETIMEDOUT, "the peer did not answer in time");
}

/* A non-101 answer: its status and {"error": {"message"}}. */
static void
tunnel_refused(struct peer_tunnel *t, const struct wsc_answer *w)
{
	_cleanup_json_ json_t *v = json_loadb(t->ans + w->head_len,
	    t->ans_len - w->head_len, 0, NULL);
	const char *msg = json_string_value(json_object_get(
	    json_object_get(v, "error"), "message"));
	struct err e = { 0 };

	err_set(&e, w->status == 404 ? -ENOENT : -EPROTO, "%s", msg ? msg :
	    "the peer refused the WebSocket");
	tunnel_fail(t, w->status, &e);
}

/* Read the answer; true once the tunnel is over (opened or failed). */
static bool
tunnel_read_answer(struct peer_tunnel *t)
{
	struct wsc_answer w = { 0 };
	char buf[4096];
	size_t n = 0;
	CURLcode rc;
	int r;

	for (;;) {
		rc = curl_easy_recv(t->easy, buf, sizeof(buf), &n);
		if (rc == CURLE_AGAIN)
			return false;
		if (rc != CURLE_OK || n == 0 ||
		    t->ans_len + n > WSC_HEAD_MAX * 4) {
			tunnel_fail_msg(t, -EPROTO, "no answer to the upgrade");
			return true;
		}
		t->ans = xrealloc(t->ans, t->ans_len + n + 1);
		memcpy(t->ans + t->ans_len, buf, n);
		t->ans_len += n;
		t->ans[t->ans_len] = '\0';
		r = wsc_answer_parse(t->ans, t->ans_len, &w);
		if (r == -EPROTO) {
			tunnel_fail_msg(t, -EPROTO, "the answer is not HTTP");
			return true;
		}
		if (r == 0 && w.status == 101)
			break;
		if (r == 0 && t->ans_len >= w.head_len + w.body_len) {
			tunnel_refused(t, &w);
			return true;
		}
	}
	t->head_len = t->ans_off = w.head_len;
	t->state = T_OPEN;
	loop_del_fd(t->pc->loop, t->fd);
	t->watched = false;
	t->deadline = loop_timer_cancel(t->pc->loop, t->deadline);
	t->fn(t, 101, NULL, t->data);
	return true;
}

static void
tunnel_on_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct peer_tunnel *t = data;

	(void)l;
	(void)fd;
	(void)events;
	while (t->state == T_REQUEST && t->req[t->req_off]) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(t->easy, t->req + t->req_off,
		    strlen(t->req + t->req_off), &n);

		if (rc == CURLE_AGAIN)
			return;
		if (rc != CURLE_OK) {
			tunnel_fail_msg(t, -EIO, "cannot send the upgrade");
			return;
		}
		t->req_off += n;
	}
	if (t->state == T_REQUEST) {
		t->state = T_ANSWER;
		(void)loop_mod_fd(t->pc->loop, t->fd, EPOLLIN);
	}
	(void)tunnel_read_answer(t);
}

/* libcurl's outcome of the connect phase, as peer_call()'s. */
static void
tunnel_connected(struct peer_tunnel *t, CURLcode rc)
{
	curl_socket_t s = CURL_SOCKET_BAD;
	struct err e = { 0 };

	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &s);
	if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
		err_set(&e, -EKEYREJECTED, "peer certificate does not match "
		    "the pinned fingerprint (at %s)", t->base);
		tunnel_fail(t, 0, &e);
		return;
	}
	if (rc != CURLE_OK || s == CURL_SOCKET_BAD) {
		err_set(&e, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		    -ECONNREFUSED, "cannot reach %s: %s", t->base,
		    t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
		tunnel_fail(t, 0, &e);
		return;
	}
	t->curl_timer = loop_timer_cancel(t->pc->loop, t->curl_timer);
	if (t->watched)	/* curl's watch: from now on it is ours */
		loop_del_fd(t->pc->loop, t->fd);
	t->fd = (int)s;
	t->state = T_REQUEST;
	t->watched = loop_add_fd(t->pc->loop, t->fd, EPOLLOUT, tunnel_on_io,
	    t) == 0;
	if (!t->watched)
		tunnel_fail_msg(t, -ENOMEM, "cannot watch the connection");
}

static void
tunnel_action(struct peer_tunnel *t, curl_socket_t s, int mask)
{
	CURLMsg *m;
	int running, left;

	(void)curl_multi_socket_action(t->multi, s, mask, &running);
	while (t->state == T_CONNECT &&
	    (m = curl_multi_info_read(t->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			tunnel_connected(t, m->data.result);
			return;
		}
}

static void
tunnel_on_curl_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	int mask = 0;

	(void)l;
	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	tunnel_action(data, fd, mask);
}

static void
tunnel_on_curl_timer(struct loop *l, void *data)
{
	struct peer_tunnel *t = data;

	(void)l;
	t->curl_timer = NULL;
	tunnel_action(t, CURL_SOCKET_TIMEOUT, 0);
}

static int
tunnel_curl_timer(CURLM *multi, long timeout_ms, void *data)
{
	struct peer_tunnel *t = data;

	(void)multi;
	t->curl_timer = loop_timer_cancel(t->pc->loop, t->curl_timer);
	if (timeout_ms >= 0 && t->state == T_CONNECT)
		t->curl_timer = loop_timer_add(t->pc->loop,
		    (uint64_t)timeout_ms, tunnel_on_curl_timer, t);
	return 0;
}

/* curl watches its socket only while connecting; then it is ours. */
static int
tunnel_curl_socket(CURL *easy, curl_socket_t s, int what, void *data,
    void *socketp)
{
	struct peer_tunnel *t = data;
	uint32_t ev = 0;

	(void)easy;
	(void)socketp;
	if (t->state != T_CONNECT)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (t->watched)
			loop_del_fd(t->pc->loop, s);
		t->watched = false;
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (t->watched && t->fd == (int)s)
		return loop_mod_fd(t->pc->loop, s, ev) < 0 ? -1 : 0;
	if (t->watched)
		loop_del_fd(t->pc->loop, t->fd);
	t->fd = (int)s;
	t->watched = loop_add_fd(t->pc->loop, s, ev, tunnel_on_curl_fd,
	    t) == 0;
	return t->watched ? 0 : -1;
}

static CURLcode
tunnel_setup(struct peer_tunnel *t, const char *url, uint64_t timeout_ms)
{
	CURL *e = t->easy;
	CURLcode rc = peer_client_setup_easy(t->pc, e, t->pin);

	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* the upgrade is HTTP/1.1's: ALPN must not settle on h2 */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_URL, url);
	if (curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION,
	    tunnel_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t) != CURLM_OK ||
	    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION,
	    tunnel_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t) != CURLM_OK)
		rc = CURLE_FAILED_INIT;
	return rc;
}

int
peer_tunnel_open(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *path, uint64_t timeout_ms,
    peer_tunnel_fn fn, void *data, struct peer_tunnel **ret)
{
	struct peer_tunnel *t = xzalloc(sizeof(*t));
	_cleanup_free_ char *url = NULL;
	char key[WSC_KEY_LEN];
	const char *host;
	size_t n;

	*t = (struct peer_tunnel){ .pc = pc, .fd = -1, .fn = fn,
		.data = data };
	if (!base_url || strncasecmp(base_url, "https://", 8) != 0 ||
	    !path || path[0] != '/' || strpbrk(path, " \r\n") ||
	    timeout_ms == 0 || timeout_ms > INT_MAX ||
	    tls_pin_from_fingerprint(fingerprint, t->pin, sizeof(t->pin)) < 0) {
		free(t);
		return -EINVAL;
	}
	t->base = xstrdup(base_url);
	n = strlen(t->base);
	while (n > 8 && t->base[n - 1] == '/')	/* as peer_call()'s */
		t->base[--n] = '\0';
	host = t->base + 8;
	url = xasprintf("%s%s", t->base, path);
	wsc_key(key);
	t->req = wsc_request(path, host, key);
	t->multi = curl_multi_init();
	t->easy = curl_easy_init();
	if (!t->multi || !t->easy) {
		peer_tunnel_free(t);
		return -ENOMEM;
	}
	if (tunnel_setup(t, url, timeout_ms) != CURLE_OK) {
		peer_tunnel_free(t);
		return -ENOTSUP;
	}
	if (curl_multi_add_handle(t->multi, t->easy) != CURLM_OK) {
		curl_easy_cleanup(TAKE_PTR(t->easy));
		peer_tunnel_free(t);
		return -ENOMEM;
	}
	t->deadline = loop_timer_add(pc->loop, timeout_ms, tunnel_on_deadline,
	    t);
	if (ret)
		*ret = t;
	return 0;
}

int
peer_tunnel_fd(const struct peer_tunnel *t)
{
	return t->fd;
}

ssize_t
peer_tunnel_recv(struct peer_tunnel *t, void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc;

	if (t->ans_off < t->ans_len) {
		n = MIN(len, t->ans_len - t->ans_off);
		memcpy(buf, t->ans + t->ans_off, n);
		t->ans_off += n;
		return (ssize_t)n;
	}
	rc = curl_easy_recv(t->easy, buf, len, &n);
	if (rc == CURLE_AGAIN)
		return -EAGAIN;
	return rc == CURLE_OK ? (ssize_t)n : -EIO;
}

ssize_t
peer_tunnel_send(struct peer_tunnel *t, const void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc = curl_easy_send(t->easy, buf, len, &n);

	if (rc == CURLE_AGAIN)
		return -EAGAIN;
	return rc == CURLE_OK ? (ssize_t)n : -EIO;
}
