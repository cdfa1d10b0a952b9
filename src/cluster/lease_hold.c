/* lease_hold.c - tern-lease, ternd's helper for sanlock (lease.c).
 * Everything here may block on shared storage, so ternd runs it as a
 * child and never waits for it in its loop.
 *
 *   tern-lease init-lockspace LOCKSPACE FILE
 *     Make FILE (1 MiB) a lockspace (io timeout LEASE_IO_TIMEOUT s) unless
 *     it exists: written beside it first, then linked in place, so two
 *     nodes doing it at once never overwrite a lockspace in use.
 *   tern-lease hold LOCKSPACE FILE RESOURCE [PID]
 *     Make FILE a resource lease the same way if needed, register with
 *     sanlock, acquire RESOURCE and hold it:
 *       acquire --ok: write "H" to fd 3--> held --read PID on fd 4 (or
 *       PID given)--> bound: write "B" to fd 3, wait for PID to exit
 *       --PID exits--> exit 0 (sanlock releases the lease)
 *     EOF on fd 4 before a PID: exit 0 (the start was given up).
 *     SIGUSR1 while bound (a live move hands the lease to the
 *     destination, src/migrate/commit.c): release it (sanlock_release,
 *     which returns once the lease on disk is free) and exit 0 with
 *     PID left running, paused; exit 3 when the release failed.
 *     Lease lost: sanlock runs the kill path registered here,
 *     `tern-lease kill HOLDER` (sanlock appends this process's pid),
 *     which SIGTERMs this process; on SIGTERM it SIGKILLs PID first,
 *     so the VM's QEMU dies with the lease.  Should that fail sanlock
 *     SIGKILLs this process, and ternd (lease.c) kills QEMU when it
 *     sees its holder gone.
 *   tern-lease kill HOLDER
 *     The kill path: SIGTERM to HOLDER.  Exit 10: the lease is held by another host
 *     whose host lease lives; 11: the lockspace is not joined here; 1
 *     other failures (sanlock's code on stderr). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdint.h>
#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#define LEASE_IO_TIMEOUT 1
#define LEASE_FILE_BYTES (1024 * 1024)

static volatile int qemu_pidfd = -1;
static volatile sig_atomic_t release_asked;

static void
on_term(int sig)
{
	(void)sig;
	if (qemu_pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, qemu_pidfd, SIGKILL,
		    NULL, 0);
	_exit(2);
}

static void
on_usr1(int sig)
{
	(void)sig;
	release_asked = 1;
}

/* Bound: wait for PID's exit (0), or a release asked (1).  SIGUSR1 is
 * blocked outside ppoll, so one sent just before it is not lost. */
static int
watch(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	sigset_t none;

	sigemptyset(&none);
	for (;;) {
		if (release_asked)
			return 1;
		if (ppoll(&p, 1, NULL, &none) >= 0 || errno != EINTR)
			return 0;
	}
}

/* FILE made by init (the lockspace or the resource written into a file
 * beside it, then linked in); 0 when it exists already. */
static int
make_file(const char *file, int (*init)(const char *path, void *arg),
    void *arg)
{
	char tmp[SANLK_PATH_LEN];
	int fd, r;

	if (access(file, F_OK) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.new.%d", file, (int)getpid());
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, LEASE_FILE_BYTES) < 0) {
		fprintf(stderr, "tern-lease: cannot make %s: %s\n", tmp,
		    strerror(errno));
		return 1;
	}
	close(fd);
	if ((r = init(tmp, arg)) < 0) {
		fprintf(stderr, "tern-lease: cannot write %s: sanlock %d\n",
		    tmp, r);
		unlink(tmp);
		return 1;
	}
	if (link(tmp, file) < 0 && errno != EEXIST) {
		fprintf(stderr, "tern-lease: cannot link %s: %s\n", file,
		    strerror(errno));
		unlink(tmp);
		return 1;
	}
	unlink(tmp);
	return 0;
}

static int
init_lockspace(const char *path, void *arg)
{
	struct sanlk_lockspace ls = { 0 };

	snprintf(ls.name, sizeof(ls.name), "%s", (const char *)arg);
	snprintf(ls.host_id_disk.path, sizeof(ls.host_id_disk.path), "%s",
	    path);
	return sanlock_write_lockspace(&ls, 0, 0, LEASE_IO_TIMEOUT);
}

static int
init_resource(const char *path, void *arg)
{
	struct sanlk_resource *res = arg;
	struct sanlk_resource *r = calloc(1, sizeof(*r) +
	    sizeof(struct sanlk_disk));
	int rv;

	memcpy(r, res, sizeof(*r) + sizeof(struct sanlk_disk));
	snprintf(r->disks[0].path, sizeof(r->disks[0].path), "%s", path);
	rv = sanlock_write_resource(r, 0, 0, 0);
	free(r);
	return rv;
}

/* The PID to bind to, from argv or fd 4; 0 at EOF. */
static long
read_pid(const char *arg)
{
	char buf[32] = { 0 };
	ssize_t n;

	if (arg)
		return strtol(arg, NULL, 10);
	n = read(4, buf, sizeof(buf) - 1);
	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

static void
tell(const char *what)
{
	if (write(3, what, 1) < 0) {
		/* ternd is gone; the lease is held on regardless */
	}
}

/* sanlock runs `THIS kill PID` (our pid appended) when the lease is
 * lost, rather than SIGKILL this process at once. */
static void
set_killpath(int sock)
{
	char self[SANLK_HELPER_PATH_LEN];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char args[SANLK_HELPER_ARGS_LEN] = "kill";
	int r;

	if (n <= 0 || n >= (ssize_t)sizeof(self) - 1) {
		fprintf(stderr, "tern-lease: no kill path (path too long)\n");
		return;
	}
	self[n] = '\0';
	if ((r = sanlock_killpath(sock, SANLK_KILLPATH_PID, self, args)) < 0)
		fprintf(stderr, "tern-lease: sanlock_killpath: %d\n", r);
}

static int
hold_res(struct sanlk_resource *res, const char *lsname, const char *file,
    const char *name, const char *pid_arg)
{
	long pid;
	int sock, r;

	if (make_file(file, init_resource, res))
		return 1;
	if ((sock = sanlock_register()) < 0) {
		fprintf(stderr, "tern-lease: sanlock_register: %d\n", sock);
		return 1;
	}
	set_killpath(sock);
	if ((r = sanlock_acquire(sock, -1, 0, 1, &res, NULL)) < 0) {
		fprintf(stderr, "tern-lease: acquire %s:%s: %d\n", lsname,
		    name, r);
		return r == SANLK_ACQUIRE_IDLIVE || r == -EAGAIN ||
		    r == SANLK_ACQUIRE_OWNED_RETRY ? 10 :
		    r == -ENOSPC || r == -ENOENT ? 11 : 1;
	}
	tell("H");
	if ((pid = read_pid(pid_arg)) <= 0)
		return 0;
	if ((r = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0)) < 0) {
		fprintf(stderr, "tern-lease: process %ld: %s\n", pid,
		    strerror(errno));
		return 1;
	}
	qemu_pidfd = r;
	tell("B");
	close(3);
	close(4);
	if (!watch(qemu_pidfd))
		return 0;
	qemu_pidfd = -1;	/* a SIGTERM now must not kill the VM */
	if ((r = sanlock_release(sock, -1, 0, 1, &res)) < 0) {
		fprintf(stderr, "tern-lease: release %s:%s: %d\n", lsname,
		    name, r);
		return 3;
	}
	fprintf(stderr, "tern-lease: %s:%s released for a move\n", lsname,
	    name);
	return 0;
}

static int
hold(const char *lsname, const char *file, const char *name,
    const char *pid_arg)
{
	struct sanlk_resource *res = calloc(1, sizeof(*res) +
	    sizeof(struct sanlk_disk));
	int r;

	if (!res)
		return 1;
	snprintf(res->lockspace_name, SANLK_NAME_LEN, "%s", lsname);
	snprintf(res->name, SANLK_NAME_LEN, "%s", name);
	res->num_disks = 1;
	snprintf(res->disks[0].path, SANLK_PATH_LEN, "%s", file);
	r = hold_res(res, lsname, file, name, pid_arg);
	free(res);
	return r;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct sigaction su = { .sa_handler = on_usr1 };
	sigset_t usr1;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &su, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "kill"))
		return kill((pid_t)strtol(argv[2], NULL, 10), SIGTERM) < 0;
	if (argc == 4 && !strcmp(argv[1], "init-lockspace"))
		return make_file(argv[3], init_lockspace, argv[2]);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "hold"))
		return hold(argv[2], argv[3], argv[4], argc == 6 ? argv[5] :
		    NULL);
	fprintf(stderr, "usage: tern-lease init-lockspace LOCKSPACE FILE\n"
	    "       tern-lease hold LOCKSPACE FILE RESOURCE [PID]\n"
	    "       tern-lease kill HOLDER\n");
	return 2;
}
