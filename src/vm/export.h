/* export.h - VM export and import: the vm.json manifest (format in
 * docs/export-format.md), its pure parser and writer (no host state: the
 * fuzz target and unit tests drive them), the checks of an export or
 * import request against this host, and the two jobs.
 *
 * An import is untrusted input end to end: the manifest is parsed
 * strictly, every file it names must stay inside the export directory, and
 * every byte imported is checked against the manifest's sha256 before the
 * VM may run. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "desc.h"
#include "err.h"
#include "host.h"
#include "job.h"
#include "store.h"
#include "vm_spec.h"

#define EXPORT_FORMAT "tern-vm"
#define EXPORT_VERSION 1		/* major; readers refuse a higher one */
#define EXPORT_MANIFEST "vm.json"
#define EXPORT_MAX_MANIFEST (1024 * 1024)

/* One file of an export, relative to the export directory.
 * Invariant (after parsing): file passes export_file_name_ok(), sha256 is
 * 64 lower-case hex digits. */
struct export_file {
	char *file;
	uint64_t size;		/* bytes of the file */
	char sha256[65];
};

struct export_disk {
	char name[8];		/* vda, vdb, ... in order */
	uint64_t virtual_size;	/* from the qcow2 header */
	struct export_file f;
};

/* A parsed vm.json.  Optional parts: has_kernel, has_initrd, has_state;
 * cmdline, services and kvp are NULL when absent (services and kvp hold
 * compact JSON object text). */
struct export_manifest {
	int version;
	char *exported_at, *exported_from;
	struct vm_desc desc;	/* machine "pc-q35-7.2" when the file
				 * names none */
	bool has_kernel, has_initrd, has_state;
	struct export_file kernel, initrd, state;
	/* a UEFI VM's NVRAM variables, a TPM's permanent state
	 * (tpm2-00.permall; absent while its swtpm never ran) */
	bool has_nvram, has_tpm;
	struct export_file nvram, tpm;
	size_t n_disks;
	struct export_disk disks[VM_MAX_DISKS];
	char *services, *kvp;
};

/* Parse len bytes of vm.json into a new manifest (caller frees with
 * export_manifest_free).  Strict: unknown fields, a format other than
 * "tern-vm", a version above EXPORT_VERSION, out-of-range values, unsafe
 * file names and a file named twice all fail with -EINVAL and a message
 * that names the field; over EXPORT_MAX_MANIFEST is -EFBIG.  Pure. */
int export_manifest_parse(const char *buf, size_t len,
    struct export_manifest **ret_m, struct err *err);
struct export_manifest *export_manifest_free(struct export_manifest *m);
/* The vm.json object for m (which must be valid). */
json_t *export_manifest_to_json(const struct export_manifest *m);

/* A file name a manifest may use: relative, of plain components (letters,
 * digits, '.', '_', '-'; none empty, "." or ".."), at most 255 bytes.  Pure:
 * symlinks are export_file_resolve's business. */
bool export_file_name_ok(const char *name);
/* dir/name with symlinks resolved, which must stay inside dir (itself
 * resolved) and be a regular file; its size in *ret_size.  -ENOENT when
 * missing, -EPERM when it escapes dir or is not a regular file (err says
 * which).  The caller frees *ret_path. */
int export_file_resolve(const char *dir, const char *name, char **ret_path,
    uint64_t *ret_size, struct err *err);

/* What "tern vm import" asked for. */
struct import_opts {
	const char *dir;	/* absolute */
	bool register_mode;	/* use the files in place (dir in a pool) */
	const char *name;	/* NULL: the manifest's */
	bool new_id;		/* new UUID and new MACs */
	const char *pool;	/* copy mode: target pool; NULL: the first */
};

/* Check an export of vm into dir (which must not exist, or be an empty
 * directory, in an existing parent) and build the vm.export job's details.
 * Changes nothing.  -EBUSY when the VM is not down. */
int export_prepare(struct host *h, struct vm *vm, const char *dir,
    json_t **ret_details, struct err *err);
/* Read and check the export at o->dir against this host: manifest, every
 * file (inside the directory, size, qcow2 header), name, UUID, MACs,
 * switches, memory, pool and room.  On success a new VM row in state
 * "creating" (the caller inserts it) and the vm.import job's details.
 * Changes nothing. */
int import_prepare(struct host *h, const struct import_opts *o,
    struct vm_row **ret_row, json_t **ret_details, struct err *err);

/* Header facts of a qcow2 image that matter to an import: the virtual
 * size, and whether it points outside itself (a backing file or an
 * external data file, which a VM would open on the host).  -EINVAL when
 * the file is not qcow2 version 2 or 3. */
int qcow2_header_check(const char *path, uint64_t *ret_virtual_size,
    bool *ret_self_contained);

/* The jobs (export.c): vm.export writes dir/, vm.import brings it in. */
extern const struct job_ops job_vm_export, job_vm_import;
