/*
 * record.h - on-disk record format of the tern test guest's disk writer,
 * shared by diskwriter.c (guest) and verify.c (host) so both agree.
 * Pure, allocation-free helpers only: no I/O here.  Never change the layout
 * without changing TREC_MAGIC, or old images will be judged by new rules.
 */
#ifndef TERN_GUEST_RECORD_H
#define TERN_GUEST_RECORD_H

#include <stdint.h>
#include <string.h>

/*
 * A device is a ring of nslots = min(size / 4096, 65536) slots of 4096 bytes.
 * Record seq (starting at 1) lives in slot (seq - 1) % nslots.
 * All integers are little-endian.
 *
 *   offset  size  field
 *        0     8  magic     "TERNREC1"
 *        8     8  seq       uint64, >= 1
 *       16    16  boot_id   the writer's boot id (/proc/sys/kernel/random/boot_id)
 *       32     8  time_ns   CLOCK_REALTIME at write, informational
 *       40     4  nslots    ring size the writer used
 *       44     4  reserved  0
 *       48  4040  payload   splitmix64 stream seeded with seq (505 words)
 *     4088     8  checksum  FNV-1a 64 over bytes [0, 4088)
 */
#define TREC_SIZE		4096u
#define TREC_MAX_SLOTS		65536u
#define TREC_MAGIC		"TERNREC1"
#define TREC_MAGIC_LEN		8u
#define TREC_OFF_SEQ		8u
#define TREC_OFF_BOOT_ID	16u
#define TREC_BOOT_ID_LEN	16u
#define TREC_OFF_TIME		32u
#define TREC_OFF_NSLOTS		40u
#define TREC_OFF_RESERVED	44u
#define TREC_OFF_PAYLOAD	48u
#define TREC_OFF_CSUM		(TREC_SIZE - 8u)
#define TREC_PAYLOAD_LEN	(TREC_OFF_CSUM - TREC_OFF_PAYLOAD)

enum trec_state {
	TREC_EMPTY,		/* all zero: never written */
	TREC_VALID,		/* magic, checksum, payload and fields all good */
	TREC_GARBAGE,		/* not zero and no magic */
	TREC_BAD_CSUM,		/* magic but checksum mismatch: torn or corrupt */
	TREC_BAD_FIELDS,	/* checksum ok but seq/nslots/payload wrong */
};

static inline void trec_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t trec_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void trec_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t trec_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* FNV-1a, 64-bit: h = 0xcbf29ce484222325; for each byte: h ^= b; h *= 0x100000001b3. */
static inline uint64_t trec_fnv1a64(const unsigned char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* splitmix64 step: state += golden gamma, then mix. */
static inline uint64_t trec_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void trec_fill_payload(unsigned char *rec, uint64_t seq)
{
	uint64_t st = seq;

	for (unsigned int off = 0; off < TREC_PAYLOAD_LEN; off += 8)
		trec_put64(rec + TREC_OFF_PAYLOAD + off, trec_splitmix64(&st));
}

static inline int trec_payload_ok(const unsigned char *rec, uint64_t seq)
{
	uint64_t st = seq;

	for (unsigned int off = 0; off < TREC_PAYLOAD_LEN; off += 8)
		if (trec_get64(rec + TREC_OFF_PAYLOAD + off) != trec_splitmix64(&st))
			return 0;
	return 1;
}

/* Build the complete record for seq into rec (TREC_SIZE bytes). */
static inline void trec_build(unsigned char *rec, uint64_t seq,
			      const unsigned char boot_id[TREC_BOOT_ID_LEN],
			      uint64_t time_ns, uint32_t nslots)
{
	memcpy(rec, TREC_MAGIC, TREC_MAGIC_LEN);
	trec_put64(rec + TREC_OFF_SEQ, seq);
	memcpy(rec + TREC_OFF_BOOT_ID, boot_id, TREC_BOOT_ID_LEN);
	trec_put64(rec + TREC_OFF_TIME, time_ns);
	trec_put32(rec + TREC_OFF_NSLOTS, nslots);
	trec_put32(rec + TREC_OFF_RESERVED, 0);
	trec_fill_payload(rec, seq);
	trec_put64(rec + TREC_OFF_CSUM, trec_fnv1a64(rec, TREC_OFF_CSUM));
}

/*
 * Classify the record in slot `slot` of a ring of `nslots`.  On TREC_VALID,
 * *seq_out is the record's seq (which then satisfies (seq-1) % nslots == slot).
 */
static inline enum trec_state trec_check(const unsigned char *rec, uint32_t slot,
					 uint32_t nslots, uint64_t *seq_out)
{
	uint64_t seq;
	unsigned int i;

	if (memcmp(rec, TREC_MAGIC, TREC_MAGIC_LEN) != 0) {
		for (i = 0; i < TREC_SIZE; i++)
			if (rec[i])
				return TREC_GARBAGE;
		return TREC_EMPTY;
	}
	if (trec_get64(rec + TREC_OFF_CSUM) != trec_fnv1a64(rec, TREC_OFF_CSUM))
		return TREC_BAD_CSUM;
	seq = trec_get64(rec + TREC_OFF_SEQ);
	if (seq == 0 || (seq - 1) % nslots != slot ||
	    trec_get32(rec + TREC_OFF_NSLOTS) != nslots ||
	    !trec_payload_ok(rec, seq))
		return TREC_BAD_FIELDS;
	*seq_out = seq;
	return TREC_VALID;
}

#endif /* TERN_GUEST_RECORD_H */
