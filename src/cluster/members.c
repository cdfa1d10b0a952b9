/* members.c - Corosync followed from ternd's loop: membership and quorum
 * through libquorum, votes through libvotequorum, the ternds of the
 * cluster through libcpg (group "tern"; its ordered messages will carry
 * the cluster's state).  tern decides neither membership nor quorum.
 *
 *   idle --record stored (cl_members_follow on)--> connecting
 *   connecting --all three handles up--> connected
 *   connecting --Corosync not answering--> retry in 1 s --> connecting
 *   connected --a dispatch fails (Corosync stopped, restarted)-->
 *       disconnected: not quorate, nobody up --> retry in 1 s
 *   any --record removed (follow off)--> idle
 *
 * While not connected this host counts as not quorate: it starts
 * nothing that needs the cluster's word. */
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "host.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "util.h"

static void cl_retry(struct loop *l, void *data);

static void
members_set(uint32_t *dst, size_t *n, const uint32_t *src, size_t k)
{
	*n = k < CLUSTER_MAX_NODES ? k : CLUSTER_MAX_NODES;
	memcpy(dst, src, *n * sizeof(*dst));
}

bool
cl_in_list(const uint32_t *v, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

bool
cl_member_up(const struct cluster *c, uint32_t nodeid)
{
	return c && c->connected && cl_in_list(c->members, c->n_members,
	    nodeid);
}

bool
cl_member_in_group(const struct cluster *c, uint32_t nodeid)
{
	return c && c->connected && cl_in_list(c->group, c->n_group,
	    nodeid);
}

static void
votes_refresh(struct cluster *c)
{
	struct votequorum_info vi = { 0 };

	if (!c->vqh || votequorum_getinfo(c->vqh, 0, &vi) != CS_OK)
		return;
	c->votes = vi.total_votes;
	c->expected = vi.node_expected_votes;
	c->quorum = vi.quorum;
	c->flags = vi.flags;
	c->qdevice_votes = vi.qdevice_votes;
}

static void
on_quorum(quorum_handle_t qh, uint32_t quorate, uint64_t ring_seq,
    uint32_t n, uint32_t *list)
{
	struct cluster *c = NULL;

	(void)ring_seq;
	if (quorum_context_get(qh, (const void **)&c) != CS_OK || !c)
		return;
	if (c->quorate != !!quorate)
		host_event(c->h, quorate ? "info" : "warning", NULL, 0,
		    "cluster: this node %s quorum (%u nodes in the "
		    "membership)", quorate ? "has" : "lost", n);
	cl_res_membership(c, list, n, quorate);
	c->quorate = quorate;
	members_set(c->members, &c->n_members, list, n);
	votes_refresh(c);
}

static void
on_votes(votequorum_handle_t vqh, uint64_t context, uint32_t quorate,
    uint32_t n, votequorum_node_t nodes[])
{
	struct cluster *c = NULL;

	(void)context, (void)quorate, (void)n, (void)nodes;
	if (votequorum_context_get(vqh, (void **)&c) == CS_OK && c)
		votes_refresh(c);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
on_confchg(cpg_handle_t ch, const struct cpg_name *group,
    const struct cpg_address *members, size_t n,
    const struct cpg_address *left, size_t n_left,
    const struct cpg_address *joined, size_t n_joined)
{
	struct cluster *c = NULL;
	uint32_t ids[CLUSTER_MAX_NODES];
	size_t k = 0;

	(void)group, (void)left, (void)n_left, (void)joined;
	if (cpg_context_get(ch, (void **)&c) != CS_OK || !c)
		return;
	for (size_t i = 0; i < n && k < CLUSTER_MAX_NODES; i++)
		if (!cl_in_list(ids, k, members[i].nodeid))
			ids[k++] = members[i].nodeid;
	qsort(ids, k, sizeof(ids[0]), cmp_u32);
	members_set(c->group, &c->n_group, ids, k);
	cl_state_confchg(c, n_joined);
}

static void
on_deliver(cpg_handle_t ch, const struct cpg_name *group, uint32_t nodeid,
    uint32_t pid, void *msg, size_t len)
{
	struct cluster *c = NULL;

	(void)group, (void)pid;
	if (cpg_context_get(ch, (void **)&c) == CS_OK && c)
		cl_state_deliver(c, nodeid, msg, len);
}

static void
disconnect(struct cluster *c)
{
	struct loop *l = c->h->loop;

	if (c->connected) {	/* else the fds were never watched */
		loop_del_fd(l, c->qfd);
		loop_del_fd(l, c->vqfd);
		loop_del_fd(l, c->cpgfd);
	}
	if (c->qh)
		quorum_finalize(c->qh);
	if (c->vqh)
		votequorum_finalize(c->vqh);
	if (c->cpgh)
		cpg_finalize(c->cpgh);
	if (c->connected && c->want)
		host_event(c->h, "warning", NULL, 0, "cluster: lost Corosync "
		    "(stopped or restarted); not acting for the cluster until "
		    "it is back");
	cl_state_disconnected(c);
	if (!c->quorum_lost_ms)	/* without Corosync: without quorum */
		c->quorum_lost_ms = now_ms();
	c->qh = c->vqh = c->cpgh = 0;
	c->qfd = c->vqfd = c->cpgfd = -1;
	c->connected = c->quorate = false;
	c->n_members = c->n_group = 0;
	c->votes = c->expected = c->quorum = c->flags = c->qdevice_votes = 0;
}

static void
schedule_retry(struct cluster *c)
{
	if (c->want && !c->retry)
		c->retry = loop_timer_add(c->h->loop, CL_RETRY_MS, cl_retry, c);
}

static void
on_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct cluster *c = data;
	cs_error_t r;

	(void)l, (void)events;
	if (fd == c->qfd)
		r = quorum_dispatch(c->qh, CS_DISPATCH_ALL);
	else if (fd == c->vqfd)
		r = votequorum_dispatch(c->vqh, CS_DISPATCH_ALL);
	else
		r = cpg_dispatch(c->cpgh, CS_DISPATCH_ALL);
	if (r == CS_OK || r == CS_ERR_TRY_AGAIN)
		return;
	log_warn("cluster: Corosync dispatch failed (%d); reconnecting", r);
	disconnect(c);
	schedule_retry(c);
}

static cs_error_t
connect_quorum(struct cluster *c)
{
	static quorum_callbacks_t qcb = { .quorum_notify_fn = on_quorum };
	static votequorum_callbacks_t vcb = {
		.votequorum_quorum_notify_fn = on_votes };
	uint32_t type;
	cs_error_t r;

	if ((r = quorum_initialize(&c->qh, &qcb, &type)) != CS_OK)
		return r;
	quorum_context_set(c->qh, c);
	if ((r = quorum_trackstart(c->qh, CS_TRACK_CHANGES |
	    CS_TRACK_CURRENT)) != CS_OK ||
	    (r = quorum_fd_get(c->qh, &c->qfd)) != CS_OK)
		return r;
	if ((r = votequorum_initialize(&c->vqh, &vcb)) != CS_OK)
		return r;
	votequorum_context_set(c->vqh, c);
	if ((r = votequorum_trackstart(c->vqh, 0, CS_TRACK_CHANGES)) != CS_OK)
		return r;
	return votequorum_fd_get(c->vqh, &c->vqfd);
}

static cs_error_t
connect_cpg(struct cluster *c)
{
	static cpg_callbacks_t cb = { .cpg_deliver_fn = on_deliver,
		.cpg_confchg_fn = on_confchg };
	struct cpg_name g = { .length = strlen(CL_GROUP) };
	cs_error_t r;

	memcpy(g.value, CL_GROUP, g.length);
	if ((r = cpg_initialize(&c->cpgh, &cb)) != CS_OK)
		return r;
	cpg_context_set(c->cpgh, c);
	if ((r = cpg_local_get(c->cpgh, &c->local_nodeid)) != CS_OK ||
	    (r = cpg_join(c->cpgh, &g)) != CS_OK)
		return r;
	return cpg_fd_get(c->cpgh, &c->cpgfd);
}

static void
cl_connect(struct cluster *c)
{
	cs_error_t r;

	if ((r = connect_quorum(c)) != CS_OK || (r = connect_cpg(c)) != CS_OK) {
		log_debug("cluster: Corosync not answering yet (%d)", r);
		disconnect(c);
		schedule_retry(c);
		return;
	}
	loop_add_fd(c->h->loop, c->qfd, EPOLLIN, on_fd, c);
	loop_add_fd(c->h->loop, c->vqfd, EPOLLIN, on_fd, c);
	loop_add_fd(c->h->loop, c->cpgfd, EPOLLIN, on_fd, c);
	c->connected = true;
	votes_refresh(c);
	host_event(c->h, "info", NULL, 0, "cluster: following Corosync "
	    "(node id %u)", c->local_nodeid);
	/* the current membership comes as the first notifications */
	quorum_dispatch(c->qh, CS_DISPATCH_ALL);
	cpg_dispatch(c->cpgh, CS_DISPATCH_ALL);
}

static void
cl_retry(struct loop *l, void *data)
{
	struct cluster *c = data;

	(void)l;
	c->retry = NULL;
	if (c->want && !c->connected)
		cl_connect(c);
}

void
cl_members_follow(struct host *h, bool on)
{
	struct cluster *c = h->cluster;

	c->want = on;
	if (on && !c->quorate && !c->quorum_lost_ms)
		c->quorum_lost_ms = now_ms();	/* not quorate yet */
	cl_lease_follow(h, on);
	if (on && !c->connected && !c->retry)
		cl_connect(c);
	if (on)
		cl_vms_start(c);
	if (!on) {
		c->retry = loop_timer_cancel(h->loop, c->retry);
		disconnect(c);
		cl_vms_stop(c);
		cl_state_drop(c);
	}
}

void
cl_members_init(struct host *h)
{
	struct cluster *c = xzalloc(sizeof(*c));

	c->h = h;
	c->qfd = c->vqfd = c->cpgfd = -1;
	h->cluster = c;
	cl_state_init(c);
}

json_t *
cl_quorum_json(struct cluster *c)
{
	json_t *w = json_null();

	if (c->connected)
		votes_refresh(c);

	if (c->flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED)
		w = json_pack("{sbsbsi}", "alive", !!(c->flags &
		    VOTEQUORUM_INFO_QDEVICE_ALIVE), "casts_vote", !!(c->flags &
		    VOTEQUORUM_INFO_QDEVICE_CAST_VOTE), "votes",
		    (int)c->qdevice_votes);
	return json_pack("{sbsisisisiso}", "quorate", c->connected &&
	    c->quorate, "votes", (int)c->votes, "expected", (int)c->expected,
	    "quorum", (int)c->quorum, "nodes", (int)c->n_members,
	    "witness", w);
}
