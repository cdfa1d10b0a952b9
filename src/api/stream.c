/* stream.c - live updates as server-sent events: GET /v1/stream (jobs,
 * events, VM states, through the observers src/job and src/vm call) and
 * GET /v1/vms/NAME/console?follow=1 (the serial log, polled every 100 ms).
 * A job's events are coalesced to one per 100 ms (the latest wins, the
 * final state always sent at once).  Costs nothing while no stream is
 * open: the observers return at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "job.h"
#include "util.h"
#include "vm.h"

#define STREAM_PING_MS 15000
#define JOB_COALESCE_MS 100
#define CONSOLE_POLL_MS 100
#define CONSOLE_BACKLOG (64 * 1024)

/* One open stream.  Console streams have path and poll set. */
struct api_stream {
	struct api *a;
	struct http_sse *sse;
	char *path;		/* the VM's console.log */
	char session[SESSION_HEX + 1];	/* "" for a certificate: a
					 * stream ends with its session */
	uint64_t off;		/* bytes of it sent */
	struct loop_timer *poll;
};

/* The last job event sent for one job: invariant timer set only while a
 * newer state waits to be sent. */
struct api_coalesce {
	struct api *a;
	int64_t id;
	uint64_t last_ms;
	struct loop_timer *timer;
};

/* "event: TYPE\ndata: JSON\n\n" of data (borrowed), its length in *len;
 * NULL when it cannot be encoded. */
static char *
stream_text(const char *type, const json_t *data, size_t *len)
{
	_cleanup_free_ char *d = json_dumps(data, JSON_COMPACT |
	    JSON_ENCODE_ANY);
	char *text;
	int n;

	if (!d || (n = asprintf(&text, "event: %s\ndata: %s\n\n", type, d)) < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

/* Send to one stream; takes data. */
static void
stream_send(struct api_stream *s, const char *type, json_t *data)
{
	size_t len;
	_cleanup_free_ char *text = stream_text(type, data, &len);

	json_decref(data);
	if (text)
		http_sse_send(s->sse, text, len);
}

/* Send to every event stream (not the console ones), encoded once; takes
 * data. */
static void
stream_broadcast(struct api *a, const char *type, json_t *data)
{
	size_t len;
	_cleanup_free_ char *text = stream_text(type, data, &len);

	json_decref(data);
	for (size_t i = 0; text && i < a->n_streams; i++)
		if (!a->streams[i]->path)
			http_sse_send(a->streams[i]->sse, text, len);
}

static size_t
event_streams(const struct api *a)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_streams; i++)
		n += !a->streams[i]->path;
	return n;
}

/* ---- jobs, coalesced ---- */

static struct api_coalesce *
coal_get(struct api *a, int64_t id)
{
	uint64_t now = now_ms();
	struct api_coalesce *c;

	for (size_t i = 0; i < a->n_coal; i++)
		if (a->coal[i]->id == id)
			return a->coal[i];
	/* forget the quiet ones first: at most JOB_MAX or so stay */
	for (size_t i = a->n_coal; i-- > 0;)
		if (!a->coal[i]->timer &&
		    now - a->coal[i]->last_ms > 10 * JOB_COALESCE_MS) {
			free(a->coal[i]);
			a->coal[i] = a->coal[--a->n_coal];
		}
	c = xzalloc(sizeof(*c));
	*c = (struct api_coalesce){ .a = a, .id = id };
	a->coal = xrealloc(a->coal, (a->n_coal + 1) * sizeof(*a->coal));
	a->coal[a->n_coal++] = c;
	return c;
}

static void
coal_on_timer(struct loop *l, void *data)
{
	struct api_coalesce *c = data;
	struct job *job = job_find(&c->a->h->jobs, c->id);

	(void)l;
	c->timer = NULL;
	c->last_ms = now_ms();
	/* a job that ended was sent when it did */
	if (job)
		stream_broadcast(c->a, "job", job_to_json(job));
}

static void
stream_on_job(const struct job *job, void *data)
{
	struct api *a = data;
	struct api_coalesce *c;
	uint64_t now = now_ms();

	if (event_streams(a) == 0 || !job->row || job->row->id <= 0)
		return;
	c = coal_get(a, job->row->id);
	if (job_state_is_final(job->state) ||
	    now - c->last_ms >= JOB_COALESCE_MS) {
		c->timer = loop_timer_cancel(a->h->loop, c->timer);
		c->last_ms = now;
		stream_broadcast(a, "job", job_to_json(job));
		return;
	}
	if (!c->timer)
		c->timer = loop_timer_add(a->h->loop,
		    c->last_ms + JOB_COALESCE_MS - now, coal_on_timer, c);
}

/* ---- events and VMs ---- */

static void
stream_on_event(struct host *h, int64_t id, void *data)
{
	struct api *a = data;
	json_t *list, *ev;

	if (event_streams(a) == 0)
		return;
	list = store_event_list_json(h->store, NULL, id - 1, 1);
	ev = json_array_get(json_object_get(list, "events"), 0);
	if (ev)
		stream_broadcast(a, "event", json_incref(ev));
	json_decref(list);
}

static void
stream_on_vm(const struct vm *vm, void *data)
{
	struct api *a = data;

	if (event_streams(a) == 0)
		return;
	stream_broadcast(a, "vm", vm_to_json((struct vm *)vm));
}

/* ---- streams ---- */

static void
stream_on_ping(struct loop *l, void *data)
{
	static const char ping[] = ": ping\n\n";
	struct api *a = data;

	(void)l;
	a->ping = NULL;
	for (size_t i = 0; i < a->n_streams; i++) {
		struct api_stream *s = a->streams[i];

		if (s->session[0] && !session_alive(&a->sessions, s->session,
		    now_ms()))
			http_sse_close(s->sse);	/* logged out or expired */
		else
			http_sse_send(s->sse, ping, sizeof(ping) - 1);
	}
	if (a->n_streams > 0)
		a->ping = loop_timer_add(a->h->loop, STREAM_PING_MS,
		    stream_on_ping, a);
}

static void
stream_on_close(struct http_sse *sse, void *data)
{
	struct api_stream *s = data;
	struct api *a = s->a;

	(void)sse;
	for (size_t i = 0; i < a->n_streams; i++)
		if (a->streams[i] == s) {
			a->streams[i] = a->streams[--a->n_streams];
			break;
		}
	s->poll = loop_timer_cancel(a->h->loop, s->poll);
	free(s->path);
	free(s);
	if (a->n_streams == 0)
		a->ping = loop_timer_cancel(a->h->loop, a->ping);
}

static struct api_stream *
stream_open(struct api *a, struct http_req *req, struct err *e)
{
	struct api_stream *s;

	if (a->n_streams >= API_MAX_STREAMS) {
		err_set(e, -EAGAIN, "too many live streams (%d) on this host: "
		    "close another page", API_MAX_STREAMS);
		return NULL;
	}
	s = xzalloc(sizeof(*s));
	s->a = a;
	if (a->cur)
		snprintf(s->session, sizeof(s->session), "%s", a->cur->id);
	s->sse = http_reply_sse(req, stream_on_close, s);
	if (!s->sse) {
		free(s);
		return NULL;
	}
	a->streams = xrealloc(a->streams, (a->n_streams + 1) *
	    sizeof(*a->streams));
	a->streams[a->n_streams++] = s;
	if (!a->ping)
		a->ping = loop_timer_add(a->h->loop, STREAM_PING_MS,
		    stream_on_ping, a);
	return s;
}

int
api_stream(struct api *a, struct http_req *req, char **p, struct err *e)
{
	(void)p;
	if (!stream_open(a, req, e) && !req->answered)
		return e->code ? e->code : -EIO;
	return 0;
}

/* ---- the serial console, followed ---- */

static void
console_poll(struct loop *l, void *data)
{
	struct api_stream *s = data;
	_cleanup_free_ char *buf = NULL;
	int fd;
	ssize_t n = -1;

	(void)l;
	s->poll = NULL;
	/* a client that has not taken the last chunk yet: wait for it */
	fd = http_sse_queued(s->sse) >= CONSOLE_BACKLOG ? -1 :
	    open(s->path, O_RDONLY | O_CLOEXEC);
	buf = xmalloc(CONSOLE_BACKLOG + 1);
	if (fd >= 0) {
		n = pread(fd, buf, CONSOLE_BACKLOG, (off_t)s->off);
		close(fd);
	}
	if (n > 0) {
		s->off += (uint64_t)n;
		api_console_sanitize(buf, (size_t)n);
		buf[n] = '\0';
		stream_send(s, "console", json_stringn(buf, (size_t)n));
	}
	/* a full read: more may wait, look again at once */
	s->poll = loop_timer_add(s->a->h->loop, n == CONSOLE_BACKLOG ? 0 :
	    CONSOLE_POLL_MS, console_poll, s);
}

int
api_console_follow(struct api *a, struct http_req *req, struct vm *vm,
    struct err *e)
{
	_cleanup_free_ char *path = vm_state_path(vm, "console.log");
	struct api_stream *s;
	struct stat st;
	uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;

	s = stream_open(a, req, e);
	if (!s)
		return req->answered ? 0 : (e->code ? e->code : -EIO);
	s->path = TAKE_PTR(path);
	s->off = size > CONSOLE_BACKLOG ? size - CONSOLE_BACKLOG : 0;
	s->poll = loop_timer_add(a->h->loop, 0, console_poll, s);
	return 0;
}

void
api_stream_start(struct api *a)
{
	a->h->jobs.on_change = stream_on_job;
	a->h->jobs.change_data = a;
	a->h->on_event = stream_on_event;
	a->h->on_vm_change = stream_on_vm;
	a->h->watch_data = a;
}

void
api_stream_stop(struct api *a)
{
	if (a->h) {
		a->h->jobs.on_change = NULL;
		a->h->on_event = NULL;
		a->h->on_vm_change = NULL;
	}
	/* on_close frees each stream once its server lets go of it */
	for (size_t i = 0; i < a->n_streams; i++)
		http_sse_close(a->streams[i]->sse);
	for (size_t i = 0; i < a->n_coal; i++) {
		loop_timer_cancel(a->h->loop, a->coal[i]->timer);
		free(a->coal[i]);
	}
	free(a->coal);
	a->coal = NULL;
	a->n_coal = 0;
}
