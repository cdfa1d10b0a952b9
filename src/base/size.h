/* size.h - sizes as operators write them ("512M", "2GiB", "1048576"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Parse s into bytes.  Accepts a decimal integer with an optional suffix
 * K, M, G, T (powers of 1024), optionally followed by "i", "iB" or "B".
 * A bare number is bytes.  Fails with -EINVAL on anything else, on zero,
 * and on values over 16 TiB. */
int size_parse(const char *s, uint64_t *ret_bytes, struct err *err);

/* "1.5 GiB", "512 MiB", "100 B" into buf. */
const char *size_format(uint64_t bytes, char *buf, size_t len);
