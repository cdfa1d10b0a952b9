/* test_export.c - unit tests for the pure parts of export/import: the
 * vm.json parser and writer (round trip, every refusal), file names a
 * manifest may use, resolving them inside a real directory (symlinks,
 * escapes), and qcow2 header checks on hand-made headers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "jsonutil.h"
#include "test.h"
#include "util.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[] = "/tmp/tern-export-XXXXXX";

/* A valid manifest, as the export writes it. */
static json_t *
good(void)
{
	return json_pack("{ss si ss ss ss ss si si sb ss s{ss si ss} s{ss si ss}"
	    " s[{ss ss si sI ss} {ss ss si sI ss}] s[{ss ss}] s{sb} s{ss}"
	    " s{ss si ss}}",
	    "format", "tern-vm", "version", 1,
	    "exported_at", "2026-11-22T04:00:00.000Z", "exported_from", "h1",
	    "uuid", "eca36f55-a404-4755-b02b-2f3238fcd5dc", "name", "web1",
	    "cpus", 2, "memory_mib", 512, "cpu_compat", 1,
	    "cmdline", "console=ttyS0",
	    "kernel", "file", "boot/vmlinuz", "size", 10, "sha256", SHA_A,
	    "initrd", "file", "boot/initrd.img", "size", 20, "sha256", SHA_B,
	    "disks",
	    "name", "vda", "file", "disks/vda.qcow2", "size", 196616,
	    "virtual_size", (json_int_t)1 << 30, "sha256", SHA_A,
	    "name", "vdb", "file", "disks/vdb.qcow2", "size", 0,
	    "virtual_size", (json_int_t)1 << 20, "sha256", SHA_B,
	    "nics", "mac", "52:54:00:12:34:56", "switch", "lan",
	    "services", "heartbeat", 0, "kvp", "role", "web",
	    "saved_state", "file", "state", "size", 4096, "sha256", SHA_B);
}

/* Parse o (consumed); the error message in *msg when it fails. */
static int
parse(json_t *o, struct export_manifest **ret, char *msg, size_t len)
{
	_cleanup_free_ char *text = json_to_string(o);
	struct err e = { 0 };
	int r = export_manifest_parse(text, strlen(text), ret, &e);

	json_decref(o);
	snprintf(msg, len, "%s", e.msg);
	return r;
}

/* good() with path set to v (NULL: deleted), then parsed: the error. */
static int
parse_edit(const char *key, const char *sub, json_t *v, char *msg,
    size_t len)
{
	json_t *o = good(), *at = o;
	struct export_manifest *m = NULL;
	int r;

	if (sub) {
		at = json_object_get(o, key);
		if (json_is_array(at))
			at = json_array_get(at, 0);
		key = sub;
	}
	if (v)
		json_object_set_new(at, key, v);
	else
		json_object_del(at, key);
	r = parse(o, &m, msg, len);
	export_manifest_free(m);
	return r;
}

static void
test_parse_good(void)
{
	struct export_manifest *m = NULL;
	char msg[256];

	ASSERT_EQ(parse(good(), &m, msg, sizeof(msg)), 0);
	ASSERT_EQ(m->version, 1);
	ASSERT_STREQ(m->desc.name, "web1");
	ASSERT_STREQ(m->desc.uuid, "eca36f55-a404-4755-b02b-2f3238fcd5dc");
	ASSERT_EQ(m->desc.cpus, 2);
	ASSERT_EQ(m->desc.memory_mib, 512);
	ASSERT_TRUE(m->desc.cpu_compat && m->has_kernel && m->has_initrd &&
	    m->has_state);
	ASSERT_EQ(m->n_disks, 2);
	ASSERT_STREQ(m->disks[1].name, "vdb");
	ASSERT_EQ(m->disks[0].virtual_size, 1 << 30);
	ASSERT_EQ(m->disks[0].f.size, 196616);
	ASSERT_STREQ(m->disks[1].f.sha256, SHA_B);
	ASSERT_EQ(m->desc.n_nics, 1);
	ASSERT_STREQ(m->desc.nics[0].switch_name, "lan");
	ASSERT_STREQ(m->desc.nics[0].mac, "52:54:00:12:34:56");
	ASSERT_STREQ(m->services, "{\"heartbeat\":false}");
	ASSERT_STREQ(m->kvp, "{\"role\":\"web\"}");
	ASSERT_STREQ(m->state.file, "state");
	/* A file from before the machine type was the VM's names none. */
	ASSERT_STREQ(m->desc.machine, "pc-q35-7.2");
	export_manifest_free(m);
}

/* Writer and parser agree: write, parse, write again, same text. */
static void
test_round_trip(void)
{
	struct export_manifest *m = NULL, *m2 = NULL;
	_cleanup_free_ char *t1 = NULL, *t2 = NULL;
	json_t *o;
	char msg[256];

	ASSERT_EQ(parse(good(), &m, msg, sizeof(msg)), 0);
	o = export_manifest_to_json(m);
	t1 = json_to_string(o);
	ASSERT_EQ(parse(o, &m2, msg, sizeof(msg)), 0);
	o = export_manifest_to_json(m2);
	t2 = json_to_string(o);
	json_decref(o);
	ASSERT_STREQ(t1, t2);
	ASSERT_CONTAINS(t1, "\"saved_state\":{\"file\":\"state\"");
	export_manifest_free(m);
	export_manifest_free(m2);
}

/* Optional parts absent or null: a VM booting from disk, never saved. */
static void
test_parse_minimal(void)
{
	struct export_manifest *m = NULL;
	json_t *o = json_pack("{ss si ss ss si si s[] s[]}", "format",
	    "tern-vm", "version", 1, "uuid",
	    "eca36f55-a404-4755-b02b-2f3238fcd5dc", "name", "x", "cpus", 1,
	    "memory_mib", 16, "disks", "nics");
	char msg[256];

	json_object_set_new(o, "kernel", json_null());
	ASSERT_EQ(parse(o, &m, msg, sizeof(msg)), 0);
	ASSERT_TRUE(!m->has_kernel && !m->has_initrd && !m->has_state);
	ASSERT_TRUE(!m->desc.cmdline && !m->services && !m->kvp);
	export_manifest_free(m);
}

static void
test_refuse_version(void)
{
	char msg[256];

	ASSERT_EQ(parse_edit("version", NULL, json_integer(2), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "vm.json: format version 2 is newer than this "
	    "tern reads (1)");
	/* A newer version is named even when it brings unknown fields. */
	json_t *o = good();
	struct export_manifest *m = NULL;
	json_object_set_new(o, "version", json_integer(99));
	json_object_set_new(o, "future", json_true());
	ASSERT_EQ(parse(o, &m, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "format version 99");
	ASSERT_EQ(parse_edit("version", NULL, json_integer(0), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("version", NULL, json_string("1"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("format", NULL, json_string("ovf"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "not a tern VM export");
}

static void
test_refuse_fields(void)
{
	char msg[256];

	ASSERT_EQ(parse_edit("bogus", NULL, json_true(), msg, sizeof(msg)),
	    -EINVAL);
	ASSERT_STREQ(msg, "vm.json: unknown field 'bogus'");
	ASSERT_EQ(parse_edit("disks", "extra", json_true(), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_STREQ(msg, "vm.json: unknown field 'extra' in disks[0]");
	ASSERT_EQ(parse_edit("kernel", "owner", json_true(), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("nics", "model", json_true(), msg, sizeof(msg)),
	    -EINVAL);
	ASSERT_EQ(parse_edit("uuid", NULL, NULL, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "missing field 'uuid'");
	ASSERT_EQ(parse_edit("disks", NULL, NULL, msg, sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("disks", "sha256", NULL, msg, sizeof(msg)),
	    -EINVAL);
}

static void
test_refuse_values(void)
{
	char msg[256];

	ASSERT_EQ(parse_edit("uuid", NULL, json_string("not-a-uuid"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("name", NULL, json_string("../x"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("cpus", NULL, json_integer(0), msg, sizeof(msg)),
	    -EINVAL);
	ASSERT_EQ(parse_edit("memory_mib", NULL, json_integer(1), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("disks", "name", json_string("vdc"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "disks are vda, vdb, ... in order");
	ASSERT_EQ(parse_edit("disks", "virtual_size", json_integer(0), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("disks", "size", json_integer(-1), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("disks", "sha256", json_string(SHA_A "0"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("kernel", "sha256", json_string(
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	    msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "64 lower-case hex digits");
	ASSERT_EQ(parse_edit("nics", "mac", json_string("01:00:5e:00:00:01"),
	    msg, sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("nics", "switch", json_string("a/b"), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("services", NULL, json_pack("{ss}", "hb", "on"),
	    msg, sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("kvp", NULL, json_pack("{si}", "k", 1), msg,
	    sizeof(msg)), -EINVAL);
	ASSERT_EQ(parse_edit("kvp", NULL, json_array(), msg, sizeof(msg)),
	    -EINVAL);
	ASSERT_EQ(parse_edit("kernel", NULL, json_null(), msg, sizeof(msg)),
	    -EINVAL);
	ASSERT_CONTAINS(msg, "initrd and cmdline need a kernel");
	ASSERT_EQ(parse_edit("machine", NULL, json_string("q35,accel=kvm"),
	    msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "machine must be a QEMU machine type");
}

static void
test_refuse_paths(void)
{
	static const char *const bad[] = { "../../etc/passwd", "/etc/passwd",
		"disks/../../x", "disks//vda", "./vda", "disks/", "", "a b",
		"disks/vda\n", "c:\\x", "..", NULL };
	char msg[256];

	for (size_t i = 0; bad[i]; i++) {
		ASSERT_EQ(parse_edit("disks", "file", json_string(bad[i]), msg,
		    sizeof(msg)), -EINVAL);
		ASSERT_CONTAINS(msg, "inside the export directory");
	}
	ASSERT_EQ(parse_edit("saved_state", "file", json_string(
	    "disks/vda.qcow2"), msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "file 'disks/vda.qcow2' is named twice");
	json_t *o = good();
	struct export_manifest *m = NULL;
	/* MACs compare in lower case, whatever case the file used. */
	json_array_append_new(json_object_get(o, "nics"), json_pack("{ss ss}",
	    "mac", "52:54:00:AB:CD:EF", "switch", "wan"));
	json_object_set_new(json_array_get(json_object_get(o, "nics"), 0),
	    "mac", json_string("52:54:00:ab:cd:ef"));
	ASSERT_EQ(parse(o, &m, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "mac 52:54:00:ab:cd:ef is given twice");
	ASSERT_EQ(parse_edit("nics", "mac", json_string("52:54:00:AB:CD:EF"),
	    msg, sizeof(msg)), 0);
}

/* A UEFI VM's NVRAM and a TPM's state: files like the others, named by
 * the writer, refused without firmware uefi / tpm. */
static void
test_firmware_files(void)
{
	struct export_manifest *m = NULL;
	json_t *o = good(), *w;
	char *text;
	char msg[256];

	json_object_set_new(o, "firmware", json_string("uefi"));
	json_object_set_new(o, "tpm", json_true());
	json_object_set_new(o, "nvram", json_pack("{ss si ss}", "file",
	    "nvram.fd", "size", 4194304, "sha256", SHA_A));
	json_object_set_new(o, "tpm_state", json_pack("{ss si ss}", "file",
	    "tpm2-00.permall", "size", 1315, "sha256", SHA_B));
	ASSERT_EQ(parse(json_deep_copy(o), &m, msg, sizeof(msg)), 0);
	ASSERT_TRUE(m->has_nvram && m->has_tpm);
	ASSERT_STREQ(m->tpm.file, "tpm2-00.permall");
	w = export_manifest_to_json(m);
	text = json_dumps(w, JSON_COMPACT);
	ASSERT_CONTAINS(text, "\"nvram\":{\"file\":\"nvram.fd\"");
	ASSERT_CONTAINS(text, "\"tpm_state\":{\"file\":\"tpm2-00.permall\"");
	free(text);
	json_decref(w);
	export_manifest_free(m);
	json_object_del(o, "tpm");
	ASSERT_EQ(parse(json_deep_copy(o), &m, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "tpm_state needs tpm");
	json_object_del(o, "firmware");
	json_object_del(o, "tpm_state");
	ASSERT_EQ(parse(o, &m, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "nvram needs firmware uefi");
}

static void
test_refuse_json(void)
{
	struct export_manifest *m = NULL;
	struct err e = { 0 };
	const char *dup = "{\"format\": \"tern-vm\", \"format\": \"x\"}";
	const char *nul = "{\"format\": \"tern\\u0000-vm\"}";
	char *big = xmalloc(EXPORT_MAX_MANIFEST + 2);

	ASSERT_EQ(export_manifest_parse("{\"format\":", 10, &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "vm.json: malformed JSON");
	ASSERT_EQ(export_manifest_parse("[]", 2, &m, NULL), -EINVAL);
	ASSERT_EQ(export_manifest_parse(dup, strlen(dup), &m, NULL), -EINVAL);
	ASSERT_EQ(export_manifest_parse(nul, strlen(nul), &m, NULL), -EINVAL);
	memset(big, ' ', EXPORT_MAX_MANIFEST + 1);
	ASSERT_EQ(export_manifest_parse(big, EXPORT_MAX_MANIFEST + 1, &m,
	    NULL), -EFBIG);
	free(big);
}

static void
test_file_name_ok(void)
{
	char long_name[300];

	ASSERT_TRUE(export_file_name_ok("disks/vda.qcow2"));
	ASSERT_TRUE(export_file_name_ok("state"));
	ASSERT_TRUE(export_file_name_ok("a/b_c-d.e/f..g"));
	ASSERT_TRUE(export_file_name_ok("...x"));
	ASSERT_TRUE(!export_file_name_ok("."));
	ASSERT_TRUE(!export_file_name_ok("a/.."));
	ASSERT_TRUE(!export_file_name_ok("../a"));
	ASSERT_TRUE(!export_file_name_ok("a/./b"));
	ASSERT_TRUE(!export_file_name_ok("a,b"));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ASSERT_TRUE(!export_file_name_ok(long_name));
}

static int
write_file(const char *name, const void *data, size_t len)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static void
test_resolve(void)
{
	_cleanup_free_ char *exp = xasprintf("%s/exp", dir);
	_cleanup_free_ char *sub = xasprintf("%s/exp/disks", dir);
	_cleanup_free_ char *l1 = xasprintf("%s/exp/out", dir);
	_cleanup_free_ char *l2 = xasprintf("%s/exp/in", dir);
	_cleanup_free_ char *l3 = xasprintf("%s/exp/up", dir);
	char *path = NULL;
	uint64_t size = 0;
	struct err e = { 0 };

	ASSERT_EQ(mkdir(exp, 0700), 0);
	ASSERT_EQ(mkdir(sub, 0700), 0);
	ASSERT_EQ(write_file("exp/disks/vda.qcow2", "12345", 5), 0);
	ASSERT_EQ(write_file("secret", "x", 1), 0);
	ASSERT_EQ(symlink("/etc/passwd", l1), 0);
	ASSERT_EQ(symlink("disks/vda.qcow2", l2), 0);
	ASSERT_EQ(symlink("..", l3), 0);
	ASSERT_EQ(export_file_resolve(exp, "disks/vda.qcow2", &path, &size,
	    NULL), 0);
	ASSERT_EQ(size, 5);
	ASSERT_CONTAINS(path, "/exp/disks/vda.qcow2");
	free(path);
	ASSERT_EQ(export_file_resolve(exp, "in", &path, &size, NULL), 0);
	free(path);
	ASSERT_EQ(export_file_resolve(exp, "missing", &path, &size, &e),
	    -ENOENT);
	ASSERT_CONTAINS(e.msg, "is missing");
	memset(&e, 0, sizeof(e));
	ASSERT_EQ(export_file_resolve(exp, "out", &path, &size, &e), -EPERM);
	ASSERT_CONTAINS(e.msg, "outside the export directory");
	ASSERT_EQ(export_file_resolve(exp, "up/secret", &path, &size, NULL),
	    -EPERM);
	ASSERT_EQ(export_file_resolve(exp, "disks", &path, &size, NULL),
	    -EPERM);
}

/* A qcow2 header: version, virtual size, backing offset, features. */
static void
qcow2_hdr(uint8_t *h, uint32_t version, uint64_t vsize, uint64_t backing,
    uint64_t incompat)
{
	memset(h, 0, 104);
	memcpy(h, "QFI\xfb", 4);
	for (int i = 0; i < 4; i++)
		h[4 + i] = version >> (24 - 8 * i);
	for (int i = 0; i < 8; i++) {
		h[8 + i] = backing >> (56 - 8 * i);
		h[24 + i] = vsize >> (56 - 8 * i);
		h[72 + i] = incompat >> (56 - 8 * i);
	}
}

static void
test_qcow2_header(void)
{
	_cleanup_free_ char *p = xasprintf("%s/h.qcow2", dir);
	uint8_t h[104];
	uint64_t vsize = 0;
	bool self = false;

	qcow2_hdr(h, 3, 1 << 20, 0, 0);
	ASSERT_EQ(write_file("h.qcow2", h, sizeof(h)), 0);
	ASSERT_EQ(qcow2_header_check(p, &vsize, &self), 0);
	ASSERT_EQ(vsize, 1 << 20);
	ASSERT_TRUE(self);
	qcow2_hdr(h, 3, 1 << 20, 512, 0);
	ASSERT_EQ(write_file("h.qcow2", h, sizeof(h)), 0);
	ASSERT_EQ(qcow2_header_check(p, &vsize, &self), 0);
	ASSERT_TRUE(!self);
	qcow2_hdr(h, 3, 1 << 20, 0, 4);
	ASSERT_EQ(write_file("h.qcow2", h, sizeof(h)), 0);
	ASSERT_EQ(qcow2_header_check(p, &vsize, &self), 0);
	ASSERT_TRUE(!self);
	qcow2_hdr(h, 4, 1 << 20, 0, 0);
	ASSERT_EQ(write_file("h.qcow2", h, sizeof(h)), 0);
	ASSERT_EQ(qcow2_header_check(p, &vsize, &self), -EINVAL);
	ASSERT_EQ(write_file("h.qcow2", "QFI", 3), 0);
	ASSERT_EQ(qcow2_header_check(p, &vsize, &self), -EINVAL);
}

int
main(void)
{
	if (!mkdtemp(dir))
		return 2;
	RUN_TEST(test_parse_good);
	RUN_TEST(test_round_trip);
	RUN_TEST(test_parse_minimal);
	RUN_TEST(test_refuse_version);
	RUN_TEST(test_refuse_fields);
	RUN_TEST(test_refuse_values);
	RUN_TEST(test_refuse_paths);
	RUN_TEST(test_refuse_json);
	RUN_TEST(test_firmware_files);
	RUN_TEST(test_file_name_ok);
	RUN_TEST(test_resolve);
	RUN_TEST(test_qcow2_header);
	{
		_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);

		(void)!system(cmd);
	}
	return TEST_REPORT();
}
