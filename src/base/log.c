/* log.c - stderr logging with journald priority prefixes, or a sink (the
 * daemon's journald writer), with the job/VM context the job layer sets
 * around each step.  Must never allocate or fail: it is called on error
 * paths.  Knows nothing of jobs or VMs beyond two strings. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum log_level log_level = LOG_LVL_INFO;
static char log_prefix[64];
static log_sink_fn log_sink;
/* per thread: a worker thread's lines never take the loop's job step */
static _Thread_local struct log_ctx log_ctx;

void
log_set_level(enum log_level level)
{
	log_level = level;
}

void
log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix ? prefix : "");
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

void
log_ctx_enter(const char *job, const char *vm, struct log_ctx *ret_saved)
{
	*ret_saved = log_ctx;
	snprintf(log_ctx.job, sizeof(log_ctx.job), "%s", job ? job : "");
	snprintf(log_ctx.vm, sizeof(log_ctx.vm), "%s", vm ? vm : "");
}

void
log_ctx_leave(const struct log_ctx *saved)
{
	log_ctx = *saved;
}

/* The value of fact key= in msg (at its start or after a space), up to
 * the next space, into buf; false when msg has no such fact. */
static bool
log_fact(const char *msg, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key), n;

	for (const char *p = msg; (p = strstr(p, key)); p += klen) {
		if (p != msg && p[-1] != ' ')
			continue;
		p += klen;
		n = strcspn(p, " ");
		if (n == 0 || n >= len)
			return false;
		memcpy(buf, p, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

void
log_ctx_of_line(const char *msg, struct log_ctx *ret_ctx)
{
	*ret_ctx = log_ctx;
	if (!ret_ctx->vm[0])
		(void)log_fact(msg, "vm=", ret_ctx->vm, sizeof(ret_ctx->vm));
	if (!ret_ctx->job[0] && log_fact(msg, "job=", ret_ctx->job,
	    sizeof(ret_ctx->job)) && strcmp(ret_ctx->job, "0") == 0)
		ret_ctx->job[0] = '\0';	/* host_event's "no job" */
}

static void
log_to_sink(enum log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	struct log_ctx ctx;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_ctx_of_line(msg, &ctx);
	log_sink(level, log_prefix, &ctx, msg);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_sink) {
		log_to_sink(level, fmt, ap);
		va_end(ap);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "<%d>%02d:%02d:%02d.%03ld %s%s",
	    level, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	    log_prefix, log_prefix[0] ? ": " : "");
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
