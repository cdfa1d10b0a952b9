/* switch_cmd.c - "tern switch show": a switch's bridge, uplinks (with a
 * bond's mode and active member) and ports as GET /v1/switches/NAME
 * answers them.  Only shows; ternd judges. */
#include <stdio.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

static const char *
yes_no(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

static void
show_uplinks(const json_t *sw)
{
	const char *head[] = { "UPLINK", "STATE", "CARRIER", "MASTER" };
	struct table *t = table_new(4, head);
	const json_t *u;
	size_t i;

	json_array_foreach(json_object_get(sw, "uplinks"), i, u) {
		const char *m = jv_str(u, "master");

		table_row(t, (const char *[]){ jv_str(u, "name"),
		    jv_str(u, "operstate"), yes_no(u, "carrier"),
		    m ? m : "-" });
	}
	table_print(t, stdout);
	table_free(t);
}

static void
show_ports(const json_t *sw)
{
	const char *head[] = { "VM", "NIC", "TAP", "VLAN", "TRUNKS", "STATE" };
	struct table *t = table_new(6, head);
	const json_t *p;
	char vlan[16];
	size_t i;

	json_array_foreach(json_object_get(sw, "ports"), i, p) {
		const char *tap = jv_str(p, "tap");
		const char *tr = jv_str(p, "trunks");

		jv_text(p, "vlan", vlan, sizeof(vlan));
		table_row(t, (const char *[]){ jv_str(p, "vm"),
		    jv_str(p, "nic"), tap ? tap : "-",
		    streq(vlan, "0") ? "-" : vlan, tr && *tr ? tr : "-",
		    jv_str(p, "state") });
	}
	table_print(t, stdout);
	table_free(t);
}

int
cmd_switch_show(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = cli_path(cli, "/v1/switches/", a->pos[0],
	    NULL);
	_cleanup_json_ json_t *sw = NULL;
	const json_t *bond;
	struct table *t;
	char b[64];
	int r;

	r = http_call(cli->http, "GET", path, NULL, &sw, err);
	if (r < 0)
		return r;
	if (cli->json) {
		print_json(sw);
		return 0;
	}
	t = table_new(2, NULL);
	table_kv(t, "name", "%s", jv_text(sw, "name", b, sizeof(b)));
	table_kv(t, "bridge", "%s (%s)", jv_str(sw, "bridge"),
	    jv_text(sw, "bridge_state", b, sizeof(b)));
	table_kv(t, "vlan filtering", "%s", yes_no(sw, "vlan_filtering"));
	table_kv(t, "isolated", "%s", yes_no(sw, "isolated"));
	bond = json_object_get(sw, "bond");
	if (json_is_object(bond))
		table_kv(t, "bond", "%s, %s, %s, active %s",
		    jv_str(bond, "name"), jv_str(bond, "mode"),
		    jv_str(bond, "operstate"), jv_str(bond, "active") ?
		    jv_str(bond, "active") : "none");
	table_print(t, stdout);
	table_free(t);
	if (json_array_size(json_object_get(sw, "uplinks"))) {
		printf("\n");
		show_uplinks(sw);
	}
	printf("\n");
	show_ports(sw);
	return 0;
}
