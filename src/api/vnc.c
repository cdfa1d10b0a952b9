/* vnc.c - GET /v1/vms/NAME/vnc: a WebSocket (subprotocol "binary") whose
 * binary messages are the bytes of the VM's VNC server (RFB), relayed to
 * and from RUN/vnc.sock in the loop.  wslay does the framing; this file
 * moves bytes.  Never blocks; at most VNC_HIGH bytes wait each way.
 *
 *   request --api_vm_vnc: checks, connect vnc.sock--> 101 sent
 *   101 --vnc_on_upgraded--> RELAYING
 *   RELAYING --VNC EOF: close frame queued--> CLOSING --frame sent--> freed
 *   RELAYING --WebSocket closed or failed, or VNC error--> freed
 * Freed: vnc_free (both watches dropped, the MHD connection closed).
 * A VM that stops closes its VNC socket: the relay ends with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <wslay/wslay.h>

#include "api.h"
#include "screen.h"
#include "util.h"
#include "ws.h"

#define VNC_HIGH (256 * 1024)	/* stop reading a side past this queued */
#define VNC_MSG_MAX (256 * 1024)	/* largest message from a client */
#define VNC_MAX_RELAYS 32	/* at once on this host */

/* Invariant: to_vnc_len <= VNC_HIGH + VNC_MSG_MAX (reading the WebSocket
 * stops at VNC_HIGH, and one message adds at most VNC_MSG_MAX). */
struct vnc_relay {
	struct loop *loop;
	struct http_upgrade *up;	/* NULL until the 101 went out */
	int ws_fd;		/* MHD's: never closed here */
	int vnc_fd;
	wslay_event_context_ptr ws;
	uint8_t *to_vnc;
	size_t to_vnc_len;
	char *extra;		/* bytes MHD read past the request */
	size_t n_extra, extra_off;
	bool vnc_eof;
	bool upgrading;		/* the 101 queued: MHD calls us back */
	uint32_t ws_ev, vnc_ev;	/* what each watch asks for */
};

/* The open relays, so that api_vnc_stop() can end them before MHD stops
 * (MHD must not stop with an upgraded connection open). */
static struct vnc_relay *vnc_open[VNC_MAX_RELAYS];
static unsigned vnc_relays;

static void
vnc_free(struct vnc_relay *v)
{
	if (v->up) {
		loop_del_fd(v->loop, v->ws_fd);
		http_upgrade_close(v->up);
	}
	if (v->vnc_fd >= 0) {
		loop_del_fd(v->loop, v->vnc_fd);
		close(v->vnc_fd);
	}
	if (v->ws)
		wslay_event_context_free(v->ws);
	free(v->to_vnc);
	free(v->extra);
	for (unsigned i = 0; i < vnc_relays; i++)
		if (vnc_open[i] == v) {
			vnc_open[i] = vnc_open[--vnc_relays];
			break;
		}
	free(v);
}

/* Downwards, so that vnc_free() moving the last one into slot i moves
 * one already seen.  One whose 101 is queued is left to MHD: stopping, it
 * calls vnc_on_upgraded() with fd -1, which frees it (freeing it here
 * would free it twice). */
void
api_vnc_stop(void)
{
	for (unsigned i = vnc_relays; i-- > 0;)
		if (!vnc_open[i]->upgrading)
			vnc_free(vnc_open[i]);
}

static ssize_t
vnc_ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *data)
{
	struct vnc_relay *v = data;
	ssize_t n;

	(void)flags;
	if (v->extra_off < v->n_extra) {
		n = (ssize_t)MIN(len, v->n_extra - v->extra_off);
		memcpy(buf, v->extra + v->extra_off, n);
		v->extra_off += n;
		return n;
	}
	if (v->to_vnc_len >= VNC_HIGH) {	/* VNC is slow: wait */
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	n = recv(v->ws_fd, buf, len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else if (n <= 0)
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return n > 0 ? n : -1;
}

static ssize_t
vnc_ws_send(wslay_event_context_ptr ctx, const uint8_t *buf, size_t len,
    int flags, void *data)
{
	struct vnc_relay *v = data;
	ssize_t n = send(v->ws_fd, buf, len, MSG_NOSIGNAL);

	(void)flags;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else if (n == -1)
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return n;
}

static void
vnc_ws_msg(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *data)
{
	struct vnc_relay *v = data;

	(void)ctx;
	if (m->opcode != WSLAY_BINARY_FRAME || m->msg_length == 0)
		return;		/* close and ping are wslay's */
	memcpy(v->to_vnc + v->to_vnc_len, m->msg, m->msg_length);
	v->to_vnc_len += m->msg_length;
}

/* Ask each watch for what can move now; false when the relay is over. */
static bool
vnc_rearm(struct vnc_relay *v)
{
	uint32_t ws_ev = 0, vnc_ev = 0;

	if (!wslay_event_want_read(v->ws) && !wslay_event_want_write(v->ws))
		return false;
	if (v->vnc_eof && wslay_event_get_close_sent(v->ws) &&
	    !wslay_event_want_write(v->ws))
		return false;
	if (wslay_event_want_read(v->ws) && v->to_vnc_len < VNC_HIGH)
		ws_ev |= EPOLLIN;
	if (wslay_event_want_write(v->ws))
		ws_ev |= EPOLLOUT;
	if (!v->vnc_eof && wslay_event_get_queued_msg_length(v->ws) <
	    VNC_HIGH)
		vnc_ev |= EPOLLIN;
	if (v->to_vnc_len > 0)
		vnc_ev |= EPOLLOUT;
	if (ws_ev != v->ws_ev && loop_mod_fd(v->loop, v->ws_fd, ws_ev) == 0)
		v->ws_ev = ws_ev;
	if (vnc_ev != v->vnc_ev &&
	    loop_mod_fd(v->loop, v->vnc_fd, vnc_ev) == 0)
		v->vnc_ev = vnc_ev;
	return true;
}

/* Move what can move both ways; false on a failure that ends the relay. */
static bool
vnc_pump(struct vnc_relay *v)
{
	uint8_t buf[64 * 1024];
	ssize_t n;

	if (wslay_event_recv(v->ws) != 0)
		return false;
	while (v->to_vnc_len > 0) {
		n = send(v->vnc_fd, v->to_vnc, v->to_vnc_len, MSG_NOSIGNAL);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return false;
		memmove(v->to_vnc, v->to_vnc + n, v->to_vnc_len - n);
		v->to_vnc_len -= n;
	}
	while (!v->vnc_eof &&
	    wslay_event_get_queued_msg_length(v->ws) < VNC_HIGH) {
		struct wslay_event_msg m = { WSLAY_BINARY_FRAME, buf, 0 };

		n = recv(v->vnc_fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {	/* QEMU closed it: the VM stopped */
			v->vnc_eof = true;
			(void)wslay_event_queue_close(v->ws,
			    WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
			break;
		}
		m.msg_length = (size_t)n;
		if (wslay_event_queue_msg(v->ws, &m) != 0)
			return false;
	}
	return wslay_event_send(v->ws) == 0;
}

static void
vnc_on_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct vnc_relay *v = data;

	(void)l;
	(void)fd;
	(void)events;
	if (!vnc_pump(v) || !vnc_rearm(v))
		vnc_free(v);
}

static void
vnc_on_upgraded(struct http_upgrade *up, int fd, const char *extra,
    size_t n_extra, void *data)
{
	struct vnc_relay *v = data;

	v->upgrading = false;
	if (fd < 0) {		/* the 101 never went out */
		vnc_free(v);
		return;
	}
	v->ws_fd = fd;
	if (n_extra > 0) {
		v->extra = xmalloc(n_extra);
		memcpy(v->extra, extra, n_extra);
		v->n_extra = n_extra;
	}
	if (loop_add_fd(v->loop, fd, 0, vnc_on_io, v) < 0 ||
	    loop_add_fd(v->loop, v->vnc_fd, 0, vnc_on_io, v) < 0) {
		loop_del_fd(v->loop, fd);
		http_upgrade_close(up);
		vnc_free(v);
		return;
	}
	v->up = up;
	vnc_on_io(v->loop, fd, 0, v);	/* the extra bytes, the banner */
}

static int
vnc_connect(const struct vm *vm, struct err *e)
{
	_cleanup_free_ char *path = vm_vnc_path(vm);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, "VNC socket path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return err_setf_errno(e, -errno, "cannot make a socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int r = -errno;

		close(fd);
		return err_setf_errno(e, r == -EAGAIN ? -EAGAIN : -EIO,
		    "cannot reach the VNC server of vm '%s'", vm->row->name);
	}
	return fd;
}

static struct vnc_relay *
vnc_relay_new(struct api *a, int vnc_fd)
{
	static const struct wslay_event_callbacks cb = {
		.recv_callback = vnc_ws_recv,
		.send_callback = vnc_ws_send,
		.on_msg_recv_callback = vnc_ws_msg,
	};
	struct vnc_relay *v = xzalloc(sizeof(*v));

	*v = (struct vnc_relay){ .loop = a->h->loop, .ws_fd = -1,
		.vnc_fd = vnc_fd };
	v->to_vnc = xmalloc(VNC_HIGH + VNC_MSG_MAX);
	if (wslay_event_context_server_init(&v->ws, &cb, v) != 0)
		abort();	/* only for want of memory */
	wslay_event_config_set_max_recv_msg_length(v->ws, VNC_MSG_MAX);
	v->upgrading = true;	/* http_reply_upgrade() comes next */
	vnc_open[vnc_relays++] = v;
	return v;
}

int
api_ws_check(struct http_req *req, struct api_ws *ws, struct err *e)
{
	struct ws_request rq = { .method = req->method,
		.upgrade = http_req_header(req, "Upgrade"),
		.connection = http_req_header(req, "Connection"),
		.version = http_req_header(req, "Sec-WebSocket-Version"),
		.key = http_req_header(req, "Sec-WebSocket-Key"),
		.protocol = http_req_header(req, "Sec-WebSocket-Protocol") };

	ws->protocol = rq.protocol != NULL;
	return ws_upgrade_check(&rq, ws->accept, e);
}

void
api_ws_upgrade(struct http_req *req, const struct api_ws *ws,
    http_upgrade_fn fn, void *data)
{
	const char *hdrs[] = { "Upgrade", "websocket",
		"Sec-WebSocket-Accept", ws->accept,
		ws->protocol ? "Sec-WebSocket-Protocol" : NULL, "binary", NULL };

	http_reply_upgrade(req, hdrs, fn, data);
}

int
api_vm_vnc(struct api *a, struct http_req *req, char **p, struct err *e)
{
	struct api_ws ws;
	struct vm *vm = NULL;
	int r, fd;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = vm_screen_check(vm, "VNC", e)) < 0)
		return r;
	if (!http_req_header(req, "Upgrade")) {	/* where the server is */
		_cleanup_free_ char *path = vm_vnc_path(vm);

		http_reply_json(req, 200, json_pack("{ss ss ss}", "vm",
		    vm->row->name, "socket", path, "websocket", req->url));
		return 0;
	}
	if ((r = api_ws_check(req, &ws, e)) < 0)
		return r;
	if (vnc_relays >= VNC_MAX_RELAYS)
		return err_set(e, -EAGAIN, "%d VNC consoles are open on this "
		    "host: close one", VNC_MAX_RELAYS);
	if ((fd = vnc_connect(vm, e)) < 0)
		return fd;
	api_ws_upgrade(req, &ws, vnc_on_upgraded, vnc_relay_new(a, fd));
	return 0;
}
