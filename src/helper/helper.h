/* helper.h - what tern's helper executables (tern-blockcopy,
 * tern-replica-apply) share: an image served by a qemu-nbd child and
 * reached through libnbd, libnbd's errors as struct err, sha256 by GnuTLS.
 * Base only: helpers never see ternd's modules, and nothing here logs. */
#pragma once

#include <libnbd.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum helper_nbd_mode {
	HELPER_NBD_READ,	/* qemu-nbd -r */
	HELPER_NBD_WRITE,	/* cache=unsafe: the caller fsyncs */
	HELPER_NBD_WRITE_COMPRESS,	/* writes through QEMU's compress
					 * filter (qcow2 compressed clusters) */
};

/* err set from libnbd's thread-local error, after what we were doing;
 * returns its code. */
int helper_nbd_err(struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The path of prog on $PATH (malloc'd), or NULL. */
char *helper_path_find(const char *prog);

/* Connect h (made by the caller, its meta contexts asked for) to a
 * qemu-nbd child serving the qcow2 at path (and its backing chain), by
 * systemd socket activation: the child dies with h (nbd_close waits for
 * it).  qemu-nbd's own complaint becomes part of the message. */
int helper_qemu_nbd_connect(struct nbd_handle *h, const char *path,
    enum helper_nbd_mode mode, struct err *err);

/* The sha256 of len bytes at buf, or, when fd >= 0, of what read() gives
 * from fd to its end (buf's len bytes as the buffer); lower-case hex.
 * 0 or -errno. */
int helper_sha256_hex(int fd, void *buf, size_t len, char hex[65]);

/* fsync the file at path; -errno. */
int helper_fsync_path(const char *path);
