/* fuzz_migration.c - fuzz the destination's parse of a move request: the
 * VM description a peer sends (POST /v1/migrations) is untrusted input.
 * Against a host with one pool, one switch and no VMs, whatever the parse
 * accepts must be a whole row (every disk a path inside the pool, every
 * NIC a switch that exists), and nothing may crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "migrate.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct host h;
static char *machines[] = { "pc-q35-10.0", "pc-q35-7.2", NULL };
static char pool[128];
static char dir[] = "/tmp/tern-fuzz-migration-XXXXXX";

static void
teardown(void)
{
	char cmd[128];

	h.store = store_close(h.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void
setup(void)
{
	struct obj_row p = { .name = "shared" }, sw = { .name = "sw0",
		.a = "tb-sw0" };
	char db[200], id[37];
	struct err err = { 0 };

	if (!mkdtemp(dir))
		abort();
	atexit(teardown);
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	snprintf(db, sizeof(db), "%s/ternd.db", dir);
	p.a = pool;
	if (mkdir_p(pool, 0700) < 0 || store_open(db, &h.store, &err) < 0 ||
	    store_obj_insert(h.store, STORE_POOL, &p) < 0 ||
	    store_obj_insert(h.store, STORE_SWITCH, &sw) < 0 ||
	    host_pool_identity(pool, id) < 0)
		abort();
	/* The seeds name this identity and these files. */
	(void)unlink(strcat(strcpy(db, pool), "/.tern-pool"));
	if (file_write_atomic(db, "6f1c2a3e-1111-4222-8333-444455556666\n",
	    37, 0644) < 0 ||
	    file_write_atomic(strcat(strcpy(db, pool), "/a.qcow2"), "x", 1,
	    0600) < 0)
		abort();
	h.cfg.name = "fuzz";
	snprintf(h.qemu_version, sizeof(h.qemu_version), "7.2.22");
	h.machines = machines;
	h.n_machines = 2;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *o = NULL;
	struct vm_row *row = NULL;
	struct wire_opts opt = { .running = size & 1, .copy = size & 2 };

	if (!h.store)
		setup();
	if (json_parse_object((const char *)data, size, &o, NULL) < 0)
		return 0;
	(void)wire_vm_shared(&h, o);
	if (wire_vm_resolve(&h, o, &opt, &row, NULL) == 0) {
		for (size_t i = 0; i < row->n_disks; i++)
			if (!path_is_under(row->disks[i].path, pool))
				abort();
		for (size_t i = 0; i < row->n_nics; i++)
			if (strcmp(row->nics[i].switch_name, "sw0") != 0)
				abort();
		store_vm_row_free(row);
	}
	json_decref(o);
	return 0;
}
