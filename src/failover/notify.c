/* notify.c - the old primary told that its VM failed over here: POST
 * /v1/replications/UUID/failed-over to the row's peer (mutual TLS, as
 * the replica peer it knows), at once after a failover and then every
 * FO_NOTIFY_MS until it answers (a host that was gone hears it as soon
 * as it is back), so that its stale copy is held (src/replica/stale.c).
 * Best effort: nothing here changes the failover; it never blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "loop.h"
#include "peer.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"

#define FO_NOTIFY_MS 10000	/* between attempts */
#define FO_CALL_MS 5000		/* one attempt */

struct fo_note {
	struct host *h;
	char uuid[37];
};

/* The row's failover marked "notified" (the old primary knows). */
static void
fo_notified(struct host *h, const char *uuid)
{
	struct replication_row r;
	json_t *fo;

	if (store_replication_get(h->store, uuid, &r) < 0)
		return;
	if ((fo = fo_failover_load(&r))) {
		json_object_set_new(fo, "notified", json_true());
		free(r.failover);
		r.failover = json_dumps(fo, JSON_COMPACT);
		(void)store_replication_update(h->store, &r);
		json_decref(fo);
	}
	replication_row_done(&r);
}

static void
fo_on_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct fo_note *n = data;

	(void)body;
	(void)e;
	/* 404: it has no such relationship (removed there): nothing to
	 * hold either */
	if (status == 200 || status == 404)
		fo_notified(n->h, n->uuid);
	free(n);
}

void
fo_notify(struct host *h, const struct replication_row *r)
{
	json_t *fo = fo_failover_load(r);
	struct host_peer p = { 0 };
	struct fo_note *n;
	char path[96];

	if (!fo || json_is_true(json_object_get(fo, "notified")) ||
	    !h->peers || host_peer_by_name(h, r->peer, &p, NULL) < 0) {
		json_decref(fo);
		return;
	}
	n = xzalloc(sizeof(*n));
	n->h = h;
	snprintf(n->uuid, sizeof(n->uuid), "%s", r->vm_uuid);
	snprintf(path, sizeof(path), "/v1/replications/%s/failed-over",
	    r->vm_uuid);
	if (peer_call(h->peers, p.url, p.fp, "POST", path, json_pack("{sI}",
	    "time_ms", (json_int_t)rp_int(fo, "time_ms")), FO_CALL_MS,
	    fo_on_reply, n, NULL) < 0)
		free(n);
	host_peer_done(&p);
	json_decref(fo);
}

static void
fo_notify_tick(struct loop *l, void *data)
{
	struct host *h = data;
	struct replication_row *rows = NULL;
	size_t n = 0;

	(void)l;
	if (store_replication_list(h->store, &rows, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (streq(rows[i].role, "replica") &&
			    streq(rows[i].state, "failed-over"))
				fo_notify(h, &rows[i]);
	replication_rows_free(rows, n);
	if (!h->quitting)
		(void)loop_timer_add(h->loop, FO_NOTIFY_MS, fo_notify_tick, h);
}

void
fo_notify_start(struct host *h)
{
	(void)loop_timer_add(h->loop, FO_NOTIFY_MS, fo_notify_tick, h);
}
