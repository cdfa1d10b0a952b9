/* replay_main.c - runs a libFuzzer target over files, for gcc builds and
 * `meson test`: each argument is a file or a directory of files (not
 * recursive), each file is one LLVMFuzzerTestOneInput() call.  Fails (exit
 * 1) when an argument cannot be read or nothing was replayed; a crash in the
 * target is the test failure it exists to catch. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (64 * 1024 * 1024)

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    len > REPLAY_MAX_INPUT || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read '%s'\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	/* A copy of exactly len bytes, so ASan sees reads past the end. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: cannot read '%s'\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int
replay_dir(const char *dir, int *n)
{
	struct dirent **ents;
	int m = scandir(dir, &ents, NULL, alphasort), r = 0;

	if (m < 0) {
		fprintf(stderr, "replay: cannot list '%s': %s\n", dir,
		    strerror(errno));
		return -1;
	}
	for (int i = 0; i < m; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				r = -1;
			else
				(*n)++;
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

int
main(int argc, char **argv)
{
	int n = 0, bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			bad |= replay_dir(argv[i], &n) < 0;
		else if (replay_file(argv[i]) < 0)
			bad = 1;
		else
			n++;
	}
	printf("replayed %d inputs\n", n);
	return bad || n == 0 ? 1 : 0;
}
