/* client.c - one libcurl multi handle driven by our loop through the multi
 * socket interface: curl's sockets become loop watches, curl's one timeout
 * becomes one loop timer, and finished transfers are handed to their
 * callbacks only from the loop, never from inside a libcurl call.  Never
 * logs; never blocks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer_internal.h"
#include "util.h"

static void client_dispatch(struct peer_client *pc);

/* The last step of peer_client_free(), deferred while callbacks run: the
 * easy handle of a firing call still exists until then. */
static void
client_destroy(struct peer_client *pc)
{
	if (pc->curl_global)
		curl_global_cleanup();
	free(pc);
}

static void
client_on_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct peer_client *pc = data;
	int mask = 0, running;

	(void)l;
	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(pc->multi, fd, mask, &running);
	client_dispatch(pc);
}

static void
client_on_timer(struct loop *l, void *data)
{
	struct peer_client *pc = data;
	int running;

	(void)l;
	pc->timer = NULL;
	(void)curl_multi_socket_action(pc->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	client_dispatch(pc);
}

/* CURLMOPT_TIMERFUNCTION: curl wants socket_action(TIMEOUT) in timeout_ms
 * (-1: never).  It must not be called from here, so a timer does it. */
static int
client_curl_timer(CURLM *multi, long timeout_ms, void *data)
{
	struct peer_client *pc = data;

	(void)multi;
	pc->timer = loop_timer_cancel(pc->loop, pc->timer);
	if (timeout_ms >= 0)
		pc->timer = loop_timer_add(pc->loop, (uint64_t)timeout_ms,
		    client_on_timer, pc);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl asks.  Should the loop
 * refuse (epoll out of memory or watches), libcurl fails every transfer of
 * the multi: each callback then says so, rather than waiting for its
 * timeout. */
static int
client_curl_socket(CURL *easy, curl_socket_t s, int what, void *data,
    void *socketp)
{
	struct peer_client *pc = data;
	uint32_t events = 0;
	int r;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			loop_del_fd(pc->loop, s);
		(void)curl_multi_assign(pc->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (socketp)
		return loop_mod_fd(pc->loop, s, events) < 0 ? -1 : 0;
	r = loop_add_fd(pc->loop, s, events, client_on_fd, pc);
	if (r < 0)
		return -1;
	(void)curl_multi_assign(pc->multi, s, pc);
	return 0;
}

/* Every socket is CLOEXEC, so helper children ternd forks never inherit a
 * connection to a peer. */
static curl_socket_t
client_open_socket(void *data, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
	int fd;

	(void)data;
	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, addr->protocol);
	return fd == -1 ? CURL_SOCKET_BAD : fd;
}

/* curl has already said CURL_POLL_REMOVE by now; unwatching again is
 * harmless (the fd is still ours) and guarantees no watch outlives its
 * fd, whose number the next open() may reuse. */
static int
client_close_socket(void *data, curl_socket_t s)
{
	struct peer_client *pc = data;

	loop_del_fd(pc->loop, s);
	return close(s);
}

static CURLcode
client_setup_tls(struct peer_client *pc, CURL *easy, const char *pin)
{
	CURLcode rc;

	/* The pin is the only trust: no CA (none loaded), no host name. */
	rc = curl_easy_setopt(easy, CURLOPT_PINNEDPUBLICKEY, pin);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_CAINFO, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSLVERSION,
		    (long)CURL_SSLVERSION_TLSv1_2);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSLCERT, pc->cert_path);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_SSLKEY, pc->key_path);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
	return rc;
}

CURLcode
peer_client_setup_easy(struct peer_client *pc, CURL *easy, const char *pin)
{
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, client_open_socket);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, pc);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
	    client_close_socket);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, pc);
	return client_setup_tls(pc, easy, pin);
}

/* Hand every finished transfer to its callback.  The callback may cancel
 * calls (curl then drops their pending messages), start calls, or free
 * the client: then the loop stops and the last frame frees the struct. */
static void
client_dispatch(struct peer_client *pc)
{
	CURLMsg *m;
	int left;

	pc->busy++;
	while (!pc->freed && (m = curl_multi_info_read(pc->multi, &left))) {
		struct peer_call *c = NULL;
		CURLcode rc = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
		peer_call_fire(c, rc);
	}
	if (--pc->busy == 0 && pc->freed)
		client_destroy(pc);
}

/*
 * The identity in files that are not on any disk.  CURLOPT_SSLCERT_BLOB
 * and CURLOPT_SSLKEY_BLOB would do, but libcurl's GnuTLS backend (Debian's
 * libcurl4-gnutls, which tern builds with, like everything else here on
 * GnuTLS) ignores them without an error and sends no certificate.  Every
 * backend reads files, so each PEM goes into a sealed memfd and libcurl
 * gets its /proc/self/fd/N path, which GnuTLS reopens per handshake.
 */
static int
client_memfd(const char *name, const char *pem, char path[32], struct err *err)
{
	_cleanup_close_ int fd = memfd_create(name,
	    MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t len = strlen(pem), done = 0;

	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot make memfd '%s'",
		    name);
	while (done < len) {
		ssize_t n = write(fd, pem + done, len - done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_setf_errno(err, -errno, "cannot write "
			    "memfd '%s'", name);
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE) == -1)
		return err_setf_errno(err, -errno, "cannot seal memfd '%s'",
		    name);
	snprintf(path, 32, "/proc/self/fd/%d", fd);
	if (access(path, R_OK) == -1)
		return err_setf_errno(err, -errno, "cannot read '%s' (is /proc "
		    "mounted?)", path);
	return TAKE_FD(fd);
}

/* Tried once on a scratch handle, so that a libcurl without pins is told
 * when ternd starts rather than on the first call. */
static int
client_check_tls(struct peer_client *pc, struct err *err)
{
	char pin[TLS_PIN_LEN];
	CURL *easy;
	CURLcode rc;

	(void)tls_pin_from_fingerprint("sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    pin, sizeof(pin));
	easy = curl_easy_init();
	if (!easy)
		return err_set(err, -EIO, "cannot initialise libcurl");
	rc = client_setup_tls(pc, easy, pin);
	curl_easy_cleanup(easy);
	if (rc != CURLE_OK)
		return err_set(err, -ENOTSUP, "this libcurl cannot do pinned "
		    "mutual TLS: %s", curl_easy_strerror(rc));
	return 0;
}

static void
peer_client_freep(struct peer_client **pc)
{
	peer_client_free(*pc);
}

int
peer_client_new(struct loop *l, const char *key_pem, const char *cert_pem,
    struct peer_client **ret, struct err *err)
{
	_cleanup_(peer_client_freep) struct peer_client *pc =
	    xzalloc(sizeof(*pc));
	CURLM *m;
	int r;

	pc->loop = l;
	pc->key_fd = pc->cert_fd = -1;
	if ((r = client_memfd("tern-peer-key", key_pem, pc->key_path, err)) < 0)
		return r;
	pc->key_fd = r;
	if ((r = client_memfd("tern-peer-cert", cert_pem, pc->cert_path,
	    err)) < 0)
		return r;
	pc->cert_fd = r;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, -EIO, "cannot initialise libcurl");
	pc->curl_global = true;
	if ((r = client_check_tls(pc, err)) < 0)
		return r;
	m = pc->multi = curl_multi_init();
	if (!m)
		return err_set(err, -EIO, "cannot initialise libcurl");
	if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION,
	    client_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, pc) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION,
	    client_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERDATA, pc) != CURLM_OK)
		return err_set(err, -ENOTSUP, "this libcurl has no multi "
		    "socket interface");
	*ret = TAKE_PTR(pc);
	return 0;
}

struct peer_client *
peer_client_free(struct peer_client *pc)
{
	if (!pc || pc->freed)
		return NULL;
	while (pc->calls)
		peer_call_drop(pc->calls);
	/* Closes every connection; curl says CURL_POLL_REMOVE for each. */
	if (pc->multi)
		curl_multi_cleanup(pc->multi);
	pc->multi = NULL;
	pc->timer = loop_timer_cancel(pc->loop, pc->timer);
	if (pc->key_fd >= 0)
		close(pc->key_fd);
	if (pc->cert_fd >= 0)
		close(pc->cert_fd);
	pc->key_fd = pc->cert_fd = -1;
	if (pc->busy > 0)
		pc->freed = true;
	else
		client_destroy(pc);
	return NULL;
}
