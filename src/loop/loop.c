/* loop.c - epoll + timer heap.  Single-threaded; never logs above debug.
 *
 * Invariants: every watched fd has exactly one struct watch in l->watches
 * (indexed by fd); the heap holds exactly the pending timers, ordered by
 * due_ms, each knowing its heap index so cancel is O(log n). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/* gen tells a stale event from a live one: an fd closed and reopened by
 * callbacks within one epoll_wait batch keeps its number, not its gen. */
struct watch {
	loop_fd_fn fn;
	void *data;
	bool active;
	uint32_t gen;
};

struct loop_timer {
	uint64_t due_ms;
	uint64_t seq;		/* FIFO among equal due times */
	size_t idx;
	loop_timer_fn fn;
	void *data;
};

struct loop {
	int epfd;
	struct watch *watches;
	size_t n_watches;
	struct loop_timer **heap;
	size_t n_heap, cap_heap;
	uint64_t seq;
	uint32_t gen;
	bool quit;
	int quit_code;
};

int
loop_new(struct loop **ret_loop)
{
	struct loop *l = xzalloc(sizeof(*l));

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1) {
		int r = -errno;

		free(l);
		return r;
	}
	*ret_loop = l;
	return 0;
}

struct loop *
loop_free(struct loop *l)
{
	if (!l)
		return NULL;
	for (size_t i = 0; i < l->n_heap; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->watches);
	close(l->epfd);
	free(l);
	return NULL;
}

int
loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
    void *data)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= l->n_watches) {
		size_t n = MAX((size_t)fd + 1, l->n_watches * 2);

		l->watches = xrealloc(l->watches, n * sizeof(*l->watches));
		memset(l->watches + l->n_watches, 0,
		    (n - l->n_watches) * sizeof(*l->watches));
		l->n_watches = n;
	}
	if (l->watches[fd].active)
		return -EEXIST;
	l->gen++;
	ev.data.u64 = (uint64_t)l->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -errno;
	l->watches[fd] = (struct watch){ fn, data, true, l->gen };
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= l->n_watches || !l->watches[fd].active)
		return -EBADF;
	ev.data.u64 = (uint64_t)l->watches[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -errno;
	return 0;
}

void
loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_watches || !l->watches[fd].active)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->watches[fd].active = false;
}

static bool
timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due_ms < b->due_ms ||
	    (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void
heap_swap(struct loop *l, size_t i, size_t j)
{
	struct loop_timer *t = l->heap[i];

	l->heap[i] = l->heap[j];
	l->heap[j] = t;
	l->heap[i]->idx = i;
	l->heap[j]->idx = j;
}

static void
heap_fix(struct loop *l, size_t i)
{
	while (i > 0 && timer_before(l->heap[i], l->heap[(i - 1) / 2])) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->n_heap && timer_before(l->heap[c], l->heap[m]))
			m = c;
		if (c + 1 < l->n_heap &&
		    timer_before(l->heap[c + 1], l->heap[m]))
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

struct loop_timer *
loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_fn fn,
    void *data)
{
	struct loop_timer *t = xzalloc(sizeof(*t));

	t->due_ms = now_ms() + delay_ms;
	t->seq = l->seq++;
	t->fn = fn;
	t->data = data;
	if (l->n_heap == l->cap_heap) {
		l->cap_heap = l->cap_heap ? l->cap_heap * 2 : 16;
		l->heap = xrealloc(l->heap, l->cap_heap * sizeof(*l->heap));
	}
	t->idx = l->n_heap;
	l->heap[l->n_heap++] = t;
	heap_fix(l, t->idx);
	return t;
}

static void
heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->idx;

	l->n_heap--;
	if (i != l->n_heap) {
		heap_swap(l, i, l->n_heap);
		heap_fix(l, i);
	}
}

struct loop_timer *
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t)
		return NULL;
	heap_remove(l, t);
	free(t);
	return NULL;
}

static int
run_timers(struct loop *l)
{
	uint64_t now = now_ms();
	int n = 0;

	while (l->n_heap > 0 && l->heap[0]->due_ms <= now) {
		struct loop_timer *t = l->heap[0];
		loop_timer_fn fn = t->fn;
		void *data = t->data;

		heap_remove(l, t);
		free(t);
		fn(l, data);
		n++;
	}
	return n;
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n, ran;

	if (l->n_heap > 0) {
		uint64_t now = now_ms(), due = l->heap[0]->due_ms;
		int t = due <= now ? 0 : (int)MIN(due - now, (uint64_t)60000);

		if (timeout_ms < 0 || t < timeout_ms)
			timeout_ms = t;
	}
	n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), timeout_ms);
	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	ran = n;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = evs[i].data.u64 >> 32;
		struct watch *w;

		if ((size_t)fd >= l->n_watches || !l->watches[fd].active ||
		    l->watches[fd].gen != gen)
			continue;
		w = &l->watches[fd];
		w->fn(l, fd, evs[i].events, w->data);
	}
	return ran + run_timers(l);
}

int
loop_run(struct loop *l)
{
	while (!l->quit) {
		int r = loop_run_once(l, -1);

		if (r < 0)
			return r;
	}
	return l->quit_code;
}

void
loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->quit_code = code;
}
