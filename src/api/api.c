/* api.c - routing, authentication and the errno -> HTTP status table.
 * Logs nothing per request except failures of the server itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "api.h"
#include "job.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"


struct route {
	const char *method;
	const char *pattern;	/* "/v1/vms/ * /start" with * a parameter */
	api_fn fn;
};

static const struct route routes[] = {
	{ "GET", "/v1/host", api_host_get },
	{ "GET", "/v1/pools", api_obj_list },
	{ "POST", "/v1/pools", api_obj_create },
	{ "DELETE", "/v1/pools/*", api_obj_delete },
	{ "GET", "/v1/switches", api_obj_list },
	{ "POST", "/v1/switches", api_obj_create },
	{ "GET", "/v1/switches/*", api_switch_get },
	{ "DELETE", "/v1/switches/*", api_obj_delete },
	{ "GET", "/v1/peers", api_obj_list },
	{ "POST", "/v1/peers", api_obj_create },
	{ "DELETE", "/v1/peers/*", api_obj_delete },
	{ "POST", "/v1/peers/*/measure", api_peer_measure },
	{ "GET", "/v1/vms", api_vm_list },
	{ "POST", "/v1/vms", api_vm_create },
	{ "POST", "/v1/vms/import-libvirt", api_vm_import_libvirt },
	{ "GET", "/v1/vms/*", api_vm_get },
	{ "DELETE", "/v1/vms/*", api_vm_delete },
	{ "POST", "/v1/vms/*/start", api_vm_action },
	{ "POST", "/v1/vms/*/stop", api_vm_action },
	{ "POST", "/v1/vms/*/pause", api_vm_action },
	{ "POST", "/v1/vms/*/resume", api_vm_action },
	{ "POST", "/v1/vms/*/shutdown", api_vm_action },
	{ "POST", "/v1/vms/*/save", api_vm_action },
	{ "POST", "/v1/vms/*/quiesce", api_vm_action },
	{ "POST", "/v1/vms/*/config", api_vm_config },
	{ "PUT", "/v1/vms/*/ha", api_vm_ha },
	{ "DELETE", "/v1/vms/*/ha", api_vm_ha },
	{ "GET", "/v1/vms/*/kvp", api_vm_kvp },
	{ "PUT", "/v1/vms/*/kvp/*", api_vm_kvp },
	{ "DELETE", "/v1/vms/*/kvp/*", api_vm_kvp },
	{ "GET", "/v1/vms/*/console", api_vm_console },
	{ "PUT", "/v1/vms/*/media", api_vm_media },
	{ "DELETE", "/v1/vms/*/media", api_vm_media },
	{ "POST", "/v1/vms/*/nics", api_vm_nics },
	{ "PUT", "/v1/vms/*/nics/*", api_vm_nics },
	{ "DELETE", "/v1/vms/*/nics/*", api_vm_nics },
	{ "GET", "/v1/vms/*/screenshot", api_vm_screenshot },
	{ "GET", "/v1/vms/*/vnc", api_vm_vnc },
	{ "POST", "/v1/vms/*/export", api_vm_export },
	{ "POST", "/v1/vms/*/move", api_vm_move },
	{ "POST", "/v1/vms/*/move-storage", api_vm_move_storage },
	{ "GET", "/v1/vms/*/refpoints", api_vm_refpoints },
	{ "POST", "/v1/vms/*/backup", api_vm_backup },
	{ "GET", "/v1/vms/*/checkpoints", api_vm_checkpoints },
	{ "POST", "/v1/vms/*/checkpoints", api_vm_checkpoints },
	{ "POST", "/v1/vms/*/checkpoints/*/apply", api_vm_checkpoint },
	{ "DELETE", "/v1/vms/*/checkpoints/*", api_vm_checkpoint },
	{ "GET", "/v1/backups", api_backup_list },
	{ "POST", "/v1/backups/restore", api_backup_restore },
	{ "POST", "/v1/backups/verify", api_backup_verify },
	{ "POST", "/v1/backups/prune", api_backup_prune },
	{ "DELETE", "/v1/vms/*/refpoints/*", api_vm_refpoints },
	{ "GET", "/v1/vms/*/replication", api_vm_replication },
	{ "POST", "/v1/vms/*/replication", api_vm_replication },
	{ "DELETE", "/v1/vms/*/replication", api_vm_replication },
	{ "POST", "/v1/vms/*/replication/drill", api_vm_replication_drill },
	{ "POST", "/v1/vms/*/replication/*", api_vm_replication_pause },
	{ "POST", "/v1/vms/*/failover/test", api_vm_failover_test },
	{ "POST", "/v1/vms/*/failover/test-stop", api_vm_failover_test_stop },
	{ "GET", "/v1/replications", api_replications },
	{ "GET", "/v1/replica/server", api_replica_server },
	{ "PUT", "/v1/replica/server", api_replica_server },
	{ "DELETE", "/v1/replica/server", api_replica_server },
	{ "POST", "/v1/replica/vms", api_replica_vms },
	{ "DELETE", "/v1/replica/vms/*", api_replica_vms },
	{ "GET", "/v1/replica/vms/*", api_replica_vms },
	{ "POST", "/v1/replica/seeds", api_replica_seeds },
	{ "POST", "/v1/replica/vms/*/cycles", api_replica_cycles },
	{ "GET", "/v1/replica/deltas/*/*/*", api_replica_delta },
	{ "POST", "/v1/replica/vms/*/maps", api_replica_maps },
	{ "GET", "/v1/replica/maps/*/*", api_replica_map },
	{ "PUT", "/v1/vms/*/replication/settings", api_vm_failover_ip },
	{ "PUT", "/v1/replica/vms/*/settings", api_replica_settings },
	{ "POST", "/v1/vms/*/failover/apply-ip", api_vm_failover_apply_ip },
	{ "POST", "/v1/vms/*/failover", api_vm_failover },
	{ "POST", "/v1/vms/*/failover/*", api_vm_failover_end },
	{ "POST", "/v1/replica/vms/*/failover", api_replica_failover },
	{ "POST", "/v1/replications/*/failed-over",
	  api_replication_failed_over },
	{ "POST", "/v1/replications/*/replica-moved",
	  api_replication_replica_moved },
	{ "POST", "/v1/replica/vms/*/adopt", api_replica_adopt },
	{ "GET", "/v1/cluster", api_cluster },
	{ "POST", "/v1/cluster", api_cluster },
	{ "DELETE", "/v1/cluster", api_cluster },
	{ "POST", "/v1/cluster/nodes", api_cluster_nodes },
	{ "DELETE", "/v1/cluster/nodes/*", api_cluster_nodes },
	{ "POST", "/v1/cluster/nodes/*/*", api_cluster_node_op },
	{ "GET", "/v1/cluster/facts", api_cluster_facts },
	{ "GET", "/v1/cluster/vms", api_cluster_vms },
	{ "PUT", "/v1/cluster/settings", api_cluster_settings },
	{ "POST", "/v1/cluster/balance", api_cluster_balance },
	{ "POST", "/v1/cluster/maintain", api_cluster_maintain },
	{ "POST", "/v1/cluster/maintenance/run", api_cluster_maintain },
	{ "POST", "/v1/cluster/validate", api_cluster_validate },
	{ "POST", "/v1/cluster/*", api_cluster_peer },
	{ "POST", "/v1/migrations", api_migration_create },
	{ "POST", "/v1/migrations/*/commit", api_migration_commit },
	{ "POST", "/v1/imports", api_vm_import },
	{ "GET", "/v1/jobs", api_jobs_list },
	{ "GET", "/v1/jobs/*", api_job_get },
	{ "POST", "/v1/jobs/*/cancel", api_job_cancel },
	{ "GET", "/v1/events", api_events },
	{ "GET", "/v1/link-probe/*", api_link_probe },
	{ "GET", "/v1/session", api_session },
	{ "POST", "/v1/session", api_session },
	{ "DELETE", "/v1/session", api_session },
	{ "GET", "/v1/stream", api_stream },
	{ "GET", "/v1/fleet", api_fleet },
	{ "GET", "/metrics", api_metrics },
};

unsigned
api_status_of(int code)
{
	switch (code) {
	case -ENOENT: return 404;
	case -EEXIST: case -EBUSY: return 409;
	case -EINVAL: case -EPERM: case -ENAMETOOLONG: return 400;
	case -EACCES: return 403;
	case -E2BIG: case -EFBIG: return 413;
	case -ENOMEM: case -ENOSPC: return 507;
	case -EAGAIN: return 503;
	default: return 500;
	}
}

static const char *
api_code_name(unsigned status)
{
	switch (status) {
	case 400: return "invalid";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method";
	case 409: return "conflict";
	case 413: return "too_large";
	case 503: return "not_yet";
	case 507: return "no_space";
	default: return "internal";
	}
}

void
api_reply_error_code(struct http_req *req, unsigned status, const char *code,
    const char *msg)
{
	http_reply_json(req, status, json_pack("{s{ss ss}}", "error", "code",
	    code, "message", msg));
}

void
api_reply_error(struct http_req *req, unsigned status, const char *msg)
{
	http_reply_json(req, status, json_pack("{s{ss ss}}", "error", "code",
	    api_code_name(status), "message", msg));
}

/* Split url into segments; false when it is too deep or has empty ones. */
static size_t
api_split(char *url, char **segs)
{
	size_t n = 0;

	for (char *s = strtok(url, "/"); s; s = strtok(NULL, "/")) {
		if (n == API_MAX_SEGS)
			return 0;
		segs[n++] = s;
	}
	return n;
}

/* Match url segments against pattern; fills params with the '*' parts. */
static bool
api_match(const char *pattern, char **segs, size_t n, char **params)
{
	char buf[128], *ps[API_MAX_SEGS];
	size_t np, k = 0;

	snprintf(buf, sizeof(buf), "%s", pattern);
	np = api_split(buf, ps);
	if (np != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (streq(ps[i], "*"))
			params[k++] = segs[i];
		else if (!streq(ps[i], segs[i]))
			return false;
	}
	return true;
}

bool
api_trusted(struct api *a, struct http_req *req)
{
	struct obj_row *rows;
	size_t n;
	bool ok = false;

	if (!req->tls)
		return true;	/* the local socket is root-only */
	if (!req->has_peer_fp || !a->h ||
	    store_obj_list(a->h->store, STORE_PEER, &rows, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		ok |= streq(rows[i].b, req->peer_fp);
	obj_rows_free(rows, n);
	return ok;
}

/* A scrape with the metrics bearer token (config metrics-token-file):
 * `Authorization: Bearer TOKEN` on GET /metrics only, compared in
 * constant time (SHA-256 of both, so the length does not show either). */
static bool
api_bearer_ok(struct api *a, struct http_req *req)
{
	const char *want = a->h ? a->h->cfg.metrics_token : NULL;
	const char *got = http_req_header(req, "Authorization");
	uint8_t dg[SHA256_DIGEST_SIZE], dw[SHA256_DIGEST_SIZE];
	struct sha256_ctx ctx;

	if (!want || !got || !streq(req->method, "GET") ||
	    !streq(req->url, "/metrics") || strncasecmp(got, "Bearer ", 7))
		return false;
	got += 7;
	sha256_init(&ctx);
	sha256_update(&ctx, strlen(got), (const uint8_t *)got);
	sha256_digest(&ctx, sizeof(dg), dg);
	sha256_init(&ctx);
	sha256_update(&ctx, strlen(want), (const uint8_t *)want);
	sha256_digest(&ctx, sizeof(dw), dw);
	return memeql_sec(dg, dw, sizeof(dg));
}

/* The index in routes of the route for method and url (split in place),
 * or -1; ret_path_found tells 404 from 405. */
static int
api_route_index(const char *method, char *url, char **params,
    bool *ret_path_found)
{
	char *segs[API_MAX_SEGS];
	size_t n = api_split(url, segs);

	*ret_path_found = false;
	for (size_t i = 0; n > 0 && i < ARRAY_SIZE(routes); i++) {
		if (!api_match(routes[i].pattern, segs, n, params))
			continue;
		*ret_path_found = true;
		if (streq(routes[i].method, method))
			return (int)i;
	}
	return -1;
}

api_fn
api_route_find(const char *method, char *url, char **params,
    bool *ret_path_found)
{
	int i = api_route_index(method, url, params, ret_path_found);

	return i < 0 ? NULL : routes[i].fn;
}

const char *
api_route_at(size_t i, const char **ret_method)
{
	if (i >= ARRAY_SIZE(routes))
		return NULL;
	*ret_method = routes[i].method;
	return routes[i].pattern;
}

void
api_dispatch(struct api *a, struct http_req *req, const char *path)
{
	_cleanup_free_ char *url = xstrdup(path);
	char *params[API_MAX_SEGS] = { 0 };
	bool path_found;
	struct err err = { 0 };
	int i;

	if (req->too_large) {
		api_reply_error(req, 413, "request body is over 1 MiB");
		return;
	}
	if (strncmp(path, "/v1/hosts/", 10) == 0) {
		api_forward(a, req);
		return;
	}
	i = api_route_index(req->method, url, params, &path_found);
	if (i >= 0) {
		int r;

		req->route = routes[i].pattern;
		r = routes[i].fn(a, req, params, &err);

		if (r < 0 && !req->answered && !req->deferred)
			api_reply_error(req, api_status_of(r),
			    err.msg[0] ? err.msg : strerror(-r));
		return;
	}
	if (path_found)
		api_reply_error(req, 405, "method not allowed for this path");
	else
		api_reply_error(req, 404, "no such API path; see docs/api.md");
}

void
api_handle(struct http_req *req, void *ud)
{
	struct api *a = ud;

	/* A scrape with the metrics token skips the console's gate: it
	 * holds no certificate and no session, and may read /metrics only. */
	if (!api_bearer_ok(a, req) && !api_console_gate(a, req))
		return;
	api_dispatch(a, req, req->url);
	a->cur = NULL;
}

void
api_reply_job(struct http_req *req, struct job *job, json_t *extra)
{
	json_t *o = extra ? extra : json_object();

	json_object_set_new(o, "job", job_to_json(job));
	http_reply_json(req, 202, o);
}

int
api_body(struct http_req *req, json_t **ret, struct err *err)
{
	if (!req->body || req->body_len == 0) {
		*ret = json_object();
		return 0;
	}
	return json_parse_object(req->body, req->body_len, ret, err);
}

int
api_start(struct api *a, struct host *h, char *key_pem, char *cert_pem,
    struct err *err)
{
	_cleanup_free_ char *sock = xasprintf("%s/ternd.sock", h->cfg.run_dir);
	int r;

	a->h = h;
	a->key_pem = key_pem;
	a->cert_pem = cert_pem;
	api_stream_start(a);
	r = http_server_start_unix(h->loop, sock, api_handle, a, &a->local,
	    err);
	if (r < 0 || !h->cfg.listen)
		return r;
	api_console_check(a);
	return http_server_start_tls(h->loop, h->cfg.listen, key_pem,
	    cert_pem, api_handle, a, &a->tls, err);
}

void
api_stop(struct api *a)
{
	api_console_stop(a);
	api_vnc_stop();
	api_screen_fwd_stop();
	api_stream_stop(a);
	api_fleet_stop();
	a->local = http_server_stop(a->local);
	a->tls = http_server_stop(a->tls);
	free(a->key_pem);
	free(a->cert_pem);
	a->key_pem = a->cert_pem = NULL;
}
