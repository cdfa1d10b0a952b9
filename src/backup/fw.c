/* fw.c - a UEFI VM's NVRAM file and a TPM's permanent state in backup
 * points: copied into the point's directory at the seal (BK_NVRAM,
 * BK_TPM, their sha256 in the manifest's "firmware"), and put back next
 * to disk 0 by a restore.  They are small (4 MiB, a few KiB): read and
 * written whole here.  swtpm writes its state by write-temp-then-rename,
 * so a running VM's copy is always one whole state, the one the TPM had
 * at about the point's time; the NVRAM as the file held it then (the
 * guest's firmware writes it rarely, through QEMU). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "bk_int.h"
#include "fsutil.h"
#include "manifest.h"
#include "util.h"

#define BK_FW_MAX (64u << 20)

static void
sha256_hex(const void *buf, size_t len, char hex[65])
{
	unsigned char d[32];

	(void)gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Copy src to dir/name (atomically), its sha256 into hex. */
static int
fw_copy(const char *src, const char *dst, char hex[65], struct err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = file_read_all(src, BK_FW_MAX, &buf, &len)) < 0)
		return err_setf_errno(err, r, "cannot read '%s'", src);
	if ((r = file_write_atomic(dst, buf, len, 0600)) < 0)
		return err_setf_errno(err, r, "cannot write '%s'", dst);
	if (hex)
		sha256_hex(buf, len, hex);
	return 0;
}

int
bk_fw_save(const char *nvram, const char *tpm_dir, const char *dir,
    char nvram_sha[65], char tpm_sha[65], struct err *err)
{
	_cleanup_free_ char *nv = xasprintf("%s/%s", dir, BK_NVRAM);
	_cleanup_free_ char *tp = xasprintf("%s/%s", dir, BK_TPM);
	_cleanup_free_ char *permall = tpm_dir ? xasprintf("%s/%s", tpm_dir,
	    BK_TPM) : NULL;
	int r;

	nvram_sha[0] = tpm_sha[0] = '\0';
	if (nvram && (r = fw_copy(nvram, nv, nvram_sha, err)) < 0)
		return r;
	/* a TPM whose swtpm never ran has no state yet */
	if (permall && access(permall, F_OK) == 0 &&
	    (r = fw_copy(permall, tp, tpm_sha, err)) < 0)
		return r;
	return 0;
}

int
bk_fw_restore(const char *pdir, bool has_nvram, bool has_tpm,
    const char *nvram, const char *tpm_dir, struct err *err)
{
	_cleanup_free_ char *nv = xasprintf("%s/%s", pdir, BK_NVRAM);
	_cleanup_free_ char *tp = xasprintf("%s/%s", pdir, BK_TPM);
	_cleanup_free_ char *permall = tpm_dir ? xasprintf("%s/%s", tpm_dir,
	    BK_TPM) : NULL;
	int r;

	if (has_nvram && nvram && (r = fw_copy(nv, nvram, NULL, err)) < 0)
		return r;
	if (tpm_dir && (r = mkdir_p(tpm_dir, 0700)) < 0)
		return err_setf_errno(err, r, "cannot create '%s'", tpm_dir);
	if (has_tpm && permall && (r = fw_copy(tp, permall, NULL, err)) < 0)
		return r;
	return 0;
}
