/*
 * verify.c - host-side checker for the tern test guest's disk workload.
 * Reads a disk image written by tern-diskwriter (record.h) plus the guest
 * console logs, and decides whether every acknowledged record survived.
 * It must never modify the image: qcow2 is copied to a temporary raw file
 * with `qemu-img convert -U` (removed again), raw images are only read.
 *
 * verify --image PATH [--format qcow2|raw] --console LOG [--console LOG ...] [-v]
 * verify --image PATH [--format qcow2|raw] --upto LO[:HI] [-v]
 * --upto judges a restored backup point instead: every record <= LO (the
 * highest ack printed before the point) is there, none > HI (the highest
 * ack when the backup returned, plus one in flight) is.
 * Exit: 0 OK, 1 FAIL, 2 usage or environment error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record.h"

#define CHUNK_SLOTS	256u
#define ACK_PREFIX	"TERN-ACK "
#define MAX_CONSOLES	64

static char tmp_path[4096];
static int verbose;

static void cleanup_tmp(void)
{
	if (tmp_path[0]) {
		unlink(tmp_path);
		tmp_path[0] = '\0';
	}
}

static void on_signal(int sig)
{
	if (tmp_path[0])
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	cleanup_tmp();
	va_start(ap, fmt);
	if (code == 1) {
		fputs("verify: FAIL ", stdout);
		vprintf(fmt, ap);
		fputc('\n', stdout);
	} else {
		fputs("verify: error: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
	exit(code);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: verify --image PATH [--format qcow2|raw] --console LOG [--console LOG ...] [-v]\n"
		"       verify --image PATH [--format qcow2|raw] --upto LO[:HI] [-v]\n");
	exit(2);
}

/*
 * Highest "TERN-ACK <digits>" in a log.  Only counts a number that is
 * terminated by CR or LF, so a line cut short or spliced with other console
 * output can never claim more than was printed.
 */
static uint64_t scan_console(const char *path, uint64_t *nacks)
{
	static const char pfx[] = ACK_PREFIX;
	const size_t plen = sizeof(pfx) - 1;
	unsigned char buf[65536];
	uint64_t best = 0, val = 0;
	size_t idx = 0, ndig = 0;
	int in_num = 0, ok = 1;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(2, "cannot open console log %s: %s", path, strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(2, "read %s: %s", path, strerror(errno));
		}
		for (ssize_t i = 0; i < n; i++) {
			unsigned char c = buf[i];

			if (in_num) {
				if (c >= '0' && c <= '9') {
					if (ndig >= 20 || val > (UINT64_MAX - 9) / 10)
						ok = 0;
					else
						val = val * 10 + (c - '0');
					ndig++;
					continue;
				}
				if ((c == '\r' || c == '\n') && ndig && ok) {
					(*nacks)++;
					if (val > best)
						best = val;
				}
				in_num = 0;
				idx = 0;
			}
			if (c == (unsigned char)pfx[idx]) {
				if (++idx == plen) {
					in_num = 1;
					val = 0;
					ndig = 0;
					ok = 1;
				}
			} else {
				idx = c == (unsigned char)pfx[0] ? 1 : 0;
			}
		}
	}
	close(fd);
	return best;
}

static int is_qcow2(const char *path)
{
	unsigned char m[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die(2, "cannot open image %s: %s", path, strerror(errno));
	n = pread(fd, m, sizeof(m), 0);
	close(fd);
	return n == 4 && m[0] == 'Q' && m[1] == 'F' && m[2] == 'I' && m[3] == 0xfb;
}

/* qemu-img convert -U -f qcow2 -O raw IMAGE TMP; returns an fd on TMP (already unlinked). */
static int convert_to_raw(const char *image)
{
	const char *qemu_img = getenv("QEMU_IMG");
	const char *tmpdir = getenv("TMPDIR");
	int fd, status;
	pid_t pid;

	if (!qemu_img || !*qemu_img)
		qemu_img = "qemu-img";
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	if ((size_t)snprintf(tmp_path, sizeof(tmp_path), "%s/tern-verify.XXXXXX",
			     tmpdir) >= sizeof(tmp_path))
		die(2, "TMPDIR too long");
	fd = mkstemp(tmp_path);
	if (fd < 0) {
		tmp_path[0] = '\0';
		die(2, "mkstemp in %s: %s", tmpdir, strerror(errno));
	}
	close(fd);

	pid = fork();
	if (pid < 0)
		die(2, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execlp(qemu_img, qemu_img, "convert", "-U", "-f", "qcow2", "-O", "raw",
		       image, tmp_path, (char *)NULL);
		fprintf(stderr, "verify: exec %s: %s\n", qemu_img, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die(2, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die(2, "%s convert of %s failed (status %d)", qemu_img, image, status);
	fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(2, "open %s: %s", tmp_path, strerror(errno));
	cleanup_tmp();
	return fd;
}

static uint64_t fd_size(int fd)
{
	struct stat st;
	uint64_t sz;

	if (fstat(fd, &st))
		die(2, "fstat: %s", strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &sz))
			die(2, "BLKGETSIZE64: %s", strerror(errno));
		return sz;
	}
	return (uint64_t)st.st_size;
}

static const char *state_name(enum trec_state st)
{
	switch (st) {
	case TREC_GARBAGE:
		return "neither zero nor a record (garbage or torn write)";
	case TREC_BAD_CSUM:
		return "checksum mismatch (torn or corrupt record)";
	case TREC_BAD_FIELDS:
		return "checksum ok but seq/slot/nslots/payload inconsistent";
	default:
		return "?";
	}
}

/* "LO" or "LO:HI" (decimal, HI >= LO) for --upto. */
static void parse_upto(const char *arg, uint64_t *lo, uint64_t *hi, int *has_hi)
{
	char *end;

	errno = 0;
	*lo = strtoull(arg, &end, 10);
	if (errno || end == arg || (*end && *end != ':') || *arg == '-')
		usage();
	*has_hi = *end == ':';
	if (!*has_hi)
		return;
	arg = end + 1;
	*hi = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-' || *hi < *lo)
		usage();
}

/*
 * --upto LO[:HI], a restored backup point: no valid record above HI (it
 * was written after the point), and every seq q in (max(0, LO - N), LO] is
 * in its slot or overwritten by a newer seq.  A newer one in such a slot
 * is q + k*N > LO: a write from while the point was taken, which the HI
 * check has already bounded.
 */
static void check_upto(const uint64_t *seqs, uint32_t nslots, uint64_t lo,
		       uint64_t hi, int has_hi, uint64_t highest)
{
	uint64_t q, from = lo > nslots ? lo - nslots : 0;

	for (uint32_t s = 0; has_hi && s < nslots; s++)
		if (seqs[s] > hi)
			die(1, "seq %" PRIu64 " in slot %" PRIu32 " was written after"
			    " the point (above %" PRIu64 ") upto=%" PRIu64 ":%" PRIu64
			    " highest=%" PRIu64 " slots=%" PRIu32,
			    seqs[s], s, hi, lo, hi, highest, nslots);
	for (q = lo; q > from; q--) {
		uint32_t slot = (uint32_t)((q - 1) % nslots);
		uint64_t got = seqs[slot];

		if (!got)
			die(1, "seq %" PRIu64 " missing: slot %" PRIu32 " is empty"
			    " upto=%" PRIu64 " highest=%" PRIu64 " slots=%" PRIu32,
			    q, slot, lo, highest, nslots);
		if (got < q)
			die(1, "seq %" PRIu64 " missing: slot %" PRIu32 " holds older"
			    " seq %" PRIu64 " upto=%" PRIu64 " highest=%" PRIu64
			    " slots=%" PRIu32, q, slot, got, lo, highest, nslots);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'f' },
		{ "console", required_argument, NULL, 'c' },
		{ "upto", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *image = NULL, *format = NULL, *consoles[MAX_CONSOLES];
	uint64_t acked = 0, nacks = 0, highest = 0, size, *seqs, lo, q;
	uint64_t upto_lo = 0, upto_hi = 0;
	int upto = 0, has_hi = 0;
	uint32_t nslots, s, cnt, nvalid = 0, nbad = 0, first_bad = 0;
	enum trec_state first_bad_state = TREC_EMPTY;
	unsigned char *buf;
	int nconsoles = 0, opt, fd, qcow2;

	while ((opt = getopt_long(argc, argv, "i:f:c:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			image = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'c':
			if (nconsoles == MAX_CONSOLES)
				usage();
			consoles[nconsoles++] = optarg;
			break;
		case 'u':
			parse_upto(optarg, &upto_lo, &upto_hi, &has_hi);
			upto = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	/* --upto replaces the console logs: exactly one of the two. */
	if (optind != argc || !image || !nconsoles == !upto)
		usage();
	if (format && strcmp(format, "qcow2") && strcmp(format, "raw"))
		usage();

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	for (int i = 0; i < nconsoles; i++) {
		uint64_t a = scan_console(consoles[i], &nacks);

		if (verbose)
			fprintf(stderr, "verify: %s: highest ack %" PRIu64 "\n",
				consoles[i], a);
		if (a > acked)
			acked = a;
	}

	qcow2 = format ? !strcmp(format, "qcow2") : is_qcow2(image);
	if (qcow2) {
		fd = convert_to_raw(image);
	} else {
		fd = open(image, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(2, "cannot open image %s: %s", image, strerror(errno));
	}
	size = fd_size(fd);
	nslots = size / TREC_SIZE > TREC_MAX_SLOTS ? TREC_MAX_SLOTS :
						      (uint32_t)(size / TREC_SIZE);
	if (nslots < 2)
		die(2, "image %s too small (%" PRIu64 " bytes)", image, size);

	seqs = calloc(nslots, sizeof(*seqs));
	buf = malloc((size_t)CHUNK_SLOTS * TREC_SIZE);
	if (!seqs || !buf)
		die(2, "out of memory");

	/* Rule 1: every slot is all-zero or a valid record for that slot. */
	for (s = 0; s < nslots; s += cnt) {
		size_t len, done = 0;

		cnt = nslots - s < CHUNK_SLOTS ? nslots - s : CHUNK_SLOTS;
		len = (size_t)cnt * TREC_SIZE;
		while (done < len) {
			ssize_t n = pread(fd, buf + done, len - done,
					  (off_t)s * TREC_SIZE + (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				die(2, "read %s: %s", image, n ? strerror(errno) : "EOF");
			done += (size_t)n;
		}
		for (uint32_t i = 0; i < cnt; i++) {
			uint64_t seq = 0;
			enum trec_state st = trec_check(buf + (size_t)i * TREC_SIZE,
							s + i, nslots, &seq);

			if (st == TREC_VALID) {
				seqs[s + i] = seq;
				nvalid++;
				if (seq > highest)
					highest = seq;
			} else if (st != TREC_EMPTY) {
				if (!nbad) {
					first_bad = s + i;
					first_bad_state = st;
				}
				nbad++;
				if (verbose)
					fprintf(stderr, "verify: slot %" PRIu32 ": %s\n",
						s + i, state_name(st));
			}
		}
	}
	close(fd);
	free(buf);
	if (verbose)
		fprintf(stderr,
			"verify: slots=%" PRIu32 " valid=%" PRIu32 " bad=%" PRIu32
			" highest=%" PRIu64 " acked=%" PRIu64 " ack_lines=%" PRIu64 "\n",
			nslots, nvalid, nbad, highest, acked, nacks);
	if (nbad)
		die(1, "slot %" PRIu32 ": %s (%" PRIu32 " bad slot%s) %s=%" PRIu64
		    " highest=%" PRIu64 " slots=%" PRIu32,
		    first_bad, state_name(first_bad_state), nbad, nbad == 1 ? "" : "s",
		    upto ? "upto" : "acked", upto ? upto_lo : acked, highest, nslots);

	if (upto) {
		check_upto(seqs, nslots, upto_lo, upto_hi, has_hi, highest);
		free(seqs);
		if (has_hi)
			printf("verify: OK upto=%" PRIu64 ":%" PRIu64 " highest=%" PRIu64
			       " slots=%" PRIu32 "\n", upto_lo, upto_hi, highest, nslots);
		else
			printf("verify: OK upto=%" PRIu64 " highest=%" PRIu64
			       " slots=%" PRIu32 "\n", upto_lo, highest, nslots);
		return 0;
	}

	/* Rule 2: nothing acknowledged may be missing from the top of the ring. */
	if (highest < acked)
		die(1, "highest seq on disk %" PRIu64 " < acked %" PRIu64
		    " (acknowledged writes lost) slots=%" PRIu32, highest, acked, nslots);

	/* Rule 3: each acked seq in the last ring's worth is there or overwritten by seq + k*N. */
	lo = acked > nslots ? acked - nslots : 0;
	for (q = acked; q > lo; q--) {
		uint32_t slot = (uint32_t)((q - 1) % nslots);

		if (!seqs[slot])
			die(1, "acked seq %" PRIu64 " missing: slot %" PRIu32 " is empty"
			    " acked=%" PRIu64 " highest=%" PRIu64 " slots=%" PRIu32,
			    q, slot, acked, highest, nslots);
		if (seqs[slot] < q)
			die(1, "acked seq %" PRIu64 " missing: slot %" PRIu32
			    " holds older seq %" PRIu64 " acked=%" PRIu64
			    " highest=%" PRIu64 " slots=%" PRIu32,
			    q, slot, seqs[slot], acked, highest, nslots);
	}
	free(seqs);
	printf("verify: OK acked=%" PRIu64 " highest=%" PRIu64 " slots=%" PRIu32 "\n",
	       acked, highest, nslots);
	return 0;
}
