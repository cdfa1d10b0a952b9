/* isolate.c - an isolated switch cut off the host by nftables, through
 * libnftables (never the nft program): its bridge's name in the set
 * `isolated` of the tables `inet tern` and `arp tern`, whose input chains
 * drop what arrives from a bridge in that set.  Works with or without
 * bridge VLAN filtering.  Never touches a table but its own; never logs
 * above debug.
 *
 * Why the inet and arp families and not the bridge family's `meta
 * ibrname`: that match needs CONFIG_NFT_BRIDGE_META, which some kernels
 * (the CI host's) lack; a frame the bridge passes up to the host arrives
 * with the bridge as its input device, which `iifname` matches in the
 * families every nf_tables kernel has.  The set matches by name, so a
 * switch's entry may stand before its bridge exists (ternd's start). */
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

/* Each command is idempotent, and one buffer is one transaction: the
 * rule is flushed and added again, so it exists exactly once. */
static const char apply_fmt[] =
    "add table %1$s tern\n"
    "add set %1$s tern isolated { type ifname; }\n"
    "add chain %1$s tern input { type filter hook input priority filter; "
    "policy accept; }\n"
    "flush chain %1$s tern input\n"
    "add rule %1$s tern input iifname @isolated drop\n"
    "add element %1$s tern isolated { \"%2$s\" }\n";
/* An element is deleted only if it is there: added first, in the same
 * transaction. */
static const char remove_fmt[] =
    "add element %1$s tern isolated { \"%2$s\" }\n"
    "delete element %1$s tern isolated { \"%2$s\" }\n";

/* The name goes into nft's language: only what a switch's bridge name
 * can hold. */
static bool
bridge_name_is_safe(const char *bridge)
{
	size_t n = strlen(bridge);

	return n > 0 && n < 16 && strspn(bridge, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") == n;
}

/* Run text as one nft transaction; its error text (first line) into err. */
static int
nft_run(const char *text, const char *what, const char *bridge,
    struct err *err)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char msg[160] = "";
	int r;

	if (!nft)
		return err_set(err, -ENOMEM, "cannot %s switch bridge '%s': "
		    "no nftables context", what, bridge);
	(void)nft_ctx_buffer_output(nft);
	(void)nft_ctx_buffer_error(nft);
	r = nft_run_cmd_from_buffer(nft, text);
	if (r != 0) {
		snprintf(msg, sizeof(msg), "%s",
		    nft_ctx_get_error_buffer(nft));
		msg[strcspn(msg, "\n")] = '\0';
	}
	nft_ctx_free(nft);
	if (r != 0)
		return err_set(err, -EIO, "cannot %s switch bridge '%s' by "
		    "nftables (is nf_tables in this kernel?): %s", what,
		    bridge, msg);
	return 0;
}

static int
nft_both(const char *fmt, const char *what, const char *bridge,
    struct err *err)
{
	char text[1024];

	if (!bridge_name_is_safe(bridge))
		return err_set(err, -EINVAL, "cannot %s '%.32s': not a "
		    "switch's bridge name", what, bridge);
	snprintf(text, sizeof(text), fmt, "inet", bridge);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), fmt, "arp",
	    bridge);
	return nft_run(text, what, bridge, err);
}

int
net_isolate_apply(const char *bridge, struct err *err)
{
	return nft_both(apply_fmt, "isolate", bridge, err);
}

int
net_isolate_remove(const char *bridge, struct err *err)
{
	if (!net_isolate_is_applied(bridge))
		return 0;
	return nft_both(remove_fmt, "un-isolate", bridge, err);
}

bool
net_isolate_is_applied(const char *bridge)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char cmd[96];
	bool found = false;

	if (!nft || !bridge_name_is_safe(bridge))
		goto out;
	(void)nft_ctx_buffer_output(nft);
	(void)nft_ctx_buffer_error(nft);
	snprintf(cmd, sizeof(cmd), "list set inet tern isolated");
	if (nft_run_cmd_from_buffer(nft, cmd) == 0) {
		char quoted[24];

		snprintf(quoted, sizeof(quoted), "\"%s\"", bridge);
		found = strstr(nft_ctx_get_output_buffer(nft), quoted);
	}
out:
	if (nft)
		nft_ctx_free(nft);
	return found;
}
