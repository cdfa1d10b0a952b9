/* fleet.c - all hosts at once for the web console: GET /v1/fleet asks
 * every trusted peer for its host and VMs at once over mutual TLS (src/peer,
 * 2 s each), and METHOD /v1/hosts/NAME/v1/... forwards a request to the
 * peer NAME (after this host's role and CSRF checks) and passes its answer
 * back.  Never blocks: the request is deferred until the peers answered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "api.h"
#include "peer.h"
#include "util.h"
#include "vm.h"

#define FLEET_TIMEOUT_MS 2000
#define FORWARD_TIMEOUT_MS 30000

/* One deferred request: n_calls peer calls in flight, answered when the
 * last one is back. */
struct api_fleet {
	struct api *a;
	struct http_req *req;
	json_t *hosts, *vms;	/* the answer being built */
	struct fleet_call **calls;
	size_t n_calls, n_left;
	bool forward;		/* one call whose answer is passed back */
};

struct fleet_call {
	struct api_fleet *f;
	struct peer_call *pc;
	json_t *host_row;	/* borrowed: the row in f->hosts */
	char *name;
	bool vms;		/* GET /v1/vms (else /v1/host) */
};

static struct api_fleet **fleets;	/* in flight, for api_fleet_stop */
static size_t n_fleets;

static void
fleet_free(struct api_fleet *f)
{
	for (size_t i = 0; i < n_fleets; i++)
		if (fleets[i] == f) {
			fleets[i] = fleets[--n_fleets];
			break;
		}
	for (size_t i = 0; i < f->n_calls; i++) {
		peer_call_cancel(f->calls[i]->pc);
		free(f->calls[i]->name);
		free(f->calls[i]);
	}
	free(f->calls);
	json_decref(f->hosts);
	json_decref(f->vms);
	free(f);
}

static void
fleet_done(struct api_fleet *f)
{
	if (!f->forward)
		http_reply_json(f->req, 200, json_pack("{sO sO}", "hosts",
		    f->hosts, "vms", f->vms));
	fleet_free(f);
}

static void
fleet_add_vms(struct api_fleet *f, const char *host, json_t *vms)
{
	size_t i;
	json_t *v;

	json_array_foreach(vms, i, v) {
		json_t *row = json_deep_copy(v);

		if (!json_is_object(row)) {
			json_decref(row);
			continue;
		}
		json_object_set_new(row, "host", json_string(host));
		json_array_append_new(f->vms, row);
	}
}

static void
fleet_on_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct fleet_call *c = data;
	struct api_fleet *f = c->f;

	c->pc = NULL;
	if (f->forward) {
		if (status == 0)
			api_reply_error_code(f->req, 502, "peer", e->msg);
		else if (!body)
			http_reply_empty(f->req, (unsigned)status);
		else
			http_reply_json(f->req, (unsigned)status,
			    json_incref(body));
	} else if (status != 200) {
		json_object_set_new(c->host_row, "reachable", json_false());
		if (!json_object_get(c->host_row, "error"))
			json_object_set_new(c->host_row, "error", json_string(
			    e ? e->msg : "the peer answered with an error"));
	} else if (c->vms) {
		fleet_add_vms(f, c->name, json_object_get(body, "vms"));
	} else {
		json_object_set(c->host_row, "host", body);
	}
	if (--f->n_left == 0)
		fleet_done(f);
}

static int
fleet_call(struct api_fleet *f, const struct host_peer *p,
    const char *method, const char *path, json_t *body, json_t *row,
    bool vms, uint64_t timeout_ms)
{
	struct fleet_call *c = xzalloc(sizeof(*c));
	int r;

	*c = (struct fleet_call){ .f = f, .host_row = row,
		.name = xstrdup(p->name), .vms = vms };
	r = peer_call(f->a->h->peers, p->url, p->fp, method, path, body,
	    timeout_ms, fleet_on_reply, c, &c->pc);
	if (r < 0) {
		free(c->name);
		free(c);
		return r;
	}
	f->calls = xrealloc(f->calls, (f->n_calls + 1) * sizeof(*f->calls));
	f->calls[f->n_calls++] = c;
	f->n_left++;
	return 0;
}

static struct api_fleet *
fleet_new(struct api *a, struct http_req *req)
{
	struct api_fleet *f = xzalloc(sizeof(*f));

	*f = (struct api_fleet){ .a = a, .req = req, .hosts = json_array(),
		.vms = json_array() };
	fleets = xrealloc(fleets, (n_fleets + 1) * sizeof(*fleets));
	fleets[n_fleets++] = f;
	return f;
}

static void
fleet_self(struct api_fleet *f)
{
	struct host *h = f->a->h;

	json_array_append_new(f->hosts, json_pack("{ss ss sb sb so}", "name",
	    h->cfg.name, "address", h->cfg.listen ? h->cfg.listen : "",
	    "self", true, "reachable", true, "host", host_to_json(h)));
	for (size_t i = 0; i < h->n_vms; i++) {
		json_t *row = vm_to_json(h->vms[i]);

		json_object_set_new(row, "host", json_string(h->cfg.name));
		json_array_append_new(f->vms, row);
	}
}

static void
fleet_peer(struct api_fleet *f, const struct obj_row *o)
{
	struct host_peer p = { 0 };
	_cleanup_free_ char *addr = NULL;
	json_t *row;

	host_peer_from_row(&p, o);
	addr = host_peer_url_host(p.url);
	row = json_pack("{ss ss sb sb}", "name", p.name, "address",
	    addr ? addr : p.url, "self", false, "reachable", true);
	json_array_append_new(f->hosts, row);
	if (!f->a->h->peers) {
		json_object_set_new(row, "reachable", json_false());
		json_object_set_new(row, "error", json_string("this host has "
		    "no HTTPS client (no --listen)"));
	} else if (fleet_call(f, &p, "GET", "/v1/host", NULL, row, false,
	    FLEET_TIMEOUT_MS) < 0 || fleet_call(f, &p, "GET", "/v1/vms",
	    NULL, row, true, FLEET_TIMEOUT_MS) < 0) {
		json_object_set_new(row, "reachable", json_false());
		json_object_set_new(row, "error", json_string("cannot call "
		    "this peer (bad address or fingerprint)"));
	}
	host_peer_done(&p);
}

int
api_fleet(struct api *a, struct http_req *req, char **p, struct err *e)
{
	struct api_fleet *f = fleet_new(a, req);
	struct obj_row *rows = NULL;
	size_t n = 0;

	(void)p;
	fleet_self(f);
	if (store_obj_list(a->h->store, STORE_PEER, &rows, &n) < 0) {
		fleet_free(f);
		return err_set(e, -EIO, "cannot read the peers");
	}
	for (size_t i = 0; i < n; i++)
		fleet_peer(f, &rows[i]);
	obj_rows_free(rows, n);
	if (f->n_left == 0) {
		fleet_done(f);
		return 0;
	}
	http_req_defer(req);
	return 0;
}

/* s percent-encoded but for unreserved characters (caller frees). */
static char *
url_encode(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c))
			*o++ = (char)c;
		else
			o += sprintf(o, "%%%02X", c);
	}
	*o = '\0';
	return out;
}

/* "/v1/..." plus the query string of req, as the peer must see it. */
static enum MHD_Result
add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	_cleanup_free_ char *k = url_encode(key);
	_cleanup_free_ char *v = value ? url_encode(value) : NULL;
	char **q = cls;
	char *old = *q;

	(void)kind;
	*q = xasprintf("%s%c%s%s%s", old, strchr(old, '?') ? '&' : '?', k,
	    v ? "=" : "", v ? v : "");
	free(old);
	return MHD_YES;
}

/* "/v1/vms/NAME/screenshot" */
static bool
is_screenshot(const char *path)
{
	const char *name = path + strlen("/v1/vms/"), *slash;

	if (strncmp(path, "/v1/vms/", 8) != 0)
		return false;
	slash = strchr(name, '/');
	return slash && slash > name && streq(slash, "/screenshot");
}

/* A screenshot (PNG) or a WebSocket, which the JSON path below cannot
 * carry, go to screen_fwd.c; true when req was handled there.  A GET of
 * .../vnc without an upgrade is JSON (where the server is) and stays. */
static bool
api_forward_screen(struct api *a, struct http_req *req,
    const struct host_peer *p, const char *inner)
{
	struct err e = { 0 };
	int r;

	if (streq(req->method, "GET") && is_screenshot(inner))
		r = api_screenshot_forward(a, req, p, inner, &e);
	else if (access_is_vnc(inner) && http_req_header(req, "Upgrade"))
		r = api_vnc_forward(a, req, p, inner, &e);
	else
		return false;
	if (r < 0)
		api_reply_error(req, api_status_of(r), e.msg[0] ? e.msg :
		    strerror(-r));
	return true;
}

void
api_forward(struct api *a, struct http_req *req)
{
	const char *inner = access_inner_path(req->url);
	size_t nl = (size_t)(inner - req->url) - strlen("/v1/hosts/");
	_cleanup_free_ char *name = xasprintf("%.*s", (int)nl, req->url + 10);
	_cleanup_free_ char *path = NULL;
	struct host_peer p = { 0 };
	struct err e = { 0 };
	json_t *body = NULL;
	struct api_fleet *f;

	if (strncmp(inner, "/v1/", 4) != 0) {
		api_reply_error_code(req, 404, "not_found", "expected "
		    "/v1/hosts/NAME/v1/...");
		return;
	}
	if (streq(name, a->h->cfg.name)) {
		api_dispatch(a, req, inner);
		return;
	}
	if (host_peer_by_name(a->h, name, &p, &e) < 0 || !a->h->peers) {
		api_reply_error_code(req, 404, "not_found", e.msg[0] ? e.msg :
		    "this host has no HTTPS client (no --listen)");
		host_peer_done(&p);
		return;
	}
	if (api_forward_screen(a, req, &p, inner)) {
		host_peer_done(&p);
		return;
	}
	if (req->body_len > 0 && api_body(req, &body, &e) < 0) {
		api_reply_error_code(req, 400, "invalid", e.msg);
		host_peer_done(&p);
		return;
	}
	path = xstrdup(inner);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_arg,
	    &path);
	f = fleet_new(a, req);
	f->forward = true;
	if (fleet_call(f, &p, req->method, path, body, NULL, false,
	    FORWARD_TIMEOUT_MS) < 0) {
		fleet_free(f);
		api_reply_error_code(req, 400, "invalid", "cannot forward "
		    "this request to the peer");
	} else {
		http_req_defer(req);
	}
	host_peer_done(&p);
}

void
api_fleet_stop(void)
{
	while (n_fleets > 0) {
		struct api_fleet *f = fleets[0];

		api_reply_error_code(f->req, 503, "not_yet",
		    "ternd is stopping");
		fleet_free(f);
	}
	free(fleets);
	fleets = NULL;
}
