/* child.h - run a program as a watched child: fork/exec with stdio sent to
 * a file, a pidfd in the loop, one callback with the exit status.  The
 * loop never blocks on a child. */
#pragma once

#include <sys/types.h>

#include "loop.h"

struct child;

/* status: exit code (0-255) or 128+signal. */
typedef void (*child_exit_fn)(struct child *c, int status, void *data);

struct child_opts {
	const char *const *argv;	/* argv[0] is looked up in PATH */
	const char *log_path;		/* stdout+stderr appended here; NULL:
					 * /dev/null */
	const int *keep_fds;		/* fds to pass, as fd 3, 4, ... */
	size_t n_keep_fds;
	bool new_session;		/* setsid(): outlives our group */
	bool die_with_parent;		/* SIGKILL when this process dies: a
					 * helper that must not go on writing
					 * after a crash */
};

/* Start the child; fn runs once when it exits.  -errno if fork fails. */
int child_spawn(struct loop *l, const struct child_opts *o, child_exit_fn fn,
    void *data, struct child **ret_c);
pid_t child_pid(const struct child *c);
/* Send a signal; 0 or -errno. */
int child_kill(struct child *c, int sig);
/* Stop watching (the callback will not run) and free; the process is
 * killed with SIGKILL and reaped. NULL-safe; returns NULL. */
struct child *child_free(struct child *c);

/* A pidfd for any process (not only children), or -errno. */
int child_pidfd_open(pid_t pid);
/* The fields of /proc/PID/stat from field 3 (state) on, read into buf;
 * NULL when pid is gone. */
const char *child_proc_stat(pid_t pid, char *buf, size_t len);
/* Field 22 of /proc/PID/stat (start time in clock ticks), 0 if gone.
 * Together with the pid it names a process across pid reuse. */
unsigned long long child_proc_start_time(pid_t pid);
