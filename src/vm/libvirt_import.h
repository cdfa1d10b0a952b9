/* libvirt_import.h - "tern vm import-libvirt": a libvirt domain
 * definition (libvirt_xml.h) checked against this host and turned into
 * a create request, so that vm_spec.c checks it as it checks any other
 * (name, machine, memory, switches, kernel files, disks in the pools).
 * Changes nothing: a refusal leaves no VM row and no file. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "host.h"
#include "job.h"
#include "store.h"

struct lv_import_opts {
	const char *xml;	/* the domain's XML, len bytes */
	size_t len;
	bool register_mode;	/* adopt the files in place; else copy */
	const char *pool;	/* copy: the target pool; NULL: the first */
	const char *name;	/* NULL: the domain's */
};

/* Parse and check o against h.  On success *ret_row is a new VM row in
 * state "creating" (the caller inserts it with the job) and
 * *ret_details the job's details: "left_out" (what tern does not carry,
 * for the reply) and, when copying, "sources" (per disk the file and
 * its format).  Refused parts of the domain, a disk outside the pools,
 * a raw disk to register, a missing switch: -EINVAL/-ENOENT/-EPERM with
 * err listing what is wrong. */
int lv_import_prepare(struct host *h, const struct lv_import_opts *o,
    struct vm_row **ret_row, json_t **ret_details, struct err *err);

/* vm.import-libvirt: vm.create's steps (vm_jobs.c), a disk with a
 * source in the details made by `qemu-img convert` instead of create. */
extern const struct job_ops job_vm_import_libvirt;
