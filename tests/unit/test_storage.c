/* test_storage.c - the storage module's logic without QEMU: the strict
 * parse of a move-storage request, the plan checked against a host (pools,
 * directories, target files, the VM's state, the saved state file), and
 * the storage-migration queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "storage.h"
#include "test.h"
#include "tpm_state.h"
#include "util.h"
#include "vm.h"

static char dir[] = "/tmp/tern-test-storage-XXXXXX";
static char p1[300], p2[300], outside[300], sub[300];
static struct store *st;
static struct host h;
static json_t *parsed;	/* the last body parse() read: to[] borrows it */

static void
fixture(void)
{
	char db[300];
	struct obj_row a = { .name = "p1", .a = p1 };
	struct obj_row b = { .name = "p2", .a = p2 };
	struct err err = { 0 };

	if (!mkdtemp(dir))
		abort();
	snprintf(p1, sizeof(p1), "%s/p1", dir);
	snprintf(p2, sizeof(p2), "%s/p2", dir);
	snprintf(sub, sizeof(sub), "%s/p2/sub", dir);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	snprintf(db, sizeof(db), "%s/ternd.db", dir);
	if (mkdir_p(p1, 0700) < 0 || mkdir_p(sub, 0700) < 0 ||
	    mkdir_p(outside, 0700) < 0 || store_open(db, &st, &err) < 0 ||
	    store_obj_insert(st, STORE_POOL, &a) < 0 ||
	    store_obj_insert(st, STORE_POOL, &b) < 0)
		abort();
	h.store = st;
	h.cfg.name = "h1";
	h.cfg.max_storage_migrations = 2;
	job_table_init(&h.jobs, NULL, st, NULL);
	storage_init(&h);
}

/* A VM "name" with two 1 MiB-ish disk files in p1, in state s. */
static struct vm *
make_vm(const char *name, const char *s)
{
	struct vm_row *r = xzalloc(sizeof(*r));
	struct vm *vm;

	uuid_generate_text(r->uuid);
	r->name = xstrdup(name);
	r->cpus = 1;
	r->memory_mib = 64;
	r->state = xstrdup(s);
	r->n_disks = 2;
	r->disks = xzalloc(2 * sizeof(*r->disks));
	for (int i = 0; i < 2; i++) {
		snprintf(r->disks[i].name, 8, "vd%c", 'a' + i);
		r->disks[i].path = xasprintf("%s/%s-vd%c.qcow2", p1, name,
		    'a' + i);
		r->disks[i].pool = xstrdup("p1");
		r->disks[i].size_bytes = 1 << 20;
		r->disks[i].owned = true;
		(void)file_write_atomic(r->disks[i].path, "data", 4, 0600);
	}
	vm = vm_add(&h, r);
	return vm;
}

static const char *const names[] = { "vda", "vdb" };

/* Parse text for a two-disk VM: the return code, targets in to. */
static int
parse(const char *text, const char **to, bool *explicit_disks,
    struct err *err)
{
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	int r;

	if (!o)
		return -999;
	r = storage_plan_parse(o, names, 2, to, explicit_disks, err);
	json_decref(parsed);
	parsed = o;
	return r;
}

static void
test_parse_to(void)
{
	const char *to[2];
	bool ex = true;
	struct err err = { 0 };

	ASSERT_EQ(parse("{\"to\": \"fast\"}", to, &ex, &err), 0);
	ASSERT_STREQ(to[0], "fast");
	ASSERT_STREQ(to[1], "fast");
	ASSERT_TRUE(!ex);
	ASSERT_EQ(parse("{\"to\": \"/srv/pool/x\"}", to, &ex, &err), 0);
	ASSERT_STREQ(to[1], "/srv/pool/x");
}

static void
test_parse_disks(void)
{
	const char *to[2];
	bool ex = false;
	struct err err = { 0 };

	ASSERT_EQ(parse("{\"disks\": {\"vdb\": \"slow\"}}", to, &ex, &err), 0);
	ASSERT_TRUE(to[0] == NULL);
	ASSERT_STREQ(to[1], "slow");
	ASSERT_TRUE(ex);
	ASSERT_EQ(parse("{\"disks\": {\"vda\": \"a\", \"vdb\": \"/b\"}}", to,
	    &ex, &err), 0);
	ASSERT_STREQ(to[0], "a");
	ASSERT_STREQ(to[1], "/b");
}

static void
bad(const char *text, const char *want)
{
	const char *to[2];
	bool ex;
	struct err err = { 0 };
	int r = parse(text, to, &ex, &err);

	if (r != -EINVAL || !strstr(err.msg, want)) {
		fprintf(stderr, "%s: got %d '%s', want -EINVAL '%s'\n", text,
		    r, err.msg, want);
		test_failed_asserts++;
	}
}

static void
test_parse_refusals(void)
{
	bad("{}", "not neither");
	bad("{\"to\": \"a\", \"disks\": {\"vda\": \"b\"}}", "not both");
	bad("{\"to\": \"a\", \"pool\": \"b\"}", "pool");
	bad("{\"to\": 7}", "to");
	bad("{\"to\": \"\"}", "must be a pool name or an absolute");
	bad("{\"to\": \"rel/dir\"}", "must be a pool name or an absolute");
	bad("{\"to\": \"/a,b\"}", "must be a pool name or an absolute");
	bad("{\"to\": \"/a\\nb\"}", "must be a pool name or an absolute");
	bad("{\"disks\": {}}", "disks must be an object");
	bad("{\"disks\": [\"vda\"]}", "disks must be an object");
	bad("{\"disks\": {\"vdz\": \"a\"}}", "no disk 'vdz' (it has vda, vdb)");
	bad("{\"disks\": {\"vda\": 1}}", "disks.vda must be");
	bad("{\"disks\": {\"vda\": \"../x\"}}", "(disks.vda)");
	/* A disk named twice never gets this far: the JSON parser refuses
	 * duplicate keys. */
	ASSERT_EQ(parse("{\"disks\": {\"vda\": \"a\", \"vda\": \"b\"}}", NULL,
	    NULL, NULL), -999);
}

static int
check(struct vm *vm, const char *a, const char *b, bool ex, json_t **ret,
    struct err *err)
{
	const char *to[2] = { a, b };

	*ret = NULL;
	return storage_plan_check(&h, vm, to, ex, ex ? NULL : a, ret, err);
}

static void
test_check_to_pool(void)
{
	struct vm *vm = make_vm("w1", "off");
	json_t *d = NULL, *k;
	struct err err = { 0 };
	char want[400];

	ASSERT_EQ(check(vm, "p2", "p2", false, &d, &err), 0);
	ASSERT_STREQ(json_string_value(json_object_get(d, "mode")), "copy");
	ASSERT_STREQ(json_string_value(json_object_get(d, "target")), "p2");
	ASSERT_EQ(json_array_size(json_object_get(d, "disks")), 2);
	k = json_array_get(json_object_get(d, "disks"), 1);
	snprintf(want, sizeof(want), "%s/w1-vdb.qcow2", p2);
	ASSERT_STREQ(json_string_value(json_object_get(k, "dst")), want);
	ASSERT_STREQ(json_string_value(json_object_get(k, "dst_pool")), "p2");
	ASSERT_STREQ(json_string_value(json_object_get(k, "src_pool")), "p1");
	ASSERT_EQ(json_integer_value(json_object_get(k, "idx")), 1);
	ASSERT_EQ(json_integer_value(json_object_get(k, "size")), 1 << 20);
	ASSERT_TRUE(json_object_get(d, "state") == NULL);
	json_decref(d);
	vm->state = VM_RUNNING;
	vm->pidfd = 99;		/* QEMU "runs"; never used as an fd */
	ASSERT_EQ(check(vm, "p2", "p2", false, &d, &err), 0);
	vm->pidfd = -1;
	ASSERT_STREQ(json_string_value(json_object_get(d, "mode")), "live");
	json_decref(d);
}

static void
test_check_dir_inside_pool(void)
{
	struct vm *vm = make_vm("w2", "off");
	json_t *d = NULL, *k;
	struct err err = { 0 };
	char want[400];

	/* Per disk: vda into a directory inside p2, vdb stays. */
	ASSERT_EQ(check(vm, sub, NULL, true, &d, &err), 0);
	ASSERT_EQ(json_array_size(json_object_get(d, "disks")), 1);
	k = json_array_get(json_object_get(d, "disks"), 0);
	snprintf(want, sizeof(want), "%s/w2-vda.qcow2", sub);
	ASSERT_STREQ(json_string_value(json_object_get(k, "dst")), want);
	ASSERT_STREQ(json_string_value(json_object_get(k, "dst_pool")), "p2");
	ASSERT_TRUE(json_is_null(json_object_get(d, "target")));
	json_decref(d);
}

static void
refused(struct vm *vm, const char *a, const char *b, bool ex, int want,
    const char *text)
{
	json_t *d = NULL;
	struct err err = { 0 };
	int r = check(vm, a, b, ex, &d, &err);

	if (r != want || !strstr(err.msg, text) || d) {
		fprintf(stderr, "%s/%s: got %d '%s', want %d '%s'\n",
		    a ? a : "-", b ? b : "-", r, err.msg, want, text);
		test_failed_asserts++;
	}
	json_decref(d);
}

static void
test_check_refusals(void)
{
	struct vm *vm = make_vm("w3", "off");
	char path[400];

	refused(vm, "p9", "p9", false, -ENOENT, "pool 'p9' not found");
	refused(vm, outside, outside, false, -EPERM, "outside every storage "
	    "pool");
	refused(vm, "/nonexistent/dir", NULL, true, -ENOENT, "does not exist");
	refused(vm, "p1", "p1", false, -EINVAL, "already in 'p1'");
	refused(vm, "p1", NULL, true, -EINVAL, "disk vda of vm 'w3' is "
	    "already in 'p1'");
	refused(vm, p1, NULL, true, -EINVAL, "already in");
	snprintf(path, sizeof(path), "%s/w3-vdb.qcow2", p2);
	(void)file_write_atomic(path, "", 0, 0600);
	refused(vm, "p2", "p2", false, -EEXIST, "already exists");
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/w3-vda.qcow2.partial", p2);
	(void)file_write_atomic(path, "", 0, 0600);
	refused(vm, "p2", NULL, true, -EEXIST, "already exists");
	(void)unlink(path);
	vm->state = VM_STARTING;
	refused(vm, "p2", "p2", false, -EBUSY, "is starting");
	vm->state = VM_SAVING;
	refused(vm, "p2", "p2", false, -EBUSY, "is saving");
	vm->state = VM_OFF;
	(void)unlink(vm->row->disks[1].path);
	refused(vm, NULL, "p2", true, -ENOENT, "is missing");
}

/* --to skips a disk already there and moves the rest. */
static void
test_check_to_skips_disks_there(void)
{
	struct vm *vm = make_vm("w4", "off");
	json_t *d = NULL;
	struct err err = { 0 };
	char *old = vm->row->disks[1].path;

	vm->row->disks[1].path = xasprintf("%s/w4-vdb.qcow2", p2);
	(void)rename(old, vm->row->disks[1].path);
	free(old);
	ASSERT_EQ(check(vm, "p2", "p2", false, &d, &err), 0);
	ASSERT_EQ(json_array_size(json_object_get(d, "disks")), 1);
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(
	    json_object_get(d, "disks"), 0), "name")), "vda");
	json_decref(d);
}

static void
test_check_saved_state(void)
{
	struct vm *vm = make_vm("w5", "saved");
	json_t *d = NULL, *s;
	struct err err = { 0 };
	char want[400];

	vm->row->state_file = xasprintf("%s/w5.state", p1);
	(void)file_write_atomic(vm->row->state_file, "state", 5, 0600);
	/* Only vdb moves: the state stays next to vda. */
	ASSERT_EQ(check(vm, NULL, "p2", true, &d, &err), 0);
	ASSERT_TRUE(json_object_get(d, "state") == NULL);
	json_decref(d);
	ASSERT_EQ(check(vm, "p2", "p2", false, &d, &err), 0);
	s = json_object_get(d, "state");
	snprintf(want, sizeof(want), "%s/w5.state", p2);
	ASSERT_STREQ(json_string_value(json_object_get(s, "dst")), want);
	ASSERT_EQ(json_integer_value(json_object_get(s, "size")), 5);
	json_decref(d);
	(void)file_write_atomic(want, "", 0, 0600);
	refused(vm, "p2", "p2", false, -EEXIST, "w5.state' already exists");
	(void)unlink(want);
}

/* A UEFI VM's NVRAM and a TPM follow disk 0: copied when off; running,
 * the NVRAM is one more mirrored entry and the TPM a copy at the switch;
 * neither when disk 0 stays. */
static void
test_check_fw(void)
{
	struct vm *vm = make_vm("w7", "off");
	json_t *d = NULL, *k;
	struct err err = { 0 };
	char want[400];

	vm->row->nvram = xasprintf("%s/w7-nvram.fd", p1);
	vm->row->tpm_dir = xasprintf("%s/w7-tpm", p1);
	(void)file_write_atomic(vm->row->nvram, "vars", 4, 0600);
	(void)mkdir_p(vm->row->tpm_dir, 0700);
	ASSERT_EQ(check(vm, "p2", "p2", false, &d, &err), 0);
	ASSERT_EQ(json_array_size(json_object_get(d, "disks")), 2);
	snprintf(want, sizeof(want), "%s/w7-nvram.fd", p2);
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(d,
	    "nvram"), "dst")), want);
	json_decref(d);
	vm->state = VM_RUNNING;
	vm->pidfd = 99;		/* QEMU "runs"; never used as an fd */
	ASSERT_EQ(check(vm, "p2", "p2", false, &d, &err), 0);
	ASSERT_STREQ(json_string_value(json_object_get(d, "mode")), "live");
	ASSERT_TRUE(json_object_get(d, "nvram") == NULL);
	ASSERT_EQ(json_array_size(json_object_get(d, "disks")), 3);
	k = json_array_get(json_object_get(d, "disks"), 2);
	ASSERT_TRUE(json_is_true(json_object_get(k, "nvram")));
	ASSERT_STREQ(json_string_value(json_object_get(k, "dst")), want);
	ASSERT_STREQ(json_string_value(json_object_get(k, "src")),
	    vm->row->nvram);
	ASSERT_STREQ(json_string_value(json_object_get(k, "dst_pool")), "p2");
	ASSERT_EQ(json_integer_value(json_object_get(k, "size")), 4);
	snprintf(want, sizeof(want), "%s/w7-tpm", p2);
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(d,
	    "tpm"), "dst")), want);
	json_decref(d);
	/* only vdb: disk 0 and its files stay */
	ASSERT_EQ(check(vm, NULL, "p2", true, &d, &err), 0);
	ASSERT_EQ(json_array_size(json_object_get(d, "disks")), 1);
	ASSERT_TRUE(json_object_get(d, "tpm") == NULL);
	json_decref(d);
	(void)mkdir_p(want, 0700);
	refused(vm, "p2", "p2", false, -EEXIST, "w7-tpm' already exists");
	(void)rmdir(want);
	vm->pidfd = -1;
	vm->state = VM_OFF;
}

/* The TPM's files copied whole through dst.partial, never over a dst
 * that exists. */
static void
test_tpm_state_copy(void)
{
	char src[400], dst[400], f[420], *text = NULL;

	snprintf(src, sizeof(src), "%s/t-src", dir);
	snprintf(dst, sizeof(dst), "%s/t-dst", dir);
	snprintf(f, sizeof(f), "%s/tpm2-00.permall", src);
	(void)mkdir_p(src, 0700);
	(void)file_write_atomic(f, "perm", 4, 0600);
	ASSERT_EQ(tpm_state_copy(src, dst), 0);
	snprintf(f, sizeof(f), "%s/tpm2-00.permall", dst);
	ASSERT_EQ(file_read_all(f, 100, &text, NULL), 0);
	ASSERT_STREQ(text, "perm");
	free(text);
	snprintf(f, sizeof(f), "%s.partial", dst);
	ASSERT_TRUE(access(f, F_OK) != 0);
	ASSERT_TRUE(tpm_state_copy(src, dst) < 0);	/* not empty */
	ASSERT_TRUE(access(f, F_OK) != 0);
}

static void
test_check_busy(void)
{
	struct vm *vm = make_vm("w6", "off");
	struct job *job = NULL;
	struct err err = { 0 };

	ASSERT_EQ(vm_job_create(&h, &job_vm_move_storage, vm, NULL, &job,
	    &err), 0);
	refused(vm, "p2", "p2", false, -EBUSY, "is busy with job");
	free(job->subject);	/* the job stays in h.jobs, idle */
	job->subject = xstrdup("test:idle");
}

static struct job *
slot_job(void)
{
	struct job *job = NULL;
	struct err err = { 0 };

	if (vm_job_create(&h, &job_vm_move_storage, NULL, NULL, &job,
	    &err) < 0)
		abort();
	return job;
}

static void
test_queue(void)
{
	struct job *a, *b, *c, *d;

	/* Only the jobs made here count; earlier ones hold no slot. */
	a = slot_job();
	b = slot_job();
	c = slot_job();
	d = slot_job();
	ASSERT_TRUE(storage_take_slot(a));
	ASSERT_TRUE(storage_take_slot(a));	/* kept, not taken twice */
	ASSERT_TRUE(storage_take_slot(b));
	ASSERT_TRUE(!storage_take_slot(c));	/* 2 of 2 in use */
	ASSERT_TRUE(json_is_true(json_object_get(c->details,
	    "storage_wait")));
	json_object_set_new(a->details, "storage_slot", json_false());
	ASSERT_TRUE(!storage_take_slot(d));	/* c is older: it goes first */
	ASSERT_TRUE(storage_take_slot(c));
	ASSERT_TRUE(json_object_get(c->details, "storage_wait") == NULL);
	ASSERT_TRUE(!storage_take_slot(d));
	/* Any job marked with a slot counts, whatever its type. */
	json_object_set_new(b->details, "storage_slot", json_false());
	json_object_set_new(a->details, "storage_slot", json_true());
	ASSERT_TRUE(!storage_take_slot(d));
	json_object_set_new(a->details, "storage_slot", json_false());
	ASSERT_TRUE(storage_take_slot(d));
}

int
main(void)
{
	fixture();
	RUN_TEST(test_parse_to);
	RUN_TEST(test_parse_disks);
	RUN_TEST(test_parse_refusals);
	RUN_TEST(test_check_to_pool);
	RUN_TEST(test_check_dir_inside_pool);
	RUN_TEST(test_check_refusals);
	RUN_TEST(test_check_to_skips_disks_there);
	RUN_TEST(test_check_saved_state);
	RUN_TEST(test_check_fw);
	RUN_TEST(test_tpm_state_copy);
	RUN_TEST(test_check_busy);
	RUN_TEST(test_queue);
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return TEST_REPORT();
}
