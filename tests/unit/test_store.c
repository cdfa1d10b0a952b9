/* test_store.c - unit tests for src/store against a real SQLite file:
 * schema, constraints, VM rows with children, jobs, events, checkpoints. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/tern-store-XXXXXX";

static struct store *
open_fresh(const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	struct store *st = NULL;

	if (store_open(p, &st, NULL) < 0)
		st = NULL;
	free(p);
	return st;
}

static void
test_objects(void)
{
	struct store *st = open_fresh("obj.db");
	struct obj_row a = { "local", "/pools/a", NULL };
	struct obj_row b = { "other", "/pools/a", NULL };
	struct obj_row *rows;
	size_t n;

	ASSERT_TRUE(st);
	ASSERT_EQ(store_obj_insert(st, STORE_POOL, &a), 0);
	ASSERT_EQ(store_obj_insert(st, STORE_POOL, &a), -EEXIST);
	ASSERT_EQ(store_obj_insert(st, STORE_POOL, &b), -EEXIST);
	ASSERT_EQ(store_obj_list(st, STORE_POOL, &rows, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(rows[0].a, "/pools/a");
	obj_rows_free(rows, n);
	ASSERT_EQ(store_obj_delete(st, STORE_POOL, "nope"), -ENOENT);
	ASSERT_EQ(store_obj_delete(st, STORE_POOL, "local"), 0);
	store_close(st);
}

static struct vm_row *
make_vm(const char *name, const char *disk, const char *mac)
{
	struct vm_row *vm = xzalloc(sizeof(*vm));

	uuid_generate_text(vm->uuid);
	vm->name = xstrdup(name);
	vm->cpus = 1;
	vm->memory_mib = 128;
	vm->machine = xstrdup("pc-q35-10.0");
	vm->state = xstrdup("off");
	vm->n_disks = 1;
	vm->disks = xzalloc(sizeof(*vm->disks));
	snprintf(vm->disks[0].name, 8, "vda");
	vm->disks[0].path = xstrdup(disk);
	vm->disks[0].pool = xstrdup("local");
	vm->disks[0].size_bytes = 1 << 30;
	vm->disks[0].owned = true;
	vm->n_nics = 1;
	vm->nics = xzalloc(sizeof(*vm->nics));
	snprintf(vm->nics[0].mac, 18, "%s", mac);
	vm->nics[0].switch_name = xstrdup("lan");
	return vm;
}

/* Hot-plug (migration 14): a VM's ports, a NIC's port, and the NICs
 * replaced at once; a MAC another VM has rolls the change back. */
static void
test_vm_nics(struct store *st, struct vm_row *a)
{
	struct vm_row *b = make_vm("b", "/p/b.qcow2", "52:54:00:00:00:09");
	struct nic_row two[2] = { 0 };
	struct vm_row **all;
	size_t n;

	a->hotplug_ports = 4;
	ASSERT_EQ(store_vm_insert(st, a), 0);
	ASSERT_EQ(store_vm_insert(st, b), 0);
	two[0] = a->nics[0];
	snprintf(two[1].mac, 18, "52:54:00:00:00:05");
	two[1].switch_name = "wan";
	two[1].port = 3;
	ASSERT_EQ(store_vm_set_nics(st, a->uuid, two, 2), 0);
	snprintf(two[1].mac, 18, "52:54:00:00:00:09");	/* b's */
	ASSERT_EQ(store_vm_set_nics(st, a->uuid, two, 2), -EEXIST);
	ASSERT_EQ(store_vm_set_nics(st, "nope", two, 1), -ENOENT);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(all[0]->name, "b");
	ASSERT_EQ(all[0]->hotplug_ports, 0);
	ASSERT_EQ(all[1]->hotplug_ports, 4);
	ASSERT_EQ(all[1]->n_nics, 2);
	ASSERT_EQ(all[1]->nics[0].port, 0);
	ASSERT_STREQ(all[1]->nics[1].mac, "52:54:00:00:00:05");
	ASSERT_STREQ(all[1]->nics[1].switch_name, "wan");
	ASSERT_EQ(all[1]->nics[1].port, 3);
	store_vm_row_free(all[0]);
	store_vm_row_free(all[1]);
	free(all);
	ASSERT_EQ(store_vm_set_nics(st, a->uuid, two, 0), 0);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_EQ(all[1]->n_nics, 0);
	store_vm_row_free(all[0]);
	store_vm_row_free(all[1]);
	free(all);
	ASSERT_EQ(store_vm_delete(st, a->uuid), 0);
	ASSERT_EQ(store_vm_delete(st, b->uuid), 0);
	store_vm_row_free(b);
}

static void
test_vm_rows(void)
{
	struct store *st = open_fresh("vm.db");
	struct vm_row *a = make_vm("a", "/p/a.qcow2", "52:54:00:00:00:01");
	struct vm_row *dup_disk = make_vm("b", "/p/a.qcow2",
	    "52:54:00:00:00:02");
	struct vm_row **all;
	size_t n;

	ASSERT_TRUE(st);
	ASSERT_EQ(store_vm_insert(st, a), 0);
	/* a clash in a child row rolls the whole VM back */
	ASSERT_EQ(store_vm_insert(st, dup_disk), -EEXIST);
	ASSERT_EQ(store_vm_set_runtime(st, a->uuid, "running", 42, 7, 1000),
	    0);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(all[0]->name, "a");
	ASSERT_STREQ(all[0]->state, "running");
	ASSERT_EQ(all[0]->pid, 42);
	ASSERT_STREQ(all[0]->machine, "pc-q35-10.0");
	ASSERT_EQ(all[0]->n_disks, 1);
	ASSERT_EQ(all[0]->disks[0].owned, 1);
	ASSERT_STREQ(all[0]->nics[0].mac, "52:54:00:00:00:01");
	store_vm_row_free(all[0]);
	free(all);
	ASSERT_EQ(store_vm_set_text(st, a->uuid, "kvp", "{\"k\":\"v\"}"), 0);
	ASSERT_EQ(store_vm_set_text(st, a->uuid, "state_file", "/p/a.state"),
	    0);
	ASSERT_EQ(store_vm_set_text(st, a->uuid, "pid; DROP TABLE vms", "x"),
	    -EINVAL);
	ASSERT_EQ(store_vm_set_text(st, "nope", "kvp", NULL), -ENOENT);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_STREQ(all[0]->kvp, "{\"k\":\"v\"}");
	ASSERT_TRUE(all[0]->hold == NULL);
	ASSERT_STREQ(all[0]->state_file, "/p/a.state");
	ASSERT_TRUE(all[0]->services == NULL);
	store_vm_row_free(all[0]);
	free(all);
	ASSERT_EQ(store_vm_set_text(st, a->uuid, "hold", "failed over"), 0);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_STREQ(all[0]->hold, "failed over");
	store_vm_row_free(all[0]);
	free(all);
	ASSERT_EQ(store_vm_delete(st, a->uuid), 0);
	/* the guest's settings and per-VM files (migration 10) */
	free(a->name);
	a->name = xstrdup("g");
	a->firmware = xstrdup("uefi");
	a->secure_boot = true;
	a->nvram = xstrdup("/p/g-nvram.fd");
	a->tpm = true;
	a->tpm_dir = xstrdup("/p/g-tpm");
	a->boot = xstrdup("cdrom,disk");
	a->has_cdrom = true;
	a->cloud_init_seed = xstrdup("/p/g-seed.iso");
	a->cloud_init_net = xstrdup("{\"nic0\": null}");
	ASSERT_EQ(store_vm_insert(st, a), 0);
	ASSERT_EQ(store_vm_set_text(st, a->uuid, "cdrom", "/iso/d.iso"), 0);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_STREQ(all[0]->firmware, "uefi");
	ASSERT_TRUE(all[0]->secure_boot && all[0]->tpm && all[0]->has_cdrom);
	ASSERT_STREQ(all[0]->nvram, "/p/g-nvram.fd");
	ASSERT_STREQ(all[0]->tpm_dir, "/p/g-tpm");
	ASSERT_STREQ(all[0]->boot, "cdrom,disk");
	ASSERT_STREQ(all[0]->cdrom, "/iso/d.iso");
	ASSERT_STREQ(all[0]->cloud_init_seed, "/p/g-seed.iso");
	ASSERT_STREQ(all[0]->cloud_init_net, "{\"nic0\": null}");
	ASSERT_EQ(all[0]->hotplug_ports, 0);
	store_vm_row_free(all[0]);
	free(all);
	ASSERT_EQ(store_vm_delete(st, a->uuid), 0);
	/* dynamic memory (migration 15): min, buffer, and cur as it moves */
	a->memory_mib = 768;
	a->memory_min_mib = 256;
	a->memory_cur_mib = 256;
	a->memory_buffer_pct = 20;
	ASSERT_EQ(store_vm_insert(st, a), 0);
	ASSERT_EQ(store_vm_set_memory_cur(st, a->uuid, 300), 0);
	ASSERT_EQ(store_vm_set_memory_cur(st, "nope", 300), -ENOENT);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_EQ(all[0]->memory_mib, 768);
	ASSERT_EQ(all[0]->memory_min_mib, 256);
	ASSERT_EQ(all[0]->memory_cur_mib, 300);
	ASSERT_EQ(all[0]->memory_buffer_pct, 20);
	store_vm_row_free(all[0]);
	free(all);
	ASSERT_EQ(store_vm_delete(st, a->uuid), 0);
	ASSERT_EQ(store_vm_delete(st, a->uuid), -ENOENT);
	test_vm_nics(st, a);
	store_vm_row_free(a);
	store_vm_row_free(dup_disk);
	store_close(st);
}

static void
test_jobs_and_events(void)
{
	struct store *st = open_fresh("job.db");
	struct job_row j = { .type = "vm.start", .vm_name = "a",
		.state = "running", .phase = "launch", .unit = "steps",
		.rate = -1, .eta_s = -1, .details = "{\"x\":1}",
		.created_ms = 1 };
	struct job_row **act;
	size_t n;
	json_t *v, *ev;

	ASSERT_TRUE(st);
	ASSERT_EQ(store_job_insert(st, &j), 0);
	ASSERT_TRUE(j.id > 0);
	ASSERT_EQ(store_job_load_active(st, &act, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(act[0]->phase, "launch");
	store_job_row_free(act[0]);
	free(act);
	j.state = "succeeded";
	j.ended_ms = 5;
	ASSERT_EQ(store_job_update(st, &j), 0);
	ASSERT_EQ(store_job_load_active(st, &act, &n), 0);
	ASSERT_EQ(n, 0);
	free(act);
	v = store_job_json(st, j.id);
	ASSERT_TRUE(v);
	ASSERT_STREQ(json_string_value(json_object_get(v, "state")),
	    "succeeded");
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(v,
	    "details"), "x")), 1);
	json_decref(v);
	ASSERT_TRUE(store_job_json(st, 999) == NULL);

	ASSERT_EQ(store_event_add(st, "info", "a", j.id, "one", NULL), 0);
	ASSERT_EQ(store_event_add(st, "info", "b", 0, "two", NULL), 0);
	ev = store_event_list_json(st, NULL, 0, 10);
	ASSERT_EQ(json_array_size(json_object_get(ev, "events")), 2);
	ASSERT_EQ(json_integer_value(json_object_get(ev, "last_id")), 2);
	json_decref(ev);
	ev = store_event_list_json(st, "b", 0, 10);
	ASSERT_EQ(json_array_size(json_object_get(ev, "events")), 1);
	json_decref(ev);
	ev = store_event_list_json(st, NULL, 2, 10);
	ASSERT_EQ(json_array_size(json_object_get(ev, "events")), 0);
	ASSERT_EQ(json_integer_value(json_object_get(ev, "last_id")), 2);
	json_decref(ev);
	store_close(st);
}

/* A version-1 file (the first schema) is migrated forward in place. */
static void
test_migrates_v1_file(void)
{
	char *p = xasprintf("%s/v1.db", dir);
	char *cmd = xasprintf("sqlite3 %s \"CREATE TABLE vms(uuid TEXT PRIMARY "
	    "KEY, name TEXT NOT NULL UNIQUE, cpus INTEGER NOT NULL, memory_mib "
	    "INTEGER NOT NULL, cpu_compat INTEGER NOT NULL, kernel TEXT, initrd "
	    "TEXT, cmdline TEXT, state TEXT NOT NULL, pid INTEGER NOT NULL, "
	    "pid_start INTEGER NOT NULL, created_ms INTEGER NOT NULL, "
	    "started_ms INTEGER NOT NULL); INSERT INTO vms VALUES('u', 'old', "
	    "1, 64, 0, NULL, NULL, NULL, 'off', 0, 0, 1, 0); CREATE TABLE "
	    "disks(vm_uuid TEXT, idx INTEGER, name TEXT, path TEXT, pool TEXT, "
	    "size_bytes INTEGER, owned INTEGER); CREATE TABLE nics(vm_uuid "
	    "TEXT, idx INTEGER, mac TEXT, switch TEXT); CREATE TABLE jobs(id "
	    "INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, vm_uuid "
	    "TEXT, vm_name TEXT, state TEXT NOT NULL, phase TEXT, done INTEGER "
	    "NOT NULL, total INTEGER NOT NULL, unit TEXT NOT NULL, rate REAL "
	    "NOT NULL, eta_s INTEGER NOT NULL, error TEXT, details TEXT, "
	    "created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL, "
	    "ended_ms INTEGER NOT NULL); INSERT INTO jobs(type, vm_uuid, "
	    "vm_name, state, phase, done, total, unit, rate, eta_s, created_ms, "
	    "started_ms, ended_ms) VALUES('vm.start', 'u', 'old', 'running', "
	    "'launch', 0, 0, 'steps', -1, -1, 1, 1, 0), ('peer.measure', NULL, "
	    "NULL, 'running', 'start', 0, 0, 'steps', -1, -1, 1, 1, 0); PRAGMA "
	    "user_version=1;\"", p);
	struct store *st = NULL;
	struct vm_row **all;
	struct job_row **jobs;
	size_t n;

	ASSERT_EQ(system(cmd), 0);
	ASSERT_EQ(store_open(p, &st, NULL), 0);
	ASSERT_EQ(store_vm_load_all(st, &all, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(all[0]->name, "old");
	ASSERT_TRUE(all[0]->state_file == NULL);
	/* VMs made before the machine type was theirs ran pc-q35-7.2. */
	ASSERT_STREQ(all[0]->machine, "pc-q35-7.2");
	/* ... and BIOS, no TPM, no CD drive */
	ASSERT_TRUE(all[0]->firmware == NULL && !all[0]->tpm);
	ASSERT_TRUE(!all[0]->has_cdrom && all[0]->nvram == NULL);
	/* ... and no hot-plug ports (their command line as it was) */
	ASSERT_EQ(all[0]->hotplug_ports, 0);
	/* ... and fixed memory (migration 15): min = cur = memory_mib */
	ASSERT_EQ(all[0]->memory_min_mib, all[0]->memory_mib);
	ASSERT_EQ(all[0]->memory_cur_mib, all[0]->memory_mib);
	ASSERT_EQ(all[0]->memory_buffer_pct, 0);
	store_vm_row_free(all[0]);
	free(all);
	/* Jobs recorded before subjects claimed their VM, or the host. */
	ASSERT_EQ(store_job_load_active(st, &jobs, &n), 0);
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(jobs[0]->subject, "vm:u");
	ASSERT_STREQ(jobs[0]->claim, "exclusive");
	ASSERT_STREQ(jobs[1]->subject, "host");
	ASSERT_STREQ(jobs[1]->claim, "shared");
	store_job_row_free(jobs[0]);
	store_job_row_free(jobs[1]);
	free(jobs);
	store_close(st);
	free(p);
	free(cmd);
}

/* The checkpoint tree: a clash refused, one current, children moved to
 * a parent, rows gone with their VM. */
static void
test_checkpoint_rows(void)
{
	struct store *st = open_fresh("cp.db");
	struct vm_row *a = make_vm("a", "/p/a.qcow2", "52:54:00:00:00:01");
	struct checkpoint_row r = { .name = "c1", .created_ms = 1,
		.kind = "production", .consistency = "crash",
		.images = "{\"vda\":\"/p/a.qcow2\"}", .status = "ready",
		.current = true };
	struct checkpoint_row *rows;
	size_t n;

	ASSERT_TRUE(st);
	ASSERT_EQ(store_vm_insert(st, a), 0);
	r.vm_uuid = a->uuid;
	ASSERT_EQ(store_checkpoint_insert(st, &r), 0);
	ASSERT_EQ(store_checkpoint_insert(st, &r), -EEXIST);
	r.name = "c2";
	r.parent = "c1";
	r.created_ms = 2;
	ASSERT_EQ(store_checkpoint_insert(st, &r), 0);
	ASSERT_EQ(store_checkpoint_set_current(st, a->uuid, "c2"), 0);
	ASSERT_EQ(store_checkpoint_reparent(st, a->uuid, "c1", NULL), 0);
	ASSERT_EQ(store_checkpoint_delete(st, a->uuid, "c1"), 0);
	ASSERT_EQ(store_checkpoint_delete(st, a->uuid, "c1"), -ENOENT);
	ASSERT_EQ(store_checkpoint_list(st, a->uuid, &rows, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(rows[0].name, "c2");
	ASSERT_TRUE(rows[0].parent == NULL);
	ASSERT_TRUE(rows[0].current);
	free(rows[0].status);
	rows[0].status = xstrdup("hidden");
	ASSERT_EQ(store_checkpoint_update(st, &rows[0]), 0);
	checkpoint_rows_free(rows, n);
	ASSERT_EQ(store_checkpoint_list(st, a->uuid, &rows, &n), 0);
	ASSERT_STREQ(rows[0].status, "hidden");
	checkpoint_rows_free(rows, n);
	ASSERT_EQ(store_checkpoint_count(st, a->uuid), 1);
	ASSERT_EQ(store_vm_delete(st, a->uuid), 0);
	ASSERT_EQ(store_checkpoint_count(st, a->uuid), 0);
	store_vm_row_free(a);
	store_close(st);
}

/* A relationship per VM: a second refused, an update kept, gone with
 * its VM. */
static void
test_replication_rows(void)
{
	struct store *st = open_fresh("rp.db");
	struct vm_row *a = make_vm("a", "/p/a.qcow2", "52:54:00:00:00:01");
	struct replication_row r = { .role = "primary", .peer = "h2",
		.settings = "{\"interval_s\":30}", .state = "initial",
		.stats = "{}", .created_ms = 5 }, g;
	struct replication_row *rows;
	size_t n;

	ASSERT_TRUE(st);
	ASSERT_EQ(store_vm_insert(st, a), 0);
	r.vm_uuid = a->uuid;
	ASSERT_EQ(store_replication_insert(st, &r), 0);
	ASSERT_EQ(store_replication_insert(st, &r), -EEXIST);
	ASSERT_EQ(store_replication_get(st, a->uuid, &g), 0);
	ASSERT_TRUE(!g.failover && !g.test && !g.drill);
	replication_row_done(&g);
	r.state = "replicating";
	r.seq = 7;
	r.failover = "{\"state\":\"pending\"}";
	r.test = "{\"seq\":7}";
	r.drill = "{\"every_s\":60}";
	ASSERT_EQ(store_replication_update(st, &r), 0);
	ASSERT_EQ(store_replication_get(st, a->uuid, &g), 0);
	ASSERT_STREQ(g.state, "replicating");
	ASSERT_EQ(g.seq, 7);
	ASSERT_EQ(g.created_ms, 5);
	ASSERT_STREQ(g.failover, "{\"state\":\"pending\"}");
	ASSERT_STREQ(g.test, "{\"seq\":7}");
	ASSERT_STREQ(g.drill, "{\"every_s\":60}");
	replication_row_done(&g);
	ASSERT_EQ(store_replication_list(st, &rows, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(rows[0].peer, "h2");
	replication_rows_free(rows, n);
	ASSERT_EQ(store_vm_delete(st, a->uuid), 0);
	ASSERT_EQ(store_replication_get(st, a->uuid, &g), -ENOENT);
	ASSERT_EQ(store_replication_delete(st, a->uuid), -ENOENT);
	r.vm_uuid = "no-such-vm";
	ASSERT_TRUE(store_replication_insert(st, &r) < 0);
	store_vm_row_free(a);
	store_close(st);
}

static void
test_reopen_keeps_state(void)
{
	struct store *st = open_fresh("re.db");
	char *v = NULL;

	ASSERT_TRUE(st);
	ASSERT_EQ(store_meta_set(st, "host.uuid", "u1"), 0);
	store_close(st);
	st = open_fresh("re.db");
	ASSERT_TRUE(st);
	ASSERT_EQ(store_meta_get(st, "host.uuid", &v), 0);
	ASSERT_STREQ(v, "u1");
	free(v);
	store_close(st);
}

static void
test_newer_schema_refused(void)
{
	struct store *st = open_fresh("new.db");
	char *p = xasprintf("%s/new.db", dir);
	char *cmd = xasprintf("sqlite3 %s 'PRAGMA user_version=99'", p);
	struct err e = { 0 };

	ASSERT_TRUE(st);
	store_close(st);
	ASSERT_EQ(system(cmd), 0);
	ASSERT_EQ(store_open(p, &st, &e), -EPROTO);
	ASSERT_CONTAINS(e.msg, "newer than this ternd");
	free(p);
	free(cmd);
}

int
main(void)
{
	char *rm;
	int r;

	if (!mkdtemp(dir))
		return 1;
	RUN_TEST(test_objects);
	RUN_TEST(test_vm_rows);
	RUN_TEST(test_jobs_and_events);
	RUN_TEST(test_checkpoint_rows);
	RUN_TEST(test_replication_rows);
	RUN_TEST(test_reopen_keeps_state);
	RUN_TEST(test_migrates_v1_file);
	RUN_TEST(test_newer_schema_refused);
	r = TEST_REPORT();
	rm = xasprintf("rm -rf %s", dir);
	(void)!system(rm);
	free(rm);
	return r;
}
