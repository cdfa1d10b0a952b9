/* log.h - one line per event on stderr, with a <N> syslog priority prefix
 * that journald understands, facts as name=value.  base, loop, qmp and store
 * never log above debug; vm, api and daemon decide, and log once.
 *
 * A sink (the daemon's journald writer) may take the lines instead of
 * stderr; it gets the line's facts apart: the host, and the job and VM the
 * line is about (the context a job step runs in, or a leading fact
 * vm=NAME / job=ID of the line itself). */
#pragma once

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6,
		 LOG_LVL_DEBUG = 7 };

/* What one line is about; empty strings when not known. */
struct log_ctx {
	char job[24];		/* job id, "42" */
	char vm[80];		/* VM name */
};

/* A sink gets every line at or under the level, without the time and
 * priority prefix.  It must not log. */
typedef void (*log_sink_fn)(enum log_level level, const char *host,
    const struct log_ctx *ctx, const char *msg);

void log_set_level(enum log_level level);
void log_set_prefix(const char *prefix);	/* e.g. the host name */
/* NULL: back to stderr. */
void log_set_sink(log_sink_fn sink);
/* The lines logged until log_ctx_leave() are about job (NULL or "": none)
 * and vm (NULL or "": none); the context before is saved in *ret_saved
 * so that nested steps restore it. */
void log_ctx_enter(const char *job, const char *vm,
    struct log_ctx *ret_saved);
void log_ctx_leave(const struct log_ctx *saved);
/* The facts of one line: the current context, completed from a vm= or
 * job= fact of msg where the context lacks it. */
void log_ctx_of_line(const char *msg, struct log_ctx *ret_ctx);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
