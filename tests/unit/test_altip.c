/* test_altip.c - unit tests for src/vm/altip_parse.c: the
 * --failover-ip text and JSON, good and bad, and the guest's script. */
#include <errno.h>
#include <stdlib.h>

#include "altip_parse.h"
#include "jsonutil.h"
#include "test.h"
#include "util.h"

#define OPT "--failover-ip"

/* Parse arg; 0 or the error, its message in e. */
static int
parse(const char *arg, json_t **ret, struct err *e)
{
	char *nic = NULL;
	int r;

	*e = (struct err){ 0 };
	r = altip_parse(OPT, arg, &nic, ret, e);
	free(nic);
	return r;
}

static void
test_altip_good(void)
{
	struct err e;
	json_t *c = NULL;
	char *nic = NULL;

	ASSERT_EQ(altip_parse(OPT, "nic0=10.1.2.3/24,gw=10.1.2.1,dns=10.1.2.53;"
	    "9.9.9.9", &nic, &c, &e), 0);
	ASSERT_STREQ(nic, "nic0");
	ASSERT_STREQ(json_string_value(json_object_get(c, "addr")),
	    "10.1.2.3");
	ASSERT_EQ(json_integer_value(json_object_get(c, "prefix")), 24);
	ASSERT_STREQ(json_string_value(json_object_get(c, "gw")), "10.1.2.1");
	ASSERT_EQ(json_array_size(json_object_get(c, "dns")), 2);
	ASSERT_EQ(altip_check(OPT, "nic0", c, &e), 0);
	json_decref(c);
	free(nic);
	ASSERT_EQ(parse("nic1=192.168.7.9/32", &c, &e), 0);
	json_decref(c);
	ASSERT_EQ(parse("nic0=fd00::5/64,gw=fd00::1,dns=fd00::53", &c, &e), 0);
	json_decref(c);
	ASSERT_EQ(parse("nic0=none", &c, &e), 0);
	ASSERT_TRUE(json_is_null(c));
}

static void
test_altip_bad(void)
{
	static const struct { const char *arg, *says; } bad[] = {
		{ "10.1.2.3/24", "give NIC=ADDR/PREFIX" },
		{ "=10.1.2.3/24", "give NIC=ADDR/PREFIX" },
		{ "nic0=10.1.2.3", "has no /PREFIX" },
		{ "nic0=10.1.2/24", "address '10.1.2'" },
		{ "nic0=10.1.2.300/24", "address '10.1.2.300'" },
		{ "nic0=10.1.2.3/33", "prefix of '10.1.2.3' must be 1..32" },
		{ "nic0=10.1.2.3/0", "must be 1..32" },
		{ "nic0=10.1.2.3/x", "prefix 'x' is not a number" },
		{ "nic0=10.1.2.3/", "prefix '' is not a number" },
		{ "nic0=10.1.2.3/24,gw=10.1.3.1", "gateway '10.1.3.1' is "
		  "outside 10.1.2.3/24" },
		{ "nic0=10.1.2.3/24,gw=fd00::1", "is not an IPv4 address" },
		{ "nic0=10.1.2.3/24,gw=", "gateway '' is not" },
		{ "nic0=10.1.2.3/24,dns=8.8.8", "DNS server '8.8.8'" },
		{ "nic0=10.1.2.3/24,dns=a;b", "DNS server 'a'" },
		{ "nic0=10.1.2.3/24,dns=1.1.1.1;2.2.2.2;3.3.3.3;4.4.4.4",
		  "1..3 addresses" },
		{ "nic0=10.1.2.3/24,mtu=9000", "'mtu=9000' is not gw=GW" },
		{ "nic0=10.1.2.3/24,gw=10.1.2.1,gw=10.1.2.2", "at most once" },
		{ "nic0=10.1.2.3/24;reboot", "prefix '24;reboot'" },
		{ "nic0=fd00::5/129", "must be 1..128" },
	};
	struct err e;
	json_t *c;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		c = NULL;
		ASSERT_EQ(parse(bad[i].arg, &c, &e), -EINVAL);
		ASSERT_TRUE(c == NULL);
		ASSERT_CONTAINS(e.msg, bad[i].says);
	}
}

static void
test_altip_check_json(void)
{
	struct err e = { 0 };
	json_t *c = json_pack("{ss si s[s]}", "addr", "10.0.0.2", "prefix", 8,
	    "dns", "1.1.1.1");

	ASSERT_EQ(altip_check(OPT, "nic0", c, &e), 0);
	json_object_set_new(c, "extra", json_true());
	ASSERT_EQ(altip_check(OPT, "nic0", c, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "unknown part 'extra'");
	json_decref(c);
	e = (struct err){ 0 };
	c = json_pack("{ss}", "addr", "10.0.0.2");
	ASSERT_EQ(altip_check(OPT, "nic0", c, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "prefix");
	json_decref(c);
}

static void
test_altip_script(void)
{
	json_t *c = json_pack("{ss si ss s[ss]}", "addr", "10.1.2.3", "prefix",
	    24, "gw", "10.1.2.1", "dns", "10.1.2.53", "9.9.9.9");
	char *s = altip_script(c, "eth0");

	ASSERT_CONTAINS(s, "ip -4 addr flush dev eth0");
	ASSERT_CONTAINS(s, "ip addr add 10.1.2.3/24 dev eth0");
	ASSERT_CONTAINS(s, "route replace default via 10.1.2.1 dev eth0");
	ASSERT_CONTAINS(s, "echo 'nameserver 9.9.9.9'");
	ASSERT_CONTAINS(s, "mv /etc/resolv.conf.tern /etc/resolv.conf");
	free(s);
	ASSERT_TRUE(altip_script(c, "eth0; reboot") == NULL);
	ASSERT_TRUE(altip_script(c, "") == NULL);
	json_decref(c);
}

int
main(void)
{
	RUN_TEST(test_altip_good);
	RUN_TEST(test_altip_bad);
	RUN_TEST(test_altip_check_json);
	RUN_TEST(test_altip_script);
	return TEST_REPORT();
}
