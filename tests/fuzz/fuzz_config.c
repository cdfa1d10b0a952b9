/* fuzz_config.c - fuzz ternd's configuration file parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct daemon_opts o = { 0 };

	memcpy(text, data, size);
	text[size] = '\0';
	(void)config_parse_text(text, "fuzz", &o, NULL);
	config_done(&o);
	free(text);
	return 0;
}
