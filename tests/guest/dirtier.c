/*
 * dirtier.c - tern test guest memory workload (static, runs inside the guest).
 * Allocates SIZE_MIB of memory, fills every page with non-zero data and then
 * rewrites whole pages at about RATE_MIB_S MiB/s, forever, so live migration
 * always has dirty, incompressible-ish pages to resend.  It must never touch
 * disks or print more than its start line.
 *
 * Usage: tern-dirtier [RATE_MIB_S [SIZE_MIB]]   (defaults 50 and 64)
 *   RATE_MIB_S = 0: fill once, then hold the memory without dirtying it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096u
#define TICK_NS		10000000ull	/* 10 ms */
#define MAX_CATCHUP_NS	1000000000ull	/* never burst more than 1 s of work */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Rewrite one page; every word depends on pass and position, never zero. */
static void dirty_page(uint64_t *p, uint64_t page, uint64_t pass)
{
	uint64_t v = (pass << 40) ^ (page * 0x9e3779b97f4a7c15ull) ^ 0x5555555555555555ull;

	for (unsigned int i = 0; i < PAGE / 8; i++) {
		v = v * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = v | 1;
	}
}

static unsigned long arg_ul(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "tern-dirtier: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long rate = 50, size_mib = 64;
	uint64_t npages, page = 0, pass = 1, start, done = 0;
	unsigned char *mem;

	if (argc > 3) {
		fprintf(stderr, "usage: %s [RATE_MIB_S [SIZE_MIB]]\n", argv[0]);
		return 2;
	}
	if (argc > 1)
		rate = arg_ul(argv[1], "rate", 65536);
	if (argc > 2)
		size_mib = arg_ul(argv[2], "size", 1u << 20);
	if (size_mib == 0)
		size_mib = 1;
	npages = (uint64_t)size_mib * 1024 * 1024 / PAGE;

	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		perror("tern-dirtier: mmap");
		return 1;
	}
	for (uint64_t i = 0; i < npages; i++)
		dirty_page((uint64_t *)(mem + i * PAGE), i, 0);
	printf("TERN-DIRTY start size_mib=%lu rate_mib_s=%lu\n", size_mib, rate);
	fflush(stdout);

	if (rate == 0) {
		for (;;)
			pause();
	}

	start = now_ns();
	for (;;) {
		uint64_t now = now_ns(), elapsed = now - start, target;
		struct timespec ts = { 0, (long)TICK_NS };

		/* pages owed so far; drop debt older than MAX_CATCHUP_NS */
		target = elapsed / 1000 * rate * (1024 * 1024 / PAGE) / 1000000;
		if (target > done + rate * (1024 * 1024 / PAGE) * MAX_CATCHUP_NS /
					   1000000000ull)
			done = target - rate * (1024 * 1024 / PAGE);
		while (done < target) {
			dirty_page((uint64_t *)(mem + page * PAGE), page, pass);
			done++;
			if (++page == npages) {
				page = 0;
				pass++;
			}
		}
		nanosleep(&ts, NULL);
	}
}
