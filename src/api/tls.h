/* tls.h - the host's TLS identity: an ECDSA P-256 key and a self-signed
 * certificate made on first start in STATE_DIR/tls/, and fingerprints
 * ("sha256:" + hex SHA-256 of the DER SubjectPublicKeyInfo) by which hosts
 * pin each other. */
#pragma once

#include <gnutls/gnutls.h>

#include "err.h"

#define TLS_FP_LEN 72	/* "sha256:" + 64 hex + NUL, rounded up */

/* Load dir/host.key and dir/host.crt, creating both (key 0600) when
 * absent.  Returns PEM strings the caller frees, and the fingerprint. */
int tls_identity_load(const char *dir, const char *cn, char **ret_key_pem,
    char **ret_cert_pem, char ret_fp[TLS_FP_LEN], struct err *err);

/* Fingerprint of a DER certificate. */
int tls_cert_fingerprint(const gnutls_datum_t *der, char ret_fp[TLS_FP_LEN]);

/* The peer certificate's fingerprint of a server session; -ENOKEY when the
 * client sent none. */
int tls_session_peer_fingerprint(gnutls_session_t s, char ret_fp[TLS_FP_LEN]);

/* True for "sha256:" followed by 64 lower-case hex digits. */
bool tls_fingerprint_is_valid(const char *fp);
