/* size.c - parse and print byte sizes.  Pure; never logs. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "size.h"
#include "util.h"

#define SIZE_MAX_BYTES (16ULL << 40)

static int
size_shift(const char *suffix)
{
	static const struct { const char *s; int shift; } tab[] = {
		{ "", 0 }, { "B", 0 },
		{ "K", 10 }, { "KB", 10 }, { "Ki", 10 }, { "KiB", 10 },
		{ "M", 20 }, { "MB", 20 }, { "Mi", 20 }, { "MiB", 20 },
		{ "G", 30 }, { "GB", 30 }, { "Gi", 30 }, { "GiB", 30 },
		{ "T", 40 }, { "TB", 40 }, { "Ti", 40 }, { "TiB", 40 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
		if (strcasecmp(suffix, tab[i].s) == 0)
			return tab[i].shift;
	return -1;
}

int
size_parse(const char *s, uint64_t *ret_bytes, struct err *err)
{
	uint64_t v = 0;
	const char *p = s;
	int shift;

	if (!s || !isdigit((unsigned char)*s))
		return err_set(err, -EINVAL, "invalid size '%s': expected a "
		    "number with an optional K, M, G or T suffix, e.g. 512M",
		    s ? s : "");
	while (isdigit((unsigned char)*p)) {
		if (v > SIZE_MAX_BYTES)
			break;
		v = v * 10 + (*p++ - '0');
	}
	shift = size_shift(p);
	if (shift < 0 || v > SIZE_MAX_BYTES)
		return err_set(err, -EINVAL, "invalid size '%s': expected a "
		    "number with an optional K, M, G or T suffix, e.g. 512M",
		    s);
	if (v == 0 || v > (SIZE_MAX_BYTES >> shift))
		return err_set(err, -EINVAL, "invalid size '%s': must be "
		    "between 1 byte and 16T", s);
	*ret_bytes = v << shift;
	return 0;
}

const char *
size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}
