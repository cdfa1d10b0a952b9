/* cluster.c - the module's start: job types registered, the record
 * loaded, Corosync followed (members.c) when this host is in a
 * cluster. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "host.h"
#include "store.h"
#include "util.h"

#define CLUSTER_META_KEY "cluster"

void
cluster_init(struct host *h)
{
	cluster_validate_init(h);
}

json_t *
cluster_record(struct host *h)
{
	_cleanup_free_ char *text = NULL;
	json_t *o;

	if (store_meta_get(h->store, CLUSTER_META_KEY, &text) < 0 || !text)
		return NULL;
	o = json_loads(text, 0, NULL);
	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

json_t *
cluster_other_nodes(struct host *h)
{
	json_t *rec = cluster_record(h), *n, *v;
	size_t i;

	if (!rec)
		return NULL;
	v = json_array();
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));

		if (name && !streq(name, h->cfg.name))
			json_array_append_new(v, json_string(name));
	}
	json_decref(rec);
	return v;
}

json_t *
cluster_status(struct host *h)
{
	json_t *rec = cluster_record(h);

	return json_pack("{so}", "cluster", rec ? rec : json_null());
}

bool
cluster_quorate(struct host *h)
{
	json_t *rec = cluster_record(h);

	json_decref(rec);
	return !rec;
}
