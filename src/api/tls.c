/* tls.c - key and certificate generation and fingerprints with GnuTLS.
 * Never logs; never writes a key readable by anyone but root. */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "fsutil.h"
#include "tls.h"
#include "util.h"

static int
gnutls_to_errno(int rc)
{
	return rc == GNUTLS_E_SUCCESS ? 0 : -EPROTO;
}

int
tls_cert_fingerprint(const gnutls_datum_t *der, char ret_fp[TLS_FP_LEN])
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t spki = { 0 };
	uint8_t hash[32];
	int rc;

	if ((rc = gnutls_x509_crt_init(&crt)) == 0 &&
	    (rc = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER)) == 0 &&
	    (rc = gnutls_pubkey_init(&pub)) == 0 &&
	    (rc = gnutls_pubkey_import_x509(pub, crt, 0)) == 0 &&
	    (rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) == 0)
		rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size,
		    hash);
	if (rc == 0) {
		memcpy(ret_fp, "sha256:", 7);
		hex_encode(hash, sizeof(hash), ret_fp + 7);
	}
	gnutls_free(spki.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	return gnutls_to_errno(rc);
}

int
tls_session_peer_fingerprint(gnutls_session_t s, char ret_fp[TLS_FP_LEN])
{
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);

	if (!certs || n == 0)
		return -ENOKEY;
	return tls_cert_fingerprint(&certs[0], ret_fp);
}

bool
tls_fingerprint_is_valid(const char *fp)
{
	if (!fp || strlen(fp) != 71 || strncmp(fp, "sha256:", 7) != 0)
		return false;
	for (size_t i = 7; i < 71; i++)
		if (!strchr("0123456789abcdef", fp[i]))
			return false;
	return true;
}

static int
tls_make_cert(gnutls_x509_privkey_t key, const char *cn,
    gnutls_x509_crt_t *ret_crt)
{
	gnutls_x509_crt_t crt;
	uint8_t serial[16];
	time_t now = time(NULL);
	int rc;

	(void)!getrandom(serial, sizeof(serial), 0);
	serial[0] &= 0x7f;
	if ((rc = gnutls_x509_crt_init(&crt)) < 0)
		return rc;
	if ((rc = gnutls_x509_crt_set_version(crt, 3)) == 0 &&
	    (rc = gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial))) == 0 &&
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) == 0 &&
	    (rc = gnutls_x509_crt_set_expiration_time(crt,
	    now + 20L * 365 * 86400)) == 0 &&
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn))) == 0 &&
	    (rc = gnutls_x509_crt_set_key(crt, key)) == 0 &&
	    (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) == 0 &&
	    (rc = gnutls_x509_crt_set_key_usage(crt,
	    GNUTLS_KEY_DIGITAL_SIGNATURE)) == 0 &&
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt,
	    GNUTLS_KP_TLS_WWW_SERVER, 0)) == 0 &&
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt,
	    GNUTLS_KP_TLS_WWW_CLIENT, 0)) == 0)
		rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0) {
		gnutls_x509_crt_deinit(crt);
		return rc;
	}
	*ret_crt = crt;
	return 0;
}

static int
tls_generate(const char *key_path, const char *crt_path, const char *cn,
    struct err *err)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kp = { 0 }, cp = { 0 };
	int rc, r = 0;

	rc = gnutls_x509_privkey_init(&key);
	if (rc == 0)
		rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc == 0)
		rc = tls_make_cert(key, cn, &crt);
	if (rc == 0)
		rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kp);
	if (rc == 0)
		rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cp);
	if (rc < 0)
		r = err_set(err, -EPROTO, "cannot generate TLS identity: %s",
		    gnutls_strerror(rc));
	if (r == 0 && (r = file_write_atomic(key_path, kp.data, kp.size,
	    0600)) < 0)
		err_setf_errno(err, r, "cannot write '%s'", key_path);
	if (r == 0 && (r = file_write_atomic(crt_path, cp.data, cp.size,
	    0644)) < 0)
		err_setf_errno(err, r, "cannot write '%s'", crt_path);
	gnutls_free(kp.data);
	gnutls_free(cp.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return r;
}

static int
tls_pem_fingerprint(const char *pem, char ret_fp[TLS_FP_LEN])
{
	gnutls_datum_t in = { (unsigned char *)pem, strlen(pem) };
	gnutls_datum_t der = { 0 };
	int rc = gnutls_pem_base64_decode2("CERTIFICATE", &in, &der);
	int r;

	if (rc < 0)
		return -EPROTO;
	r = tls_cert_fingerprint(&der, ret_fp);
	gnutls_free(der.data);
	return r;
}

int
tls_identity_load(const char *dir, const char *cn, char **ret_key_pem,
    char **ret_cert_pem, char ret_fp[TLS_FP_LEN], struct err *err)
{
	_cleanup_free_ char *key_path = xasprintf("%s/host.key", dir);
	_cleanup_free_ char *crt_path = xasprintf("%s/host.crt", dir);
	_cleanup_free_ char *key = NULL, *crt = NULL;
	int r;

	if ((r = mkdir_p(dir, 0700)) < 0)
		return err_setf_errno(err, r, "cannot create '%s'", dir);
	if (access(key_path, F_OK) != 0 &&
	    (r = tls_generate(key_path, crt_path, cn, err)) < 0)
		return r;
	if ((r = file_read_all(key_path, 64 * 1024, &key, NULL)) < 0)
		return err_setf_errno(err, r, "cannot read '%s'", key_path);
	if ((r = file_read_all(crt_path, 64 * 1024, &crt, NULL)) < 0)
		return err_setf_errno(err, r, "cannot read '%s'", crt_path);
	if ((r = tls_pem_fingerprint(crt, ret_fp)) < 0)
		return err_set(err, r, "'%s' is not a valid certificate",
		    crt_path);
	*ret_key_pem = TAKE_PTR(key);
	*ret_cert_pem = TAKE_PTR(crt);
	return 0;
}
