/* test_qmp_block.c - src/qmp/qmp_block.c: each typed block command has
 * the name and argument shape QEMU's schema wants (the e2e moves prove
 * QEMU takes them; these pin them down), and the two block queries'
 * replies are read right, whatever shape QEMU (or garbage) sends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp_block.h"
#include "test.h"

/* c has name and args equal to the JSON text want ("null": none);
 * consumes c.args. */
static int
cmd_is(struct qmp_command c, const char *name, const char *want)
{
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	int ok = w && c.name && strcmp(c.name, name) == 0 &&
	    (json_is_null(w) ? c.args == NULL : json_equal(c.args, w));

	if (!ok) {
		char *got = c.args ? json_dumps(c.args, JSON_SORT_KEYS) : NULL;

		fprintf(stderr, "# %s: got %s\n", name, got ? got : "null");
		free(got);
	}
	json_decref(w);
	json_decref(c.args);
	return ok;
}

static void
test_commands(void)
{
	ASSERT_TRUE(cmd_is(qmp_blockdev_mirror("m1", "vda-fmt", "t1",
	    "background"), "blockdev-mirror", "{\"job-id\":\"m1\","
	    "\"device\":\"vda-fmt\",\"target\":\"t1\",\"sync\":\"full\","
	    "\"copy-mode\":\"background\",\"auto-dismiss\":false}"));
	ASSERT_TRUE(cmd_is(qmp_blockdev_add_qcow2("f", "fl", "/p/a.qcow2"),
	    "blockdev-add", "{\"driver\":\"qcow2\",\"node-name\":\"f\","
	    "\"file\":{\"driver\":\"file\",\"filename\":\"/p/a.qcow2\","
	    "\"node-name\":\"fl\",\"aio\":\"threads\",\"cache\":"
	    "{\"direct\":false,\"no-flush\":false}}}"));
	ASSERT_TRUE(cmd_is(qmp_blockdev_add_nbd("n", "10.0.0.2", "10809",
	    "vda", NULL), "blockdev-add", "{\"driver\":\"nbd\","
	    "\"node-name\":\"n\",\"server\":{\"type\":\"inet\",\"host\":"
	    "\"10.0.0.2\",\"port\":\"10809\"},\"export\":\"vda\","
	    "\"reconnect-delay\":0}"));
	ASSERT_TRUE(cmd_is(qmp_blockdev_add_nbd("n", "::1", "1", "vdb",
	    "tls0"), "blockdev-add", "{\"driver\":\"nbd\",\"node-name\":"
	    "\"n\",\"server\":{\"type\":\"inet\",\"host\":\"::1\",\"port\":"
	    "\"1\"},\"export\":\"vdb\",\"reconnect-delay\":0,\"tls-creds\":"
	    "\"tls0\"}"));
	ASSERT_TRUE(cmd_is(qmp_mirror_copy_mode("m1", "write-blocking"),
	    "block-job-change", "{\"id\":\"m1\",\"type\":\"mirror\","
	    "\"copy-mode\":\"write-blocking\"}"));
	ASSERT_TRUE(cmd_is(qmp_block_job_set_speed("m1", 262144),
	    "block-job-set-speed", "{\"device\":\"m1\",\"speed\":262144}"));
	ASSERT_TRUE(cmd_is(qmp_block_job_cancel("m1"), "block-job-cancel",
	    "{\"device\":\"m1\"}"));
	ASSERT_TRUE(cmd_is(qmp_job_complete("m1"), "job-complete",
	    "{\"id\":\"m1\"}"));
	ASSERT_TRUE(cmd_is(qmp_job_cancel("m1"), "job-cancel",
	    "{\"id\":\"m1\"}"));
	ASSERT_TRUE(cmd_is(qmp_job_dismiss("m1"), "job-dismiss",
	    "{\"id\":\"m1\"}"));
	ASSERT_TRUE(cmd_is(qmp_blockdev_del("n"), "blockdev-del",
	    "{\"node-name\":\"n\"}"));
	ASSERT_TRUE(cmd_is(qmp_nbd_server_start_fd("fd0", "tls0"),
	    "nbd-server-start", "{\"addr\":{\"type\":\"fd\",\"data\":"
	    "{\"str\":\"fd0\"}},\"tls-creds\":\"tls0\"}"));
	ASSERT_TRUE(cmd_is(qmp_nbd_server_start_fd("fd0", NULL),
	    "nbd-server-start", "{\"addr\":{\"type\":\"fd\",\"data\":"
	    "{\"str\":\"fd0\"}}}"));
	ASSERT_TRUE(cmd_is(qmp_nbd_export_writable("e", "vda-fmt", "vda"),
	    "block-export-add", "{\"type\":\"nbd\",\"id\":\"e\","
	    "\"node-name\":\"vda-fmt\",\"name\":\"vda\",\"writable\":true}"));
	ASSERT_TRUE(cmd_is(qmp_nbd_server_stop(), "nbd-server-stop", "null"));
	ASSERT_TRUE(cmd_is(qmp_query_block(), "query-block", "null"));
	ASSERT_TRUE(cmd_is(qmp_query_block_jobs(), "query-block-jobs",
	    "null"));
	ASSERT_TRUE(cmd_is(qmp_query_jobs(), "query-jobs", "null"));
	ASSERT_TRUE(cmd_is(qmp_query_named_block_nodes(),
	    "query-named-block-nodes", "{\"flat\":true}"));
}

static void
test_block_jobs_read(void)
{
	json_t *r = json_loads("[{\"device\":\"a\",\"offset\":5,\"len\":9,"
	    "\"ready\":true,\"actively-synced\":true},{\"len\":1},"
	    "{\"device\":\"b\",\"offset\":-3,\"len\":\"x\",\"ready\":1},"
	    "{\"device\":\"c\"}]", 0, NULL);
	struct qmp_block_job bj[2];

	ASSERT_TRUE(r);
	ASSERT_EQ(qmp_block_jobs_read(r, bj, 2), 2);	/* c: no room */
	ASSERT_STREQ(bj[0].device, "a");
	ASSERT_EQ(bj[0].offset, 5);
	ASSERT_EQ(bj[0].len, 9);
	ASSERT_TRUE(bj[0].ready && bj[0].synced);
	ASSERT_STREQ(bj[1].device, "b");	/* no device: skipped */
	ASSERT_EQ(bj[1].offset, 0);		/* negative, not a number */
	ASSERT_EQ(bj[1].len, 0);
	ASSERT_TRUE(!bj[1].ready && !bj[1].synced);
	json_decref(r);
	r = json_loads("{\"device\":\"a\"}", 0, NULL);
	ASSERT_EQ(qmp_block_jobs_read(r, bj, 2), -EINVAL);
	ASSERT_EQ(qmp_block_jobs_read(NULL, bj, 2), -EINVAL);
	json_decref(r);
}

static void
test_disk_node(void)
{
	json_t *r = json_loads("[{\"qdev\":\"/machine/peripheral/vda/"
	    "virtio-backend\",\"inserted\":{\"node-name\":\"vda-fmt\","
	    "\"file\":\"/p/vda.qcow2\"}},{\"qdev\":\"/machine/peripheral/"
	    "vdb/virtio-backend\"},{\"inserted\":{\"node-name\":\"x\"}},"
	    "{\"qdev\":7,\"inserted\":{}}]", 0, NULL);
	const char *file = "stale";
	char longname[64];

	ASSERT_TRUE(r);
	ASSERT_STREQ(qmp_block_disk_node(r, "vda", &file), "vda-fmt");
	ASSERT_STREQ(file, "/p/vda.qcow2");
	ASSERT_TRUE(qmp_block_disk_node(r, "vdb", &file) == NULL);
	ASSERT_TRUE(file == NULL);
	ASSERT_TRUE(qmp_block_disk_node(r, "vd", NULL) == NULL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ASSERT_TRUE(qmp_block_disk_node(r, longname, &file) == NULL);
	ASSERT_TRUE(qmp_block_disk_node(NULL, "vda", &file) == NULL);
	json_decref(r);
}

/* query-named-block-nodes: a node's dirty bitmaps, whatever the other
 * nodes hold, and replies that are not what QEMU sends. */
static void
test_node_bitmaps(void)
{
	json_t *r = json_loads("[{\"node-name\":\"vda-file\","
	    "\"dirty-bitmaps\":[{\"name\":\"other\"}]},"
	    "{\"node-name\":\"vda-fmt\",\"dirty-bitmaps\":"
	    "[{\"name\":\"b0\"},{\"name\":\"b1\"}]},"
	    "{\"node-name\":\"vdb-fmt\"},{\"dirty-bitmaps\":[{}]}]", 0,
	    NULL);
	const char *first = "stale";

	ASSERT_TRUE(r);
	ASSERT_EQ(qmp_node_bitmaps(r, "vda-fmt", &first), 2);
	ASSERT_STREQ(first, "b0");
	ASSERT_EQ(qmp_node_bitmaps(r, "vdb-fmt", &first), 0);
	ASSERT_TRUE(first == NULL);
	ASSERT_EQ(qmp_node_bitmaps(r, "vdc-fmt", NULL), 0);
	ASSERT_EQ(qmp_node_bitmaps(NULL, "vda-fmt", &first), 0);
	json_decref(r);
}

int
main(void)
{
	RUN_TEST(test_commands);
	RUN_TEST(test_block_jobs_read);
	RUN_TEST(test_disk_node);
	RUN_TEST(test_node_bitmaps);
	return TEST_REPORT();
}
