/* test_loop.c - unit tests for src/loop: timers in order, cancel, fds,
 * child processes with exit status. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "child.h"
#include "loop.h"
#include "test.h"
#include "util.h"

static int order[8], n_order;

static void
record(struct loop *l, void *data)
{
	(void)l;
	order[n_order++] = (int)(intptr_t)data;
}

static void
test_timers_fire_in_order(void)
{
	struct loop *l;
	struct loop_timer *t;
	uint64_t t0 = now_ms();

	ASSERT_EQ(loop_new(&l), 0);
	n_order = 0;
	loop_timer_add(l, 30, record, (void *)3);
	loop_timer_add(l, 10, record, (void *)1);
	t = loop_timer_add(l, 20, record, (void *)9);
	loop_timer_add(l, 20, record, (void *)2);
	loop_timer_cancel(l, t);
	while (n_order < 3 && now_ms() - t0 < 2000)
		loop_run_once(l, 100);
	ASSERT_EQ(n_order, 3);
	ASSERT_EQ(order[0], 1);
	ASSERT_EQ(order[1], 2);
	ASSERT_EQ(order[2], 3);
	ASSERT_TRUE(now_ms() - t0 >= 30);
	loop_free(l);
}

static int fd_hits;

static void
on_fd(struct loop *l, int fd, uint32_t ev, void *data)
{
	char c;

	(void)data;
	(void)ev;
	(void)!read(fd, &c, 1);
	fd_hits++;
	loop_del_fd(l, fd);	/* safe inside its own callback */
}

static void
test_fd_events(void)
{
	struct loop *l;
	int p[2];

	ASSERT_EQ(loop_new(&l), 0);
	ASSERT_EQ(pipe(p), 0);
	fd_hits = 0;
	ASSERT_EQ(loop_add_fd(l, p[0], EPOLLIN, on_fd, NULL), 0);
	ASSERT_EQ(loop_add_fd(l, p[0], EPOLLIN, on_fd, NULL), -EEXIST);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	loop_run_once(l, 1000);
	ASSERT_EQ(fd_hits, 1);
	ASSERT_EQ(write(p[1], "y", 1), 1);
	loop_run_once(l, 50);
	ASSERT_EQ(fd_hits, 1);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static int child_status = -1;

static void
on_exit_cb(struct child *c, int status, void *data)
{
	(void)c;
	(void)data;
	child_status = status;
}

static void
test_child_exit_status(void)
{
	struct loop *l;
	struct child *c;
	const char *argv[] = { "sh", "-c", "exit 7", NULL };
	const char *argv2[] = { "sleep", "30", NULL };
	struct child_opts o = { .argv = argv };
	uint64_t t0 = now_ms();

	ASSERT_EQ(loop_new(&l), 0);
	ASSERT_EQ(child_spawn(l, &o, on_exit_cb, NULL, &c), 0);
	ASSERT_TRUE(proc_start_time(child_pid(c)) > 0);
	while (child_status < 0 && now_ms() - t0 < 5000)
		loop_run_once(l, 100);
	ASSERT_EQ(child_status, 7);
	child_free(c);
	child_status = -1;
	o.argv = argv2;
	ASSERT_EQ(child_spawn(l, &o, on_exit_cb, NULL, &c), 0);
	ASSERT_EQ(child_kill(c, SIGKILL), 0);
	while (child_status < 0 && now_ms() - t0 < 5000)
		loop_run_once(l, 100);
	ASSERT_EQ(child_status, 128 + SIGKILL);
	child_free(c);
	loop_free(l);
}

int
main(void)
{
	RUN_TEST(test_timers_fire_in_order);
	RUN_TEST(test_fd_events);
	RUN_TEST(test_child_exit_status);
	return TEST_REPORT();
}
