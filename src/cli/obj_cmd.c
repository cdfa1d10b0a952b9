/* obj_cmd.c - the small objects of a host: "tern host info" and the
 * create/list/delete commands of pools, switches and peers, which differ
 * only in their path and columns (the obj_kinds table).  Names are ternd's
 * to judge; this file only builds requests and shows answers. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "size.h"
#include "util.h"

/* How one kind of object is listed and deleted. */
struct obj_kind {
	const char *group;	/* the command group: "pool" */
	const char *path;	/* its collection: "/v1/pools" */
	const char *key;	/* the list's member in GET's answer */
	const char *gone;	/* what delete did: "deleted" */
	size_t ncols;
	const char *const *head;
	void (*row)(struct table *t, const json_t *o);
};

static void
pool_row(struct table *t, const json_t *o)
{
	char size[32] = "-", free_[32] = "-";
	long long v;

	if (jv_int(o, "size_bytes", &v) && v >= 0)
		size_format(v, size, sizeof(size));
	if (jv_int(o, "free_bytes", &v) && v >= 0)
		size_format(v, free_, sizeof(free_));
	table_row(t, (const char *[]){ jv_str(o, "name"), jv_str(o, "path"),
	    size, free_ });
}

static void
switch_row(struct table *t, const json_t *o)
{
	const char *up = jv_str(o, "uplinks");
	const char *mode = jv_str(o, "bond_mode");
	char buf[160];

	snprintf(buf, sizeof(buf), "%s%s%s%s", up && *up ? up : "-",
	    mode ? " (" : "", mode ? mode : "", mode ? ")" : "");
	table_row(t, (const char *[]){ jv_str(o, "name"),
	    jv_str(o, "bridge"), json_is_true(json_object_get(o,
	    "isolated")) ? "yes" : "no", buf });
}

static void
peer_row(struct table *t, const json_t *o)
{
	json_t *rate = json_object_get(json_object_get(o, "link"),
	    "rate_bytes_per_s");
	char buf[32] = "-";

	if (rate)
		snprintf(buf, sizeof(buf), "%.0f MiB/s",
		    json_integer_value(rate) / 1048576.0);
	table_row(t, (const char *[]){ jv_str(o, "name"), jv_str(o, "url"),
	    buf, jv_str(o, "fingerprint") });
}

static const char *const pool_head[] = { "NAME", "PATH", "SIZE", "FREE" };
static const char *const switch_head[] = { "NAME", "BRIDGE", "ISOLATED",
	"UPLINK" };
static const char *const peer_head[] = { "NAME", "URL", "LINK",
	"FINGERPRINT" };

static const struct obj_kind obj_kinds[] = {
	{ "pool", "/v1/pools", "pools", "deleted", ARRAY_SIZE(pool_head),
	  pool_head, pool_row },
	{ "switch", "/v1/switches", "switches", "deleted",
	  ARRAY_SIZE(switch_head), switch_head, switch_row },
	{ "peer", "/v1/peers", "peers", "removed", ARRAY_SIZE(peer_head),
	  peer_head, peer_row },
};

static const struct obj_kind *
obj_kind_of(const struct cli *cli)
{
	for (size_t i = 0; i < ARRAY_SIZE(obj_kinds); i++)
		if (streq(obj_kinds[i].group, cli->cmd->group))
			return &obj_kinds[i];
	abort();	/* a command table entry without a kind */
}

int
cmd_obj_list(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const struct obj_kind *k = obj_kind_of(cli);
	_cleanup_json_ json_t *answer = NULL;
	struct table *t;
	json_t *o;
	size_t i;
	int r;

	(void)a;
	r = http_call(cli->http, "GET", k->path, NULL, &answer, err);
	if (r < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(k->ncols, k->head);
	json_array_foreach(json_object_get(answer, k->key), i, o)
		k->row(t, o);
	table_print(t, stdout);
	table_free(t);
	return 0;
}

int
cmd_obj_delete(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const struct obj_kind *k = obj_kind_of(cli);
	_cleanup_free_ char *prefix = xasprintf("%s/", k->path);
	_cleanup_free_ char *path = cli_path(cli, prefix, a->pos[0], NULL);
	_cleanup_json_ json_t *answer = NULL;
	int r;

	r = http_call(cli->http, "DELETE", path, NULL, &answer, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("%s '%s' %s\n", k->group, a->pos[0], k->gone);
	return 0;
}

/* POST body to the kind's collection and show the created object. */
static int
obj_create(struct cli *cli, const json_t *body, json_t **ret_obj,
    struct err *err)
{
	const struct obj_kind *k = obj_kind_of(cli);
	json_t *o = NULL;
	int r;

	r = http_call(cli->http, "POST", k->path, body, &o, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(o);
	*ret_obj = o;
	return 0;
}

int
cmd_pool_create(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *pool = NULL;
	_cleanup_free_ char *path = cli_file_arg(cli, a->pos[1]);
	char free_[32] = "?";
	long long v;
	int r;

	r = cli_json_set_str(body, "name", a->pos[0], err);
	if (r == 0)
		r = cli_json_set_str(body, "path", path, err);
	if (r == 0)
		r = obj_create(cli, body, &pool, err);
	if (r < 0 || cli->json)
		return r;
	if (jv_int(pool, "free_bytes", &v) && v >= 0)
		size_format(v, free_, sizeof(free_));
	printf("pool '%s' created at %s (%s free)\n", a->pos[0],
	    jv_str(pool, "path") ? jv_str(pool, "path") : path, free_);
	return 0;
}

int
cmd_switch_create(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *sw = NULL;
	json_t *ups = json_array();
	const char *mode = cli_args_get(a, "bond-mode");
	const char *up;
	int r;

	for (int i = 0; i < a->nopt; i++)
		if (streq(a->opt[i].name, "uplink"))
			json_array_append_new(ups, json_string(a->opt[i].value));
	json_object_set_new(body, "uplinks", ups);
	if (json_array_size(ups) && cli_args_get(a, "isolated"))
		return cli_usage(err, "an isolated switch has no uplink: "
		    "drop --isolated or --uplink");
	if (mode && json_array_size(ups) < 2)
		return cli_usage(err, "--bond-mode needs 2 or more --uplink "
		    "to bond (%zu given)", json_array_size(ups));
	if (!json_array_size(ups))
		json_object_del(body, "uplinks");
	r = cli_json_set_str(body, "name", a->pos[0], err);
	if (r == 0 && cli_args_get(a, "isolated"))
		json_object_set_new(body, "isolated", json_true());
	if (r == 0 && mode)
		r = cli_json_set_str(body, "bond_mode", mode, err);
	if (r == 0)
		r = obj_create(cli, body, &sw, err);
	if (r < 0 || cli->json)
		return r;
	up = jv_str(sw, "uplinks");
	printf("switch '%s' created (bridge %s%s%s%s)\n", a->pos[0],
	    jv_str(sw, "bridge") ? jv_str(sw, "bridge") : "?",
	    json_is_true(json_object_get(sw, "isolated")) ? ", isolated" :
	    "", up && *up ? ", uplink " : "", up && *up ? up : "");
	return 0;
}

int
cmd_peer_add(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *fp = cli_args_get(a, "fingerprint");
	_cleanup_json_ json_t *body = json_object(), *peer = NULL;
	char pin[TLS_PIN_LEN];
	int r;

	if (!fp)
		return cli_usage(err, "missing option --fingerprint "
		    "sha256:HEX (run 'tern host info' on that host)");
	if (tls_pin_from_fingerprint(fp, pin, sizeof(pin)) < 0)
		return cli_usage(err, "invalid fingerprint '%s': expected "
		    "sha256: and 64 hex digits", fp);
	r = cli_json_set_str(body, "name", a->pos[0], err);
	if (r == 0)
		r = cli_json_set_str(body, "url", a->pos[1], err);
	if (r == 0)
		r = cli_json_set_str(body, "fingerprint", fp, err);
	if (r == 0)
		r = obj_create(cli, body, &peer, err);
	if (r < 0 || cli->json)
		return r;
	printf("peer '%s' added: %s is trusted as %s\n", a->pos[0],
	    a->pos[1], fp);
	return 0;
}

/* The last (oldest) of the host's "machines", or "-". */
static const char *
oldest_machine(const json_t *h, char *buf, size_t len)
{
	const json_t *m = json_object_get(h, "machines");
	const char *s = json_string_value(json_array_get(m,
	    json_array_size(m) ? json_array_size(m) - 1 : 0));

	snprintf(buf, len, "%s", s ? s : "-");
	return buf;
}

int
cmd_host_info(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *h = NULL;
	const json_t *vms;
	long long mem = 0, avail = 0, total = 0, running = 0;
	char b[128], m1[32], m2[32];
	struct table *t;
	int r;

	(void)a;
	r = http_call(cli->http, "GET", "/v1/host", NULL, &h, err);
	if (r < 0 || cli->json)
		goto out;
	vms = json_object_get(h, "vms");
	(void)jv_int(h, "memory_mib", &mem);
	(void)jv_int(h, "memory_available_mib", &avail);
	(void)jv_int(vms, "total", &total);
	(void)jv_int(vms, "running", &running);
	t = table_new(2, NULL);
	table_kv(t, "name", "%s", jv_text(h, "name", b, sizeof(b)));
	table_kv(t, "version", "%s", jv_text(h, "version", b, sizeof(b)));
	table_kv(t, "fingerprint", "%s", jv_text(h, "fingerprint", b,
	    sizeof(b)));
	table_kv(t, "accel", "%s", jv_text(h, "accel", b, sizeof(b)));
	table_kv(t, "qemu", "%s", jv_text(h, "qemu_version", b, sizeof(b)));
	table_kv(t, "machine types", "%s (default) .. %s",
	    jv_text(h, "machine_default", b, sizeof(b)),
	    oldest_machine(h, m1, sizeof(m1)));
	table_kv(t, "cpus", "%s", jv_text(h, "cpus", b, sizeof(b)));
	table_kv(t, "memory", "%s (%s available)", fmt_mib(mem, m1,
	    sizeof(m1)), fmt_mib(avail, m2, sizeof(m2)));
	(void)jv_int(h, "memory_vms_mib", &mem);
	(void)jv_int(h, "memory_vms_max_mib", &avail);
	table_kv(t, "vm memory", "%s now, %s at most", fmt_mib(mem, m1,
	    sizeof(m1)), fmt_mib(avail, m2, sizeof(m2)));
	(void)jv_int(h, "memory_reserved_mib", &mem);
	if (mem)
		table_kv(t, "memory reserve", "%s", fmt_mib(mem, m1,
		    sizeof(m1)));
	table_kv(t, "listen", "%s", jv_text(h, "listen", b, sizeof(b)));
	table_kv(t, "state dir", "%s", jv_text(h, "state_dir", b, sizeof(b)));
	table_kv(t, "vms", "%lld (%lld running)", total, running);
	table_print(t, stdout);
	table_free(t);
out:
	if (r == 0 && cli->json)
		print_json(h);
	return r;
}
