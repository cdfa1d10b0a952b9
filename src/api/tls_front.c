/* tls_front.c - TLS termination in front of the plaintext MHD daemon (see
 * tls_front.h for why).  Never blocks; never logs above debug.
 *
 *   accepted --tf_on_handshake: done--> plaintext end handed to MHD
 *   accepted --TF_HANDSHAKE_MS, or a handshake error--> freed
 *   pumping: net (TLS) --up buffer--> app (our socketpair end)
 *            app --down buffer--> net
 *   net EOF --up drained--> shutdown(app, SHUT_WR); the down way goes on
 *   app EOF --down drained--> gnutls_bye(SHUT_WR) --sent--> freed
 *   a hard error either side, or TF_DRAIN_MS after app EOF --> freed
 * Freed: tf_conn_free (watches dropped, our fds closed; MHD closes its
 * own end, which the app end then reads as EOF if it is still open). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tls_front.h"
#include "util.h"

#define TF_BUF (64 * 1024)	/* each way, once the handshake is done */
#define TF_HANDSHAKE_MS 10000
#define TF_DRAIN_MS 30000	/* to flush the last bytes to a client */
#define TF_ROUNDS 16		/* moves per callback (1 MiB each way) */
#define TF_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tf_buf {
	uint8_t *p;		/* TF_BUF bytes */
	size_t off, len;	/* p[off..len) waits to be written */
};

/* Invariants: app_fd is -1 until the handshake is done; mhd_fd is the
 * number of the end MHD got, or -1 once a newer connection's end has the
 * same number (so the one MHD has open is the one a lookup finds);
 * send_pending is the length of a record gnutls took but has not fully
 * sent (gnutls wants the same call again), and the down buffer is not
 * moved meanwhile; app_shut: nothing more goes to the app. */
struct tf_conn {
	struct tls_front *f;
	gnutls_session_t s;
	int net_fd, app_fd, mhd_fd;
	uint32_t net_ev, app_ev;	/* what each watch asks for; 0: none */
	struct loop_timer *deadline;	/* handshake, then drain */
	struct loop_timer *kick;	/* TF_ROUNDS ran out: go on soon */
	struct sockaddr_storage sa;
	socklen_t sa_len;
	bool has_fp;
	char fp[TLS_FP_LEN];
	struct tf_buf up, down;	/* net to app, app to net */
	size_t send_pending;
	bool net_eof, app_eof, app_shut, recv_wants_out, bye;
};

struct tls_front {
	struct loop *loop;
	int lfd;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	tls_front_hand_fn hand;
	void *data;
	struct tf_conn **conns;	/* handshaking and pumping */
	size_t n_conns, max_conns;
};

static void tf_pump(struct tf_conn *c);

static void
tf_conn_free(struct tf_conn *c)
{
	struct tls_front *f = c->f;

	c->deadline = loop_timer_cancel(f->loop, c->deadline);
	c->kick = loop_timer_cancel(f->loop, c->kick);
	loop_del_fd(f->loop, c->net_fd);
	close(c->net_fd);
	if (c->app_fd >= 0) {
		loop_del_fd(f->loop, c->app_fd);
		close(c->app_fd);
	}
	if (c->s)
		gnutls_deinit(c->s);
	free(c->up.p);
	free(c->down.p);
	for (size_t i = 0; i < f->n_conns; i++)
		if (f->conns[i] == c) {
			f->conns[i] = f->conns[--f->n_conns];
			break;
		}
	free(c);
}

static void
tf_on_deadline(struct loop *l, void *data)
{
	struct tf_conn *c = data;

	(void)l;
	c->deadline = NULL;
	log_debug("tls front: fd %d timed out", c->net_fd);
	tf_conn_free(c);
}

static void
tf_on_kick(struct loop *l, void *data)
{
	struct tf_conn *c = data;

	(void)l;
	c->kick = NULL;
	tf_pump(c);
}

/* Ask the loop for want on fd (*cur: what it asks for now).  No watch at
 * all when nothing is wanted: epoll reports HUP and ERR even to a watch
 * that asks for nothing, which would spin while a buffer is full. */
static int
tf_watch(struct tf_conn *c, int fd, uint32_t *cur, uint32_t want,
    loop_fd_fn fn)
{
	struct loop *l = c->f->loop;
	int r = 0;

	if (want == *cur)
		return 0;
	if (want == 0)
		loop_del_fd(l, fd);
	else if (*cur == 0)
		r = loop_add_fd(l, fd, want, fn, c);
	else
		r = loop_mod_fd(l, fd, want);
	if (r == 0)
		*cur = want;
	return r;
}

/* Room at the end of b, moving what waits to the front when that makes
 * some (and may_move: not while gnutls holds a pointer into it). */
static size_t
tf_buf_room(struct tf_buf *b, bool may_move)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->len == TF_BUF && b->off > 0 && may_move) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	return TF_BUF - b->len;
}

/* Each step: 1 when something moved (or an EOF was seen), 0 when it must
 * wait, -errno when the connection is beyond saving. */
static int
tf_net_read_record(struct tf_conn *c)
{
	struct tf_buf *b = &c->up;
	size_t room;
	ssize_t n;

	if (c->net_eof || c->app_shut || !(room = tf_buf_room(b, true)))
		return 0;
	c->recv_wants_out = false;
	n = gnutls_record_recv(c->s, b->p + b->len, room);
	if (n > 0) {
		b->len += (size_t)n;
		return 1;
	}
	/* browsers often just close: no close_notify */
	if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) {
		c->net_eof = true;
		return 1;
	}
	if (n == GNUTLS_E_AGAIN) {
		/* a TLS 1.3 key update may have a record to send */
		c->recv_wants_out = gnutls_record_get_direction(c->s) == 1;
		return 0;
	}
	if (!gnutls_error_is_fatal((int)n))	/* alerts, renegotiation */
		return 1;
	log_debug("tls front: fd %d: %s", c->net_fd,
	    gnutls_strerror((int)n));
	return -EPROTO;
}

static int
tf_net_write_record(struct tf_conn *c)
{
	struct tf_buf *b = &c->down;
	size_t len = c->send_pending ? c->send_pending : b->len - b->off;
	ssize_t n;

	if (len == 0)
		return 0;
	n = gnutls_record_send(c->s, b->p + b->off, len);
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		c->send_pending = len;
		return 0;
	}
	c->send_pending = 0;
	if (n < 0) {
		log_debug("tls front: fd %d: %s", c->net_fd,
		    gnutls_strerror((int)n));
		return -EPROTO;
	}
	b->off += (size_t)n;
	return n > 0;
}

/* gnutls moves one record (16 KiB at most) a call: fill or empty the
 * buffer with as many as the socket allows. */
static int
tf_net_read(struct tf_conn *c)
{
	int r = 0, moved = 0;

	/* bounded: an alert is "moved" without filling anything */
	for (int i = 0; i < 8 && (r = tf_net_read_record(c)) > 0; i++)
		moved = 1;
	return r < 0 ? r : moved;
}

static int
tf_net_write(struct tf_conn *c)
{
	int r, moved = 0;

	while ((r = tf_net_write_record(c)) > 0)
		moved = 1;
	return r < 0 ? r : moved;
}

static int
tf_app_read(struct tf_conn *c)
{
	struct tf_buf *b = &c->down;
	size_t room;
	ssize_t n;

	if (c->app_eof || !(room = tf_buf_room(b, c->send_pending == 0)))
		return 0;
	n = read(c->app_fd, b->p + b->len, room);
	if (n > 0) {
		b->len += (size_t)n;
		return 1;
	}
	/* ECONNRESET: MHD closed with our bytes unread; what it wrote
	 * before that was read first */
	if (n == 0 || errno == ECONNRESET) {
		c->app_eof = true;
		return 1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

static int
tf_app_write(struct tf_conn *c)
{
	struct tf_buf *b = &c->up;
	ssize_t n;

	if (c->app_shut || b->off == b->len)
		return 0;
	n = send(c->app_fd, b->p + b->off, b->len - b->off, MSG_NOSIGNAL);
	if (n >= 0) {
		b->off += (size_t)n;
		return n > 0;
	}
	/* MHD closed its end: it takes nothing more, but what it wrote
	 * before still waits to be read and sent on */
	if (errno == EPIPE || errno == ECONNRESET) {
		b->off = b->len = 0;
		c->app_shut = true;
		return 1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

static int
tf_move(struct tf_conn *c)
{
	static int (*const step[])(struct tf_conn *) = { tf_net_read,
		tf_app_write, tf_app_read, tf_net_write };
	int moved = 0;

	for (size_t i = 0; i < ARRAY_SIZE(step); i++) {
		int r = step[i](c);

		if (r < 0)
			return r;
		moved |= r;
	}
	return moved;
}

/* Pass EOFs on once what came before them is through.  1 when c is done
 * (the caller frees it), 0 to go on, -errno on error. */
static int
tf_settle(struct tf_conn *c)
{
	struct tls_front *f = c->f;
	int rc;

	if (c->net_eof && !c->app_shut && c->up.off == c->up.len) {
		(void)shutdown(c->app_fd, SHUT_WR);
		c->app_shut = true;
	}
	if (!c->app_eof)
		return 0;
	if (!c->deadline)
		c->deadline = loop_timer_add(f->loop, TF_DRAIN_MS,
		    tf_on_deadline, c);
	if (c->down.off != c->down.len || c->send_pending)
		return 0;
	rc = gnutls_bye(c->s, GNUTLS_SHUT_WR);
	c->bye = rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED;
	return c->bye ? 0 : 1;
}

static void tf_on_net(struct loop *l, int fd, uint32_t events, void *data);
static void tf_on_app(struct loop *l, int fd, uint32_t events, void *data);

static int
tf_rewatch(struct tf_conn *c)
{
	bool more_up = tf_buf_room(&c->up, true) > 0;
	bool more_down = tf_buf_room(&c->down, c->send_pending == 0) > 0;
	uint32_t net = 0, app = 0;
	int r;

	if (!c->net_eof && !c->app_shut && more_up)
		net |= EPOLLIN;
	if (c->down.off != c->down.len || c->send_pending || c->bye ||
	    c->recv_wants_out)
		net |= EPOLLOUT;
	if (!c->app_eof && more_down)
		app |= EPOLLIN;
	if (!c->app_shut && c->up.off != c->up.len)
		app |= EPOLLOUT;
	r = tf_watch(c, c->net_fd, &c->net_ev, net, tf_on_net);
	if (r == 0)
		r = tf_watch(c, c->app_fd, &c->app_ev, app, tf_on_app);
	return r;
}

/* Move what can move both ways, pass EOFs on, and ask the loop for what
 * would let more move.  Frees c when it is done or broken. */
static void
tf_pump(struct tf_conn *c)
{
	int r = 0, rounds = 0;

	while (rounds++ < TF_ROUNDS && (r = tf_move(c)) > 0)
		;
	if (r > 0 && !c->kick)	/* a busy connection lets others run */
		c->kick = loop_timer_add(c->f->loop, 0, tf_on_kick, c);
	if (r >= 0)
		r = tf_settle(c);
	if (r == 0)
		r = tf_rewatch(c);
	if (r != 0)
		tf_conn_free(c);
}

static void
tf_on_net(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	tf_pump(data);
}

static void
tf_on_app(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	tf_pump(data);
}

/* The end MHD gets is fd: a connection still listed with that number had
 * its end closed by MHD already (numbers are reused), so it loses it. */
static void
tf_claim_fd(struct tf_conn *c, int fd)
{
	struct tls_front *f = c->f;

	for (size_t i = 0; i < f->n_conns; i++)
		if (f->conns[i]->mhd_fd == fd)
			f->conns[i]->mhd_fd = -1;
	c->mhd_fd = fd;
}

/* The handshake is done: make the socketpair and give MHD its end. */
static int
tf_conn_hand(struct tf_conn *c)
{
	struct tls_front *f = c->f;
	int sv[2];

	c->deadline = loop_timer_cancel(f->loop, c->deadline);
	c->has_fp = tls_session_peer_fingerprint(c->s, c->fp) == 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		return -errno;
	c->app_fd = sv[0];
	c->up.p = xmalloc(TF_BUF);
	c->down.p = xmalloc(TF_BUF);
	/* the watch changes callback: tf_pump adds it back */
	loop_del_fd(f->loop, c->net_fd);
	c->net_ev = 0;
	tf_claim_fd(c, sv[1]);
	return f->hand(sv[1], (struct sockaddr *)&c->sa, c->sa_len, f->data);
}

static void
tf_on_handshake(struct loop *l, int fd, uint32_t events, void *data)
{
	struct tf_conn *c = data;
	int rc, tries = 0;
	uint32_t want;

	(void)l;
	(void)events;
	do	/* a warning alert is skipped by calling again */
		rc = gnutls_handshake(c->s);
	while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc) &&
	    ++tries < 8);
	if (rc == GNUTLS_E_AGAIN || (rc < 0 && !gnutls_error_is_fatal(rc))) {
		want = gnutls_record_get_direction(c->s) ? EPOLLOUT : EPOLLIN;
		if (tf_watch(c, fd, &c->net_ev, want, tf_on_handshake) < 0)
			tf_conn_free(c);
		return;
	}
	if (rc < 0) {
		log_debug("tls front: handshake on fd %d: %s", fd,
		    gnutls_strerror(rc));
		tf_conn_free(c);
		return;
	}
	if (tf_conn_hand(c) < 0) {
		tf_conn_free(c);
		return;
	}
	tf_pump(c);
}

static int
tf_session_init(struct tls_front *f, struct tf_conn *c)
{
	if (gnutls_init(&c->s, GNUTLS_SERVER | GNUTLS_NONBLOCK |
	    GNUTLS_NO_SIGNAL) < 0) {
		c->s = NULL;
		return -ENOMEM;
	}
	if (gnutls_priority_set(c->s, f->prio) < 0 ||
	    gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, f->cred) < 0)
		return -EPROTO;
	/* any certificate is let through here; requests check it */
	gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUEST);
	gnutls_transport_set_int(c->s, c->net_fd);
	return 0;
}

static void
tf_conn_new(struct tls_front *f, int fd, const struct sockaddr_storage *sa,
    socklen_t sa_len)
{
	struct tf_conn *c = xzalloc(sizeof(*c));
	int one = 1;

	*c = (struct tf_conn){ .f = f, .net_fd = fd, .app_fd = -1,
		.mhd_fd = -1, .sa = *sa, .sa_len = sa_len };
	f->conns[f->n_conns++] = c;
	/* records go out whole; Nagle would only delay small answers */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tf_session_init(f, c) < 0) {
		tf_conn_free(c);
		return;
	}
	c->deadline = loop_timer_add(f->loop, TF_HANDSHAKE_MS, tf_on_deadline,
	    c);
	tf_on_handshake(f->loop, fd, 0, c);
}

static void
tf_on_accept(struct loop *l, int lfd, uint32_t events, void *data)
{
	struct tls_front *f = data;

	(void)l;
	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd == -1) {
			if (errno != EAGAIN)
				log_debug("tls front: accept: %m");
			return;
		}
		if (f->n_conns >= f->max_conns) {	/* as MHD did */
			close(fd);
			continue;
		}
		tf_conn_new(f, fd, &sa, len);
	}
}

static int
tf_creds(struct tls_front *f, const char *key_pem, const char *cert_pem,
    struct err *err)
{
	gnutls_datum_t key = { (unsigned char *)key_pem, strlen(key_pem) };
	gnutls_datum_t crt = { (unsigned char *)cert_pem, strlen(cert_pem) };
	int rc = gnutls_certificate_allocate_credentials(&f->cred);

	if (rc < 0)
		f->cred = NULL;
	if (rc == 0)
		rc = gnutls_certificate_set_x509_key_mem(f->cred, &crt, &key,
		    GNUTLS_X509_FMT_PEM);
	/* as MHD_OPTION_HTTPS_MEM_TRUST did: the certificate request names
	 * our own certificate as the CA (returns how many it loaded) */
	if (rc == 0 && (rc = gnutls_certificate_set_x509_trust_mem(f->cred,
	    &crt, GNUTLS_X509_FMT_PEM)) > 0)
		rc = 0;
	if (rc == 0 && (rc = gnutls_priority_init(&f->prio, TF_PRIORITIES,
	    NULL)) < 0)
		f->prio = NULL;
	if (rc < 0)
		return err_set(err, -EPROTO, "cannot set up TLS: %s",
		    gnutls_strerror(rc));
	return 0;
}

static int
tf_listen(struct tls_front *f, const struct sockaddr_storage *ss,
    const char *listen_addr, struct err *err)
{
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, r;

	f->lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (f->lfd == -1)
		return err_setf_errno(err, -errno, "cannot create socket");
	/* what MHD set: restart without waiting; IPv6 means IPv6 only */
	(void)setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(f->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(f->lfd, (const struct sockaddr *)ss, len) == -1 ||
	    listen(f->lfd, SOMAXCONN) == -1)
		return err_set(err, -EADDRNOTAVAIL, "cannot start HTTPS "
		    "server on '%s' (address in use or not on this host?)",
		    listen_addr);
	r = loop_add_fd(f->loop, f->lfd, EPOLLIN, tf_on_accept, f);
	if (r < 0)
		return err_setf_errno(err, r, "cannot watch '%s'",
		    listen_addr);
	return 0;
}

int
tls_front_start(struct loop *l, const struct sockaddr_storage *ss,
    const char *listen_addr, const char *key_pem, const char *cert_pem,
    unsigned max_conns, tls_front_hand_fn hand, void *data,
    struct tls_front **ret_front, struct err *err)
{
	struct tls_front *f = xzalloc(sizeof(*f));
	int r;

	*f = (struct tls_front){ .loop = l, .lfd = -1, .hand = hand,
		.data = data, .max_conns = max_conns };
	f->conns = xzalloc(max_conns * sizeof(*f->conns));
	if ((r = tf_creds(f, key_pem, cert_pem, err)) < 0 ||
	    (r = tf_listen(f, ss, listen_addr, err)) < 0) {
		tls_front_stop(f);
		return r;
	}
	*ret_front = f;
	return 0;
}

struct tls_front *
tls_front_stop(struct tls_front *f)
{
	if (!f)
		return NULL;
	while (f->n_conns > 0)
		tf_conn_free(f->conns[f->n_conns - 1]);
	if (f->lfd >= 0) {
		loop_del_fd(f->loop, f->lfd);
		close(f->lfd);
	}
	if (f->prio)
		gnutls_priority_deinit(f->prio);
	if (f->cred)
		gnutls_certificate_free_credentials(f->cred);
	free(f->conns);
	free(f);
	return NULL;
}

bool
tls_front_peer_fp(const struct tls_front *f, int fd, char ret_fp[TLS_FP_LEN])
{
	for (size_t i = 0; f && fd >= 0 && i < f->n_conns; i++) {
		const struct tf_conn *c = f->conns[i];

		if (c->mhd_fd == fd && c->has_fp) {
			memcpy(ret_fp, c->fp, TLS_FP_LEN);
			return true;
		}
	}
	return false;
}
