/* fuzz_net_vlan.c - fuzz a NIC's trunk text (src/net/vlan.c): it comes
 * from an operator, the API and a peer's description (a move, an
 * import).  The first two bytes are the access VLAN.  Whatever is
 * accepted must be ranges within 1..4094, none overlapping another or
 * the access VLAN, and must read back the same from its own text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct net_vlans *v)
{
	struct net_vlans again = { .vlan = v->vlan };
	char buf[NET_TRUNKS_TEXT_MAX + 64];

	for (unsigned i = 0; i < v->n; i++) {
		if (v->trunk[i].lo < 1 || v->trunk[i].hi > NET_VLAN_MAX ||
		    v->trunk[i].lo > v->trunk[i].hi)
			abort();
		if (v->vlan >= v->trunk[i].lo && v->vlan <= v->trunk[i].hi)
			abort();
	}
	net_trunks_format(v, buf, sizeof(buf));
	if (net_trunks_parse(buf, &again, NULL) < 0 || again.n != v->n ||
	    memcmp(again.trunk, v->trunk, v->n * sizeof(v->trunk[0])))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_vlans v = { 0 };
	char *text;

	if (size < 2)
		return 0;
	v.vlan = (uint16_t)((data[0] << 8 | data[1]) % (NET_VLAN_MAX + 1));
	text = xzalloc(size - 1);
	memcpy(text, data + 2, size - 2);
	if (net_trunks_parse(text, &v, NULL) == 0)
		check(&v);
	free(text);
	return 0;
}
