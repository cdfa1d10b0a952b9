/* cloudinit_yaml.c - the user-data check, the meta-data and the
 * network-config (see cloudinit_yaml.h).  Never logs. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "altip_parse.h"
#include "cloudinit_yaml.h"
#include "util.h"

/* The next event's type; where the YAML is wrong, an error naming the
 * line and column. */
static int
ci_next(yaml_parser_t *p, yaml_event_type_t *ret, struct err *err)
{
	yaml_event_t ev;

	if (!yaml_parser_parse(p, &ev))
		return err_set(err, -EINVAL, "user-data is not valid YAML: "
		    "line %zu, column %zu: %.120s", p->problem_mark.line + 1,
		    p->problem_mark.column + 1,
		    p->problem ? p->problem : "syntax error");
	*ret = ev.type;
	yaml_event_delete(&ev);
	return 0;
}

/* Events read before the first document's root is known. */
static int
ci_root_kind(yaml_parser_t *p, yaml_event_type_t *ret, struct err *err)
{
	int r;

	for (;;) {
		yaml_event_type_t t = YAML_NO_EVENT;

		if ((r = ci_next(p, &t, err)) < 0)
			return r;
		if (t != YAML_STREAM_START_EVENT &&
		    t != YAML_DOCUMENT_START_EVENT) {
			*ret = t;
			return 0;
		}
	}
}

/* The rest of the stream parses, and holds one document at most. */
static int
ci_drain(yaml_parser_t *p, struct err *err)
{
	int r;

	for (;;) {
		yaml_event_type_t t = YAML_NO_EVENT;

		if ((r = ci_next(p, &t, err)) < 0)
			return r;
		if (t == YAML_DOCUMENT_START_EVENT)
			return err_set(err, -EINVAL, "user-data holds more "
			    "than one YAML document");
		if (t == YAML_STREAM_END_EVENT)
			return 0;
	}
}

int
ci_user_data_check(const char *buf, size_t len, struct err *err)
{
	yaml_parser_t p;
	yaml_event_type_t root = YAML_NO_EVENT;
	int r;

	if (len > CI_USER_DATA_MAX)
		return err_set(err, -E2BIG, "user-data is over %u KiB",
		    CI_USER_DATA_MAX >> 10);
	if (memchr(buf, '\0', len))
		return err_set(err, -EINVAL, "user-data is not text (it holds "
		    "a NUL byte)");
	if (!yaml_parser_initialize(&p))
		return err_set(err, -ENOMEM, "cannot read YAML");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	r = ci_root_kind(&p, &root, err);
	if (r == 0 && root != YAML_MAPPING_START_EVENT &&
	    root != YAML_STREAM_END_EVENT)
		r = err_set(err, -EINVAL, "user-data must be a YAML mapping "
		    "(#cloud-config with keys such as users:, packages:)");
	if (r == 0 && root != YAML_STREAM_END_EVENT)
		r = ci_drain(&p, err);
	yaml_parser_delete(&p);
	return r;
}

/* The UTF-8 sequence at s (n bytes left) is one character YAML allows
 * (YAML 1.1's printable set above ASCII: U+85, U+A0..U+D7FF,
 * U+E000..U+FFFD, U+10000..U+10FFFF, shortest form): its length, else 0. */
static size_t
ci_utf8_char(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 :
	    0;
	uint32_t c;

	if (len == 0 || len > n || s[0] >= 0xf8)
		return 0;
	c = s[0] & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && c < 0x10000))
		return 0;
	if (c == 0x85 || (c >= 0xa0 && c <= 0xd7ff) ||
	    (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff))
		return len;
	return 0;
}

/* An OpenSSH public key line: TYPE BASE64 [COMMENT], in characters that
 * need no escape inside a YAML double-quoted string (a comment may hold
 * UTF-8 text; bytes that are not, libyaml would refuse). */
static bool
ci_key_ok(const char *k, size_t n)
{
	static const char *const types[] = { "ssh-", "ecdsa-", "sk-", NULL };
	bool typed = false;

	for (size_t i = 0; types[i]; i++)
		typed |= n > strlen(types[i]) &&
		    strncmp(k, types[i], strlen(types[i])) == 0;
	if (!typed || n > 16384 || !memchr(k, ' ', n))
		return false;
	for (size_t i = 0, len; i < n; i += len) {
		const unsigned char *c = (const unsigned char *)k + i;

		len = *c >= 0x80 ? ci_utf8_char(c, n - i) : 1;
		if (len == 0 || *c < 0x20 || *c == '"' || *c == '\\' ||
		    *c == 0x7f)
			return false;
	}
	return true;
}

int
ci_meta_data(const char *uuid, const char *hostname, const char *keys,
    size_t keys_len, char **ret, struct err *err)
{
	char *out = xasprintf("instance-id: %s\nlocal-hostname: %s\n", uuid,
	    hostname);
	size_t line = 0, n_keys = 0;

	if (keys_len > CI_SSH_KEYS_MAX) {
		free(out);
		return err_set(err, -E2BIG, "the SSH key file is over %u KiB",
		    CI_SSH_KEYS_MAX >> 10);
	}
	for (size_t i = 0; keys && i < keys_len; line++) {
		const char *k = keys + i, *nl = memchr(k, '\n', keys_len - i);
		size_t n = nl ? (size_t)(nl - k) : keys_len - i;
		char *next;

		i += n + 1;
		while (n > 0 && (k[n - 1] == '\r' || k[n - 1] == ' '))
			n--;
		if (n == 0 || k[0] == '#')
			continue;
		if (!ci_key_ok(k, n)) {
			free(out);
			return err_set(err, -EINVAL, "the SSH key file's line "
			    "%zu is not an OpenSSH public key (TYPE KEY "
			    "[COMMENT], such as ssh-ed25519 AAAA... you@host)",
			    line + 1);
		}
		next = xasprintf("%s%s  - \"%.*s\"\n", out, n_keys++ ? "" :
		    "public-keys:\n", (int)n, k);
		free(out);
		out = next;
	}
	*ret = out;
	return 0;
}

/* "nicN" with N < n: N; else -1. */
static long
ci_nic_index(const char *nic, size_t n)
{
	char *end;
	long i;

	if (strncmp(nic, "nic", 3) != 0 || nic[3] < '0' || nic[3] > '9' ||
	    (nic[3] == '0' && nic[4]))
		return -1;
	i = strtol(nic + 3, &end, 10);
	return *end || i < 0 || (size_t)i >= n ? -1 : i;
}

/* Six lower-case hex pairs split by ':', as tern stores a NIC's MAC. */
static bool
ci_mac_ok(const char *mac)
{
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' :
		    !strchr("0123456789abcdef", mac[i]) || !mac[i])
			return false;
	return mac[17] == '\0';
}

int
ci_net_check(const char *const *macs, size_t n_nics, const json_t *net,
    struct err *err)
{
	const char *nic;
	json_t *cfg;
	int r;

	for (size_t i = 0; i < n_nics; i++)
		if (!macs[i] || !ci_mac_ok(macs[i]))
			return err_set(err, -EINVAL, "nic%zu's MAC '%.20s' is "
			    "not a MAC address", i, macs[i] ? macs[i] : "");
	if (net && !json_is_object(net))
		return err_set(err, -EINVAL, "cloud_init_net must be an object "
		    "{NIC: {addr, prefix, gw, dns}}");
	json_object_foreach((json_t *)net, nic, cfg) {
		if (ci_nic_index(nic, n_nics) < 0 && n_nics == 0)
			return err_set(err, -EINVAL, "--cloud-init-net: the VM "
			    "has no NIC '%.20s', nor any NIC: give it one with "
			    "--net SWITCH", nic);
		if (ci_nic_index(nic, n_nics) < 0)
			return err_set(err, -EINVAL, "--cloud-init-net: the VM "
			    "has no NIC '%.20s' (it has nic0..nic%zu, named in "
			    "the order of --net)", nic, n_nics - 1);
		if ((r = altip_check("--cloud-init-net", nic, cfg, err)) < 0)
			return r;
	}
	return 0;
}

/* One NIC's static setting (checked) in f, its keys indented by 4. */
static void
ci_net_static(FILE *f, const json_t *cfg)
{
	const char *addr = json_string_value(json_object_get(cfg, "addr"));
	const char *gw = json_string_value(json_object_get(cfg, "gw"));
	json_t *dns = json_object_get(cfg, "dns"), *d;
	size_t i;

	fprintf(f, "    addresses:\n      - \"%s/%d\"\n", addr,
	    (int)json_integer_value(json_object_get(cfg, "prefix")));
	if (gw)
		fprintf(f, "    routes:\n      - to: \"%s\"\n        via: "
		    "\"%s\"\n", strchr(addr, ':') ? "::/0" : "0.0.0.0/0", gw);
	if (!json_array_size(dns))
		return;
	fprintf(f, "    nameservers:\n      addresses:\n");
	json_array_foreach(dns, i, d)
		fprintf(f, "        - \"%s\"\n", json_string_value(d));
}

int
ci_network_config(const char *const *macs, size_t n_nics, const json_t *net,
    char **ret, struct err *err)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if ((r = ci_net_check(macs, n_nics, net, err)) < 0)
		return r;
	*ret = NULL;
	if (n_nics == 0)
		return 0;
	if (!(f = open_memstream(&out, &len)))
		return err_set(err, -ENOMEM, "cannot write network-config");
	fprintf(f, "version: 2\nethernets:\n");
	for (size_t i = 0; i < n_nics; i++) {
		char nic[24];
		const json_t *cfg;

		snprintf(nic, sizeof(nic), "nic%zu", i);
		cfg = json_object_get(net, nic);
		fprintf(f, "  %s:\n    match:\n      macaddress: \"%s\"\n", nic,
		    macs[i]);
		if (cfg)
			ci_net_static(f, cfg);
		else
			fprintf(f, "    dhcp4: true\n");
	}
	fclose(f);
	*ret = out;
	return 0;
}
