/* block_size.h - the bounds of a tracking block size, shared by the block
 * checksum maps (track/) and the delta stream (replica/): both formats
 * carry one, and neither module may include the other. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define BLOCK_SIZE_MIN 4096u
#define BLOCK_SIZE_MAX (16u << 20)

/* A power of two from BLOCK_SIZE_MIN to BLOCK_SIZE_MAX. */
static inline bool
block_size_is_valid(uint64_t bs)
{
	return bs >= BLOCK_SIZE_MIN && bs <= BLOCK_SIZE_MAX &&
	    (bs & (bs - 1)) == 0;
}
