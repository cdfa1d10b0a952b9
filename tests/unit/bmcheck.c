/* bmcheck.c - test helper for test_blockcopy.sh: compares a checksum map
 * with the map of a raw image ("check MAP RAW"), or writes the map of a
 * raw image ("make RAW MAP [BLOCK_SIZE]").  Never modifies the image. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "blockmap.h"
#include "util.h"

static struct blockmap *
map_of_raw(const char *path, uint32_t bs)
{
	struct blockmap *m = NULL;
	struct err err = { 0 };
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1 || fstat(fd, &sb) == -1 ||
	    blockmap_from_fd(fd, (uint64_t)sb.st_size, bs, &m, &err) < 0) {
		fprintf(stderr, "bmcheck: %s: %s\n", path,
		    err.msg[0] ? err.msg : "cannot open");
		exit(1);
	}
	close(fd);
	return m;
}

static int
check(const char *map_path, const char *raw)
{
	struct blockmap *m = NULL, *r;
	struct err err = { 0 };

	if (blockmap_load(map_path, &m, &err) < 0) {
		fprintf(stderr, "bmcheck: %s\n", err.msg);
		return 1;
	}
	r = map_of_raw(raw, m->block_size);
	if (r->size != m->size) {
		fprintf(stderr, "bmcheck: map of %" PRIu64 " bytes, image %"
		    PRIu64 "\n", m->size, r->size);
		return 1;
	}
	for (uint64_t i = 0; i < m->n; i++)
		if (m->sum[i] != r->sum[i]) {
			fprintf(stderr, "bmcheck: block %" PRIu64 " differs\n",
			    i);
			return 1;
		}
	blockmap_free(m);
	blockmap_free(r);
	return 0;
}

int
main(int argc, char **argv)
{
	struct err err = { 0 };
	struct blockmap *m;

	if (argc == 4 && streq(argv[1], "check"))
		return check(argv[2], argv[3]);
	if ((argc == 4 || argc == 5) && streq(argv[1], "make")) {
		m = map_of_raw(argv[2], argc == 5 ?
		    (uint32_t)strtoul(argv[4], NULL, 10) :
		    BLOCKMAP_BS_DEFAULT);
		if (blockmap_save(m, argv[3], &err) < 0) {
			fprintf(stderr, "bmcheck: %s\n", err.msg);
			return 1;
		}
		blockmap_free(m);
		return 0;
	}
	fprintf(stderr, "usage: bmcheck check MAP RAW | make RAW MAP [BS]\n");
	return 2;
}
