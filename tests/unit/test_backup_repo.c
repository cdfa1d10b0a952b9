/* test_backup_repo.c - the backup repository (src/backup): point ids, the
 * manifest codec (round trip, and every rule broken once: the error names
 * the field), opening and creating a repository, listing points with a
 * half-made one, the atomic manifest write, sha256 of files and the check
 * of a point's files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "repo.h"
#include "test.h"
#include "util.h"

#define UUID "0c8f6b5e-3d2a-4c1b-9e8f-7a6b5c4d3e2f"
#define UUID2 "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
#define POINT "20261205T210000123Z"	/* 1796504400123 */
#define PARENT "20261204T210000000Z"	/* 1796418000000 */
#define SHA_A "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define SHA_B "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* An incremental point of two disks. */
static const char good_incr[] =
    "{\"format\":\"tern-backup-point\",\"version\":1,"
    "\"point\":\"" POINT "\",\"parent\":\"" PARENT "\","
    "\"time_ms\":1796504400123,"
    "\"vm\":{\"uuid\":\"" UUID "\",\"name\":\"web-1\","
    "\"desc\":{\"cpus\":2,\"memory_mib\":512,\"nics\":[]}},"
    "\"kind\":\"incremental\",\"consistency\":\"filesystem\","
    "\"block_size\":65536,\"disks\":["
    "{\"name\":\"vda\",\"size\":10737418240,\"image\":\"vda.qcow2\","
    "\"map\":\"vda.map\",\"backing\":\"../" PARENT "/vda.qcow2\","
    "\"image_sha256\":\"" SHA_A "\",\"map_sha256\":\"" SHA_B "\","
    "\"changed_bytes\":1048576,\"read_bytes\":1048576,"
    "\"written_bytes\":1114112},"
    "{\"name\":\"vdb\",\"size\":1073741824,\"image\":\"vdb.qcow2\","
    "\"map\":\"vdb.map\",\"backing\":\"../" PARENT "/vdb.qcow2\","
    "\"image_sha256\":\"" SHA_B "\",\"map_sha256\":\"" SHA_A "\","
    "\"changed_bytes\":0,\"read_bytes\":0,\"written_bytes\":0}]}";

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/tern-bk-XXXXXX";

	if (!mkdtemp(tmpl))
		abort();
	return xstrdup(tmpl);
}

static void
rm_rf(const char *dir)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);

	(void)!system(cmd);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static void
test_point_id(void)
{
	char id[BK_POINT_ID_LEN], id2[BK_POINT_ID_LEN];

	bk_point_id(1796504400123LL, id);
	ASSERT_STREQ(id, POINT);
	ASSERT_TRUE(bk_point_id_valid(id));
	bk_point_id(1796504400124LL, id2);
	ASSERT_TRUE(strcmp(id, id2) < 0);
	bk_point_id(0, id);
	ASSERT_STREQ(id, "19700101T000000000Z");
	bk_point_id(BK_TIME_MS_MAX, id);
	ASSERT_STREQ(id, "99991231T235959999Z");
	ASSERT_TRUE(!bk_point_id_valid("20261305T210000123Z"));
	ASSERT_TRUE(!bk_point_id_valid("20260230T210000123Z"));
	ASSERT_TRUE(!bk_point_id_valid("20261205T246000123Z"));
	ASSERT_TRUE(!bk_point_id_valid("20261205T210000123z"));
	ASSERT_TRUE(!bk_point_id_valid("20261205T210000123"));
	ASSERT_TRUE(!bk_point_id_valid("20261205T21000012aZ"));
	ASSERT_TRUE(!bk_point_id_valid(""));
	ASSERT_TRUE(!bk_point_id_valid(NULL));
}

static void
test_names(void)
{
	ASSERT_TRUE(bk_name_is_valid("vda"));
	ASSERT_TRUE(bk_name_is_valid("data_1.x-y"));
	ASSERT_TRUE(!bk_name_is_valid(""));
	ASSERT_TRUE(!bk_name_is_valid(".."));
	ASSERT_TRUE(!bk_name_is_valid("a..b"));
	ASSERT_TRUE(!bk_name_is_valid(".hidden"));
	ASSERT_TRUE(!bk_name_is_valid("-x"));
	ASSERT_TRUE(!bk_name_is_valid("a/b"));
	ASSERT_TRUE(!bk_name_is_valid("a b"));
	ASSERT_TRUE(bk_name_is_valid(
	    "a123456789012345678901234567890123456789012345678901234567890123"));
	ASSERT_TRUE(!bk_name_is_valid(
	    "a1234567890123456789012345678901234567890123456789012345678901234"));
	ASSERT_TRUE(bk_uuid_is_valid(UUID));
	ASSERT_TRUE(!bk_uuid_is_valid("0C8F6B5E-3D2A-4C1B-9E8F-7A6B5C4D3E2F"));
}

static void
test_point_dir(void)
{
	struct err err = { 0 };
	char *dir = NULL;

	ASSERT_EQ(bk_point_dir("/r", UUID, POINT, &dir, &err), 0);
	ASSERT_STREQ(dir, "/r/" UUID "/" POINT);
	free(dir);
	ASSERT_EQ(bk_point_dir("/r", "..", POINT, &dir, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "'..' is not a VM UUID");
	err = (struct err){ 0 };
	ASSERT_EQ(bk_point_dir("/r", UUID, "../../etc", &dir, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "'../../etc' is not a point id");
}

static void
test_round_trip(void)
{
	struct bk_manifest a, b;
	struct err err = { 0 };
	json_t *ja, *jb;
	char *text;

	ASSERT_EQ(bk_manifest_parse(good_incr, strlen(good_incr), &a, &err),
	    0);
	ASSERT_STREQ(a.point, POINT);
	ASSERT_STREQ(a.parent, PARENT);
	ASSERT_EQ(a.time_ms, 1796504400123LL);
	ASSERT_STREQ(a.vm_uuid, UUID);
	ASSERT_STREQ(a.vm_name, "web-1");
	ASSERT_EQ(a.kind, BK_INCREMENTAL);
	ASSERT_EQ(a.consistency, BK_FILESYSTEM);
	ASSERT_EQ(a.block_size, 65536);
	ASSERT_EQ(a.n_disks, 2);
	ASSERT_STREQ(a.disks[1].backing, "../" PARENT "/vdb.qcow2");
	ASSERT_EQ(a.disks[0].size, 10737418240LL);
	ASSERT_EQ(a.disks[0].written_bytes, 1114112);
	ASSERT_STREQ(a.disks[1].image_sha256, SHA_B);
	ASSERT_EQ(json_integer_value(json_object_get(a.desc, "cpus")), 2);
	ja = bk_manifest_to_json(&a);
	text = json_to_string(ja);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &b, &err), 0);
	jb = bk_manifest_to_json(&b);
	ASSERT_TRUE(json_equal(ja, jb));
	json_decref(jb);
	/* What the writer makes is what the file said. */
	jb = json_loads(good_incr, 0, NULL);
	ASSERT_TRUE(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	free(text);
	bk_manifest_clear(&a);
	bk_manifest_clear(&b);
	ASSERT_TRUE(a.desc == NULL);
	bk_manifest_clear(NULL);
}

/* "firmware": a UEFI VM's NVRAM and a TPM's state in the point; it
 * round-trips, may be null or name only one, and a bad value is refused
 * naming the field. */
static void
test_firmware(void)
{
	struct bk_manifest a, b;
	struct err err = { 0 };
	json_t *o = json_loads(good_incr, 0, NULL), *ja, *jb;
	char *text;

	json_object_set_new(o, "firmware", json_pack("{ss sn}", "nvram",
	    SHA_B, "tpm_state"));
	text = json_dumps(o, 0);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &a, &err), 0);
	ASSERT_STREQ(a.nvram_sha256, SHA_B);
	ASSERT_STREQ(a.tpm_sha256, "");
	free(text);
	ja = bk_manifest_to_json(&a);
	text = json_dumps(ja, 0);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &b, &err), 0);
	jb = bk_manifest_to_json(&b);
	ASSERT_TRUE(json_equal(ja, jb));
	ASSERT_TRUE(json_equal(ja, o));
	free(text);
	json_decref(ja);
	json_decref(jb);
	bk_manifest_clear(&a);
	bk_manifest_clear(&b);
	/* without it the writer leaves the field out */
	json_object_set_new(o, "firmware", json_null());
	text = json_dumps(o, 0);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &a, &err), 0);
	ja = bk_manifest_to_json(&a);
	ASSERT_TRUE(json_object_get(ja, "firmware") == NULL);
	json_decref(ja);
	bk_manifest_clear(&a);
	free(text);
	json_object_set_new(o, "firmware", json_pack("{ss}", "tpm_state",
	    "XYZ"));
	text = json_dumps(o, 0);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &a, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "tpm_state");
	free(text);
	err = (struct err){ 0 };
	json_object_set_new(o, "firmware", json_pack("{si}", "disk", 1));
	text = json_dumps(o, 0);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &a, &err), -EINVAL);
	free(text);
	err = (struct err){ 0 };
	json_object_set_new(o, "firmware", json_integer(1));
	text = json_dumps(o, 0);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &a, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "firmware");
	free(text);
	json_decref(o);
}

/* One change to good_incr: at the top (where ""), in "vm", or in disk
 * "d0"/"d1"; value is JSON text, NULL removes the key. */
struct mut {
	const char *where, *key, *value;
};

struct rule_case {
	struct mut m[4];
	const char *want;	/* in the error; NULL: must parse */
};

#define BAD_SHA "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
#define FULL_MUTS { "", "kind", "\"full\"" }, { "", "parent", "null" }, \
	{ "d0", "backing", "null" }, { "d1", "backing", "null" }

static const struct rule_case rule_cases[] = {
	{ { FULL_MUTS }, NULL },
	{ { { "", "format", "\"tern-vm\"" } }, "field 'format'" },
	{ { { "", "format", NULL } }, "missing field 'format'" },
	{ { { "", "version", "2" } }, "field 'version' is 2, newer" },
	{ { { "", "version", "\"1\"" } }, "field 'version' must be an int" },
	{ { { "", "version", "2" }, { "", "new_in_v2", "1" } },
	    "field 'version' is 2, newer" },
	{ { { "", "extra", "1" } }, "unknown field 'extra'" },
	{ { { "", "point", "\"20261205T210000124Z\"" } }, "field 'point'" },
	{ { { "", "point", "\"../x\"" } }, "field 'point'" },
	{ { { "", "parent", "\"20261206T000000000Z\"" } }, "field 'parent'" },
	{ { { "", "parent", "\"" POINT "\"" } }, "field 'parent'" },
	{ { { "", "parent", "\"../etc\"" } }, "field 'parent'" },
	{ { { "", "parent", NULL } }, "missing field 'parent'" },
	{ { { "", "parent", "null" } }, "field 'parent' must name" },
	{ { { "", "time_ms", "-1" } }, "field 'time_ms'" },
	{ { { "", "time_ms", "253402300800000" } }, "field 'time_ms'" },
	{ { { "", "kind", "\"full\"" } }, "field 'parent' must be null" },
	{ { { "", "kind", "\"diff\"" } }, "field 'kind'" },
	{ { { "", "kind", "\"resync\"" }, { "", "parent", "null" } },
	    "field 'parent' must name" },
	{ { { "", "consistency", "\"app\"" } }, "field 'consistency'" },
	{ { { "", "block_size", "65537" } }, "field 'block_size'" },
	{ { { "", "block_size", "2048" } }, "field 'block_size'" },
	{ { { "", "block_size", "33554432" } }, "field 'block_size'" },
	{ { { "", "disks", "[]" } }, "field 'disks'" },
	{ { { "", "disks", "{}" } }, "field 'disks'" },
	{ { { "", "disks", "[1]" } }, "disks[0] must be an object" },
	{ { { "", "vm", "[]" } }, "field 'vm'" },
	{ { { "vm", "uuid", "\"0C8F6B5E-3D2A-4C1B-9E8F-7A6B5C4D3E2F\"" } },
	    "field 'vm.uuid'" },
	{ { { "vm", "uuid", NULL } }, "vm: missing field 'uuid'" },
	{ { { "vm", "name", "\"a/b\"" } }, "field 'vm.name'" },
	{ { { "vm", "desc", "\"x\"" } }, "field 'vm.desc'" },
	{ { { "vm", "desc", NULL } }, "field 'vm.desc'" },
	{ { { "vm", "extra", "1" } }, "vm: unknown field 'extra'" },
	{ { { "d0", "name", "\"../x\"" } }, "disks[0]: field 'name'" },
	{ { { "d0", "name", "\"\"" } }, "disks[0]: field 'name'" },
	{ { { "d0", "name", "3" } }, "disks[0]: field 'name' must be a str" },
	{ { { "d0", "image", "\"vda.raw\"" } }, "disks[0]: field 'image'" },
	{ { { "d0", "image", "\"../vda.qcow2\"" } }, "disks[0]: field 'image'" },
	{ { { "d0", "map", "\"vdb.map\"" } }, "disks[0]: field 'map'" },
	{ { { "d0", "backing", "null" } }, "disks[0]: field 'backing'" },
	{ { { "d1", "backing", "\"../20261203T210000000Z/vdb.qcow2\"" } },
	    "disks[1]: field 'backing'" },
	{ { { "d0", "backing", "\"/etc/passwd\"" } },
	    "disks[0]: field 'backing'" },
	{ { { "d0", "backing", NULL } }, "disks[0]: missing field 'backing'" },
	{ { { "", "kind", "\"full\"" }, { "", "parent", "null" },
	    { "d0", "backing", "null" } }, "disks[1]: field 'backing' must be "
	    "null" },
	{ { { "d0", "size", "0" } }, "disks[0]: field 'size'" },
	{ { { "d0", "size", "17592186044417" } }, "disks[0]: field 'size'" },
	{ { { "d0", "changed_bytes", "10737418241" } },
	    "disks[0]: field 'changed_bytes'" },
	{ { { "d0", "read_bytes", "-1" } }, "disks[0]: field 'read_bytes'" },
	{ { { "d0", "written_bytes", "1.5" } },
	    "disks[0]: field 'written_bytes'" },
	{ { { "d0", "image_sha256", "\"" BAD_SHA "\"" } },
	    "disks[0]: field 'image_sha256'" },
	{ { { "d1", "map_sha256", "\"abc\"" } },
	    "disks[1]: field 'map_sha256'" },
	{ { { "d0", "extra", "1" } }, "disks[0]: unknown field 'extra'" },
	{ { { "d1", "size", "\"1\"" } }, "disks[1]: field 'size' must be an" },
};

static void
mutate(json_t *o, const struct mut *m)
{
	json_t *at = o, *v;

	if (streq(m->where, "vm"))
		at = json_object_get(o, "vm");
	else if (m->where[0] == 'd')
		at = json_array_get(json_object_get(o, "disks"),
		    m->where[1] - '0');
	if (!m->value) {
		json_object_del(at, m->key);
		return;
	}
	v = json_loads(m->value, JSON_DECODE_ANY, NULL);
	if (!v)
		abort();
	json_object_set_new(at, m->key, v);
}

/* Parse good_incr changed by c; 0 or the error in *err. */
static int
parse_mutated(const struct rule_case *c, struct err *err)
{
	json_t *o = json_loads(good_incr, 0, NULL);
	struct bk_manifest m;
	char *text;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(c->m) && c->m[i].key; i++)
		mutate(o, &c->m[i]);
	text = json_to_string(o);
	r = bk_manifest_parse(text, strlen(text), &m, err);
	bk_manifest_clear(&m);
	free(text);
	json_decref(o);
	return r;
}

/* Every case runs, and each failing one is printed. */
static void
test_rules(void)
{
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(rule_cases); i++) {
		const struct rule_case *c = &rule_cases[i];
		struct err err = { 0 };
		int r = parse_mutated(c, &err);
		bool ok = c->want ? r == -EINVAL && strstr(err.msg, c->want) :
		    r == 0;

		if (!ok)
			fprintf(stderr, "%s:%d: rule case %zu: r=%d '%s', "
			    "expected '%s'\n", __FILE__, __LINE__, i, r,
			    err.msg, c->want ? c->want : "(success)");
		bad += !ok;
	}
	ASSERT_EQ(bad, 0);
}

/* Rules a single field change cannot break. */
static void
test_rules_whole(void)
{
	json_t *o = json_loads(good_incr, 0, NULL);
	json_t *disks = json_object_get(o, "disks");
	struct err err = { 0 };
	struct bk_manifest m;
	char *text, *big;

	json_array_set_new(disks, 1, json_deep_copy(json_array_get(disks, 0)));
	text = json_to_string(o);
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "disks[1]: field 'name' is 'vda', as "
	    "disks[0]'s");
	free(text);
	for (int i = 2; i < VM_MAX_DISKS + 1; i++)
		json_array_append(disks, json_array_get(disks, 0));
	text = json_to_string(o);
	err = (struct err){ 0 };
	ASSERT_EQ(bk_manifest_parse(text, strlen(text), &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "field 'disks' must be an array of 1 to 16");
	free(text);
	json_decref(o);
	err = (struct err){ 0 };
	ASSERT_EQ(bk_manifest_parse("[1]", 3, &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "expected a JSON object");
	err = (struct err){ 0 };
	ASSERT_EQ(bk_manifest_parse("{\"format\":", 10, &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "malformed JSON");
	big = xmalloc(BK_MANIFEST_MAX + 1);
	memset(big, ' ', BK_MANIFEST_MAX + 1);
	err = (struct err){ 0 };
	ASSERT_EQ(bk_manifest_parse(big, BK_MANIFEST_MAX + 1, &m, &err),
	    -EFBIG);
	ASSERT_CONTAINS(err.msg, "over the limit");
	free(big);
}

static void
test_repo_open(void)
{
	char *dir = tmpdir();
	_cleanup_free_ char *missing = xasprintf("%s/nope", dir);
	_cleanup_free_ char *file = xasprintf("%s/file", dir);
	_cleanup_free_ char *repo = xasprintf("%s/repo", dir);
	_cleanup_free_ char *marker = xasprintf("%s/repo/%s", dir,
	    BK_REPO_MARKER);
	_cleanup_free_ char *text = NULL;
	struct err err = { 0 };

	ASSERT_EQ(bk_repo_open(missing, true, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "does not exist");
	write_file(file, "x");
	err = (struct err){ 0 };
	ASSERT_EQ(bk_repo_open(file, true, &err), -ENOTDIR);
	ASSERT_CONTAINS(err.msg, "is not a directory");
	/* An empty directory: not a repository until created. */
	ASSERT_EQ(mkdir(repo, 0700), 0);
	err = (struct err){ 0 };
	ASSERT_EQ(bk_repo_open(repo, false, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "no tern-backup-repo file");
	ASSERT_EQ(bk_repo_open(repo, true, NULL), 0);
	ASSERT_EQ(file_read_all(marker, 100, &text, NULL), 0);
	ASSERT_STREQ(text, "tern backup repository 1\n");
	ASSERT_EQ(bk_repo_open(repo, false, NULL), 0);
	ASSERT_EQ(bk_repo_open(repo, true, NULL), 0);
	/* A marker of another content. */
	write_file(marker, "tern backup repository 2\n");
	err = (struct err){ 0 };
	ASSERT_EQ(bk_repo_open(repo, false, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "does not say");
	/* A directory with things in it, but no marker. */
	err = (struct err){ 0 };
	ASSERT_EQ(bk_repo_open(dir, true, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "is not a tern backup repository (no "
	    "tern-backup-repo file); give an empty directory or an existing "
	    "repository");
	ASSERT_EQ(access(file, F_OK), 0);
	rm_rf(dir);
	free(dir);
}

/* Root writes anywhere: this case needs an unprivileged user. */
static void
test_repo_read_only(void)
{
	char *dir = tmpdir();
	struct err err = { 0 };

	if (geteuid() == 0) {
		printf("skip test_repo_read_only: running as root, who may "
		    "write into a mode 0500 directory\n");
		rm_rf(dir);
		free(dir);
		return;
	}
	ASSERT_EQ(chmod(dir, 0500), 0);
	ASSERT_EQ(bk_repo_open(dir, true, &err), -EACCES);
	ASSERT_CONTAINS(err.msg, "is not writable");
	ASSERT_EQ(chmod(dir, 0700), 0);
	rm_rf(dir);
	free(dir);
}

/* good_incr made a point of vm uuid at time_ms: full when parent is
 * NULL, else an incremental on parent. */
static void
manifest_at(struct bk_manifest *m, const char *uuid, int64_t time_ms,
    const char *parent)
{
	if (bk_manifest_parse(good_incr, strlen(good_incr), m, NULL) < 0)
		abort();
	snprintf(m->vm_uuid, sizeof(m->vm_uuid), "%s", uuid);
	m->time_ms = time_ms;
	bk_point_id(time_ms, m->point);
	snprintf(m->parent, sizeof(m->parent), "%s", parent ? parent : "");
	m->kind = parent ? BK_INCREMENTAL : BK_FULL;
	for (size_t i = 0; i < m->n_disks; i++)
		snprintf(m->disks[i].backing, sizeof(m->disks[i].backing),
		    "%s%s%s%s", parent ? "../" : "", parent ? parent : "",
		    parent ? "/" : "", parent ? m->disks[i].image : "");
}

/* Make the point's directory, and its manifest when complete. */
static char *
make_point(const char *repo, const struct bk_manifest *m, bool complete)
{
	char *dir = NULL;

	if (bk_point_dir(repo, m->vm_uuid, m->point, &dir, NULL) < 0 ||
	    mkdir_p(dir, 0700) < 0 ||
	    (complete && bk_manifest_write(dir, m, NULL) < 0))
		abort();
	return dir;
}

static void
test_list(void)
{
	char *repo = tmpdir();
	struct bk_manifest m[4], *pts = NULL;
	char **half = NULL, *d[4], *junk;
	size_t n = 0, n_half = 0;
	struct err err = { 0 };

	ASSERT_EQ(bk_repo_open(repo, true, NULL), 0);
	manifest_at(&m[0], UUID2, 1796418000000LL, NULL);
	manifest_at(&m[1], UUID, 1796418000000LL, NULL);
	manifest_at(&m[2], UUID, 1796504400123LL, PARENT);
	manifest_at(&m[3], UUID, 1796504400124LL, POINT);
	for (int i = 0; i < 4; i++)
		d[i] = make_point(repo, &m[i], i != 3);	/* 3: half-made */
	junk = xasprintf("%s/%s/not-a-point", repo, UUID);
	ASSERT_EQ(mkdir(junk, 0700), 0);
	ASSERT_EQ(bk_points_list(repo, NULL, &pts, &n, &half, &n_half, &err),
	    0);
	ASSERT_EQ(n, 3);
	ASSERT_STREQ(pts[0].vm_uuid, UUID);
	ASSERT_STREQ(pts[0].point, PARENT);
	ASSERT_EQ(pts[0].kind, BK_FULL);
	ASSERT_STREQ(pts[1].point, POINT);
	ASSERT_STREQ(pts[1].parent, PARENT);
	ASSERT_STREQ(pts[2].vm_uuid, UUID2);
	ASSERT_EQ(n_half, 1);
	ASSERT_STREQ(half[0], d[3]);
	pts = bk_points_free(pts, n);
	half = bk_paths_free(half, n_half);
	/* One VM's; a VM with no directory has none. */
	ASSERT_EQ(bk_points_list(repo, UUID2, &pts, &n, NULL, NULL, &err), 0);
	ASSERT_EQ(n, 1);
	pts = bk_points_free(pts, n);
	ASSERT_EQ(bk_points_list(repo, "11111111-2222-4333-8444-555555555555",
	    &pts, &n, NULL, NULL, &err), 0);
	ASSERT_EQ(n, 0);
	ASSERT_EQ(bk_points_list(repo, "../x", &pts, &n, NULL, NULL, &err),
	    -EINVAL);
	/* A point whose manifest names another point. */
	err = (struct err){ 0 };
	ASSERT_EQ(bk_manifest_write(d[3], &m[2], NULL), 0);
	ASSERT_EQ(bk_points_list(repo, NULL, &pts, &n, &half, &n_half, &err),
	    -EINVAL);
	ASSERT_CONTAINS(err.msg, "not the directory's");
	/* A damaged manifest: the error names its file. */
	_cleanup_free_ char *bad = xasprintf("%s/%s", d[3], BK_MANIFEST);
	write_file(bad, "{\"format\":\"tern-backup-point\"}");
	err = (struct err){ 0 };
	ASSERT_EQ(bk_points_list(repo, NULL, &pts, &n, &half, &n_half, &err),
	    -EINVAL);
	ASSERT_CONTAINS(err.msg, bad);
	ASSERT_CONTAINS(err.msg, "missing field 'version'");
	for (int i = 0; i < 4; i++) {
		bk_manifest_clear(&m[i]);
		free(d[i]);
	}
	free(junk);
	rm_rf(repo);
	free(repo);
}

static void
test_write(void)
{
	char *repo = tmpdir();
	struct bk_manifest m, back;
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	_cleanup_free_ char *cmd = NULL;
	struct err err = { 0 };
	size_t len = 0;
	json_t *a, *b;

	manifest_at(&m, UUID, 1796504400123LL, PARENT);
	dir = make_point(repo, &m, true);
	path = xasprintf("%s/%s", dir, BK_MANIFEST);
	ASSERT_EQ(file_read_all(path, BK_MANIFEST_MAX, &text, &len), 0);
	ASSERT_EQ(bk_manifest_parse(text, len, &back, &err), 0);
	a = bk_manifest_to_json(&m);
	b = bk_manifest_to_json(&back);
	ASSERT_TRUE(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	bk_manifest_clear(&back);
	/* Nothing but the manifest: no temporary file is left behind. */
	cmd = xasprintf("test \"$(ls -A '%s')\" = manifest.json", dir);
	ASSERT_EQ(system(cmd), 0);
	/* What the reader would refuse is not written: a full point with a
	 * parent; the old manifest stays. */
	m.kind = BK_FULL;
	ASSERT_EQ(bk_manifest_write(dir, &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "field 'parent' must be null");
	ASSERT_EQ(system(cmd), 0);
	free(text);
	text = NULL;
	ASSERT_EQ(file_read_all(path, BK_MANIFEST_MAX, &text, &len), 0);
	ASSERT_EQ(bk_manifest_parse(text, len, &back, NULL), 0);
	ASSERT_EQ(back.kind, BK_INCREMENTAL);
	bk_manifest_clear(&back);
	/* No directory to write into. */
	err = (struct err){ 0 };
	m.kind = BK_INCREMENTAL;
	ASSERT_EQ(bk_manifest_write("/nonexistent/x", &m, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "cannot write '/nonexistent/x/manifest.json'");
	bk_manifest_clear(&m);
	rm_rf(repo);
	free(repo);
}

static void
test_sha256(void)
{
	char *dir = tmpdir();
	_cleanup_free_ char *path = xasprintf("%s/f", dir);
	_cleanup_free_ char *cmd = xasprintf("sha256sum '%s'", path);
	char sum[65], line[128] = "";
	struct err err = { 0 };
	FILE *p;

	write_file(path, "hello\n");
	ASSERT_EQ(bk_file_sha256(path, sum, &err), 0);
	ASSERT_STREQ(sum, SHA_A);
	/* And what sha256sum says, in case the constant lies. */
	p = popen(cmd, "r");
	ASSERT_TRUE(p && fgets(line, sizeof(line), p));
	pclose(p);
	line[64] = '\0';
	ASSERT_STREQ(sum, line);
	write_file(path, "");
	ASSERT_EQ(bk_file_sha256(path, sum, &err), 0);
	ASSERT_STREQ(sum, SHA_B);
	unlink(path);
	ASSERT_EQ(bk_file_sha256(path, sum, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "cannot open");
	rm_rf(dir);
	free(dir);
}

static void
test_check_files(void)
{
	char *repo = tmpdir();
	struct bk_manifest m;
	_cleanup_free_ char *dir = NULL, *vda = NULL, *vdb = NULL;
	struct err err = { 0 };

	manifest_at(&m, UUID, 1796504400123LL, PARENT);
	dir = make_point(repo, &m, true);
	vda = xasprintf("%s/vda.qcow2", dir);
	vdb = xasprintf("%s/vdb.qcow2", dir);
	/* good_incr: vda.qcow2 and vdb.map "hello\n", the others empty. */
	write_file(vda, "hello\n");
	write_file(vdb, "");
	_cleanup_free_ char *vda_map = xasprintf("%s/vda.map", dir);
	_cleanup_free_ char *vdb_map = xasprintf("%s/vdb.map", dir);
	write_file(vda_map, "");
	write_file(vdb_map, "hello\n");
	ASSERT_EQ(bk_point_check_files(repo, &m, &err), 0);
	write_file(vda, "hellO\n");
	ASSERT_EQ(bk_point_check_files(repo, &m, &err), -EBADMSG);
	_cleanup_free_ char *want = xasprintf("%s: sha256 does not match the "
	    "manifest (file changed or corrupt)", vda);
	ASSERT_STREQ(err.msg, want);
	write_file(vda, "hello\n");
	unlink(vdb_map);
	err = (struct err){ 0 };
	ASSERT_EQ(bk_point_check_files(repo, &m, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "vdb.map: missing");
	/* A symlink to the right content is still not the point's file. */
	ASSERT_EQ(symlink(vda, vdb_map), 0);
	err = (struct err){ 0 };
	ASSERT_EQ(bk_point_check_files(repo, &m, &err), -EBADMSG);
	ASSERT_CONTAINS(err.msg, "vdb.map: not a regular file");
	bk_manifest_clear(&m);
	rm_rf(repo);
	free(repo);
}

int
main(void)
{
	RUN_TEST(test_point_id);
	RUN_TEST(test_firmware);
	RUN_TEST(test_names);
	RUN_TEST(test_point_dir);
	RUN_TEST(test_round_trip);
	RUN_TEST(test_rules);
	RUN_TEST(test_rules_whole);
	RUN_TEST(test_repo_open);
	RUN_TEST(test_repo_read_only);
	RUN_TEST(test_list);
	RUN_TEST(test_write);
	RUN_TEST(test_sha256);
	RUN_TEST(test_check_files);
	return TEST_REPORT();
}
