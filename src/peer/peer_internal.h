/* peer_internal.h - what client.c (the multi handle in the loop) and
 * call.c (one request) share.  Not for use outside src/peer. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>

#include "peer.h"
#include "util.h"

/*
 * A call's life (transitions in call.c):
 *
 *   call_start() --> IN FLIGHT --curl done--> FIRING --fn returns--> freed
 *                       |      (peer_call_fire(),   (cancel does nothing)
 *                       |       from client_dispatch())
 *                       +--peer_call_cancel(), peer_client_free()--> freed
 *                          (peer_call_drop())
 *
 * Invariants: a call is IN FLIGHT exactly when it is on pc->calls and its
 * easy handle is in pc->multi; a FIRING call is on neither and is freed by
 * peer_call_fire() once fn returns.
 */
struct peer_call {
	struct peer_client *pc;
	struct peer_call *prev, *next;	/* pc->calls, while in flight */
	CURL *easy;
	struct curl_slist *headers;
	char *method;
	char *base;			/* base_url without trailing '/' */
	char *url;			/* base + path */
	char *req;			/* request body (JSON text) or NULL */
	char fingerprint[72];
	char pin[TLS_PIN_LEN];
	char errbuf[CURL_ERROR_SIZE];
	uint64_t timeout_ms;
	peer_reply_fn reply_fn;		/* exactly one of reply_fn, ... */
	peer_measure_fn measure_fn;	/* ... measure_fn ... */
	peer_bytes_fn bytes_fn;		/* ... and bytes_fn is set */
	void *data;
	uint64_t want;			/* measure: bytes asked */
	uint64_t got;			/* measure: bytes counted */
	int out_fd;			/* download: the body goes here; else
					 * -1 (a probe drops it) */
	char *buf;			/* reply body (NUL-terminated) */
	size_t len;
	bool too_big;			/* reply passed its limit */
	bool firing;
};

/*
 * Invariants: every call on calls is in multi; timer is the one loop timer
 * curl asked for (NULL: none); a socket curl watches has a loop watch and
 * curl_multi_assign()ed pointer pc.  busy counts client_dispatch() frames:
 * while it is non-zero peer_client_free() empties the client but leaves
 * the struct to the outermost frame (freed set).
 */
struct peer_client {
	struct loop *loop;
	CURLM *multi;
	int key_fd, cert_fd;		/* sealed memfds holding the PEMs */
	char key_path[32], cert_path[32];	/* "/proc/self/fd/N" of each */
	struct loop_timer *timer;
	struct peer_call *calls;
	unsigned busy;
	bool freed;
	bool curl_global;
};

/* Set the options every easy handle of pc needs: our sockets (CLOEXEC, and
 * unwatched before they close) and the TLS identity and pin (checked:
 * CURLE_OK or the option libcurl refused). */
CURLcode peer_client_setup_easy(struct peer_client *pc, CURL *easy,
    const char *pin);

/* The transfer of c ended with rc: take it out of the client, run its
 * callback, free it. */
void peer_call_fire(struct peer_call *c, CURLcode rc);
/* Take c out of the client and free it without calling back. */
void peer_call_drop(struct peer_call *c);
