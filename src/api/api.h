/* api.h - the HTTP API of docs/api.md on both transports.  Maps errors to
 * statuses in one table (api_status_of), checks TLS clients against the
 * trusted peers, and routes to the handlers in vm_api.c, obj_api.c,
 * export_api.c, migrate_api.c and storage_api.c. */
#pragma once

#include <jansson.h>

#include "err.h"
#include "host.h"
#include "http.h"
#include "net.h"
#include "session.h"
#include "ws.h"

struct api_login;
struct api_stream;
struct api_coalesce;

#define API_MAX_STREAMS 64	/* event and console streams at once */
#define API_MAX_LOGINS 16	/* PAM checks at once */

struct api {
	struct host *h;
	struct http_server *local;
	struct http_server *tls;
	char *key_pem, *cert_pem;
	/* The web console (console.c, stream.c, fleet.c). */
	struct session_store sessions;
	struct rate_limiter rate;
	struct session *cur;	/* the request's session while api_handle
				 * runs (synchronous), else NULL */
	struct api_login **logins;	/* PAM checks in flight */
	size_t n_logins;
	struct api_stream **streams;
	size_t n_streams;
	struct api_coalesce **coal;	/* per job: the last event sent */
	size_t n_coal;
	struct loop_timer *ping;	/* ": ping" every 15 s */
};

/* Start the local socket (RUN_DIR/ternd.sock) and, if h->cfg.listen is
 * set, HTTPS with the identity in key_pem/cert_pem (taken). */
int api_start(struct api *a, struct host *h, char *key_pem, char *cert_pem,
    struct err *err);
void api_stop(struct api *a);

/* A TLS request with a trusted client certificate, or the local socket. */
bool api_trusted(struct api *a, struct http_req *req);
/* HTTP status for a negative errno. */
unsigned api_status_of(int code);

/* Route one request and answer it. */
void api_handle(struct http_req *req, void *ud);

/* Handlers: return 0 after answering, or -errno with err set. */
typedef int (*api_fn)(struct api *a, struct http_req *req, char **params,
    struct err *err);

#define API_MAX_SEGS 6
/* The handler for method and url (split in place; params gets the '*'
 * segments, API_MAX_SEGS of room), or NULL; ret_path_found tells 404
 * from 405.  Pure: the fuzz target drives it. */
api_fn api_route_find(const char *method, char *url, char **params,
    bool *ret_path_found);
/* The pattern of the i-th route of the table ("/v1/vms/ * /start" with '*'
 * a parameter) and its method in ret_method, or NULL past the end: what
 * ternd serves, listed by tests/unit/list_routes.c for the OpenAPI check. */
const char *api_route_at(size_t i, const char **ret_method);
int api_host_get(struct api *a, struct http_req *r, char **p, struct err *e);
int api_obj_list(struct api *a, struct http_req *r, char **p, struct err *e);
int api_obj_create(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_obj_delete(struct api *a, struct http_req *r, char **p,
    struct err *e);
/* switch_api.c: a switch's create request read and checked (uplinks
 * against this host's interfaces) into o, whose strings point into body
 * and sw. */
struct api_switch_req {
	char bridge[16];
	char uplinks[NET_UPLINKS_TEXT_MAX];
	struct net_uplinks u;
};
int api_switch_parse(const json_t *body, const char *name, struct obj_row *o,
    struct api_switch_req *sw, struct err *e);
/* The uplinks of switch row o released (no master, the bond gone). */
int api_switch_uplinks_release(const struct obj_row *o, struct err *e);
int api_switch_get(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_jobs_list(struct api *a, struct http_req *r, char **p, struct err *e);
int api_job_get(struct api *a, struct http_req *r, char **p, struct err *e);
int api_job_cancel(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_events(struct api *a, struct http_req *r, char **p, struct err *e);
int api_metrics(struct api *a, struct http_req *r, char **p, struct err *e);
/* The largest link probe served (1 GiB); src/peer asks for no more. */
#define API_LINK_PROBE_MAX (1024ULL * 1024 * 1024)
int api_link_probe(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_list(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_get(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_create(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_delete(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_action(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_console(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_config(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_kvp(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_media(struct api *a, struct http_req *r, char **p, struct err *e);
/* nic_api.c */
int api_vm_nics(struct api *a, struct http_req *r, char **p, struct err *e);
/* GET .../screenshot: the screen as image/png (vm_api.c). */
int api_vm_screenshot(struct api *a, struct http_req *r, char **p,
    struct err *e);
/* GET .../vnc: a WebSocket to the VM's VNC server (vnc.c). */
int api_vm_vnc(struct api *a, struct http_req *r, char **p, struct err *e);
/* vnc.c: a WebSocket upgrade as both screens' routes take it (the local
 * relay and the one to another host, screen_fwd.c): the request's
 * headers checked by ws_upgrade_check(), then the 101 that answers it. */
struct api_ws {
	char accept[WS_ACCEPT_LEN];	/* Sec-WebSocket-Accept */
	bool protocol;			/* "binary" was offered */
};
int api_ws_check(struct http_req *req, struct api_ws *ws, struct err *e);
void api_ws_upgrade(struct http_req *req, const struct api_ws *ws,
    http_upgrade_fn fn, void *data);
/* End every VNC relay (before the HTTP servers stop). */
void api_vnc_stop(void);
int api_vm_export(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_import(struct api *a, struct http_req *r, char **p, struct err *e);
int api_vm_import_libvirt(struct api *a, struct http_req *r, char **p,
    struct err *e);

struct job;
struct job_ops;
struct vm;
struct vm_row;
/* Record row (taken) as a new VM in state creating, start its job of ops
 * with details (taken), answer 202 {vm, job}.  On failure nothing stays:
 * no row, no VM. */
int api_vm_start_new(struct api *a, struct http_req *req, struct vm_row *row,
    const struct job_ops *ops, json_t *details, struct err *e);
/* Answer 202 with extra (stolen; NULL: {}) plus "job": the job's JSON. */
void api_reply_job(struct http_req *req, struct job *job, json_t *extra);

/* The VM named (or with UUID) name; -ENOENT with a message. */
int api_vm_lookup(struct api *a, const char *name, struct vm **ret,
    struct err *e);
/* A job id from the URL; -EINVAL with a message. */
int api_parse_id(const char *s, int64_t *ret, struct err *e);
int api_vm_move(struct api *a, struct http_req *r, char **p, struct err *e);
int api_migration_create(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_migration_commit(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_peer_measure(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_backup(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_backup_list(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_backup_restore(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_backup_prune(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_backup_verify(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_server(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replications(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_replication(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_replication_pause(struct api *a, struct http_req *r, char **p,
    struct err *e);
/* cluster_api.c */
int api_cluster(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_balance(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_maintain(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_node_op(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_nodes(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_peer(struct api *a, struct http_req *r, char **p,
    struct err *e);

/* failover_api.c */
int api_vm_failover(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_failover_end(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_failover(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replication_failed_over(struct api *a, struct http_req *r,
    char **p, struct err *e);
int api_replication_replica_moved(struct api *a, struct http_req *r,
    char **p, struct err *e);
int api_vm_replication_reverse(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_adopt(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_failover_test(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_failover_test_stop(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_replication_drill(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_cycles(struct api *a, struct http_req *r, char **p,
    struct err *e);
/* fo_test_api.c */
int api_vm_failover_ip(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_settings(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_failover_apply_ip(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_maps(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_map(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_delta(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_seeds(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_replica_vms(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_checkpoints(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_checkpoint(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_refpoints(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_move_storage(struct api *a, struct http_req *r, char **p,
    struct err *e);

/* cluster_api.c */
int api_cluster_vms(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_vm_ha(struct api *a, struct http_req *r, char **p, struct err *e);
int api_cluster_settings(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_facts(struct api *a, struct http_req *r, char **p,
    struct err *e);
int api_cluster_validate(struct api *a, struct http_req *r, char **p,
    struct err *e);

/* console.c: sessions, static files, the access decision applied */
int api_session(struct api *a, struct http_req *r, char **p, struct err *e);
/* false after answering (401/403/a static file) */
bool api_console_gate(struct api *a, struct http_req *req);
void api_console_stop(struct api *a);
/* Warn at start-up when logins cannot work (no /etc/pam.d/tern, no
 * tern-auth). */
void api_console_check(struct api *a);
/* stream.c */
int api_stream(struct api *a, struct http_req *r, char **p, struct err *e);
int api_console_follow(struct api *a, struct http_req *req, struct vm *vm,
    struct err *e);
void api_stream_start(struct api *a);
void api_stream_stop(struct api *a);
void api_console_sanitize(char *buf, size_t n);
/* fleet.c */
int api_fleet(struct api *a, struct http_req *r, char **p, struct err *e);
/* METHOD /v1/hosts/NAME/v1/...: handled here or forwarded. */
void api_forward(struct api *a, struct http_req *req);
/* Answer 503 to the fleet requests in flight and cancel their calls. */
void api_fleet_stop(void);
/* screen_fwd.c: the screen of a VM on peer p, inner being the peer's
 * path ("/v1/vms/VM/screenshot" or ".../vnc"); 0 when answered or
 * deferred, -errno (e set) when refused before any call. */
int api_screenshot_forward(struct api *a, struct http_req *req,
    const struct host_peer *p, const char *inner, struct err *e);
int api_vnc_forward(struct api *a, struct http_req *req,
    const struct host_peer *p, const char *inner, struct err *e);
/* Close every forwarded screen, answering 503 to those not open yet. */
void api_screen_fwd_stop(void);
/* The standard error body, its code named after status. */
void api_reply_error(struct http_req *req, unsigned status, const char *msg);
/* A deferred change of a VM (a medium, a NIC) ended: 200 with the VM, or
 * the error's status; data is the request. */
struct vm;
struct err;
void api_reply_vm_done(struct vm *vm, const struct err *e, void *data);
/* What a deferred change's start r (vm_media_change, vm_nic_add, ...)
 * means for req: r < 0 returned, 1 the answer deferred (to
 * api_reply_vm_done), 0 the VM at once; returns r < 0 or 0. */
int api_vm_change_started(struct http_req *req, struct vm *vm, int r);
/* Reply with the standard error body {"error":{"code","message"}}. */
void api_reply_error_code(struct http_req *req, unsigned status,
    const char *code, const char *msg);
/* Route and answer req for url (the path part), as api_handle does once
 * access was granted. */
void api_dispatch(struct api *a, struct http_req *req, const char *url);

/* Parse the request body as a JSON object (an empty body is {}). */
int api_body(struct http_req *req, json_t **ret, struct err *err);
