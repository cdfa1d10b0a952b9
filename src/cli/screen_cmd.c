/* screen_cmd.c - a VM's screen from the command line: `vm screenshot`
 * (the PNG ternd gets from QEMU's screendump) and `vm vnc` (where the VNC
 * server is, or a local TCP port forwarded to it through ternd's
 * WebSocket, framed with wslay).  The forwarder serves one VNC client at
 * a time and runs until Ctrl-C. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wslay/wslay.h>

#include "cli.h"
#include "fsutil.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

#define RELAY_HIGH (1024 * 1024)	/* stop reading a side past this */

/* The path of vm NAME's suffix; with --on HOST, the same on that fleet
 * host through the ternd talked to (/v1/hosts/HOST/v1/vms/...), which
 * relays the PNG or the WebSocket to its peer. */
static char *
screen_path(struct cli *cli, const struct cli_args *a, const char *suffix)
{
	const char *on = cli_args_get(a, "on");
	_cleanup_free_ char *p = cli_path(cli, "/v1/vms/", a->pos[0], suffix);
	_cleanup_free_ char *h = NULL;

	if (!on)
		return TAKE_PTR(p);
	h = cli_path(cli, "/v1/hosts/", on, NULL);
	return xasprintf("%s%s", h, p);
}

int
cmd_vm_screenshot(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_free_ char *path = screen_path(cli, a, "/screenshot");
	_cleanup_free_ char *png = NULL;
	size_t len = 0;
	int r = http_get_bytes(cli->http, path, &png, &len, err);

	if (r < 0)
		return r;
	if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0)
		return err_set(err, -EPROTO, "ternd's screenshot is not a PNG");
	if ((r = file_write_atomic(a->pos[1], png, len, 0644)) < 0)
		return err_set(err, r, "cannot write '%s': %s", a->pos[1],
		    strerror(-r));
	if (cli->json) {
		_cleanup_json_ json_t *o = json_pack("{ss sI}", "file",
		    a->pos[1], "bytes", (json_int_t)len);

		print_json(o);
	} else {
		printf("wrote %s (%zu bytes)\n", a->pos[1], len);
	}
	return 0;
}

/* --listen ADDR:PORT on a loopback address: VNC has no password here, the
 * port must not be open to others.  A usage error otherwise. */
static int
vnc_listen_addr(const char *spec, struct sockaddr_in *sa, struct err *err)
{
	const char *colon = strrchr(spec, ':');
	char host[32];
	uint64_t port;

	*sa = (struct sockaddr_in){ .sin_family = AF_INET };
	if (!colon || (size_t)(colon - spec) >= sizeof(host) ||
	    cli_parse_u64("--listen's port", colon + 1, 1, 65535, &port,
	    NULL) < 0)
		return cli_usage(err, "--listen takes 127.0.0.1:PORT, not '%s'",
		    spec);
	memcpy(host, spec, colon - spec);
	host[colon - spec] = '\0';
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 ||
	    (ntohl(sa->sin_addr.s_addr) >> 24) != 127)
		return cli_usage(err, "--listen takes a loopback address "
		    "(127.x.x.x:PORT): the forwarded VNC has no password of "
		    "its own");
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static int
vnc_listen(const char *spec, struct err *err)
{
	struct sockaddr_in sa;
	int fd, one = 1, r = vnc_listen_addr(spec, &sa, err);

	if (r < 0)
		return r;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return err_set(err, -errno, "cannot make a socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 4) == -1) {
		r = -errno;
		close(fd);
		return err_set(err, r, "cannot listen on %s: %s", spec,
		    strerror(-r));
	}
	return fd;
}

/* One VNC client's relay.  Invariant: to_client_len <= RELAY_HIGH plus
 * one message. */
struct relay {
	struct http_tunnel *t;
	int client;
	wslay_event_context_ptr ws;
	char *to_client;
	size_t to_client_len;
	bool client_eof;
	bool throttled;		/* reading stopped at RELAY_HIGH: TLS may
				 * hold bytes poll() cannot see */
};

static ssize_t
relay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *data)
{
	struct relay *rl = data;
	ssize_t n = rl->to_client_len >= RELAY_HIGH ? -EAGAIN :
	    http_tunnel_recv(rl->t, buf, len);

	(void)flags;
	rl->throttled = rl->to_client_len >= RELAY_HIGH;
	if (n == -EAGAIN)
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else if (n <= 0)
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return n > 0 ? n : -1;
}

static ssize_t
relay_send(wslay_event_context_ptr ctx, const uint8_t *buf, size_t len,
    int flags, void *data)
{
	struct relay *rl = data;
	ssize_t n = http_tunnel_send(rl->t, buf, len);

	(void)flags;
	if (n < 0)
		wslay_event_set_error(ctx, n == -EAGAIN ?
		    WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
	return n < 0 ? -1 : n;
}

static int
relay_mask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *data)
{
	(void)ctx;
	(void)data;
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void
relay_msg(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *data)
{
	struct relay *rl = data;

	(void)ctx;
	if (m->opcode != WSLAY_BINARY_FRAME)
		return;
	rl->to_client = xrealloc(rl->to_client, rl->to_client_len +
	    m->msg_length);
	memcpy(rl->to_client + rl->to_client_len, m->msg, m->msg_length);
	rl->to_client_len += m->msg_length;
}

/* Move what can move; false once either side is done. */
static bool
relay_step(struct relay *rl)
{
	char buf[64 * 1024];
	ssize_t n;

	if (wslay_event_recv(rl->ws) != 0)
		return false;
	while (rl->to_client_len > 0) {
		n = send(rl->client, rl->to_client, rl->to_client_len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return false;
		memmove(rl->to_client, rl->to_client + n,
		    rl->to_client_len - n);
		rl->to_client_len -= n;
	}
	while (!rl->client_eof &&
	    wslay_event_get_queued_msg_length(rl->ws) < RELAY_HIGH) {
		struct wslay_event_msg m = { WSLAY_BINARY_FRAME,
			(const uint8_t *)buf, 0 };

		n = recv(rl->client, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			rl->client_eof = true;
			(void)wslay_event_queue_close(rl->ws,
			    WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
			break;
		}
		m.msg_length = (size_t)n;
		if (wslay_event_queue_msg(rl->ws, &m) != 0)
			return false;
	}
	if (wslay_event_send(rl->ws) != 0)
		return false;
	if (rl->client_eof && !wslay_event_want_write(rl->ws))
		return false;
	return wslay_event_want_read(rl->ws) ||
	    wslay_event_want_write(rl->ws);
}

static void
relay_run(struct relay *rl)
{
	while (!cli_interrupted && relay_step(rl)) {
		struct pollfd p[2] = {
			{ .fd = http_tunnel_fd(rl->t), .events = POLLIN },
			{ .fd = rl->client, .events = 0 },
		};

		if (wslay_event_want_write(rl->ws))
			p[0].events |= POLLOUT;
		if (!rl->client_eof &&
		    wslay_event_get_queued_msg_length(rl->ws) < RELAY_HIGH)
			p[1].events |= POLLIN;
		if (rl->to_client_len > 0)
			p[1].events |= POLLOUT;
		/* decrypted bytes may wait inside TLS, unseen by poll() */
		(void)poll(p, 2, rl->throttled &&
		    rl->to_client_len < RELAY_HIGH ? 0 : 1000);
	}
}

/* Serve one accepted client until either side closes. */
static int
vnc_serve(struct cli *cli, const char *path, int client, struct err *err)
{
	static const struct wslay_event_callbacks cb = {
		.recv_callback = relay_recv, .send_callback = relay_send,
		.genmask_callback = relay_mask, .on_msg_recv_callback =
		relay_msg,
	};
	struct relay rl = { .client = client };
	int r = http_tunnel_open(cli->http, path, &rl.t, err);

	if (r < 0)
		return r;
	if (wslay_event_context_client_init(&rl.ws, &cb, &rl) != 0) {
		http_tunnel_free(rl.t);
		return err_set(err, -ENOMEM, "out of memory");
	}
	relay_run(&rl);
	wslay_event_context_free(rl.ws);
	http_tunnel_free(rl.t);
	free(rl.to_client);
	return 0;
}

static int
vnc_forward(struct cli *cli, const char *name, const char *path,
    const char *spec, struct err *err)
{
	_cleanup_close_ int lfd = vnc_listen(spec, err);
	struct sigaction old;
	int r = 0;

	if (lfd < 0)
		return lfd;
	printf("forwarding %s to the screen of vm '%s'; point a VNC client "
	    "at it (Ctrl-C ends)\n", spec, name);
	fflush(stdout);
	cli_sigint_catch(&old);
	while (!cli_interrupted && r == 0) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c == -1)
			continue;
		r = vnc_serve(cli, path, c, err);
		close(c);
	}
	cli_sigint_restore(&old);
	return r;
}

int
cmd_vm_vnc(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = screen_path(cli, a, "/vnc");
	_cleanup_json_ json_t *info = NULL;
	const char *listen = cli_args_get(a, "listen");
	const char *sock;
	int r;

	struct sockaddr_in sa;

	if (listen && (r = vnc_listen_addr(listen, &sa, err)) < 0)
		return r;
	/* the VM must run: a clear error before any port is opened */
	if ((r = http_call(cli->http, "GET", path, NULL, &info, err)) < 0)
		return r;
	if (listen)
		return vnc_forward(cli, a->pos[0], path, listen, err);
	sock = json_string_value(json_object_get(info, "socket"));
	if (cli->json)
		print_json(info);
	else if (cli->local && geteuid() == 0 && sock &&
	    !cli_args_get(a, "on"))
		printf("vm '%s' serves VNC on the unix socket %s (root only);"
		    "\nconnect a VNC client to it, or forward a TCP port: "
		    "tern vm vnc %s --listen 127.0.0.1:5900\n", a->pos[0],
		    sock, a->pos[0]);
	else
		printf("forward a local port to vm '%s''s VNC server: tern vm "
		    "vnc %s --listen 127.0.0.1:5900,\nthen point a VNC client "
		    "at 127.0.0.1:5900\n", a->pos[0], a->pos[0]);
	return 0;
}
