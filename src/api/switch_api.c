/* switch_api.c - what is a switch's own in the API: a create request's
 * isolation, uplinks and bond mode checked (against this host's
 * interfaces too) before anything changes, the uplinks attached and
 * released, and GET /v1/switches/NAME.  Create and delete themselves are
 * obj_api.c's, shared with pools and peers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "jsonutil.h"
#include "net.h"
#include "util.h"
#include "vm.h"

/* The request's "uplinks" (array of interface names) into sw->u and its
 * text, checked: names, no repeats, each a free interface here. */
static int
uplinks_get(const json_t *body, struct api_switch_req *sw, struct err *e)
{
	const json_t *arr = json_object_get(body, "uplinks"), *v;
	size_t i, len = 0;
	int r;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > NET_UPLINKS_MAX)
		return err_set(e, -EINVAL, "uplinks must be an array of at "
		    "most %d interface names", NET_UPLINKS_MAX);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (!s)
			return err_set(e, -EINVAL, "uplinks[%zu] must be an "
			    "interface name", i);
		if ((r = net_uplink_check(s, e)) < 0)
			return r;
		for (size_t j = 0; j < sw->u.n; j++)
			if (streq(sw->u.ifs[j], s))
				return err_set(e, -EINVAL, "uplink '%s' is "
				    "given twice", s);
		snprintf(sw->u.ifs[sw->u.n++], 16, "%s", s);
		len += (size_t)snprintf(sw->uplinks + len,
		    sizeof(sw->uplinks) - len, "%s%s", i ? "," : "", s);
	}
	return 0;
}

int
api_switch_parse(const json_t *body, const char *name, struct obj_row *o,
    struct api_switch_req *sw, struct err *e)
{
	const char *mode = NULL;
	bool isolated = false;
	int r;

	memset(sw, 0, sizeof(*sw));
	if ((r = json_get_bool(body, "isolated", &isolated, e)) < 0 ||
	    (r = json_get_str(body, "bond_mode", false, &mode, e)) < 0)
		return r;
	if (isolated && json_object_get(body, "uplinks"))
		return err_set(e, -EINVAL, "an isolated switch has no uplink: "
		    "drop --isolated or --uplink");
	if (mode && (sw->u.mode = net_bond_mode_parse(mode)) < 0)
		return err_set(e, -EINVAL, "unknown bond mode '%.32s': use "
		    "active-backup, 802.3ad or balance-xor", mode);
	if ((r = uplinks_get(body, sw, e)) < 0)
		return r;
	if (mode && sw->u.n < 2)
		return err_set(e, -EINVAL, "--bond-mode needs 2 or more "
		    "uplinks to bond (%zu given): drop it or add --uplink",
		    sw->u.n);
	if (!mode)
		sw->u.mode = net_bond_mode_parse("active-backup");
	net_bridge_name(name, sw->bridge);
	o->name = (char *)name;
	o->a = sw->bridge;
	/* the switches table's spare column b: "isolated" or NULL */
	o->b = isolated ? (char *)"isolated" : NULL;
	o->uplinks = sw->uplinks;
	o->bond_mode = sw->u.n >= 2 ? (char *)net_bond_mode_name(sw->u.mode)
	    : NULL;
	return 0;
}

int
api_switch_uplinks_release(const struct obj_row *o, struct err *e)
{
	struct net_uplinks u;
	int r = net_uplinks_parse(o->uplinks, o->bond_mode, &u, e);

	return r < 0 ? r : net_uplink_release(o->name, &u, e);
}

int
api_switch_get(struct api *a, struct http_req *req, char **p, struct err *e)
{
	struct obj_row o = { 0 };
	int r = host_switch_get(a->h, p[0], &o);

	if (r == -ENOENT)
		return err_set(e, r, "switch '%.64s' not found", p[0]);
	if (r < 0)
		return err_setf_errno(e, r, "cannot read switch '%.64s'", p[0]);
	http_reply_json(req, 200, host_switch_json(a->h, &o));
	obj_row_done(&o);
	return 0;
}
