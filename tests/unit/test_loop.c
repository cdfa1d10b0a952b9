/* test_loop.c - unit tests for src/loop: timers in order, cancel, fds,
 * child processes with exit status, helpers that die with their parent. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
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
	ASSERT_TRUE(child_proc_start_time(child_pid(c)) > 0);
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

/* Alive: exists and is neither a zombie nor dead (orphans may never be
 * reaped here: PID 1 in a container need not wait for them). */
static bool
proc_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[2] != 'Z' && p[2] != 'X';
}

/* In a process that dies without cleaning up (as ternd on kill -9): one
 * helper with die_with_parent, one without.  Sends both pids. */
static void
spawn_and_vanish(int fd)
{
	const char *argv[] = { "sleep", "30", NULL };
	struct child_opts o = { .argv = argv, .die_with_parent = true };
	struct child *c1, *c2;
	struct loop *l;
	pid_t pids[2];

	if (loop_new(&l) < 0 || child_spawn(l, &o, on_exit_cb, NULL, &c1) < 0)
		_exit(1);
	o.die_with_parent = false;
	if (child_spawn(l, &o, on_exit_cb, NULL, &c2) < 0)
		_exit(1);
	pids[0] = child_pid(c1);
	pids[1] = child_pid(c2);
	(void)!write(fd, pids, sizeof(pids));
	_exit(0);
}

static void
test_child_dies_with_parent(void)
{
	pid_t mid, pids[2] = { 0, 0 };
	uint64_t t0 = now_ms();
	int p[2];

	ASSERT_EQ(pipe(p), 0);
	mid = fork();
	ASSERT_TRUE(mid >= 0);
	if (mid == 0)
		spawn_and_vanish(p[1]);
	ASSERT_EQ(read(p[0], pids, sizeof(pids)), (ssize_t)sizeof(pids));
	close(p[0]);
	close(p[1]);
	ASSERT_EQ(waitpid(mid, NULL, 0), mid);
	while (proc_alive(pids[0]) && now_ms() - t0 < 5000)
		usleep(10000);
	ASSERT_TRUE(!proc_alive(pids[0]));
	ASSERT_TRUE(proc_alive(pids[1]));
	kill(pids[1], SIGKILL);
}

int
main(void)
{
	RUN_TEST(test_timers_fire_in_order);
	RUN_TEST(test_fd_events);
	RUN_TEST(test_child_exit_status);
	RUN_TEST(test_child_dies_with_parent);
	return TEST_REPORT();
}
