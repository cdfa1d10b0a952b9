/* gen_delta_corpus.c - writes the seed streams of tests/fuzz/corpus/delta
 * with the real writer: raw and compressed data, zero runs, a tail that
 * ends inside a sector, an empty stream.  Run by hand when the format
 * changes: gen_delta_corpus DIR. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"
#include "util.h"

static void
gen(const char *dir, const char *name, bool compress, int shape)
{
	static unsigned char d[65536];
	struct delta_header h = { .seq = 2, .base_seq = 1, .disk = "vda",
		.created_ms = 1700000000000ull, .block_size = 4096,
		.disk_size = 65536 + 700 };
	struct delta_writer *w = NULL;
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = 0;

	for (size_t i = 0; i < sizeof(d); i++)
		d[i] = shape == 2 ? (unsigned char)(i * 2654435761u >> 13) :
		    (unsigned char)"tern delta "[i % 11];
	if (fd == -1 || delta_writer_open(fd, &h, compress, &w, NULL) < 0)
		exit(1);
	if (shape >= 1)
		r |= delta_write_data(w, 0, d, 8192, NULL);
	if (shape >= 1)
		r |= delta_write_zero(w, 8192, 16384, NULL);
	if (shape >= 2)
		r |= delta_write_data(w, 32768, d, 4096 + 512, NULL);
	if (shape >= 3)
		r |= delta_write_data(w, 65536, d, 700, NULL);
	if (r < 0 || delta_writer_finish(w, NULL, NULL) < 0)
		exit(1);
	delta_writer_free(w);
	close(fd);
	free(path);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_delta_corpus DIR\n");
		return 2;
	}
	gen(argv[1], "empty", false, 0);
	gen(argv[1], "raw", false, 1);
	gen(argv[1], "compressed", true, 1);
	gen(argv[1], "mixed", true, 2);
	gen(argv[1], "tail", true, 3);
	return 0;
}
