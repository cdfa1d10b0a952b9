/* altip_parse.c - a NIC's static IP setting, as text and JSON, checked,
 * and failover's guest script written (altip_parse.h).  Every value that
 * reaches the script or cloud-init's network-config has been through
 * inet_pton or a digit check first: the script is run by
 * a shell in the guest and must never carry the operator's raw text. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "altip_parse.h"
#include "jsonutil.h"
#include "util.h"

/* AF_INET or AF_INET6 for a literal address (its bytes in out), else 0. */
static int
addr_family(const char *s, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	return 0;
}

/* Do a and b (of len bytes) agree in their first prefix bits? */
static bool
same_net(const unsigned char *a, const unsigned char *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return !rest || ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

static int
check_addr(const char *opt, const char *nic, const json_t *cfg, int *ret_af,
    unsigned char ret_ip[16], struct err *err)
{
	const char *addr = json_string_value(json_object_get(cfg, "addr"));
	json_t *p = json_object_get(cfg, "prefix");
	int af, max;

	if (!addr || !(af = addr_family(addr, ret_ip)))
		return err_set(err, -EINVAL, "%s %s: address '%s' "
		    "is not an IPv4 or IPv6 address; give ADDR/PREFIX, e.g. "
		    "10.1.2.3/24", opt, nic, addr ? addr : "");
	max = af == AF_INET ? 32 : 128;
	if (!json_is_integer(p) || json_integer_value(p) < 1 ||
	    json_integer_value(p) > max)
		return err_set(err, -EINVAL, "%s %s: prefix of "
		    "'%s' must be 1..%d (ADDR/PREFIX)", opt, nic, addr, max);
	*ret_af = af;
	return 0;
}

static int
check_gw(const char *opt, const char *nic, const json_t *cfg, int af,
    const unsigned char ip[16], struct err *err)
{
	const char *gw = json_string_value(json_object_get(cfg, "gw"));
	int prefix = (int)json_integer_value(json_object_get(cfg, "prefix"));
	unsigned char g[16];

	if (!json_object_get(cfg, "gw"))
		return 0;
	if (!gw || addr_family(gw, g) != af)
		return err_set(err, -EINVAL, "%s %s: gateway '%s' "
		    "is not an %s address", opt, nic, gw ? gw : "",
		    af == AF_INET ? "IPv4" : "IPv6");
	if (!same_net(ip, g, prefix))
		return err_set(err, -EINVAL, "%s %s: gateway '%s' "
		    "is outside %s/%d; give one inside the prefix", opt, nic,
		    gw,
		    json_string_value(json_object_get(cfg, "addr")), prefix);
	return 0;
}

static int
check_dns(const char *opt, const char *nic, const json_t *cfg,
    struct err *err)
{
	json_t *dns = json_object_get(cfg, "dns"), *d;
	unsigned char b[16];
	size_t i;

	if (!dns)
		return 0;
	if (!json_is_array(dns) || json_array_size(dns) > ALTIP_DNS_MAX)
		return err_set(err, -EINVAL, "%s %s: dns must be "
		    "a list of 1..%d addresses", opt, nic, ALTIP_DNS_MAX);
	json_array_foreach(dns, i, d)
		if (!json_is_string(d) || !addr_family(json_string_value(d),
		    b))
			return err_set(err, -EINVAL, "%s %s: DNS "
			    "server '%s' is not an IP address", opt, nic,
			    json_is_string(d) ? json_string_value(d) : "?");
	return 0;
}

int
altip_check(const char *opt, const char *nic, const json_t *cfg,
    struct err *err)
{
	unsigned char ip[16];
	const char *k;
	json_t *v;
	int af = 0, r;

	if (!json_is_object(cfg))
		return err_set(err, -EINVAL, "%s %s: not an object "
		    "{addr, prefix, gw, dns}", opt, nic);
	json_object_foreach((json_t *)cfg, k, v)
		if (!streq(k, "addr") && !streq(k, "prefix") &&
		    !streq(k, "gw") && !streq(k, "dns"))
			return err_set(err, -EINVAL, "%s %s: "
			    "unknown part '%.40s' (give gw= or dns=)", opt,
			    nic, k);
	if ((r = check_addr(opt, nic, cfg, &af, ip, err)) < 0 ||
	    (r = check_gw(opt, nic, cfg, af, ip, err)) < 0)
		return r;
	return check_dns(opt, nic, cfg, err);
}

/* "A;B;C" into an array of strings (checked later). */
static json_t *
dns_list(const char *v)
{
	json_t *a = json_array();
	_cleanup_free_ char *dup = xstrdup(v);
	char *save = NULL;

	for (char *t = strtok_r(dup, ";", &save); t; t = strtok_r(NULL, ";",
	    &save))
		json_array_append_new(a, json_string(t));
	return a;
}

/* "ADDR/PREFIX" into cfg's addr and prefix (checked later). */
static int
parse_addr(const char *opt, const char *nic, const char *v, json_t *cfg,
    struct err *err)
{
	const char *slash = strchr(v, '/');
	char *end;
	long p;

	if (!slash || slash == v)
		return err_set(err, -EINVAL, "%s %s: '%s' has no "
		    "/PREFIX; give ADDR/PREFIX, e.g. 10.1.2.3/24", opt, nic, v);
	p = strtol(slash + 1, &end, 10);
	if (!slash[1] || *end || slash[1] == '-' || slash[1] == '+')
		return err_set(err, -EINVAL, "%s %s: prefix '%s' "
		    "is not a number", opt, nic, slash + 1);
	json_object_set_new(cfg, "addr", json_stringn(v, slash - v));
	json_object_set_new(cfg, "prefix", json_integer(p));
	return 0;
}

/* The ",gw=...,dns=..." parts of text into cfg. */
static int
parse_parts(const char *opt, const char *nic, char *rest, json_t *cfg,
    struct err *err)
{
	char *save = NULL;

	for (char *t = strtok_r(rest, ",", &save); t; t = strtok_r(NULL, ",",
	    &save)) {
		if (strncmp(t, "gw=", 3) == 0 && !json_object_get(cfg, "gw"))
			json_object_set_new(cfg, "gw", json_string(t + 3));
		else if (strncmp(t, "dns=", 4) == 0 && t[4] &&
		    !json_object_get(cfg, "dns"))
			json_object_set_new(cfg, "dns", dns_list(t + 4));
		else
			return err_set(err, -EINVAL, "%s %s: '%s' "
			    "is not gw=GW or dns=DNS[;DNS2] (each at most "
			    "once)", opt, nic, t);
	}
	return 0;
}

static int
parse_nic(const char *opt, const char *arg, char *nic, struct err *err)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;

	if (!eq || n == 0 || n >= ALTIP_NIC_MAX)
		return err_set(err, -EINVAL, "%s '%s': give NIC="
		    "ADDR/PREFIX[,gw=GW][,dns=DNS[;DNS2]] or NIC=none (NIC as "
		    "tern vm show names it, e.g. nic0)", opt, arg);
	memcpy(nic, arg, n);
	nic[n] = '\0';
	return 0;
}

int
altip_parse(const char *opt, const char *arg, char **ret_nic, json_t **ret_cfg,
    struct err *err)
{
	_cleanup_json_ json_t *cfg = json_object();
	_cleanup_free_ char *text = NULL;
	char nic[ALTIP_NIC_MAX], *comma;
	int r;

	if ((r = parse_nic(opt, arg, nic, err)) < 0)
		return r;
	text = xstrdup(strchr(arg, '=') + 1);
	if (streq(text, "none")) {
		*ret_nic = xstrdup(nic);
		*ret_cfg = json_null();
		return 0;
	}
	if ((comma = strchr(text, ',')))
		*comma++ = '\0';
	if ((r = parse_addr(opt, nic, text, cfg, err)) < 0 ||
	    (comma && (r = parse_parts(opt, nic, comma, cfg, err)) < 0) ||
	    (r = altip_check(opt, nic, cfg, err)) < 0)
		return r;
	*ret_nic = xstrdup(nic);
	*ret_cfg = TAKE_PTR(cfg);
	return 0;
}

static bool
ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= ALTIP_IFNAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") == n && s[0] != '-';
}

/* Written with open_memstream: every piece is checked text (addresses
 * through inet_pton, the name by ifname_ok), never quoted user input. */
char *
altip_script(const json_t *cfg, const char *ifname)
{
	const char *addr = json_string_value(json_object_get(cfg, "addr"));
	const char *gw = json_string_value(json_object_get(cfg, "gw"));
	const char *fam = strchr(addr ? addr : "", ':') ? "-6" : "-4";
	json_t *dns = json_object_get(cfg, "dns"), *d;
	char *s = NULL;
	size_t i, n;
	FILE *f;

	if (!addr || !ifname_ok(ifname) || !(f = open_memstream(&s, &n)))
		return NULL;
	fprintf(f, "PATH=/usr/sbin:/usr/bin:/sbin:/bin; set -e; "
	    "ip %s addr flush dev %s; ip addr add %s/%d dev %s; "
	    "ip link set %s up", fam, ifname, addr, (int)json_integer_value(
	    json_object_get(cfg, "prefix")), ifname, ifname);
	if (gw)
		fprintf(f, "; ip %s route replace default via %s dev %s", fam,
		    gw, ifname);
	if (json_array_size(dns)) {
		fprintf(f, "; : >/etc/resolv.conf.tern");
		json_array_foreach(dns, i, d)
			fprintf(f, "; echo 'nameserver %s' >>/etc/resolv.conf."
			    "tern", json_string_value(d));
		fprintf(f, "; mv /etc/resolv.conf.tern /etc/resolv.conf");
	}
	fclose(f);
	return s;
}
