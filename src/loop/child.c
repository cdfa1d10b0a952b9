/* child.c - watched child processes over pidfds.  Never logs above debug.
 * Invariant: a struct child is in the loop exactly while its process has
 * not been reaped. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "util.h"

struct child {
	struct loop *loop;
	pid_t pid;
	int pidfd;
	child_exit_fn fn;
	void *data;
};

int
child_pidfd_open(pid_t pid)
{
	int fd = syscall(SYS_pidfd_open, pid, 0);

	return fd == -1 ? -errno : fd;
}

const char *
child_proc_stat(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	/* comm may hold spaces and parentheses: the fields after the last
	 * ')' (and its space) are field 3 on */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

unsigned long long
child_proc_start_time(pid_t pid)
{
	char buf[1024];
	unsigned long long start = 0;
	const char *p = child_proc_stat(pid, buf, sizeof(buf));

	/* start time is field 22 */
	if (!p || sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
	    "%*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

static void
child_exec(const struct child_opts *o, pid_t parent)
{
	int fd = open(o->log_path ? o->log_path : "/dev/null",
	    O_WRONLY | O_CREAT | O_APPEND, 0640);
	int nullfd = open("/dev/null", O_RDONLY);
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (o->new_session)
		setsid();
	/* The parent may have died before prctl(): then getppid() differs. */
	if (o->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
	    getppid() != parent))
		_exit(127);
	if (fd == -1 || nullfd == -1)
		_exit(127);
	dup2(nullfd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	/* Move kept fds out of the way first, then into 3, 4, ... */
	int moved[16];
	for (size_t i = 0; i < o->n_keep_fds && i < 16; i++)
		moved[i] = fcntl(o->keep_fds[i], F_DUPFD, 100);
	for (size_t i = 0; i < o->n_keep_fds && i < 16; i++)
		dup2(moved[i], 3 + i);	/* dup2 clears FD_CLOEXEC */
	closefrom(3 + o->n_keep_fds);
	execvp(o->argv[0], (char *const *)o->argv);
	dprintf(2, "cannot execute %s: %s\n", o->argv[0], strerror(errno));
	_exit(127);
}

static void
child_on_pidfd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct child *c = data;
	siginfo_t si = { 0 };
	int status;

	(void)events;
	if (waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG) == -1 ||
	    si.si_pid == 0)
		return;
	loop_del_fd(l, fd);
	close(fd);
	c->pidfd = -1;
	c->pid = 0;
	status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	c->fn(c, status, c->data);
}

int
child_spawn(struct loop *l, const struct child_opts *o, child_exit_fn fn,
    void *data, struct child **ret_c)
{
	struct child *c;
	pid_t pid, parent = getpid();
	int pidfd, r;

	if (o->n_keep_fds > 16)
		return -EINVAL;
	pid = fork();
	if (pid == -1)
		return -errno;
	if (pid == 0)
		child_exec(o, parent);
	pidfd = child_pidfd_open(pid);
	if (pidfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return pidfd;
	}
	c = xzalloc(sizeof(*c));
	*c = (struct child){ l, pid, pidfd, fn, data };
	r = loop_add_fd(l, pidfd, EPOLLIN, child_on_pidfd, c);
	if (r < 0) {
		child_free(c);
		return r;
	}
	*ret_c = c;
	return 0;
}

pid_t
child_pid(const struct child *c)
{
	return c->pid;
}

int
child_kill(struct child *c, int sig)
{
	if (c->pidfd < 0)
		return -ESRCH;
	if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) == -1)
		return -errno;
	return 0;
}

struct child *
child_free(struct child *c)
{
	if (!c)
		return NULL;
	if (c->pidfd >= 0) {
		siginfo_t si;

		loop_del_fd(c->loop, c->pidfd);
		(void)child_kill(c, SIGKILL);
		(void)waitid(P_PIDFD, c->pidfd, &si, WEXITED);
		close(c->pidfd);
	}
	free(c);
	return NULL;
}
