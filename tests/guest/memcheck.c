/*
 * memcheck.c - tern test guest memory check (static, runs inside the guest).
 * Proves the guest's memory intact across live migration: it holds
 * SIZE_MIB of pages whose content it can always recompute, rewrites pages
 * at about RATE_MIB_S MiB/s (so a migration has dirty pages to resend) and
 * checks every page, round and round, at about VERIFY_MIB_S MiB/s.
 *
 * Each page is a function of (page, generation): word i holds
 * base(page, gen) + i * STEP (low bit forced to 1, so never zero); the
 * generation of every page is kept in a separate table.  A page that
 * arrived stale (an old generation), torn or zeroed does not match.  The
 * writer checks a page before it rewrites it, so no bad page is ever
 * overwritten unseen.  On a mismatch it prints
 *   TERN-MEMCHECK-FAIL page=P want=GEN got=WHAT word=I bad=K
 * where WHAT is the generation the first bad word I belongs to (decoded,
 * base() is invertible), page:Q/GEN for a word of another page, zero, or
 * 0xWORD when it decodes to nothing, and K counts the bad words of the
 * page (at most FAIL_PER_S lines a second), then rewrites that page so one
 * corruption is reported once.  Every OK_EVERY_NS it prints
 *   TERN-MEMCHECK-OK n=PASSES fails=F rewrites=R
 * where n counts complete verification passes over all pages (it only
 * grows; while the VM is paused it stops, and resumes after).
 *
 * SIGUSR1 corrupts one byte of one page behind the table's back: the next
 * check of that page (the verifier's, or the writer's before a rewrite)
 * must report it (the test that the check can fail).
 *
 * Usage: tern-memcheck [RATE_MIB_S [SIZE_MIB [VERIFY_MIB_S]]]
 *        (defaults 20, 64 and 64; RATE_MIB_S = 0: never rewrite)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096u
#define WORDS		(PAGE / 8)
#define STEP		0x9e3779b97f4a7c15ull
#define TICK_NS		10000000ull	/* 10 ms */
#define MAX_CATCHUP_NS	1000000000ull	/* never burst more than 1 s */
#define OK_EVERY_NS	2000000000ull
#define FAIL_PER_S	5

static volatile sig_atomic_t corrupt_requested;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64 of (page, gen): the first word of the page. */
static uint64_t base_of(uint64_t page, uint32_t gen)
{
	uint64_t z = (page << 32 ^ gen) + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill(uint64_t *p, uint64_t page, uint32_t gen)
{
	uint64_t v = base_of(page, gen);

	for (unsigned int i = 0; i < WORDS; i++, v += STEP)
		p[i] = v | 1;
}

/* Index of the first word that does not match, or -1; *ret_bad: how many. */
static int check(const uint64_t *p, uint64_t page, uint32_t gen,
    unsigned int *ret_bad)
{
	uint64_t v = base_of(page, gen);
	unsigned int bad = 0;
	int first = -1;

	for (unsigned int i = 0; i < WORDS; i++, v += STEP)
		if (p[i] != (v | 1) && bad++ == 0)
			first = (int)i;
	*ret_bad = bad;
	return first;
}

/* y = x ^ (x >> s), solved for x. */
static uint64_t unxorshift(uint64_t y, unsigned int s)
{
	uint64_t x = y;

	for (unsigned int i = 0; i < 64 / s + 1; i++)
		x = y ^ (x >> s);
	return x;
}

/* The inverse of odd a modulo 2^64 (Newton: each step doubles the bits). */
static uint64_t inverse(uint64_t a)
{
	uint64_t x = a;

	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

/* What word w of page holds, in words: "GEN" when it is a word of this
 * page at generation GEN, "page:Q/GEN" of another page, "zero", else the
 * raw value.  The forced low bit leaves two candidates for the sum. */
static void decode(char *buf, size_t len, uint64_t word, unsigned int w,
    uint64_t page, uint64_t npages)
{
	if (word == 0) {
		snprintf(buf, len, "zero");
		return;
	}
	for (uint64_t low = 0; (word & 1) && low < 2; low++) {
		uint64_t z = (word - low) - (uint64_t)w * STEP;

		z = unxorshift(z, 31) * inverse(0x94d049bb133111ebull);
		z = unxorshift(z, 27) * inverse(0xbf58476d1ce4e5b9ull);
		z = unxorshift(z, 30) - 0x9e3779b97f4a7c15ull;
		if ((z >> 32) == page) {
			snprintf(buf, len, "%u", (uint32_t)z);
			return;
		}
		if ((z >> 32) < npages) {
			snprintf(buf, len, "page:%llu/%u",
			    (unsigned long long)(z >> 32), (uint32_t)z);
			return;
		}
	}
	snprintf(buf, len, "0x%016llx", (unsigned long long)word);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(STDOUT_FILENO, line,
		    (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void on_usr1(int sig)
{
	(void)sig;
	corrupt_requested = 1;
}

static unsigned long arg_ul(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "tern-memcheck: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

struct mc {
	uint8_t *mem;
	uint32_t *gen;
	uint64_t npages, wpage, vpage, passes, fails, rewrites;
	uint64_t fail_window_ns;
	unsigned int fails_in_window;
};

/* Checks page pg against the table; a bad page is reported (rate-limited)
 * and rewritten as the table says, so it is reported once. */
static void check_page(struct mc *m, uint64_t pg, uint64_t now)
{
	uint64_t *p = (uint64_t *)(m->mem + pg * PAGE);
	unsigned int bad;
	int w = check(p, pg, m->gen[pg], &bad);
	char got[48];

	if (w < 0)
		return;
	m->fails++;
	if (now - m->fail_window_ns >= 1000000000ull) {
		m->fail_window_ns = now;
		m->fails_in_window = 0;
	}
	if (m->fails_in_window++ < FAIL_PER_S) {
		decode(got, sizeof(got), p[w], (unsigned int)w, pg, m->npages);
		say("TERN-MEMCHECK-FAIL page=%llu want=%u got=%s word=%d "
		    "bad=%u\n", (unsigned long long)pg, m->gen[pg], got, w, bad);
	}
	fill(p, pg, m->gen[pg]);
}

static void verify_one(struct mc *m, uint64_t now)
{
	check_page(m, m->vpage, now);
	if (++m->vpage == m->npages) {
		m->vpage = 0;
		m->passes++;
	}
}

/* The page is checked first: a rewrite must not hide a bad page. */
static void rewrite_one(struct mc *m, uint64_t now)
{
	uint64_t pg = m->wpage;

	check_page(m, pg, now);
	m->gen[pg]++;
	fill((uint64_t *)(m->mem + pg * PAGE), pg, m->gen[pg]);
	m->rewrites++;
	m->wpage = (m->wpage + 1) % m->npages;
}

int main(int argc, char **argv)
{
	unsigned long rate = 20, size_mib = 64, vrate = 64;
	uint64_t start, wdone = 0, vdone = 0, next_ok;
	struct mc m = { 0 };

	if (argc > 1)
		rate = arg_ul(argv[1], "rate", 100000);
	if (argc > 2)
		size_mib = arg_ul(argv[2], "size", 1 << 20);
	if (argc > 3)
		vrate = arg_ul(argv[3], "verify rate", 100000);
	if (size_mib == 0 || vrate == 0) {
		fprintf(stderr, "tern-memcheck: size and verify rate must be > 0\n");
		return 2;
	}
	m.npages = (uint64_t)size_mib * 1048576 / PAGE;
	m.mem = mmap(NULL, m.npages * PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	m.gen = calloc(m.npages, sizeof(*m.gen));
	if (m.mem == MAP_FAILED || !m.gen) {
		fprintf(stderr, "tern-memcheck: cannot allocate %lu MiB\n",
		    size_mib);
		return 1;
	}
	(void)mlock(m.mem, m.npages * PAGE);	/* best effort */
	for (uint64_t pg = 0; pg < m.npages; pg++)
		fill((uint64_t *)(m.mem + pg * PAGE), pg, 0);
	signal(SIGUSR1, on_usr1);
	say("TERN-MEMCHECK-START size=%lu rate=%lu verify=%lu pages=%llu "
	    "pid=%d\n", size_mib, rate, vrate, (unsigned long long)m.npages,
	    (int)getpid());
	start = now_ns();
	next_ok = start + OK_EVERY_NS;
	for (;;) {
		uint64_t now = now_ns(), el = now - start;
		uint64_t wdue = (uint64_t)((double)rate * 1048576.0 / PAGE *
		    (double)el / 1e9);
		uint64_t vdue = (uint64_t)((double)vrate * 1048576.0 / PAGE *
		    (double)el / 1e9);
		uint64_t cap_w = (uint64_t)((double)rate * 1048576.0 / PAGE *
		    MAX_CATCHUP_NS / 1e9) + 1;
		uint64_t cap_v = (uint64_t)((double)vrate * 1048576.0 / PAGE *
		    MAX_CATCHUP_NS / 1e9) + 1;

		if (corrupt_requested) {
			uint64_t pg = (m.vpage + m.npages / 2) % m.npages;

			corrupt_requested = 0;
			m.mem[pg * PAGE + 123] ^= 0x5a;
			say("TERN-MEMCHECK-CORRUPTED page=%llu (SIGUSR1)\n",
			    (unsigned long long)pg);
		}
		/* After a long pause (the VM stopped) do not burst. */
		if (wdue > wdone + cap_w)
			wdone = wdue - cap_w;
		if (vdue > vdone + cap_v)
			vdone = vdue - cap_v;
		for (; rate && wdone < wdue; wdone++)
			rewrite_one(&m, now);
		for (; vdone < vdue; vdone++)
			verify_one(&m, now);
		if (now >= next_ok) {
			say("TERN-MEMCHECK-OK n=%llu fails=%llu rewrites=%llu\n",
			    (unsigned long long)m.passes,
			    (unsigned long long)m.fails,
			    (unsigned long long)m.rewrites);
			while (next_ok <= now)
				next_ok += OK_EVERY_NS;
		}
		struct timespec ts = { 0, TICK_NS };
		nanosleep(&ts, NULL);
	}
}
