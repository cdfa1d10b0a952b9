/* test_migrate.c - the migrate module's pure parts: the VM description a
 * source sends and the destination's strict parse of it (pools by
 * identity, names, CPU model, switches, paths, memory), and what follows
 * from a measured link rate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "migrate.h"
#include "test.h"
#include "util.h"
#include "vm.h"

static char dir[] = "/tmp/tern-test-migrate-XXXXXX";
static struct store *st;
static struct host hs, hd;	/* source and destination, one store */
static char *machines_src[] = { "pc-q35-10.0", "pc-q35-7.2", NULL };
static char *machines_dest[] = { "pc-q35-7.2", NULL };
static char pool[256];
static const struct wire_opts live = { .running = true };
static const struct wire_opts cold = { 0 };

static void
fixture(void)
{
	char db[300];
	struct obj_row p = { .name = "shared", .a = pool };
	struct obj_row sw = { .name = "sw0", .a = "tb-sw0" };
	struct err err = { 0 };

	if (!mkdtemp(dir))
		abort();
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	snprintf(db, sizeof(db), "%s/ternd.db", dir);
	if (mkdir_p(pool, 0700) < 0 || store_open(db, &st, &err) < 0 ||
	    store_obj_insert(st, STORE_POOL, &p) < 0 ||
	    store_obj_insert(st, STORE_SWITCH, &sw) < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		struct host *h = i ? &hd : &hs;

		h->store = st;
		h->cfg.name = i ? "h2" : "h1";
		snprintf(h->qemu_version, sizeof(h->qemu_version), "7.2.22");
		h->machines = i ? machines_dest : machines_src;
		h->n_machines = i ? 1 : 2;
	}
	if (file_write_atomic("/tmp/tern-test-migrate-disk", "", 0, 0600) < 0)
		abort();
}

/* A VM row on the source with two disks in the pool and one NIC, on the
 * machine type both hosts offer. */
static struct vm_row *
make_row(const char *name)
{
	struct vm_row *r = xzalloc(sizeof(*r));

	uuid_generate_text(r->uuid);
	r->name = xstrdup(name);
	r->cpus = 2;
	r->memory_mib = 64;
	r->machine = xstrdup("pc-q35-7.2");
	r->state = xstrdup("running");
	r->n_disks = 2;
	r->disks = xzalloc(2 * sizeof(*r->disks));
	for (int i = 0; i < 2; i++) {
		snprintf(r->disks[i].name, 8, "vd%c", 'a' + i);
		r->disks[i].path = xasprintf("%s/%s-vd%c.qcow2", pool, name,
		    'a' + i);
		r->disks[i].size_bytes = 1 << 20;
		r->disks[i].owned = true;
		(void)file_write_atomic(r->disks[i].path, "x", 1, 0600);
	}
	r->n_nics = 1;
	r->nics = xzalloc(sizeof(*r->nics));
	snprintf(r->nics[0].mac, 18, "52:54:00:12:34:56");
	r->nics[0].switch_name = xstrdup("sw0");
	return r;
}

static json_t *
describe(struct vm_row *row)
{
	struct vm vm = { .h = &hs, .row = row };
	struct err err = { 0 };
	json_t *o = NULL;

	if (wire_vm_describe(&hs, &vm, false, &o, &err) < 0) {
		fprintf(stderr, "describe: %s\n", err.msg);
		return NULL;
	}
	return o;
}

static void
test_round_trip(void)
{
	struct vm_row *row = make_row("web"), *got = NULL;
	json_t *o = describe(row);
	struct err err = { 0 };

	ASSERT_TRUE(o);
	ASSERT_EQ(wire_vm_resolve(&hd, o, &live, &got, &err), 0);
	ASSERT_STREQ(got->uuid, row->uuid);
	ASSERT_STREQ(got->name, "web");
	ASSERT_STREQ(got->state, "incoming");
	ASSERT_EQ(got->cpus, 2);
	ASSERT_EQ(got->memory_mib, 64);
	ASSERT_EQ(got->n_disks, 2);
	ASSERT_STREQ(got->disks[1].path, row->disks[1].path);
	ASSERT_STREQ(got->disks[0].pool, "shared");
	ASSERT_STREQ(got->nics[0].mac, "52:54:00:12:34:56");
	store_vm_row_free(got);
	ASSERT_EQ(wire_vm_resolve(&hd, o, &cold, &got, &err), 0);
	ASSERT_STREQ(got->state, "off");
	store_vm_row_free(got);
	json_decref(o);
	store_vm_row_free(row);
}

/* Each mutation of a good description must be refused with its reason. */
static void
refused(const char *what, json_t *o, int want, const char *text)
{
	struct vm_row *got = NULL;
	struct err err = { 0 };
	int r = wire_vm_resolve(&hd, o, &live, &got, &err);

	if (r != want || !strstr(err.msg, text)) {
		fprintf(stderr, "%s: got %d '%s', want %d '%s'\n", what, r,
		    err.msg, want, text);
		test_failed_asserts++;
	}
	store_vm_row_free(got);
	json_decref(o);
}

static void
test_refusals(void)
{
	struct vm_row *row = make_row("db");
	json_t *o = describe(row), *c;
	struct vm other = { .h = &hd, .row = make_row("db") };
	struct vm *vms[1] = { &other };
	int before = test_failed_asserts;

	ASSERT_TRUE(o);
	c = json_deep_copy(o);
	json_object_set_new(json_array_get(json_object_get(c, "disks"), 0),
	    "pool_id", json_string("00000000-0000-4000-8000-000000000000"));
	refused("unknown pool", c, -ENOENT, "does not mount");
	c = json_deep_copy(o);
	json_object_set_new(json_array_get(json_object_get(c, "disks"), 0),
	    "rel", json_string("../etc/passwd"));
	refused("path escape", c, -EINVAL, "malformed");
	c = json_deep_copy(o);
	json_object_set_new(json_array_get(json_object_get(c, "disks"), 0),
	    "rel", json_string("nope.qcow2"));
	refused("missing file", c, -ENOENT, "missing here");
	c = json_deep_copy(o);
	json_object_set_new(c, "surprise", json_true());
	refused("unknown field", c, -EINVAL, "surprise");
	c = json_deep_copy(o);
	json_object_set_new(json_array_get(json_object_get(c, "nics"), 0),
	    "switch", json_string("sw9"));
	refused("unknown switch", c, -ENOENT, "switch 'sw9'");
	c = json_deep_copy(o);
	json_object_set_new(c, "memory_mib", json_integer(1 << 20));
	refused("memory", c, -ENOMEM, "available");
	c = json_deep_copy(o);
	json_object_set_new(c, "cpu_model", json_string("host"));
	json_object_set_new(c, "accel", json_string("kvm"));
	refused("cpu model", c, -EINVAL, "CPU model 'host'");
	c = json_deep_copy(o);
	json_object_set_new(c, "machine", json_string("pc-q35-10.0"));
	refused("machine type the destination lacks", c, -ENOTSUP,
	    "needs machine type 'pc-q35-10.0', which QEMU 7.2.22 on host h2 "
	    "does not offer");
	c = json_deep_copy(o);
	json_object_set_new(c, "machine", json_string("pc,accel=kvm"));
	refused("malformed machine type", c, -EINVAL,
	    "'pc,accel=kvm' is not a machine type name");
	c = json_deep_copy(o);
	json_array_append(json_object_get(c, "disks"), json_array_get(
	    json_object_get(c, "disks"), 1));
	refused("disk named out of order", c, -EINVAL, "must be named vdc");
	c = json_deep_copy(o);
	json_object_set_new(c, "kernel", json_string("/nonexistent/vmlinuz"));
	refused("kernel", c, -ENOENT, "kernel");
	hd.vms = vms;
	hd.n_vms = 1;
	refused("name clash", json_incref(o), -EEXIST, "named 'db'");
	hd.vms = NULL;
	hd.n_vms = 0;
	store_vm_row_free(other.row);
	json_decref(o);
	store_vm_row_free(row);
	ASSERT_EQ(test_failed_asserts, before);
}

static void
test_cpu_compat(void)
{
	struct vm_row *row = make_row("c1"), *got = NULL;
	json_t *o;
	struct err err = { 0 };

	hs.kvm = true;		/* the source runs KVM: model "host" */
	o = describe(row);
	ASSERT_TRUE(o);
	ASSERT_EQ(wire_vm_resolve(&hd, o, &live, &got, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "--cpu-compat");
	json_decref(o);
	row->cpu_compat = true;	/* baseline: every host gives qemu64 */
	o = describe(row);
	ASSERT_EQ(wire_vm_resolve(&hd, o, &live, &got, &err), 0);
	ASSERT_TRUE(got->cpu_compat);
	hs.kvm = false;
	store_vm_row_free(got);
	json_decref(o);
	store_vm_row_free(row);
}

static void
test_outside_pool(void)
{
	struct vm_row *row = make_row("out");
	struct vm vm = { .h = &hs, .row = row };
	struct err err = { 0 };
	json_t *o = NULL;

	free(row->disks[1].path);
	row->disks[1].path = xstrdup("/tmp/tern-test-migrate-disk");
	ASSERT_EQ(wire_vm_describe(&hs, &vm, false, &o, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "not in a storage pool");
	store_vm_row_free(row);
}

static void
test_link(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	ASSERT_EQ(link_channels(0, false), 1);
	ASSERT_EQ(link_channels(500ULL << 20, false), 1);
	ASSERT_EQ(link_channels(3ULL << 30, false), cpus < 3 ? cpus : 3);
	ASSERT_TRUE(link_channels(100ULL << 30, false) <= 4);
	/* Encrypted: a channel per core (up to 4), whatever the link. */
	ASSERT_EQ(link_channels(0, true), cpus < 4 ? cpus : 4);
	ASSERT_EQ(link_channels(500ULL << 20, true), cpus < 4 ? cpus : 4);
	ASSERT_EQ(link_auto_slots(0), 1);
	ASSERT_EQ(link_auto_slots(50ULL << 20), 1);
	ASSERT_EQ(link_auto_slots(250ULL << 20), cpus < 2 ? cpus : 2);
	ASSERT_TRUE(link_auto_slots(100ULL << 30) <= 8);
	ASSERT_EQ(link_bandwidth_cap(0), 64ULL << 20);
	ASSERT_EQ(link_bandwidth_cap(1ULL << 30), 3ULL << 29);
	_cleanup_free_ char *a = host_peer_url_host("https://10.1.0.2:7443");
	_cleanup_free_ char *b = host_peer_url_host("https://[fd00::1]:7443");

	ASSERT_STREQ(a, "10.1.0.2");
	ASSERT_STREQ(b, "fd00::1");
}

/* The version and machine-type parsers ternd reads its QEMU with. */
static void
test_qemu_facts(void)
{
	static const char help[] = "Supported machines are:\n"
	    "pc-q35-9.2           Standard PC (Q35 + ICH9, 2009)\n"
	    "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
	    "pc-q35-4.0.1         Standard PC (Q35 + ICH9, 2009) (deprecated)\n"
	    "pc-i440fx-10.0       Standard PC (i440FX + PIIX, 1996)\n"
	    "q35                  Standard PC (Q35 + ICH9, 2009) (alias of "
	    "pc-q35-10.0)\n"
	    "pc-q35-10.0          Standard PC (Q35 + ICH9, 2009)\n"
	    "pc-q35-2.12          Standard PC (Q35 + ICH9, 2009) (deprecated)\n"
	    "none                 empty machine";
	struct host h = { 0 };
	int major = 0, minor = 0;
	char **m = NULL;

	ASSERT_EQ(host_parse_qemu_version("10.0.2", &major, &minor), 0);
	ASSERT_EQ(major, 10);
	ASSERT_EQ(minor, 0);
	ASSERT_EQ(host_parse_qemu_version("7.2.22", &major, &minor), 0);
	ASSERT_EQ(major * 100 + minor, 702);
	ASSERT_EQ(host_parse_qemu_version("unknown", &major, &minor), -EINVAL);
	ASSERT_EQ(host_parse_qemu_version("9", &major, &minor), -EINVAL);
	h.qemu_major = 9;
	h.qemu_minor = 1;
	ASSERT_TRUE(host_qemu_at_least(&h, 9, 0));
	ASSERT_TRUE(host_qemu_at_least(&h, 9, 1));
	ASSERT_TRUE(!host_qemu_at_least(&h, 9, 2));
	ASSERT_TRUE(!host_qemu_at_least(&h, 10, 0));
	ASSERT_TRUE(host_qemu_at_least(&h, 7, 2));
	/* Newest first, numerically (10.0 above 9.2, 2.12 last). */
	ASSERT_EQ(host_parse_machines(help, &m), 4);
	ASSERT_STREQ(m[0], "pc-q35-10.0");
	ASSERT_STREQ(m[1], "pc-q35-9.2");
	ASSERT_STREQ(m[2], "pc-q35-7.2");
	ASSERT_STREQ(m[3], "pc-q35-2.12");
	ASSERT_TRUE(m[4] == NULL);
	h.machines = m;
	h.n_machines = 4;
	ASSERT_STREQ(host_default_machine(&h), "pc-q35-10.0");
	ASSERT_TRUE(host_has_machine(&h, "pc-q35-7.2"));
	ASSERT_TRUE(!host_has_machine(&h, "q35"));
	ASSERT_TRUE(host_machine_name_ok("pc-q35-10.0"));
	ASSERT_TRUE(!host_machine_name_ok("pc,accel=kvm"));
	ASSERT_TRUE(!host_machine_name_ok("-S"));
	ASSERT_TRUE(!host_machine_name_ok(""));
	for (size_t i = 0; i < 4; i++)
		free(m[i]);
	free(m);
	ASSERT_EQ(host_parse_machines("", &m), 0);
	ASSERT_EQ(host_parse_machines(NULL, &m), 0);
}

int
main(void)
{
	char cmd[400];

	fixture();
	RUN_TEST(test_round_trip);
	RUN_TEST(test_refusals);
	RUN_TEST(test_cpu_compat);
	RUN_TEST(test_outside_pool);
	RUN_TEST(test_link);
	RUN_TEST(test_qemu_facts);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s /tmp/tern-test-migrate-disk",
	    dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot clean %s\n", dir);
	return TEST_REPORT();
}
