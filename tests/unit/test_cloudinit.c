/* test_cloudinit.c - a cloud-init seed's inputs (src/vm/cloudinit_yaml.c):
 * user-data that is YAML with a mapping at its root passes, anything else
 * is refused saying where; the meta-data tern writes from the VM and the
 * SSH keys, and keys that are not keys refused; the network-config from
 * the VM's NICs and --cloud-init-net, read back with libyaml. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "altip_parse.h"
#include "cloudinit_yaml.h"
#include "jsonutil.h"
#include "test.h"
#include "util.h"

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
	const char *k;

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
	/* a comment in UTF-8 is text; bytes that are not UTF-8 are not */
	k = "ssh-rsa AB jos\xc3\xa9@h\n";
	ASSERT_EQ(ci_meta_data("u", "w", k, strlen(k), &md, &e), 0);
	ASSERT_CONTAINS(md, "jos\xc3\xa9@h");
	ASSERT_EQ(ci_user_data_check(md, strlen(md), &e), 0);
	free(md);
	k = "ssh-rsa AB \xff\xff\n";
	ASSERT_EQ(ci_meta_data("u", "w", k, strlen(k), &md, &e), -EINVAL);
	k = "ssh-rsa AB \xc0\xaf\n";	/* an overlong '/' */
	ASSERT_EQ(ci_meta_data("u", "w", k, strlen(k), &md, &e), -EINVAL);
}

/* The scalar at path ("ethernets.nic0.match.macaddress", a sequence's
 * item by its index: "addresses.0") in doc, or NULL. */
static const char *
ynode(yaml_document_t *doc, const char *path)
{
	yaml_node_t *n = yaml_document_get_root_node(doc);
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); n && k;
	    k = strtok_r(NULL, ".", &save)) {
		yaml_node_t *next = NULL;

		if (n->type == YAML_SEQUENCE_NODE) {
			long i = strtol(k, NULL, 10);
			yaml_node_item_t *it = n->data.sequence.items.start;

			if (i >= 0 && it + i < n->data.sequence.items.top)
				next = yaml_document_get_node(doc, it[i]);
		} else if (n->type == YAML_MAPPING_NODE) {
			for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
			    p < n->data.mapping.pairs.top; p++) {
				yaml_node_t *key = yaml_document_get_node(doc,
				    p->key);

				if (key->type == YAML_SCALAR_NODE && streq(
				    (char *)key->data.scalar.value, k))
					next = yaml_document_get_node(doc,
					    p->value);
			}
		}
		n = next;
	}
	return n && n->type == YAML_SCALAR_NODE ?
	    (const char *)n->data.scalar.value : NULL;
}

/* text parsed as one YAML document into doc (0), or -1. */
static int
yload(const char *text, yaml_document_t *doc)
{
	yaml_parser_t p;
	int ok;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text,
	    strlen(text));
	ok = yaml_parser_load(&p, doc) && yaml_document_get_root_node(doc);
	yaml_parser_delete(&p);
	return ok ? 0 : -1;
}

static void
test_network_config(void)
{
	static const char *const macs[] = { "52:54:00:00:00:0a",
		"52:54:00:00:00:0b", "52:54:00:00:00:0c" };
	struct err e = { 0 };
	json_t *net = json_object(), *c = NULL;
	char *nc = NULL, *nic = NULL;
	yaml_document_t doc;

	ASSERT_EQ(altip_parse("--cloud-init-net", "nic1=10.1.2.3/24,gw="
	    "10.1.2.1,dns=10.1.2.53;9.9.9.9", &nic, &c, &e), 0);
	json_object_set_new(net, nic, c);
	free(nic);
	ASSERT_EQ(altip_parse("--cloud-init-net", "nic2=fd00::5/64,gw=fd00::1",
	    &nic, &c, &e), 0);
	json_object_set_new(net, nic, c);
	free(nic);
	ASSERT_EQ(ci_network_config(macs, 3, net, &nc, &e), 0);
	ASSERT_EQ(yload(nc, &doc), 0);
	ASSERT_STREQ(ynode(&doc, "version"), "2");
	ASSERT_STREQ(ynode(&doc, "ethernets.nic0.match.macaddress"), macs[0]);
	ASSERT_STREQ(ynode(&doc, "ethernets.nic0.dhcp4"), "true");
	ASSERT_TRUE(ynode(&doc, "ethernets.nic0.set-name") == NULL);
	ASSERT_STREQ(ynode(&doc, "ethernets.nic1.match.macaddress"), macs[1]);
	ASSERT_TRUE(ynode(&doc, "ethernets.nic1.dhcp4") == NULL);
	ASSERT_TRUE(strstr(nc, "set-name") == NULL);
	ASSERT_STREQ(ynode(&doc, "ethernets.nic1.addresses.0"),
	    "10.1.2.3/24");
	ASSERT_STREQ(ynode(&doc, "ethernets.nic1.routes.0.to"), "0.0.0.0/0");
	ASSERT_STREQ(ynode(&doc, "ethernets.nic1.routes.0.via"), "10.1.2.1");
	ASSERT_STREQ(ynode(&doc, "ethernets.nic1.nameservers.addresses.1"),
	    "9.9.9.9");
	ASSERT_STREQ(ynode(&doc, "ethernets.nic2.addresses.0"), "fd00::5/64");
	ASSERT_STREQ(ynode(&doc, "ethernets.nic2.routes.0.to"), "::/0");
	ASSERT_TRUE(ynode(&doc, "ethernets.nic2.nameservers.addresses.0") ==
	    NULL);
	yaml_document_delete(&doc);
	free(nc);
	/* no settings: every NIC by DHCP; no NIC: no network-config */
	ASSERT_EQ(ci_network_config(macs, 1, NULL, &nc, &e), 0);
	ASSERT_STREQ(nc, "version: 2\nethernets:\n  nic0:\n    match:\n"
	    "      macaddress: \"52:54:00:00:00:0a\"\n    dhcp4: true\n");
	free(nc);
	ASSERT_EQ(ci_network_config(macs, 0, NULL, &nc, &e), 0);
	ASSERT_TRUE(nc == NULL);
	/* a NIC the VM lacks, a bad setting, a bad MAC */
	ASSERT_EQ(ci_network_config(macs, 2, net, &nc, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "has no NIC 'nic2' (it has nic0..nic1");
	e = (struct err){ 0 };
	ASSERT_EQ(ci_network_config(macs, 0, net, &nc, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--net SWITCH");
	json_object_clear(net);
	json_object_set_new(net, "nic01", json_pack("{ss si}", "addr",
	    "10.0.0.1", "prefix", 8));
	e = (struct err){ 0 };
	ASSERT_EQ(ci_net_check(macs, 3, net, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "no NIC 'nic01'");
	json_object_clear(net);
	json_object_set_new(net, "nic0", json_pack("{ss si ss}", "addr",
	    "10.0.0.1", "prefix", 24, "gw", "10.0.1.1"));
	e = (struct err){ 0 };
	ASSERT_EQ(ci_net_check(macs, 3, net, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--cloud-init-net nic0: gateway '10.0.1.1' is "
	    "outside 10.0.0.1/24");
	e = (struct err){ 0 };
	ASSERT_EQ(ci_net_check((const char *const[]){ "52:54:00:00:00:0\"" },
	    1, NULL, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "is not a MAC");
	json_decref(net);
}

int
main(void)
{
	RUN_TEST(test_user_data);
	RUN_TEST(test_meta_data);
	RUN_TEST(test_network_config);
	return TEST_REPORT();
}
