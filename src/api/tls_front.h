/* tls_front.h - ternd's own TLS termination in front of a plaintext MHD
 * daemon.  libmicrohttpd 0.9.75 relays upgraded (WebSocket) connections
 * over TLS through an 8-byte emergency buffer (4 bytes each way), which
 * makes the VNC console crawl; so the front listens on TCP, does the
 * GnuTLS handshake in our loop, and hands MHD one end of a socketpair
 * carrying plaintext, pumping bytes between it and the TLS session with
 * 64 KiB buffers each way. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "err.h"
#include "loop.h"
#include "tls.h"

struct tls_front;

/* Hand the plaintext fd of a new connection from the client at sa to the
 * HTTP server.  The fd is the callee's from then on, even on failure
 * (MHD_add_connection closes it in any case).  Returns 0 or -errno. */
typedef int (*tls_front_hand_fn)(int fd, const struct sockaddr *sa,
    socklen_t sa_len, void *data);

/* Listen on ss (listen_addr: how the configuration spelt it, for
 * messages) with the PEM key and certificate (the certificate also names
 * the CA a client certificate is requested for: any is accepted; requests
 * check fingerprints).  At most max_conns connections at once, handshaking
 * or not; more are accepted and closed. */
int tls_front_start(struct loop *l, const struct sockaddr_storage *ss,
    const char *listen_addr, const char *key_pem, const char *cert_pem,
    unsigned max_conns,
    tls_front_hand_fn hand, void *data, struct tls_front **ret_front,
    struct err *err);
/* Close the listener and every connection at once; NULL-safe, returns
 * NULL. */
struct tls_front *tls_front_stop(struct tls_front *f);

/* The client certificate's fingerprint for the connection whose
 * plaintext fd (the one handed over) is fd; false when it sent none, or
 * fd is not (any more) one of ours. */
bool tls_front_peer_fp(const struct tls_front *f, int fd,
    char ret_fp[TLS_FP_LEN]);
