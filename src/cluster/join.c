/* join.c - what a node does when another node of its cluster tells it
 * (over mutual TLS, from a trusted peer): join (the record and the
 * authkey: files written, record stored, Corosync started, followed),
 * update (a new record: files rewritten, Corosync reloaded), leave
 * (Corosync stopped, files and record removed).  Each is idempotent, so
 * that a job repeating a call after a restart does no harm, and checks
 * everything before it changes anything. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
key_decode(const char *hex, uint8_t out[CL_KEY_BYTES])
{
	if (!hex || strlen(hex) != 2 * CL_KEY_BYTES)
		return -EINVAL;
	for (size_t i = 0; i < CL_KEY_BYTES; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* rec is a good record naming this host (by its key and its name) and
 * the caller among its nodes. */
static int
record_for_me(struct host *h, const json_t *rec, const char *caller_fp,
    struct err *err)
{
	const json_t *self;
	int r;

	if ((r = cluster_record_check(rec, err)) < 0)
		return r;
	if (!(self = cl_record_self(h, rec)))
		return err_set(err, -EINVAL, "the cluster record does not name "
		    "this host (%s) among its nodes", h->cfg.name);
	if (!streq(json_string_value(json_object_get(self, "name")),
	    h->cfg.name))
		return err_set(err, -EINVAL, "the cluster record calls this "
		    "host '%s', but it is '%s': add it as a peer under its own "
		    "name", json_string_value(json_object_get(self, "name")),
		    h->cfg.name);
	if (!caller_fp || !json_array_size(json_object_get(rec, "nodes")))
		return err_set(err, -EACCES, "not a node of the cluster");
	return 0;
}

/* The record held here, or -EEXIST when it is another cluster's. */
static int
same_cluster(struct host *h, const json_t *rec, json_t **ret_old,
    struct err *err)
{
	json_t *old = cluster_record(h);
	const char *id = json_string_value(json_object_get(rec, "id"));

	*ret_old = old;
	if (old && !streq(id, json_string_value(json_object_get(old, "id"))))
		return err_set(err, -EEXIST, "this host (%s) is already in "
		    "cluster '%s': evict it there, or destroy that cluster, "
		    "first", h->cfg.name, json_string_value(json_object_get(
		    old, "name")));
	return 0;
}

static bool
caller_in(const json_t *rec, const char *fp)
{
	const json_t *n;
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		if (streq(fp, json_string_value(json_object_get(n, "fp"))))
			return true;
	return false;
}

int
cluster_join(struct host *h, const json_t *body, const char *caller_fp,
    struct err *err)
{
	const json_t *rec = json_object_get(body, "record");
	uint8_t key[CL_KEY_BYTES];
	_cleanup_json_ json_t *old = NULL;
	int r;

	if ((r = record_for_me(h, rec, caller_fp, err)) < 0 ||
	    (r = same_cluster(h, rec, &old, err)) < 0)
		return r;
	if (!caller_in(rec, caller_fp))
		return err_set(err, -EACCES, "only a node of cluster '%s' may "
		    "add this host to it", json_string_value(json_object_get(
		    rec, "name")));
	if (key_decode(json_string_value(json_object_get(body, "authkey")),
	    key) < 0)
		return err_set(err, -EINVAL, "authkey: %d bytes in lower-case "
		    "hex expected", CL_KEY_BYTES);
	if ((r = cl_files_write(h, rec, key, sizeof(key), err)) < 0)
		return r;
	if ((r = cl_record_save(h, rec)) < 0)
		return err_setf_errno(err, r, "cannot record the cluster");
	cl_command(h, "start", h->cfg.cluster_start);
	cl_members_follow(h, true);
	host_event(h, "info", NULL, 0, "cluster: joined cluster '%s' as node "
	    "%lld", json_string_value(json_object_get(rec, "name")),
	    (long long)json_integer_value(json_object_get(cl_record_self(h,
	    rec), "nodeid")));
	return 0;
}

int
cluster_update(struct host *h, const json_t *body, const char *caller_fp,
    struct err *err)
{
	const json_t *rec = json_object_get(body, "record");
	_cleanup_json_ json_t *old = NULL;
	int r;

	if ((r = record_for_me(h, rec, caller_fp, err)) < 0 ||
	    (r = same_cluster(h, rec, &old, err)) < 0)
		return r;
	if (!old || !caller_in(old, caller_fp))
		return err_set(err, -EACCES, "only a node of this host's "
		    "cluster may change it");
	if ((r = cl_files_write(h, rec, NULL, 0, err)) < 0)
		return r;
	if ((r = cl_record_save(h, rec)) < 0)
		return err_setf_errno(err, r, "cannot record the cluster");
	cl_command(h, "reload", h->cfg.cluster_reload);
	host_event(h, "info", NULL, 0, "cluster: the nodes of '%s' changed; "
	    "%zu now", json_string_value(json_object_get(rec, "name")),
	    json_array_size(json_object_get(rec, "nodes")));
	return 0;
}

int
cluster_leave(struct host *h, const char *caller_fp, struct err *err)
{
	_cleanup_json_ json_t *old = cluster_record(h);

	if (!old)
		return 0;	/* left already */
	if (!caller_fp || !caller_in(old, caller_fp))
		return err_set(err, -EACCES, "only a node of this host's "
		    "cluster may take it out of the cluster");
	cl_members_follow(h, false);
	cl_command(h, "stop", h->cfg.cluster_stop);
	cl_files_remove(h);
	if (cl_record_drop(h) < 0)
		return err_set(err, -EIO, "cannot drop the cluster's record");
	host_event(h, "info", NULL, 0, "cluster: left cluster '%s'",
	    json_string_value(json_object_get(old, "name")));
	return 0;
}
