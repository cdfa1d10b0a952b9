/* fake_qmp.c - the scripted fake QMP/QGA peer of fake_qmp.h.  Test code:
 * single-threaded on the test's loop; records mismatches instead of
 * failing, and must never block (the client under test shares the loop). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fake_qmp.h"
#include "util.h"

#define FAKE_MAX_FDS 8
#define FAKE_READ_CHUNK (64 * 1024)

static const char fake_greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
    "\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, "
    "\"capabilities\": [\"oob\"]}}";
static const char fake_stray_error[] =
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
    "error, stray '\\uFFFD'\"}}";

enum step_kind {
	ST_GREETING, ST_EXPECT, ST_REPLY, ST_ERROR, ST_EVENT, ST_RAW, ST_WAIT,
	ST_HANGUP, ST_EXPECT_SYNC, ST_REPLY_SYNC
};

struct step {
	enum step_kind kind;
	char *name;		/* EXPECT: command, EVENT: event, ERROR */
	char *desc;		/* ERROR */
	json_t *json;		/* EXPECT: args subset, REPLY, EVENT */
	char *raw;		/* RAW */
	size_t raw_len;
	uint64_t ms;		/* WAIT */
	int target;		/* REPLY/ERROR: the EXPECT step answered */
	bool want_fd;		/* EXPECT */
	json_t *got_id;		/* EXPECT: the id it came with */
};

struct inmsg {
	json_t *v;		/* NULL: not JSON */
	bool ff;		/* came after 0xFF bytes */
	bool fd;		/* an fd came with it */
};

struct rule {
	char *name;
	json_t *ret;
};

/* Invariants: cfd >= 0 <=> a client is connected and watched; steps[0..cur)
 * have run; in[in_head..n_in) are received commands not yet consumed. */
struct fake_qmp {
	struct loop *loop;
	enum fake_qmp_flavour flavour;
	char dir[64];
	char path[96];
	int lfd, cfd;
	uint32_t cfd_events;

	struct step *steps;
	size_t n_steps, cur;
	int last_expect;
	bool waiting;		/* a WAIT step's timer is armed */
	struct loop_timer *timer;
	struct rule *rules;
	size_t n_rules;

	char *ibuf;		/* bytes received, no complete line */
	size_t ilen, icap;
	uint64_t in_pos;	/* stream offset of ibuf[0] */
	uint64_t fd_pos;	/* stream offset where the last fd came */
	bool fd_unclaimed;
	struct inmsg *in;
	size_t n_in, in_head;

	char *obuf;
	size_t olen, ooff;

	unsigned n_received, n_connects;
	int n_mismatches;
	char mismatch[512];
	int fds[FAKE_MAX_FDS];
	size_t n_fds;
	int64_t sync_id;
};

static void fake_run(struct fake_qmp *f);

static void
fake_mismatch(struct fake_qmp *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
fake_mismatch(struct fake_qmp *f, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fake_qmp: %s\n", buf);
	if (f->n_mismatches++ == 0)
		snprintf(f->mismatch, sizeof(f->mismatch), "%s", buf);
}

static json_t *
parse_or_die(const char *text)
{
	json_error_t je;
	json_t *v;

	if (!text)
		return NULL;
	v = json_loads(text, JSON_DECODE_ANY, &je);
	if (!v) {
		fprintf(stderr, "fake_qmp: bad JSON in script: %s: '%s'\n",
		    je.text, text);
		abort();
	}
	return v;
}

static struct step *
step_add(struct fake_qmp *f, enum step_kind kind)
{
	struct step *s;

	f->steps = xrealloc(f->steps, (f->n_steps + 1) * sizeof(*f->steps));
	s = &f->steps[f->n_steps++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->target = -1;
	return s;
}

/* ---- output ---- */

static void
fake_update_events(struct fake_qmp *f)
{
	uint32_t want = EPOLLIN | (f->olen > f->ooff ? EPOLLOUT : 0);

	if (f->cfd >= 0 && want != f->cfd_events &&
	    loop_mod_fd(f->loop, f->cfd, want) == 0)
		f->cfd_events = want;
}

static void
fake_flush(struct fake_qmp *f)
{
	while (f->cfd >= 0 && f->ooff < f->olen) {
		ssize_t n = send(f->cfd, f->obuf + f->ooff, f->olen - f->ooff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;	/* EAGAIN, or gone: the read sees it */
		f->ooff += (size_t)n;
	}
	if (f->ooff == f->olen)
		f->ooff = f->olen = 0;
	fake_update_events(f);
}

static void
fake_write(struct fake_qmp *f, const void *buf, size_t len)
{
	if (f->cfd < 0)
		return;
	f->obuf = xrealloc(f->obuf, f->olen + len);
	memcpy(f->obuf + f->olen, buf, len);
	f->olen += len;
	fake_flush(f);
}

/* Write v as one line (stolen), with the flavour's line end. */
static void
fake_write_json(struct fake_qmp *f, json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY);
	const char *eol = f->flavour == FAKE_QMP_QEMU ? "\r\n" : "\n";

	assert(s);
	fake_write(f, s, strlen(s));
	fake_write(f, eol, strlen(eol));
	free(s);
	json_decref(v);
}

static void
fake_answer(struct fake_qmp *f, json_t *id, const char *key, json_t *val)
{
	json_t *m = json_object();

	json_object_set(m, key, val);
	if (id)
		json_object_set(m, "id", id);
	fake_write_json(f, m);
}

/* ---- connection ---- */

static void
fake_disconnect(struct fake_qmp *f)
{
	if (f->cfd < 0)
		return;
	loop_del_fd(f->loop, f->cfd);
	close(f->cfd);
	f->cfd = -1;
	f->ilen = 0;
	f->olen = f->ooff = 0;
}

static void
fake_keep_fd(struct fake_qmp *f, int fd)
{
	if (f->n_fds == FAKE_MAX_FDS) {
		close(f->fds[0]);
		memmove(f->fds, f->fds + 1, (FAKE_MAX_FDS - 1) * sizeof(int));
		f->n_fds--;
	}
	f->fds[f->n_fds++] = fd;
	/* A read stops right after the data that carried fds, so the fd
	 * belongs to the line holding the last byte just read. */
	f->fd_pos = f->in_pos + f->ilen - 1;
	f->fd_unclaimed = true;
}

static void
fake_take_cmsg(struct fake_qmp *f, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c;
	    c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			fake_keep_fd(f, fd);
		}
	}
}

/* One complete line from the client (without its '\n'), at stream offset
 * pos. */
static void
fake_line(struct fake_qmp *f, const char *line, size_t len, uint64_t pos)
{
	struct inmsg m = {0};
	size_t nff = 0;

	if (f->fd_unclaimed && f->fd_pos >= pos && f->fd_pos <= pos + len) {
		m.fd = true;
		f->fd_unclaimed = false;
	}
	while (nff < len && (uint8_t)line[nff] == 0xFF)
		nff++;
	if (f->flavour == FAKE_QMP_QGA)
		for (size_t i = 0; i < nff; i++)
			fake_write_json(f, parse_or_die(fake_stray_error));
	line += nff;
	len -= nff;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	m.ff = nff > 0;
	m.v = json_loadb(line, len, 0, NULL);
	f->n_received++;
	f->in = xrealloc(f->in, (f->n_in + 1) * sizeof(*f->in));
	f->in[f->n_in++] = m;
}

static void
fake_split_lines(struct fake_qmp *f)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(f->ibuf + start, '\n', f->ilen - start))) {
		size_t len = (size_t)(nl - f->ibuf) - start;

		fake_line(f, f->ibuf + start, len, f->in_pos + start);
		start += len + 1;
	}
	memmove(f->ibuf, f->ibuf + start, f->ilen - start);
	f->ilen -= start;
	f->in_pos += start;
}

static int
fake_read(struct fake_qmp *f)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(FAKE_MAX_FDS * sizeof(int))];
	} cm;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (f->icap - f->ilen < FAKE_READ_CHUNK) {
		f->icap = f->ilen + 2 * FAKE_READ_CHUNK;
		f->ibuf = xrealloc(f->ibuf, f->icap);
	}
	iov = (struct iovec){ f->ibuf + f->ilen, f->icap - f->ilen };
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	n = recvmsg(f->cfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	f->ilen += (size_t)n;
	fake_take_cmsg(f, &mh);
	fake_split_lines(f);
	return 1;
}

static void
fake_on_client(struct loop *l, int fd, uint32_t events, void *data)
{
	struct fake_qmp *f = data;

	(void)l;
	(void)fd;
	if (events & EPOLLOUT)
		fake_flush(f);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		int r = fake_read(f);

		if (r < 0)
			fake_disconnect(f);
	}
	fake_run(f);
}

static void
fake_on_accept(struct loop *l, int fd, uint32_t events, void *data)
{
	struct fake_qmp *f = data;
	int c;

	(void)l;
	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c == -1)
		return;
	if (f->cfd >= 0) {
		fake_mismatch(f, "a second client connected while one is");
		close(c);
		return;
	}
	f->cfd = c;
	f->cfd_events = EPOLLIN;
	f->ilen = 0;
	f->in_pos = 0;
	f->fd_unclaimed = false;
	f->n_connects++;
	if (loop_add_fd(f->loop, c, EPOLLIN, fake_on_client, f) < 0) {
		fake_mismatch(f, "cannot watch the client socket");
		close(c);
		f->cfd = -1;
		return;
	}
	fake_run(f);
}

/* ---- the script ---- */

/* Is every member of want in have (objects recursively)? */
static bool
json_is_subset(json_t *want, json_t *have)
{
	const char *k;
	json_t *v;

	if (!json_is_object(want))
		return json_equal(want, have);
	if (!json_is_object(have))
		return false;
	json_object_foreach(want, k, v)
		if (!json_is_subset(v, json_object_get(have, k)))
			return false;
	return true;
}

static const struct rule *
fake_rule(const struct fake_qmp *f, const char *name)
{
	for (size_t i = 0; i < f->n_rules; i++)
		if (streq(f->rules[i].name, name))
			return &f->rules[i];
	return NULL;
}

static const char *
msg_name(const struct inmsg *m)
{
	return json_string_value(json_object_get(m->v, "execute"));
}

/* Answer m by a standing rule; false if there is none. */
static bool
fake_apply_rule(struct fake_qmp *f, const struct inmsg *m)
{
	const struct rule *r = fake_rule(f, msg_name(m));

	if (!r)
		return false;
	fake_answer(f, json_object_get(m->v, "id"), "return", r->ret);
	return true;
}

static void
fake_check_expect(struct fake_qmp *f, struct step *s, struct inmsg *m)
{
	const char *name = msg_name(m);
	json_t *args = json_object_get(m->v, "arguments");
	json_t *empty = json_object();

	s->got_id = json_incref(json_object_get(m->v, "id"));
	if (!m->v)
		fake_mismatch(f, "step %zu: expected '%s', got a line that is "
		    "not JSON", f->cur, s->name);
	else if (!streq(name, s->name))
		fake_mismatch(f, "step %zu: expected '%s', got '%s'", f->cur,
		    s->name, name ? name : "(no execute)");
	else if (s->json && !json_is_subset(s->json, args ? args : empty))
		fake_mismatch(f, "step %zu: '%s' arguments do not match",
		    f->cur, s->name);
	else if (s->want_fd && !m->fd)
		fake_mismatch(f, "step %zu: '%s' came without an fd", f->cur,
		    s->name);
	else if (f->flavour == FAKE_QMP_QEMU && !s->got_id)
		fake_mismatch(f, "step %zu: '%s' came without an id", f->cur,
		    s->name);
	json_decref(empty);
}

static void
fake_check_sync(struct fake_qmp *f, struct inmsg *m)
{
	json_t *id = json_object_get(json_object_get(m->v, "arguments"),
	    "id");

	if (!streq(msg_name(m), "guest-sync-delimited") ||
	    !json_is_integer(id)) {
		fake_mismatch(f, "step %zu: expected guest-sync-delimited, "
		    "got '%s'", f->cur, msg_name(m) ? msg_name(m) : "?");
		return;
	}
	if (!m->ff)
		fake_mismatch(f, "step %zu: guest-sync-delimited without a "
		    "0xFF before it", f->cur);
	f->sync_id = json_integer_value(id);
}

/* EXPECT/EXPECT_SYNC: consume one queued command; false to wait. */
static bool
fake_step_expect(struct fake_qmp *f, struct step *s)
{
	while (f->in_head < f->n_in) {
		struct inmsg *m = &f->in[f->in_head++];
		bool sync = s->kind == ST_EXPECT_SYNC;

		if (m->v && !sync && !streq(msg_name(m), s->name) &&
		    fake_apply_rule(f, m)) {
			json_decref(m->v);
			continue;
		}
		if (sync)
			fake_check_sync(f, m);
		else
			fake_check_expect(f, s, m);
		json_decref(m->v);
		return true;
	}
	return false;
}

static void
fake_on_wait_done(struct loop *l, void *data)
{
	struct fake_qmp *f = data;

	(void)l;
	f->timer = NULL;
	f->waiting = false;
	f->cur++;
	fake_run(f);
}

static void
fake_send_event(struct fake_qmp *f, const struct step *s)
{
	uint64_t ms = wall_ms();
	json_t *m = json_pack("{s:{s:I,s:I},s:s}", "timestamp",
	    "seconds", (json_int_t)(ms / 1000),
	    "microseconds", (json_int_t)(ms % 1000 * 1000),
	    "event", s->name);

	if (s->json)
		json_object_set(m, "data", s->json);
	fake_write_json(f, m);
}

/* Run one step; false when the script must wait. */
static bool
fake_step(struct fake_qmp *f, struct step *s)
{
	char buf[64];

	switch (s->kind) {
	case ST_GREETING:
		fake_write(f, fake_greeting, strlen(fake_greeting));
		fake_write(f, "\r\n", 2);
		return true;
	case ST_EXPECT:
	case ST_EXPECT_SYNC:
		return fake_step_expect(f, s);
	case ST_REPLY:
		fake_answer(f, f->steps[s->target].got_id, "return", s->json);
		return true;
	case ST_ERROR: {
		json_t *e = json_pack("{s:s,s:s}", "class", s->name, "desc",
		    s->desc);

		fake_answer(f, f->steps[s->target].got_id, "error", e);
		json_decref(e);
		return true;
	}
	case ST_EVENT:
		fake_send_event(f, s);
		return true;
	case ST_RAW:
		fake_write(f, s->raw, s->raw_len);
		return true;
	case ST_WAIT:
		if (!f->waiting) {
			f->waiting = true;
			f->timer = loop_timer_add(f->loop, s->ms,
			    fake_on_wait_done, f);
		}
		return false;
	case ST_HANGUP:
		if (f->ooff < f->olen)
			return false;	/* flush first, EPOLLOUT resumes */
		fake_disconnect(f);
		return true;
	case ST_REPLY_SYNC:
		snprintf(buf, sizeof(buf), "\xff{\"return\": %" PRId64 "}\n",
		    f->sync_id);
		fake_write(f, buf, strlen(buf));
		return true;
	}
	return true;
}

static void
fake_run(struct fake_qmp *f)
{
	while (f->cfd >= 0 && f->cur < f->n_steps) {
		if (!fake_step(f, &f->steps[f->cur]))
			return;
		f->cur++;
	}
	/* The script is over (or between clients): rules or mismatches. */
	while (f->cur == f->n_steps && f->in_head < f->n_in) {
		struct inmsg *m = &f->in[f->in_head++];

		if (!m->v || !fake_apply_rule(f, m))
			fake_mismatch(f, "unexpected '%s' after the end of "
			    "the script", msg_name(m) ? msg_name(m) : "?");
		json_decref(m->v);
	}
	if (f->in_head == f->n_in)
		f->in_head = f->n_in = 0;
}

/* ---- public ---- */

int
fake_qmp_new(struct loop *l, enum fake_qmp_flavour flavour,
    struct fake_qmp **ret_f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake_qmp *f = xzalloc(sizeof(*f));
	int r;

	f->loop = l;
	f->flavour = flavour;
	f->cfd = f->lfd = -1;
	f->last_expect = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fake-qmp-XXXXXX");
	if (!mkdtemp(f->dir)) {
		r = -errno;
		free(f);
		return r;
	}
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (f->lfd == -1 ||
	    bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(f->lfd, 4) == -1) {
		r = -errno;
		fake_qmp_free(f);
		return r;
	}
	r = loop_add_fd(l, f->lfd, EPOLLIN, fake_on_accept, f);
	if (r < 0) {
		fake_qmp_free(f);
		return r;
	}
	*ret_f = f;
	return 0;
}

struct fake_qmp *
fake_qmp_free(struct fake_qmp *f)
{
	if (!f)
		return NULL;
	fake_disconnect(f);
	if (f->lfd >= 0) {
		loop_del_fd(f->loop, f->lfd);
		close(f->lfd);
	}
	f->timer = loop_timer_cancel(f->loop, f->timer);
	(void)unlink(f->path);
	(void)rmdir(f->dir);
	for (size_t i = 0; i < f->n_steps; i++) {
		free(f->steps[i].name);
		free(f->steps[i].desc);
		free(f->steps[i].raw);
		json_decref(f->steps[i].json);
		json_decref(f->steps[i].got_id);
	}
	for (size_t i = f->in_head; i < f->n_in; i++)
		json_decref(f->in[i].v);
	for (size_t i = 0; i < f->n_rules; i++) {
		free(f->rules[i].name);
		json_decref(f->rules[i].ret);
	}
	for (size_t i = 0; i < f->n_fds; i++)
		close(f->fds[i]);
	free(f->steps);
	free(f->in);
	free(f->rules);
	free(f->ibuf);
	free(f->obuf);
	free(f);
	return NULL;
}

const char *
fake_qmp_path(const struct fake_qmp *f)
{
	return f->path;
}

/* Steps may be added while the script runs (it may be waiting at its
 * end): give it a chance to go on. */
static void
fake_added(struct fake_qmp *f)
{
	if (!f->waiting)
		fake_run(f);
}

void
fake_qmp_greeting(struct fake_qmp *f)
{
	step_add(f, ST_GREETING);
	fake_added(f);
}

void
fake_qmp_handshake(struct fake_qmp *f)
{
	fake_qmp_greeting(f);
	fake_qmp_expect(f, "qmp_capabilities", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
}

static int
fake_expect(struct fake_qmp *f, const char *command, const char *args,
    bool want_fd)
{
	struct step *s = step_add(f, ST_EXPECT);

	s->name = xstrdup(command);
	s->json = parse_or_die(args);
	s->want_fd = want_fd;
	f->last_expect = (int)(f->n_steps - 1);
	fake_added(f);
	return f->last_expect;
}

int
fake_qmp_expect(struct fake_qmp *f, const char *command,
    const char *args_subset)
{
	return fake_expect(f, command, args_subset, false);
}

int
fake_qmp_expect_fd(struct fake_qmp *f, const char *command,
    const char *args_subset)
{
	return fake_expect(f, command, args_subset, true);
}

static int
fake_target(const struct fake_qmp *f, int handle)
{
	int h = handle == FAKE_LAST ? f->last_expect : handle;

	if (h < 0 || (size_t)h >= f->n_steps ||
	    f->steps[h].kind != ST_EXPECT) {
		fprintf(stderr, "fake_qmp: handle %d is no expect step\n",
		    handle);
		abort();
	}
	return h;
}

void
fake_qmp_reply(struct fake_qmp *f, int handle, const char *ret_json)
{
	int h = fake_target(f, handle);
	struct step *s = step_add(f, ST_REPLY);

	s->target = h;
	s->json = parse_or_die(ret_json ? ret_json : "{}");
	fake_added(f);
}

void
fake_qmp_error(struct fake_qmp *f, int handle, const char *cls,
    const char *desc)
{
	int h = fake_target(f, handle);
	struct step *s = step_add(f, ST_ERROR);

	s->target = h;
	s->name = xstrdup(cls);
	s->desc = xstrdup(desc);
	fake_added(f);
}

void
fake_qmp_event(struct fake_qmp *f, const char *name, const char *data_json)
{
	struct step *s = step_add(f, ST_EVENT);

	s->name = xstrdup(name);
	s->json = parse_or_die(data_json);
	fake_added(f);
}

void
fake_qmp_raw(struct fake_qmp *f, const void *buf, size_t len)
{
	struct step *s = step_add(f, ST_RAW);

	s->raw = xmalloc(len);
	memcpy(s->raw, buf, len);
	s->raw_len = len;
	fake_added(f);
}

void
fake_qmp_wait(struct fake_qmp *f, uint64_t ms)
{
	step_add(f, ST_WAIT)->ms = ms;
	fake_added(f);
}

void
fake_qmp_hangup(struct fake_qmp *f)
{
	step_add(f, ST_HANGUP);
	fake_added(f);
}

void
fake_qmp_always(struct fake_qmp *f, const char *command,
    const char *ret_json)
{
	f->rules = xrealloc(f->rules, (f->n_rules + 1) * sizeof(*f->rules));
	f->rules[f->n_rules].name = xstrdup(command);
	f->rules[f->n_rules].ret = parse_or_die(ret_json ? ret_json : "{}");
	f->n_rules++;
	fake_added(f);
}

void
fake_qga_expect_sync(struct fake_qmp *f)
{
	step_add(f, ST_EXPECT_SYNC);
	fake_added(f);
}

void
fake_qga_reply_sync(struct fake_qmp *f)
{
	step_add(f, ST_REPLY_SYNC);
	fake_added(f);
}

void
fake_qga_sync(struct fake_qmp *f)
{
	fake_qga_expect_sync(f);
	fake_qga_reply_sync(f);
}

bool
fake_qmp_is_done(const struct fake_qmp *f)
{
	return f->cur == f->n_steps;
}

int
fake_qmp_n_mismatches(const struct fake_qmp *f)
{
	return f->n_mismatches;
}

const char *
fake_qmp_mismatch(const struct fake_qmp *f)
{
	return f->n_mismatches ? f->mismatch : NULL;
}

unsigned
fake_qmp_n_received(const struct fake_qmp *f)
{
	return f->n_received;
}

unsigned
fake_qmp_n_connects(const struct fake_qmp *f)
{
	return f->n_connects;
}

bool
fake_qmp_is_connected(const struct fake_qmp *f)
{
	return f->cfd >= 0;
}

int
fake_qmp_take_fd(struct fake_qmp *f)
{
	if (f->n_fds == 0)
		return -1;
	return f->fds[--f->n_fds];
}
