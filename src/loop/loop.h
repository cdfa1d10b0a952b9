/* loop.h - the one event loop of a daemon: epoll over fds, one-shot timers
 * (a binary heap keyed on monotonic ms), run on one thread.  Callbacks must
 * return quickly (under ~10 ms); blocking work goes to a child process.
 * Knows nothing about VMs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events,
    void *data);
typedef void (*loop_timer_fn)(struct loop *l, void *data);

int loop_new(struct loop **ret_loop);
/* Frees the loop; pending timers are dropped without being called. */
struct loop *loop_free(struct loop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT...).  One watch per fd. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
    void *data);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Stop watching fd (call before closing it).  Safe to call from inside
 * that fd's own callback. */
void loop_del_fd(struct loop *l, int fd);

/* Call fn(data) once, delay_ms from now.  The handle is valid until the
 * timer fires or is cancelled. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t delay_ms,
    loop_timer_fn fn, void *data);
/* Cancel a pending timer; NULL-safe; returns NULL. */
struct loop_timer *loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Dispatch events for at most timeout_ms (-1: until one arrives).  Returns
 * the number of callbacks run, or -errno. */
int loop_run_once(struct loop *l, int timeout_ms);
/* Run until loop_quit(); returns the code given to loop_quit(). */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);
