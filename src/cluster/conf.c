/* conf.c - the cluster's record checked, and corosync.conf written from
 * it (pure, base only). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

static bool
addr_is_literal(const char *s)
{
	unsigned char buf[16];

	return s && (inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1);
}

int
cluster_witness_split(const char *w, char *buf, size_t len, int *ret_port)
{
	const char *end, *colon;
	char *num_end;
	long port = CLUSTER_QNETD_PORT;
	size_t n;

	if (!w || !*w)
		return -EINVAL;
	if (w[0] == '[') {	/* [V6]:PORT */
		if (!(end = strchr(w, ']')))
			return -EINVAL;
		n = (size_t)(end - w - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -EINVAL;
		w++;
	} else {
		colon = strchr(w, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;	/* a bare IPv6 address */
		n = colon ? (size_t)(colon - w) : strlen(w);
	}
	if (n == 0 || n >= len)
		return -EINVAL;
	memcpy(buf, w, n);
	buf[n] = '\0';
	if (colon) {
		errno = 0;
		port = strtol(colon + 1, &num_end, 10);
		if (errno || *num_end || num_end == colon + 1 || port < 1 ||
		    port > 65535)
			return -EINVAL;
	}
	if (!addr_is_literal(buf))
		return -EINVAL;
	*ret_port = (int)port;
	return 0;
}

/* The i-th node's fields checked against each other and the earlier
 * nodes'. */
static int
node_check(const json_t *nodes, size_t i, struct err *err)
{
	const json_t *n = json_array_get(nodes, i), *o;
	const char *name = json_string_value(json_object_get(n, "name"));
	const char *addr = json_string_value(json_object_get(n, "addr"));
	json_int_t id = json_integer_value(json_object_get(n, "nodeid"));

	if (!json_is_object(n) || !name || !name_is_valid(name))
		return err_set(err, -EINVAL, "cluster record: node %zu has no "
		    "valid name", i + 1);
	if (!json_is_integer(json_object_get(n, "nodeid")) || id < 1 ||
	    id > CLUSTER_MAX_NODES)
		return err_set(err, -EINVAL, "cluster record: node %s has no "
		    "node id in 1..%d", name, CLUSTER_MAX_NODES);
	if (!addr_is_literal(addr))
		return err_set(err, -EINVAL, "cluster record: node %s has no "
		    "IPv4 or IPv6 address", name);
	for (size_t j = 0; j < i; j++) {
		o = json_array_get(nodes, j);
		if (streq(name, json_string_value(json_object_get(o, "name")))
		    || id == json_integer_value(json_object_get(o, "nodeid"))
		    || streq(addr, json_string_value(json_object_get(o,
		    "addr"))))
			return err_set(err, -EINVAL, "cluster record: nodes "
			    "%zu and %zu share a name, node id or address",
			    j + 1, i + 1);
	}
	return 0;
}

int
cluster_record_check(const json_t *rec, struct err *err)
{
	const json_t *nodes = json_object_get(rec, "nodes");
	const json_t *tok = json_object_get(rec, "token_ms");
	const json_t *wit = json_object_get(rec, "witness");
	const char *name = json_string_value(json_object_get(rec, "name"));
	char host[64];
	int port, r;

	if (!json_is_object(rec) || !name || !name_is_valid(name))
		return err_set(err, -EINVAL, "cluster record: no valid name");
	if (!uuid_is_valid(json_string_value(json_object_get(rec, "id"))))
		return err_set(err, -EINVAL, "cluster record: no valid id");
	if (!json_is_array(nodes) || json_array_size(nodes) < 1 ||
	    json_array_size(nodes) > CLUSTER_MAX_NODES)
		return err_set(err, -EINVAL, "cluster record: 1..%d nodes, "
		    "not %zu", CLUSTER_MAX_NODES, json_array_size(nodes));
	for (size_t i = 0; i < json_array_size(nodes); i++)
		if ((r = node_check(nodes, i, err)) < 0)
			return r;
	if (!json_is_integer(tok) ||
	    json_integer_value(tok) < CLUSTER_TOKEN_MIN_MS ||
	    json_integer_value(tok) > CLUSTER_TOKEN_MAX_MS)
		return err_set(err, -EINVAL, "cluster record: token_ms is "
		    "not in %d..%d", CLUSTER_TOKEN_MIN_MS,
		    CLUSTER_TOKEN_MAX_MS);
	if (wit && !json_is_null(wit) && cluster_witness_split(
	    json_string_value(wit), host, sizeof(host), &port) < 0)
		return err_set(err, -EINVAL, "cluster record: the witness is "
		    "not ADDR[:PORT] with ADDR an IP address");
	return 0;
}

static void
render_nodes(FILE *f, const json_t *nodes)
{
	const json_t *n;
	size_t i;

	fputs("nodelist {\n", f);
	json_array_foreach(nodes, i, n)
		fprintf(f, "  node {\n    name: %s\n    nodeid: %lld\n"
		    "    ring0_addr: %s\n  }\n",
		    json_string_value(json_object_get(n, "name")),
		    (long long)json_integer_value(json_object_get(n,
		    "nodeid")), json_string_value(json_object_get(n,
		    "addr")));
	fputs("}\n\n", f);
}

static void
render_quorum(FILE *f, const json_t *rec)
{
	const char *w = json_string_value(json_object_get(rec, "witness"));
	size_t n = json_array_size(json_object_get(rec, "nodes"));
	char host[64];
	int port;

	fputs("quorum {\n  provider: corosync_votequorum\n", f);
	if (w && cluster_witness_split(w, host, sizeof(host), &port) == 0)
		fprintf(f, "  device {\n    model: net\n    votes: 1\n"
		    "    net {\n      tls: off\n      host: %s\n"
		    "      port: %d\n      algorithm: %s\n    }\n  }\n",
		    host, port, n % 2 ? "lms" : "ffsplit");
	else if (n == 2)
		fputs("  two_node: 1\n", f);
	fputs("}\n\n", f);
}

char *
cluster_conf_render(const json_t *rec, const char *keyfile,
    const char *state_dir)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	fprintf(f, "# Written by ternd from the cluster's record; edits are "
	    "overwritten.\ntotem {\n  version: 2\n  cluster_name: %s\n"
	    "  transport: knet\n  token: %lld\n  keyfile: %s\n"
	    "  crypto_cipher: aes256\n  crypto_hash: sha256\n}\n\n",
	    json_string_value(json_object_get(rec, "name")),
	    (long long)json_integer_value(json_object_get(rec, "token_ms")),
	    keyfile);
	render_nodes(f, json_object_get(rec, "nodes"));
	render_quorum(f, rec);
	fprintf(f, "logging {\n  to_stderr: no\n  to_syslog: yes\n"
	    "  to_logfile: yes\n  logfile: %s/corosync.log\n}\n\n"
	    "system {\n  state_dir: %s\n}\n", state_dir, state_dir);
	fclose(f);
	return text;
}
