/* host_peer.c - what this host knows about each peer host: its row
 * (name, URL, pinned certificate fingerprint) and the measured rate of the
 * link to it.  These are the host's facts, read by moves today and by
 * replication and the cluster next; measuring the link is migrate's job
 * (link.c), recording it is here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "util.h"

void
host_peer_from_row(struct host_peer *p, const struct obj_row *o)
{
	p->name = xstrdup(o->name);
	p->url = xstrdup(o->a);
	p->fp = xstrdup(o->b);
}

int
host_peer_by_name(struct host *h, const char *name, struct host_peer *ret,
    struct err *err)
{
	struct obj_row *rows;
	size_t n;
	bool found = false;

	if (store_obj_list(h->store, STORE_PEER, &rows, &n) < 0)
		return err_set(err, -EIO, "cannot read peers");
	for (size_t i = 0; i < n && !found; i++)
		if (streq(rows[i].name, name)) {
			host_peer_from_row(ret, &rows[i]);
			found = true;
		}
	obj_rows_free(rows, n);
	if (!found)
		return err_set(err, -ENOENT, "no peer named '%.64s' (see 'tern "
		    "peer list'; add it with 'tern peer add')", name);
	return 0;
}

int
host_peer_by_fp(struct host *h, const char *fp, struct host_peer *ret)
{
	struct obj_row *rows;
	size_t n;
	bool found = false;

	if (!fp || store_obj_list(h->store, STORE_PEER, &rows, &n) < 0)
		return -ENOENT;
	for (size_t i = 0; i < n && !found; i++)
		if (streq(rows[i].b, fp)) {
			host_peer_from_row(ret, &rows[i]);
			found = true;
		}
	obj_rows_free(rows, n);
	return found ? 0 : -ENOENT;
}

void
host_peer_done(struct host_peer *p)
{
	free(p->name);
	free(p->url);
	free(p->fp);
	p->name = p->url = p->fp = NULL;
}

char *
host_peer_url_host(const char *url)
{
	const char *s = strstr(url, "://");
	size_t n;

	s = s ? s + 3 : url;
	if (*s == '[') {
		n = strcspn(s + 1, "]");
		return n ? strndup(s + 1, n) : NULL;
	}
	n = strcspn(s, ":/");
	return n ? strndup(s, n) : NULL;
}

/* ---- the measured link: meta "link.PEER" = "RATE WALL_MS" ---- */

uint64_t
host_link_rate(struct host *h, const char *peer, uint64_t *ret_age_ms)
{
	_cleanup_free_ char *key = xasprintf("link.%s", peer);
	_cleanup_free_ char *v = NULL;
	unsigned long long rate, at;
	uint64_t now = wall_ms();

	if (ret_age_ms)
		*ret_age_ms = UINT64_MAX;
	if (store_meta_get(h->store, key, &v) < 0 || !v ||
	    sscanf(v, "%llu %llu", &rate, &at) != 2)
		return 0;
	if (ret_age_ms)
		*ret_age_ms = now > at ? now - at : 0;
	return rate;
}

void
host_link_record(struct host *h, const char *peer, uint64_t rate)
{
	_cleanup_free_ char *key = xasprintf("link.%s", peer);
	_cleanup_free_ char *v = xasprintf("%llu %llu",
	    (unsigned long long)rate, (unsigned long long)wall_ms());

	host_link_metric(peer, rate);
	if (store_meta_set(h->store, key, v) < 0)
		log_warn("peer=%s cannot record the link rate", peer);
}

