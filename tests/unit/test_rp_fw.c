/* test_rp_fw.c - a recovery point's own NVRAM file and TPM state
 * (src/replica/rp_fw.c): named like the point's disk files, kept whole
 * from the cycle's spool, completed by the previous point's copy when a
 * cycle carried none, unlinked only when no point names them, and
 * copied into the VM's own files by a failover. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "rp_int.h"
#include "store.h"
#include "test.h"
#include "util.h"
#include "vm.h"

static char tmp[] = "/tmp/test_rp_fw.XXXXXX";

static void
put(const char *path, const char *text)
{
	ASSERT_EQ(file_write_atomic(path, text, strlen(text), 0600), 0);
}

static bool
holds(const char *path, const char *text)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	return file_read_all(path, 1 << 20, &buf, &len) == 0 &&
	    len == strlen(text) && memcmp(buf, text, len) == 0;
}

static void
test_rp_fw_keep_install(void)
{
	_cleanup_free_ char *nv = xasprintf("%s/web-nvram.fd", tmp);
	_cleanup_free_ char *td = xasprintf("%s/web-tpm", tmp);
	_cleanup_free_ char *src = xasprintf("%s/spool.delta", tmp);
	_cleanup_free_ char *pa = NULL, *pt = NULL, *permall = NULL;
	struct vm_row row = { .name = "web", .nvram = nv, .tpm_dir = td };
	struct vm vm = { .row = &row };
	json_t *fw1 = json_object(), *fw2 = json_object(), *p1, *p2, *pts;
	json_t *gone;

	pa = rp_fw_point_path(&vm, 1, true);
	pt = rp_fw_point_path(&vm, 1, false);
	ASSERT_TRUE(strstr(pa, "/web-nvram.rp-") && strstr(pa, ".fd"));
	ASSERT_TRUE(strstr(pt, "/web-tpm.rp-") && strstr(pt, ".permall"));
	ASSERT_TRUE(strncmp(pa, tmp, strlen(tmp)) == 0);

	/* point 1 carries both, point 2 only the NVRAM file */
	put(src, "vars-1");
	ASSERT_EQ(rp_fw_keep(&vm, 1, src, true, fw1), 0);
	put(src, "tpm-1");
	ASSERT_EQ(rp_fw_keep(&vm, 1, src, false, fw1), 0);
	put(src, "vars-2");
	ASSERT_EQ(rp_fw_keep(&vm, 2, src, true, fw2), 0);
	p1 = json_pack("{sI sO}", "seq", (json_int_t)1, "fw", fw1);
	p2 = json_pack("{sI sO}", "seq", (json_int_t)2, "fw", fw2);
	rp_fw_inherit(p2, p1);
	ASSERT_STREQ(rp_str(json_object_get(p2, "fw"), "tpm"), pt);
	ASSERT_TRUE(holds(rp_str(json_object_get(p2, "fw"), "nvram"),
	    "vars-2"));

	/* the VM's files become the chosen point's; an older one's after */
	ASSERT_EQ(rp_fw_install(&vm, p2), 0);
	permall = xasprintf("%s/tpm2-00.permall", td);
	ASSERT_TRUE(holds(nv, "vars-2") && holds(permall, "tpm-1"));
	ASSERT_EQ(rp_fw_install(&vm, p1), 0);
	ASSERT_TRUE(holds(nv, "vars-1") && holds(permall, "tpm-1"));
	ASSERT_TRUE(holds(pa, "vars-1"));	/* never written */

	/* point 1 dropped: its NVRAM copy goes, its TPM copy point 2 needs */
	pts = json_pack("[OO]", p1, p2);
	{
		json_t *kept = json_pack("[O]", p2);

		gone = rp_fw_orphans(pts, kept);
		json_decref(kept);
	}
	ASSERT_EQ(json_array_size(gone), 1);
	ASSERT_STREQ(json_string_value(json_array_get(gone, 0)), pa);
	rp_fw_unlink_list(gone);
	ASSERT_TRUE(access(pa, F_OK) != 0 && access(pt, F_OK) == 0);

	/* a point without copies changes nothing */
	{
		json_t *none = json_pack("{sI}", "seq", (json_int_t)3);

		ASSERT_EQ(rp_fw_install(&vm, none), 0);
		ASSERT_TRUE(holds(nv, "vars-1"));
		json_decref(none);
	}
	/* the cluster's state: base names, back to paths here; a name
	 * that is not this VM's copy, or not here, is dropped */
	{
		json_t *c = json_deep_copy(pts), *f;

		rp_fw_paths(&vm, c, true);
		f = json_object_get(json_array_get(c, 1), "fw");
		ASSERT_TRUE(!strchr(rp_str(f, "nvram"), '/'));
		json_object_set_new(f, "nvram", json_string("../etc/passwd"));
		rp_fw_paths(&vm, c, false);
		ASSERT_TRUE(!json_object_get(f, "nvram"));
		ASSERT_STREQ(rp_str(f, "tpm"), pt);
		f = json_object_get(json_array_get(c, 0), "fw");
		ASSERT_TRUE(!json_object_get(f, "nvram"));	/* unlinked */
		json_decref(c);
	}
	rp_fw_unlink_all(pts);
	ASSERT_TRUE(access(pt, F_OK) != 0);
	rp_fw_unlink_own(&vm, 2);
	ASSERT_TRUE(access(rp_str(json_object_get(p2, "fw"), "nvram"),
	    F_OK) != 0);
	json_decref(gone);
	json_decref(pts);
	json_decref(p1);
	json_decref(p2);
	json_decref(fw1);
	json_decref(fw2);
	(void)unlink(permall);
	(void)rmdir(td);
	(void)unlink(nv);
	(void)unlink(src);
}

int
main(void)
{
	if (!mkdtemp(tmp))
		return 1;
	RUN_TEST(test_rp_fw_keep_install);
	(void)rmdir(tmp);
	return TEST_REPORT();
}
