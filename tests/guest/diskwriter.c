/*
 * diskwriter.c - tern test guest disk workload (static, runs inside the guest).
 * Writes sequence-numbered, checksummed 4 KiB records (format: record.h) into
 * a ring on a raw block device and prints "TERN-ACK <seq>" on stdout only
 * after every record <= seq is durable.  It must never print an ack for a
 * record whose write or flush has not completed successfully.
 *
 * Usage: tern-diskwriter DEV [RECORDS_PER_S [lat]]
 *   RECORDS_PER_S > 0 (default 50): throttled, one ack line per record.
 *   RECORDS_PER_S = 0: as fast as possible, an ack every 64th record and at
 *   least every 250 ms; each ack names the highest durable seq.
 *   lat: also print "TERN-LAT us us ..." lines, the time each record's
 *   pwrite + fdatasync took in microseconds, LAT_PER_LINE per line (for
 *   benchmarks; never part of an ack line).
 * A restarted writer scans the ring and continues at (highest valid seq) + 1.
 * SIGTERM/SIGINT: finish the record in flight, print a final ack, exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record.h"

#define SCAN_CHUNK_SLOTS	256u
#define FAST_ACK_EVERY		64u
#define FAST_ACK_NS		250000000ull
#define LAT_PER_LINE		16u

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One write(2) per line so lines from other writers cannot split it. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
		/* nothing sensible to do: the console is gone */
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void get_boot_id(unsigned char id[TREC_BOOT_ID_LEN])
{
	char buf[64];
	ssize_t n = -1;
	int fd, k = 0;

	memset(id, 0, TREC_BOOT_ID_LEN);
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n > 0) {
		for (ssize_t i = 0; i + 1 < n && k < (int)TREC_BOOT_ID_LEN; i++) {
			int hi = hexval(buf[i]), lo = hexval(buf[i + 1]);

			if (hi < 0 || lo < 0)
				continue;
			id[k++] = (unsigned char)(hi << 4 | lo);
			i++;
		}
	}
	if (k < (int)TREC_BOOT_ID_LEN &&
	    getrandom(id, TREC_BOOT_ID_LEN, 0) != (ssize_t)TREC_BOOT_ID_LEN) {
		uint64_t t = now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();

		trec_put64(id, t);
		trec_put64(id + 8, ~t);
	}
}

static int full_pread(int fd, unsigned char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Latency samples, flushed as one "TERN-LAT" line when full or at exit. */
static uint32_t lat_us[LAT_PER_LINE];
static unsigned lat_n;

static void lat_flush(void)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "TERN-LAT");

	for (unsigned i = 0; i < lat_n && n < (int)sizeof(line) - 16; i++)
		n += snprintf(line + n, sizeof(line) - n, " %" PRIu32, lat_us[i]);
	if (lat_n)
		say("%s\n", line);
	lat_n = 0;
}

static void lat_add(uint64_t ns)
{
	lat_us[lat_n++] = ns / 1000 > UINT32_MAX ? UINT32_MAX :
						     (uint32_t)(ns / 1000);
	if (lat_n == LAT_PER_LINE)
		lat_flush();
}

/* Highest valid seq in the ring, 0 if none. */
static int scan_ring(int fd, uint32_t nslots, uint64_t *highest,
		     uint32_t *nvalid, uint32_t *nbad)
{
	unsigned char *buf;
	uint32_t s, i, cnt;

	*highest = 0;
	*nvalid = 0;
	*nbad = 0;
	if (posix_memalign((void **)&buf, 4096, SCAN_CHUNK_SLOTS * TREC_SIZE))
		return -1;
	for (s = 0; s < nslots; s += cnt) {
		cnt = nslots - s < SCAN_CHUNK_SLOTS ? nslots - s : SCAN_CHUNK_SLOTS;
		if (full_pread(fd, buf, (size_t)cnt * TREC_SIZE,
			       (off_t)s * TREC_SIZE)) {
			free(buf);
			return -1;
		}
		for (i = 0; i < cnt; i++) {
			uint64_t seq = 0;

			switch (trec_check(buf + (size_t)i * TREC_SIZE, s + i,
					   nslots, &seq)) {
			case TREC_VALID:
				(*nvalid)++;
				if (seq > *highest)
					*highest = seq;
				break;
			case TREC_EMPTY:
				break;
			default:
				(*nbad)++;
				break;
			}
		}
	}
	free(buf);
	return 0;
}

static int open_dev(const char *dev, int *direct)
{
	int fd = open(dev, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);

	*direct = 1;
	if (fd < 0 && errno == EINVAL) {
		/* e.g. a regular file on tmpfs when testing on the host */
		fd = open(dev, O_RDWR | O_DSYNC | O_CLOEXEC);
		*direct = 0;
	}
	return fd;
}

static uint64_t dev_size(int fd)
{
	struct stat st;
	uint64_t sz = 0;

	if (fstat(fd, &st))
		return 0;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &sz))
			return 0;
		return sz;
	}
	return (uint64_t)st.st_size;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/vdb";
	unsigned long rate = 50;
	unsigned char boot_id[TREC_BOOT_ID_LEN];
	unsigned char *rec;
	uint64_t size, highest, seq, acked = 0, period = 0, next = 0, last_ack_t;
	uint32_t nslots, nvalid, nbad;
	struct sigaction sa;
	int fd, direct, lat = 0;

	if (argc > 4 || (argc > 1 && argv[1][0] == '-') ||
	    (argc == 4 && strcmp(argv[3], "lat") != 0)) {
		fprintf(stderr, "usage: %s DEV [RECORDS_PER_S [lat]]\n", argv[0]);
		return 2;
	}
	lat = argc == 4;
	if (argc > 2) {
		char *end;

		errno = 0;
		rate = strtoul(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || rate > 1000000) {
			fprintf(stderr, "tern-diskwriter: bad rate '%s'\n", argv[2]);
			return 2;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = open_dev(dev, &direct);
	if (fd < 0) {
		say("TERN-DISK error open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	size = dev_size(fd);
	nslots = size / TREC_SIZE > TREC_MAX_SLOTS ? TREC_MAX_SLOTS :
						      (uint32_t)(size / TREC_SIZE);
	if (nslots < 2) {
		say("TERN-DISK error %s too small (%" PRIu64 " bytes)\n", dev, size);
		return 1;
	}
	if (scan_ring(fd, nslots, &highest, &nvalid, &nbad)) {
		say("TERN-DISK error scan %s: %s\n", dev, strerror(errno));
		return 1;
	}
	get_boot_id(boot_id);
	if (posix_memalign((void **)&rec, 4096, TREC_SIZE)) {
		say("TERN-DISK error out of memory\n");
		return 1;
	}
	say("TERN-DISK start dev=%s slots=%" PRIu32 " valid=%" PRIu32
	    " bad=%" PRIu32 " next=%" PRIu64 " rate=%lu direct=%d\n",
	    dev, nslots, nvalid, nbad, highest + 1, rate, direct);

	if (rate)
		period = 1000000000ull / rate;
	next = now_ns(CLOCK_MONOTONIC);
	last_ack_t = next;
	for (seq = highest + 1; !stop_requested; seq++) {
		off_t off = (off_t)((seq - 1) % nslots) * TREC_SIZE;
		uint64_t t0;
		ssize_t n;

		trec_build(rec, seq, boot_id, now_ns(CLOCK_REALTIME), nslots);
		t0 = now_ns(CLOCK_MONOTONIC);
		do {
			n = pwrite(fd, rec, TREC_SIZE, off);
		} while (n < 0 && errno == EINTR);
		if (n != (ssize_t)TREC_SIZE) {
			say("TERN-DISK error write seq %" PRIu64 ": %s\n", seq,
			    n < 0 ? strerror(errno) : "short write");
			break;
		}
		/* O_DSYNC already made it durable; the flush is belt and braces. */
		if (fdatasync(fd)) {
			say("TERN-DISK error fdatasync seq %" PRIu64 ": %s\n", seq,
			    strerror(errno));
			break;
		}
		acked = seq;
		if (lat)
			lat_add(now_ns(CLOCK_MONOTONIC) - t0);
		if (rate) {
			struct timespec ts;
			uint64_t now;

			say("TERN-ACK %" PRIu64 "\n", acked);
			last_ack_t = now_ns(CLOCK_MONOTONIC);
			next += period;
			now = now_ns(CLOCK_MONOTONIC);
			if (now > next + 1000000000ull)
				next = now;	/* far behind: do not burst */
			ts.tv_sec = (time_t)(next / 1000000000ull);
			ts.tv_nsec = (long)(next % 1000000000ull);
			while (!stop_requested &&
			       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					       NULL) == EINTR)
				;
		} else {
			uint64_t now = now_ns(CLOCK_MONOTONIC);

			if (seq % FAST_ACK_EVERY == 0 ||
			    now - last_ack_t >= FAST_ACK_NS) {
				say("TERN-ACK %" PRIu64 "\n", acked);
				last_ack_t = now;
			}
		}
	}
	lat_flush();
	if (acked)
		say("TERN-ACK %" PRIu64 "\n", acked);
	say("TERN-DISK stop last=%" PRIu64 "\n", acked);
	free(rec);
	close(fd);
	return stop_requested ? 0 : 1;
}
