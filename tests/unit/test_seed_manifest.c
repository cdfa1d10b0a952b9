/* test_seed_manifest.c - unit tests for src/replica/seed_manifest.c: the
 * replica seed's manifest (seed.json) read as untrusted input.  The
 * example of docs/replica-format.md parses; each fault is refused with a
 * message naming what is wrong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "seed_manifest.h"
#include "test.h"
#include "util.h"

#define UUID "812abe24-5a6b-4c3d-9e8f-0123456789ab"
#define FP "sha256:0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

/* The example of docs/replica-format.md, "The seed". */
static const char good[] = "{"
	"\"format\": \"tern-replica-seed\", \"version\": 1,"
	"\"vm_uuid\": \"" UUID "\", \"vm_name\": \"db1\","
	"\"primary\": \"h1\", \"primary_fingerprint\": \"" FP "\","
	"\"seq\": 1, \"base_seq\": 0, \"time_ms\": 1796540652668,"
	"\"consistency\": \"crash\", \"exported_ms\": 1796540653001,"
	"\"disks\": [{\"name\": \"vdb\", \"size\": 335544320,"
	"\"delta\": \"vdb.delta\", \"delta_bytes\": 421337}]}";

static json_t *
good_json(void)
{
	return json_loads(good, 0, NULL);
}

static json_t *
disk(const char *name, const char *delta)
{
	return json_pack("{ss sI ss sI}", "name", name, "size",
	    (json_int_t)1048576, "delta", delta, "delta_bytes",
	    (json_int_t)100);
}

/* The message parsing text gives (rc < 0), or "" if it parses. */
static const char *
parse_text(const char *text, size_t len)
{
	static struct err err;
	struct seed_manifest m;

	memset(&err, 0, sizeof(err));
	if (seed_manifest_parse(text, len, "/seed", &m, &err) == 0) {
		seed_manifest_clear(&m);
		return "";
	}
	return err.code == -EINVAL ? err.msg : "(wrong code)";
}

/* The same for o, which it takes. */
static const char *
parse_json(json_t *o)
{
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
	static char msg[240];

	snprintf(msg, sizeof(msg), "%s", parse_text(text, strlen(text)));
	json_decref(o);
	return msg;
}

static void
test_example(void)
{
	struct seed_manifest m;
	struct err err = { 0 };

	ASSERT_EQ(seed_manifest_parse(good, strlen(good), "/seed", &m, &err),
	    0);
	ASSERT_STREQ(m.vm_uuid, UUID);
	ASSERT_STREQ(m.vm_name, "db1");
	ASSERT_STREQ(m.primary, "h1");
	ASSERT_STREQ(m.primary_fingerprint, FP);
	ASSERT_EQ(m.seq, 1);
	ASSERT_EQ(m.base_seq, 0);
	ASSERT_EQ(m.time_ms, 1796540652668LL);
	ASSERT_EQ(m.exported_ms, 1796540653001LL);
	ASSERT_EQ(m.filesystem, false);
	ASSERT_EQ(m.n_disks, 1);
	ASSERT_STREQ(m.disks[0].name, "vdb");
	ASSERT_EQ(m.disks[0].size, 335544320);
	ASSERT_EQ(m.disks[0].delta_bytes, 421337);
	seed_manifest_clear(&m);
}

static void
test_optional_and_many(void)
{
	json_t *o = good_json(), *disks = json_array();
	char name[16], delta[32];

	json_object_del(o, "exported_ms");
	json_object_set_new(o, "consistency", json_string("filesystem"));
	for (int i = 0; i < SEED_DISKS_MAX; i++) {
		snprintf(name, sizeof(name), "vd%d", i);
		snprintf(delta, sizeof(delta), "vd%d.delta", i);
		json_array_append_new(disks, disk(name, delta));
	}
	json_object_set_new(o, "disks", disks);
	ASSERT_STREQ(parse_json(o), "");
}

static void
test_not_a_seed(void)
{
	json_t *o = good_json();

	ASSERT_CONTAINS(parse_text("", 0), "/seed is not a replication seed");
	ASSERT_CONTAINS(parse_text("[1]", 3), "is not a replication seed");
	ASSERT_CONTAINS(parse_text(good, strlen(good) - 1),
	    "is not a replication seed");
	json_object_set_new(o, "format", json_string("tern-backup"));
	ASSERT_CONTAINS(parse_json(o), "is not a replication seed");
	o = good_json();
	json_object_del(o, "format");
	ASSERT_CONTAINS(parse_json(o), "is not a replication seed");
}

static void
test_version(void)
{
	json_t *o = good_json();

	json_object_set_new(o, "version", json_integer(2));
	ASSERT_STREQ(parse_json(o), "seed.json: version 2 is not one this "
	    "tern reads (1)");
	o = good_json();
	json_object_set_new(o, "version", json_string("1"));
	ASSERT_CONTAINS(parse_json(o), "seed.json: version 0 is not one");
}

static void
test_unknown_field(void)
{
	json_t *o = good_json();

	json_object_set_new(o, "extra", json_true());
	ASSERT_STREQ(parse_json(o), "unknown field 'extra' in seed.json");
	o = good_json();
	json_object_set_new(json_array_get(json_object_get(o, "disks"), 0),
	    "path", json_string("/etc/passwd"));
	ASSERT_STREQ(parse_json(o), "unknown field 'path' in seed.json disks");
}

static void
test_missing_field(void)
{
	static const char *const req[] = { "vm_uuid", "vm_name", "primary",
		"primary_fingerprint", "seq", "base_seq", "time_ms", NULL };
	char want[64];
	json_t *o;

	for (size_t i = 0; req[i]; i++) {
		o = good_json();
		json_object_del(o, req[i]);
		snprintf(want, sizeof(want), "missing field '%s'", req[i]);
		ASSERT_STREQ(parse_json(o), want);
	}
	o = good_json();
	json_object_del(o, "disks");
	ASSERT_STREQ(parse_json(o), "seed.json: disks must be a list of "
	    "1..16 disks");
	o = good_json();
	json_object_del(json_array_get(json_object_get(o, "disks"), 0),
	    "delta_bytes");
	ASSERT_STREQ(parse_json(o), "seed.json: disks[0] needs name, size, "
	    "delta and delta_bytes");
}

static void
test_wrong_types(void)
{
	json_t *o = good_json();

	json_object_set_new(o, "vm_name", json_integer(7));
	ASSERT_STREQ(parse_json(o), "field 'vm_name' must be a string");
	o = good_json();
	json_object_set_new(o, "time_ms", json_string("now"));
	ASSERT_STREQ(parse_json(o), "field 'time_ms' must be an integer");
	o = good_json();
	json_object_set_new(o, "time_ms", json_integer(-1));
	ASSERT_CONTAINS(parse_json(o), "field 'time_ms' is -1, must be");
	o = good_json();
	json_object_set_new(o, "consistency", json_false());
	ASSERT_STREQ(parse_json(o), "field 'consistency' must be a string");
	o = good_json();
	json_object_set_new(o, "disks", json_string("vdb"));
	ASSERT_STREQ(parse_json(o), "seed.json: disks must be a list of "
	    "1..16 disks");
	o = good_json();
	json_array_set_new(json_object_get(o, "disks"), 0, json_string("vdb"));
	ASSERT_STREQ(parse_json(o), "seed.json: disks[0] needs name, size, "
	    "delta and delta_bytes");
	o = good_json();
	json_object_set_new(json_array_get(json_object_get(o, "disks"), 0),
	    "size", json_real(1.5));
	ASSERT_CONTAINS(parse_json(o), "disks[0] needs name, size");
	o = good_json();
	json_object_set_new(json_array_get(json_object_get(o, "disks"), 0),
	    "delta_bytes", json_integer(0));
	ASSERT_CONTAINS(parse_json(o), "disks[0] needs name, size");
}

static void
test_seq(void)
{
	json_t *o = good_json();

	json_object_set_new(o, "seq", json_integer(2));
	ASSERT_STREQ(parse_json(o), "the seed is point 2 on 0; the replica of "
	    "vm 'db1' takes point 1 on 0 (a first, full point)");
	o = good_json();
	json_object_set_new(o, "base_seq", json_integer(1));
	ASSERT_CONTAINS(parse_json(o), "the seed is point 1 on 1;");
	o = good_json();
	json_object_set_new(o, "seq", json_integer(0));
	ASSERT_CONTAINS(parse_json(o), "field 'seq' is 0, must be between 1");
}

static void
test_uuid(void)
{
	json_t *o = good_json();

	json_object_set_new(o, "vm_uuid", json_string("812abe24"));
	ASSERT_STREQ(parse_json(o), "seed.json: vm_uuid is not a uuid");
	o = good_json();
	json_object_set_new(o, "vm_uuid",
	    json_string("812abe24-5a6b-4c3d-9e8f-0123456789ag"));
	ASSERT_STREQ(parse_json(o), "seed.json: vm_uuid is not a uuid");
}

static void
test_disk_names(void)
{
	static const char *const bad[] = { "", "../vdb", "v/db", ".vdb",
		"-vdb", "vdb ", "a_name_too_long16", NULL };
	_cleanup_free_ char *delta = NULL;
	json_t *o;

	for (size_t i = 0; bad[i]; i++) {
		free(delta);
		delta = xasprintf("%s.delta", bad[i]);
		o = good_json();
		json_array_set_new(json_object_get(o, "disks"), 0,
		    disk(bad[i], delta));
		ASSERT_STREQ(parse_json(o), "seed.json: disks[0] needs name, "
		    "size, delta and delta_bytes");
	}
}

static void
test_delta_name(void)
{
	static const char *const bad[] = { "vdc.delta", "vdb", "../vdb.delta",
		"vdb.delta.", "/tmp/vdb.delta", NULL };
	json_t *o;

	for (size_t i = 0; bad[i]; i++) {
		o = good_json();
		json_array_set_new(json_object_get(o, "disks"), 0,
		    disk("vdb", bad[i]));
		ASSERT_STREQ(parse_json(o), "seed.json: disks[0]: the delta of "
		    "disk vdb is vdb.delta");
	}
}

static void
test_too_many_and_twice(void)
{
	json_t *o = good_json(), *disks = json_array();
	char name[16], delta[32];

	for (int i = 0; i <= SEED_DISKS_MAX; i++) {
		snprintf(name, sizeof(name), "vd%d", i);
		snprintf(delta, sizeof(delta), "vd%d.delta", i);
		json_array_append_new(disks, disk(name, delta));
	}
	json_object_set_new(o, "disks", disks);
	ASSERT_STREQ(parse_json(o), "seed.json: disks must be a list of "
	    "1..16 disks");
	o = good_json();
	json_object_set_new(o, "disks", json_array());
	ASSERT_CONTAINS(parse_json(o), "disks must be a list of 1..16");
	o = good_json();
	disks = json_object_get(o, "disks");
	json_array_append_new(disks, disk("vdc", "vdc.delta"));
	json_array_append_new(disks, disk("vdb", "vdb.delta"));
	ASSERT_STREQ(parse_json(o), "seed.json: disk vdb is given twice");
}

static void
test_oversize(void)
{
	size_t n = SEED_MANIFEST_MAX + 1, len = strlen(good);
	char *big = xmalloc(n);

	/* the example padded with blanks: fine up to 64 KiB, not beyond */
	memcpy(big, good, len);
	memset(big + len, ' ', n - len);
	ASSERT_STREQ(parse_text(big, n - 1), "");
	ASSERT_STREQ(parse_text(big, n), "/seed is not a replication seed (no "
	    "readable seed.json written by 'tern vm replication enable "
	    "--initial offline')");
	free(big);
}

int
main(void)
{
	RUN_TEST(test_example);
	RUN_TEST(test_optional_and_many);
	RUN_TEST(test_not_a_seed);
	RUN_TEST(test_version);
	RUN_TEST(test_unknown_field);
	RUN_TEST(test_missing_field);
	RUN_TEST(test_wrong_types);
	RUN_TEST(test_seq);
	RUN_TEST(test_uuid);
	RUN_TEST(test_disk_names);
	RUN_TEST(test_delta_name);
	RUN_TEST(test_too_many_and_twice);
	RUN_TEST(test_oversize);
	return TEST_REPORT();
}
