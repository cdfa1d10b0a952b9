/* journal.c - log lines to journald as structured entries (native
 * protocol through libsystemd), and sd_notify status.  Never logs itself:
 * a failed send falls back to stderr for that line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
/* No CODE_FILE/CODE_LINE: they would all name journal_sink(). */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"

bool
journal_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* One field "NAME=value" into iov[*n] (buf holds it). */
static void
journal_field(struct iovec *iov, size_t *n, char *buf, size_t len,
    const char *name, const char *value)
{
	int k = snprintf(buf, len, "%s=%s", name, value);

	if (k < 0)
		return;
	iov[*n].iov_base = buf;
	iov[*n].iov_len = (size_t)k < len ? (size_t)k : len - 1;
	(*n)++;
}

static void
journal_sink(enum log_level level, const char *host,
    const struct log_ctx *ctx, const char *msg)
{
	char prio[16], m[1100], h[80], vm[96], job[40];
	struct iovec iov[7];
	size_t n = 0;

	snprintf(prio, sizeof(prio), "PRIORITY=%d", (int)level);
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	journal_field(iov, &n, m, sizeof(m), "MESSAGE", msg);
	iov[n++] = (struct iovec){ "SYSLOG_IDENTIFIER=ternd", 23 };
	if (host && *host)
		journal_field(iov, &n, h, sizeof(h), "TERN_HOST", host);
	if (ctx->vm[0])
		journal_field(iov, &n, vm, sizeof(vm), "TERN_VM", ctx->vm);
	if (ctx->job[0])
		journal_field(iov, &n, job, sizeof(job), "TERN_JOB", ctx->job);
	if (sd_journal_sendv(iov, (int)n) < 0)
		fprintf(stderr, "<%d>%s\n", (int)level, msg);
}

bool
journal_log_setup(void)
{
	if (!journal_stderr_is_journal())
		return false;
	log_set_sink(journal_sink);
	return true;
}

void
journal_notify_status(const char *fmt, ...)
{
	char line[256] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + 7, sizeof(line) - 7, fmt, ap);
	va_end(ap);
	(void)sd_notify(0, line);
}
