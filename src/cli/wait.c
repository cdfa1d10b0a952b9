/* wait.c - waiting for a ternd job: poll it (every 10 ms for the first
 * half second, so short jobs return at once, then backing off to every
 * 200 ms), draw a one-line
 * progress bar when stderr is a terminal, and on SIGINT stop waiting but
 * never cancel the job.  Must never spin: every pass sleeps. */
#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

#define JOB_POLL_FIRST_MS 10
#define JOB_POLL_MS 200

volatile sig_atomic_t cli_interrupted;

/* Whether and how wide the progress bar is drawn; tick turns the spinner
 * shown while the total is unknown. */
struct bar {
	bool on;
	unsigned tick;
	size_t width;
};

static void
on_sigint(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

void
cli_sigint_catch(struct sigaction *old)
{
	/* No SA_RESTART, so that a sleep ends at once. */
	struct sigaction sa = { .sa_handler = on_sigint };

	sigemptyset(&sa.sa_mask);
	cli_interrupted = 0;
	(void)sigaction(SIGINT, &sa, old);
}

void
cli_sigint_restore(const struct sigaction *old)
{
	(void)sigaction(SIGINT, old, NULL);
}

bool
cli_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!cli_interrupted && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	return !cli_interrupted;
}

static bool
job_is_over(const json_t *job)
{
	const char *s = jv_str(job, "state");

	return streq(s, "succeeded") || streq(s, "failed") ||
	    streq(s, "cancelled");
}

const char *
cli_job_label(const json_t *job, char *buf, size_t len)
{
	const char *vm = jv_str(job, "vm");
	long long id = 0;

	(void)jv_int(job, "id", &id);
	snprintf(buf, len, "job %lld (%s%s%s)", id,
	    jv_str(job, "type") ? jv_str(job, "type") : "?", vm ? " " : "",
	    vm ? vm : "");
	return buf;
}

int
cli_job_print_started(struct cli *cli, const json_t *answer,
    struct err *err)
{
	long long id;

	if (!jv_int(json_object_get(answer, "job"), "id", &id))
		return err_set(err, -EPROTO, "ternd's answer holds no job id");
	if (cli->json)
		print_json(answer);
	else
		printf("job %lld\n", id);
	return 0;
}

static size_t
term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == -1 || ws.ws_col < 20)
		return 79;
	return ws.ws_col - 1;
}

static void
bar_draw(struct bar *b, const json_t *job)
{
	char line[512];

	if (!b->on)
		return;
	fmt_progress_bar(job, b->tick++, b->width, line, sizeof(line));
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
}

static void
bar_clear(const struct bar *b)
{
	if (b->on) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* Sleep, then fetch the job again into *cur.  -EINTR, err untouched, when
 * SIGINT came in meanwhile. */
static int
job_poll(struct cli *cli, const char *path, json_t **cur, struct err *err)
{
	static unsigned delay_ms = JOB_POLL_FIRST_MS;
	static uint64_t t0_ms;
	struct err e = { 0 };
	json_t *next = NULL;
	int r;

	if (!t0_ms)
		t0_ms = now_ms();
	if (!cli_sleep_ms(delay_ms))
		return -EINTR;
	/* Most jobs end within half a second: poll briskly until then. */
	if (now_ms() - t0_ms > 500)
		delay_ms = MIN(delay_ms * 2, JOB_POLL_MS);
	r = http_call(cli->http, "GET", path, NULL, &next, &e);
	if (r == -EINTR || cli_interrupted) {
		if (next)
			json_decref(next);
		return -EINTR;
	}
	if (r < 0)
		return err_set(err, r, "%s", e.msg);
	json_decref(*cur);
	*cur = next;
	return 0;
}

int
cli_job_wait(struct cli *cli, const json_t *job, json_t **ret_job,
    struct err *err)
{
	_cleanup_json_ json_t *cur = json_incref((json_t *)job);
	_cleanup_free_ char *path = NULL;
	struct bar bar = { .on = !cli->json && isatty(STDERR_FILENO) };
	struct sigaction old;
	long long id;
	int r = 0;

	if (!jv_int(job, "id", &id))
		return err_set(err, -EPROTO, "ternd's answer holds no job id");
	path = xasprintf("/v1/jobs/%lld", id);
	bar.width = term_width();
	cli_sigint_catch(&old);
	while (r == 0 && !job_is_over(cur)) {
		bar_draw(&bar, cur);
		r = job_poll(cli, path, &cur, err);
	}
	bar_clear(&bar);
	cli_sigint_restore(&old);
	if (r == -EINTR)
		return err_set(err, -EINTR, "job %lld continues in the "
		    "background; follow it with 'tern job watch %lld'", id, id);
	if (r < 0)
		return r;
	*ret_job = TAKE_PTR(cur);
	return 0;
}

int
cli_job_check(const json_t *job, struct err *err)
{
	const char *state = jv_str(job, "state");
	const char *error = jv_str(job, "error");
	char label[200];

	if (streq(state, "succeeded"))
		return 0;
	cli_job_label(job, label, sizeof(label));
	if (streq(state, "cancelled"))
		return err_set(err, -ECANCELED, "%s was cancelled%s%s", label,
		    error ? ": " : "", error ? error : "");
	return err_set(err, -EIO, "%s failed: %s", label,
	    error ? error : "ternd gave no reason");
}
