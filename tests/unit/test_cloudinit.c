/* test_cloudinit.c - a cloud-init seed's inputs (src/vm/cloudinit_yaml.c):
 * user-data that is YAML with a mapping at its root passes, anything else
 * is refused saying where; the meta-data tern writes from the VM and the
 * SSH keys, and keys that are not keys refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cloudinit_yaml.h"
#include "test.h"

static int
check(const char *text, struct err *e)
{
	*e = (struct err){ 0 };
	return ci_user_data_check(text, strlen(text), e);
}

static void
test_user_data(void)
{
	struct err e;

	ASSERT_EQ(check("#cloud-config\nhostname: a\npackages: [vim]\n", &e),
	    0);
	ASSERT_EQ(check("", &e), 0);
	ASSERT_EQ(check("#cloud-config\n", &e), 0);
	ASSERT_EQ(check("users:\n  - name: x\n    sudo: ALL\n", &e), 0);
	ASSERT_EQ(check("a: [1, 2\nb: 3\n", &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "not valid YAML: line ");
	ASSERT_EQ(check("key: value\n  bad: indent\n", &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "line 2, column");
	ASSERT_EQ(check("just a sentence\n", &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "YAML mapping");
	ASSERT_EQ(check("- a\n- b\n", &e), -EINVAL);
	ASSERT_EQ(check("a: 1\n---\nb: 2\n", &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "more than one");
	e = (struct err){ 0 };
	ASSERT_EQ(ci_user_data_check("a: \0", 4, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "NUL");
	char *big = calloc(1, CI_USER_DATA_MAX + 2);
	memset(big, '#', CI_USER_DATA_MAX + 1);
	ASSERT_EQ(check(big, &e), -E2BIG);
	free(big);
}

static void
test_meta_data(void)
{
	const char *keys = "# mine\n\nssh-ed25519 AAAAC3Nza you@host\r\n"
	    "ecdsa-sha2-nistp256 AAAAE2 other\n";
	struct err e = { 0 };
	char *md = NULL;

	ASSERT_EQ(ci_meta_data("u-1", "web", NULL, 0, &md, &e), 0);
	ASSERT_STREQ(md, "instance-id: u-1\nlocal-hostname: web\n");
	free(md);
	ASSERT_EQ(ci_meta_data("u-1", "web", keys, strlen(keys), &md, &e), 0);
	ASSERT_STREQ(md, "instance-id: u-1\nlocal-hostname: web\n"
	    "public-keys:\n  - \"ssh-ed25519 AAAAC3Nza you@host\"\n"
	    "  - \"ecdsa-sha2-nistp256 AAAAE2 other\"\n");
	ASSERT_EQ(ci_user_data_check(md, strlen(md), &e), 0);
	free(md);
	e = (struct err){ 0 };
	ASSERT_EQ(ci_meta_data("u", "w", "hello world\n", 12, &md, &e),
	    -EINVAL);
	ASSERT_CONTAINS(e.msg, "line 1 is not an OpenSSH public key");
	ASSERT_EQ(ci_meta_data("u", "w", "ssh-rsa A\"B c\n", 14, &md, &e),
	    -EINVAL);
}

int
main(void)
{
	RUN_TEST(test_user_data);
	RUN_TEST(test_meta_data);
	return TEST_REPORT();
}
