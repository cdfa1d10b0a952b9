/* vlan.c - a NIC's VLAN settings read as untrusted text: pure, base only
 * (unit test test_net_vlan, fuzz target fuzz_net_vlan). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

int
net_vlan_check(long vlan, struct err *err)
{
	if (vlan < 0 || vlan > NET_VLAN_MAX)
		return err_set(err, -EINVAL, "vlan %ld is outside 1-4094: "
		    "give a VLAN ID from 1 to 4094, or none for untagged",
		    vlan);
	return 0;
}

bool
net_vlans_overlap(const struct net_vlans *v, unsigned lo, unsigned hi)
{
	if (v->vlan && v->vlan >= lo && v->vlan <= hi)
		return true;
	for (unsigned i = 0; i < v->n; i++)
		if (v->trunk[i].lo <= hi && lo <= v->trunk[i].hi)
			return true;
	return false;
}

/* One ID at *p, 1..4094, digits only; advances *p. */
static int
parse_id(const char **p, unsigned *out)
{
	unsigned v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	while (*s >= '0' && *s <= '9' && v <= NET_VLAN_MAX)
		v = v * 10 + (unsigned)(*s++ - '0');
	if (v < 1 || v > NET_VLAN_MAX || (*s >= '0' && *s <= '9'))
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static int
parse_range(const char **p, unsigned *lo, unsigned *hi)
{
	if (parse_id(p, lo) < 0)
		return -EINVAL;
	*hi = *lo;
	if (**p == '-') {
		(*p)++;
		if (parse_id(p, hi) < 0 || *hi < *lo)
			return -EINVAL;
	}
	return 0;
}

int
net_trunks_parse(const char *text, struct net_vlans *v, struct err *err)
{
	const char *p = text;
	unsigned lo, hi;

	v->n = 0;
	if (!text || strlen(text) > NET_TRUNKS_TEXT_MAX)
		return err_set(err, -EINVAL, "trunk list is longer than %d "
		    "characters", NET_TRUNKS_TEXT_MAX);
	while (*p) {
		if (parse_range(&p, &lo, &hi) < 0 || (*p && *p != ','))
			return err_set(err, -EINVAL, "trunk '%.40s' is not "
			    "a VLAN ID or range like 10-20 within 1-4094",
			    text);
		if (*p == ',' && !*++p)
			return err_set(err, -EINVAL, "trunk '%.40s' ends "
			    "with a comma", text);
		if (v->n == NET_TRUNKS_MAX)
			return err_set(err, -EINVAL, "more than %d trunk "
			    "ranges: join them into wider ranges",
			    NET_TRUNKS_MAX);
		if (net_vlans_overlap(v, lo, hi))
			return err_set(err, -EINVAL, "trunk %u-%u overlaps "
			    "the access vlan %u or another trunk: a VLAN is "
			    "either the access VLAN or tagged, once", lo, hi,
			    v->vlan);
		v->trunk[v->n].lo = (uint16_t)lo;
		v->trunk[v->n++].hi = (uint16_t)hi;
	}
	return 0;
}

void
net_trunks_format(const struct net_vlans *v, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < v->n && off < len; i++) {
		int n = v->trunk[i].lo == v->trunk[i].hi ?
		    snprintf(buf + off, len - off, "%s%u", i ? "," : "",
		    v->trunk[i].lo) :
		    snprintf(buf + off, len - off, "%s%u-%u", i ? "," : "",
		    v->trunk[i].lo, v->trunk[i].hi);
		if (n < 0)
			return;
		off += (size_t)n;
	}
}
