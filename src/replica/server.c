/* server.c - this host as a replica server: whether it accepts
 * replication, from which trusted peers, into which pool.  Kept as one
 * JSON object in the store's meta table ("replica.server"):
 *
 *   {"enabled": true, "any": false, "pool": null, "allow": {PEER: POOL}}
 *
 * "any" accepts every trusted peer (mutual TLS, pinned: an unlisted host
 * never gets this far) into "pool"; otherwise only the peers in "allow",
 * each into its own pool.  Disabled: nothing is accepted; replica VMs
 * already here stay. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "util.h"
#include "vm.h"

#define SERVER_KEY "replica.server"

static json_t *
server_load(struct host *h)
{
	_cleanup_free_ char *text = NULL;
	json_t *o = NULL;

	if (store_meta_get(h->store, SERVER_KEY, &text) == 0 && text)
		o = json_loads(text, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_pack("{sb sb sn s{}}", "enabled", false, "any", false,
		    "pool", "allow");
	}
	return o;
}

static int
server_save(struct host *h, const json_t *o, struct err *err)
{
	_cleanup_free_ char *text = json_to_string(o);
	int r = store_meta_set(h->store, SERVER_KEY, text);

	if (r < 0)
		return err_setf_errno(err, r, "cannot record the replica "
		    "server's settings");
	return 0;
}

json_t *
replica_server_get(struct host *h)
{
	return server_load(h);
}

static int
server_check_pool(struct host *h, const char *pool, struct err *err)
{
	_cleanup_free_ char *dir = NULL;

	if (!pool || !name_is_valid(pool) || !(dir = host_pool_path(h, pool)))
		return err_set(err, -ENOENT, "host %s has no pool named "
		    "'%.64s' (see 'tern pool list')", h->cfg.name,
		    pool ? pool : "");
	return 0;
}

static int
server_check_peer(struct host *h, const char *peer, struct err *err)
{
	struct host_peer p = { 0 };
	int r = host_peer_by_name(h, peer, &p, err);

	host_peer_done(&p);
	return r;
}

/* {"allow": {PEER: POOL}}: every peer trusted, every pool here. */
static int
server_check_allow(struct host *h, const json_t *allow, struct err *err)
{
	const char *peer;
	json_t *pool;
	int r;

	if (!json_is_object(allow) || json_object_size(allow) == 0)
		return err_set(err, -EINVAL, "give the peers that may "
		    "replicate here (--allow PEER=POOL), or --any --pool POOL");
	json_object_foreach((json_t *)allow, peer, pool) {
		if (!json_is_string(pool))
			return err_set(err, -EINVAL, "allow: the pool of peer "
			    "'%.64s' must be a pool name", peer);
		if ((r = server_check_peer(h, peer, err)) < 0 ||
		    (r = server_check_pool(h, json_string_value(pool),
		    err)) < 0)
			return r;
	}
	return 0;
}

int
replica_server_enable(struct host *h, const json_t *body, struct err *err)
{
	static const char *const fields[] = { "allow", "any", "pool", NULL };
	_cleanup_json_ json_t *o = NULL;
	const json_t *allow = json_object_get(body, "allow");
	const char *pool = NULL;
	bool any = false;
	int r;

	if ((r = json_check_fields(body, fields, "replica server", err)) < 0 ||
	    (r = json_get_bool(body, "any", &any, err)) < 0 ||
	    (r = json_get_str(body, "pool", false, &pool, err)) < 0)
		return r;
	if (any && allow)
		return err_set(err, -EINVAL, "give either --allow PEER=POOL "
		    "or --any --pool POOL, not both");
	if (!any && pool)
		return err_set(err, -EINVAL, "--pool goes with --any; with "
		    "--allow, each peer names its own pool (PEER=POOL)");
	if (any && !pool)
		return err_set(err, -EINVAL, "--any needs --pool POOL: where "
		    "the replicas of every trusted peer go");
	if ((r = any ? server_check_pool(h, pool, err) :
	    server_check_allow(h, allow, err)) < 0)
		return r;
	o = json_pack("{sb sb so so}", "enabled", true, "any", any,
	    "pool", any ? json_string(pool) : json_null(),
	    "allow", any ? json_object() : json_deep_copy(allow));
	if ((r = server_save(h, o, err)) < 0)
		return r;
	host_event(h, "info", NULL, 0, "replica server enabled (%s)", any ?
	    "any trusted peer" : "listed peers");
	return 0;
}

int
replica_server_disable(struct host *h, struct err *err)
{
	_cleanup_json_ json_t *o = json_pack("{sb sb sn s{}}", "enabled",
	    false, "any", false, "pool", "allow");
	int r = server_save(h, o, err);

	if (r == 0)
		host_event(h, "info", NULL, 0, "replica server disabled");
	return r;
}

int
replica_server_allows(struct host *h, const char *fp, char **ret_peer,
    char **ret_pool, struct err *err)
{
	_cleanup_json_ json_t *o = server_load(h);
	struct host_peer p = { 0 };
	const char *pool;

	if (!json_is_true(json_object_get(o, "enabled")))
		return err_set(err, -EACCES, "host %s is not a replica server: "
		    "enable it there with 'tern replica server enable'",
		    h->cfg.name);
	if (!fp || host_peer_by_fp(h, fp, &p) < 0)
		return err_set(err, -EACCES, "only trusted peers replicate "
		    "to host %s (add this host there with 'tern peer add')",
		    h->cfg.name);
	pool = json_is_true(json_object_get(o, "any")) ?
	    json_string_value(json_object_get(o, "pool")) :
	    json_string_value(json_object_get(json_object_get(o, "allow"),
	    p.name));
	if (!pool) {
		err_set(err, -EACCES, "host %s does not accept replication "
		    "from peer '%s': allow it there with 'tern replica server "
		    "enable --allow %s=POOL'", h->cfg.name, p.name, p.name);
		host_peer_done(&p);
		return -EACCES;
	}
	*ret_peer = xstrdup(p.name);
	*ret_pool = xstrdup(pool);
	host_peer_done(&p);
	return 0;
}
