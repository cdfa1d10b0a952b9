/* screen_fwd.c - the screen of a VM on another host, through this one:
 * GET /v1/hosts/NAME/v1/vms/VM/screenshot (the peer's PNG passed back as
 * is) and GET /v1/hosts/NAME/v1/vms/VM/vnc (a WebSocket relayed to the
 * peer's own /v1/vms/VM/vnc over the peers' pinned mutual TLS).  The
 * browser cannot reach a peer itself: it trusts only the host it logged
 * in to, and peers trust only each other's keys.  fleet.c's api_forward
 * hands these two paths here after this host's role, CSRF and Origin
 * checks (session.c).
 *
 * The relay moves bytes, not frames: the browser's frames are masked
 * client frames and the peer's unmasked server frames, just what the
 * other side expects, and neither 101 takes an extension.  So close
 * frames and pings go end to end, and the peer's VNC relay (vnc.c) does
 * the framing.
 *
 *   request --checks, peer_tunnel_open--> deferred
 *   deferred --peer's 101--> our 101 sent --fwd_on_upgraded--> RELAYING
 *   deferred --peer refused or unreachable--> its error answered, freed
 *   RELAYING --either side closed or failed--> both closed, freed
 * Never blocks; at most FWD_HIGH bytes wait each way. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "peer.h"
#include "util.h"

#define FWD_HIGH (256 * 1024)	/* buffered each way at most */
#define FWD_MAX 32	/* relays and screenshots at once */
#define FWD_OPEN_TIMEOUT_MS 10000
#define FWD_SHOT_TIMEOUT_MS 30000

struct screen_fwd {
	struct loop *loop;
	struct http_req *req;		/* until answered */
	struct peer_tunnel *t;		/* relays */
	struct peer_call *call;		/* screenshots, in flight */
	struct http_upgrade *up;	/* NULL until the 101 went out */
	int ws_fd, peer_fd;
	struct api_ws ws;		/* the browser's upgrade */
	uint8_t *to_peer, *to_browser;
	size_t to_peer_len, to_browser_len;
	bool peer_eof;
	bool upgrading;			/* our 101 queued, not sent */
	uint32_t ws_ev, peer_ev;
};

static struct screen_fwd *fwd_open[FWD_MAX];
static unsigned n_fwd;

static void
fwd_free(struct screen_fwd *f)
{
	if (f->up) {
		loop_del_fd(f->loop, f->ws_fd);
		http_upgrade_close(f->up);
	}
	if (f->peer_fd >= 0)
		loop_del_fd(f->loop, f->peer_fd);
	peer_tunnel_free(f->t);
	peer_call_cancel(f->call);
	free(f->to_peer);
	free(f->to_browser);
	for (unsigned i = 0; i < n_fwd; i++)
		if (fwd_open[i] == f) {
			fwd_open[i] = fwd_open[--n_fwd];
			break;
		}
	free(f);
}

/* Downwards, so that fwd_free() moving the last one into slot i moves
 * one already seen.  One whose 101 is queued is left to MHD: stopping, it
 * calls fwd_on_upgraded() with fd -1, which frees it (freeing it here
 * would free it twice). */
void
api_screen_fwd_stop(void)
{
	for (unsigned i = n_fwd; i-- > 0;) {
		struct screen_fwd *f = fwd_open[i];

		if (f->upgrading)
			continue;
		if (f->req)
			api_reply_error_code(f->req, 503, "not_yet",
			    "ternd is stopping");
		fwd_free(f);
	}
}

static struct screen_fwd *
fwd_new(struct api *a, struct http_req *req, struct err *e)
{
	struct screen_fwd *f;

	if (!a->h->peers) {
		err_set(e, -ENOENT, "this host has no HTTPS client (no "
		    "--listen)");
		return NULL;
	}
	if (n_fwd >= FWD_MAX) {
		err_set(e, -EAGAIN, "%d screens of other hosts are open "
		    "through this host: close one", FWD_MAX);
		return NULL;
	}
	f = xzalloc(sizeof(*f));
	*f = (struct screen_fwd){ .loop = a->h->loop, .req = req,
		.ws_fd = -1, .peer_fd = -1 };
	fwd_open[n_fwd++] = f;
	return f;
}

/* The peer's error, or ours about the peer (status 0), to the browser. */
static void
fwd_reply_error(struct http_req *req, long status, const struct err *e)
{
	const char *msg = e && e->msg[0] ? e->msg :
	    "the peer answered with an error";

	if (status >= 400 && status < 600)
		api_reply_error(req, (unsigned)status, msg);
	else
		api_reply_error_code(req, 502, "peer", msg);
}

static void
fwd_on_shot(long status, const char *ct, const void *body, size_t len,
    const struct err *e, void *data)
{
	struct screen_fwd *f = data;

	f->call = NULL;
	if (status == 0)
		fwd_reply_error(f->req, 0, e);
	else
		http_queue_bytes(f->req, (unsigned)status, ct ? ct :
		    "application/octet-stream", body, len);
	f->req = NULL;
	fwd_free(f);
}

int
api_screenshot_forward(struct api *a, struct http_req *req,
    const struct host_peer *p, const char *inner, struct err *e)
{
	struct screen_fwd *f = fwd_new(a, req, e);
	int r;

	if (!f)
		return e->code;
	r = peer_get_bytes(a->h->peers, p->url, p->fp, inner,
	    FWD_SHOT_TIMEOUT_MS, fwd_on_shot, f, &f->call);
	if (r < 0) {
		f->req = NULL;
		fwd_free(f);
		return err_set(e, r, "cannot call the peer '%s'", p->name);
	}
	http_req_add_header(req, "Cache-Control", "no-store");
	http_req_defer(req);
	return 0;
}

/* Ask each watch for what can move now. */
static void
fwd_rearm(struct screen_fwd *f)
{
	uint32_t ws_ev = 0, peer_ev = 0;

	if (f->to_peer_len < FWD_HIGH)
		ws_ev |= EPOLLIN;
	if (f->to_browser_len > 0)
		ws_ev |= EPOLLOUT;
	if (!f->peer_eof && f->to_browser_len < FWD_HIGH)
		peer_ev |= EPOLLIN;
	if (f->to_peer_len > 0)
		peer_ev |= EPOLLOUT;
	if (ws_ev != f->ws_ev && loop_mod_fd(f->loop, f->ws_fd, ws_ev) == 0)
		f->ws_ev = ws_ev;
	if (peer_ev != f->peer_ev &&
	    loop_mod_fd(f->loop, f->peer_fd, peer_ev) == 0)
		f->peer_ev = peer_ev;
}

/* Browser to peer; false when the relay is over. */
static bool
fwd_pump_up(struct screen_fwd *f)
{
	ssize_t n;

	while (f->to_peer_len < FWD_HIGH) {
		n = recv(f->ws_fd, f->to_peer + f->to_peer_len,
		    FWD_HIGH - f->to_peer_len, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0)
			return false;	/* the browser left */
		f->to_peer_len += (size_t)n;
	}
	while (f->to_peer_len > 0) {
		n = peer_tunnel_send(f->t, f->to_peer, f->to_peer_len);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return false;
		memmove(f->to_peer, f->to_peer + n, f->to_peer_len - n);
		f->to_peer_len -= (size_t)n;
	}
	return true;
}

/* Peer to browser; false when the relay is over.  Reads until -EAGAIN:
 * TLS may hold bytes the socket does not show. */
static bool
fwd_pump_down(struct screen_fwd *f)
{
	ssize_t n;

	while (!f->peer_eof && f->to_browser_len < FWD_HIGH) {
		n = peer_tunnel_recv(f->t, f->to_browser + f->to_browser_len,
		    FWD_HIGH - f->to_browser_len);
		if (n == -EAGAIN)
			break;
		if (n <= 0)	/* the peer closed: flush what came, end */
			f->peer_eof = true;
		else
			f->to_browser_len += (size_t)n;
	}
	while (f->to_browser_len > 0) {
		n = send(f->ws_fd, f->to_browser, f->to_browser_len,
		    MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n == -1)
			return false;
		memmove(f->to_browser, f->to_browser + n,
		    f->to_browser_len - n);
		f->to_browser_len -= (size_t)n;
	}
	return !(f->peer_eof && f->to_browser_len == 0);
}

static void
fwd_on_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct screen_fwd *f = data;

	(void)l;
	(void)fd;
	(void)events;
	if (!fwd_pump_up(f) || !fwd_pump_down(f)) {
		fwd_free(f);
		return;
	}
	fwd_rearm(f);
}

static void
fwd_on_upgraded(struct http_upgrade *up, int fd, const char *extra,
    size_t n_extra, void *data)
{
	struct screen_fwd *f = data;

	f->upgrading = false;
	if (fd < 0) {		/* the 101 never went out */
		fwd_free(f);
		return;
	}
	f->ws_fd = fd;
	f->to_peer = xmalloc(FWD_HIGH + n_extra);
	f->to_browser = xmalloc(FWD_HIGH);
	memcpy(f->to_peer, extra, n_extra);
	f->to_peer_len = n_extra;
	f->peer_fd = peer_tunnel_fd(f->t);
	if (loop_add_fd(f->loop, fd, 0, fwd_on_io, f) < 0) {
		f->peer_fd = -1;
		http_upgrade_close(up);
		fwd_free(f);
		return;
	}
	f->up = up;
	if (loop_add_fd(f->loop, f->peer_fd, 0, fwd_on_io, f) < 0) {
		f->peer_fd = -1;
		fwd_free(f);
		return;
	}
	fwd_on_io(f->loop, fd, 0, f);	/* the bytes that came already */
}

static void
fwd_on_tunnel(struct peer_tunnel *t, long status, const struct err *e,
    void *data)
{
	struct screen_fwd *f = data;
	struct http_req *req = f->req;

	f->req = NULL;
	if (status != 101) {	/* t is freed once this returns */
		f->t = NULL;
		fwd_reply_error(req, status, e);
		fwd_free(f);
		return;
	}
	(void)t;
	f->upgrading = true;
	api_ws_upgrade(req, &f->ws, fwd_on_upgraded, f);
}

int
api_vnc_forward(struct api *a, struct http_req *req,
    const struct host_peer *p, const char *inner, struct err *e)
{
	struct api_ws ws;
	struct screen_fwd *f;
	int r;

	if ((r = api_ws_check(req, &ws, e)) < 0)
		return r;
	if (!(f = fwd_new(a, req, e)))
		return e->code;
	f->ws = ws;
	r = peer_tunnel_open(a->h->peers, p->url, p->fp, inner,
	    FWD_OPEN_TIMEOUT_MS, fwd_on_tunnel, f, &f->t);
	if (r < 0) {
		f->req = NULL;
		fwd_free(f);
		return err_set(e, r, "cannot open a WebSocket to the peer "
		    "'%s'", p->name);
	}
	http_req_defer(req);
	return 0;
}
