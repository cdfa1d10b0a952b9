/* test.h - the unit test harness: ASSERT macros print file:line and count;
 * TEST_MAIN runs the listed tests and ends with "N passed, N failed". */
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failed_asserts;
static int test_passed, test_failed;

#define ASSERT_TRUE(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
	    #c); test_failed_asserts++; return; } } while (0)
#define ASSERT_EQ(a, b) do { long long a_ = (long long)(a), \
	b_ = (long long)(b); if (a_ != b_) { fprintf(stderr, \
	"%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, \
	a_, #b, b_); test_failed_asserts++; return; } } while (0)
#define ASSERT_STREQ(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { fprintf(stderr, \
	"%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
	a_ ? a_ : "(null)", b_ ? b_ : "(null)"); test_failed_asserts++; \
	return; } } while (0)
#define ASSERT_CONTAINS(hay, needle) do { const char *h_ = (hay); \
	if (!h_ || !strstr(h_, (needle))) { fprintf(stderr, \
	"%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
	h_ ? h_ : "(null)", (needle)); test_failed_asserts++; return; } \
	} while (0)

#define RUN_TEST(fn) do { int before_ = test_failed_asserts; fn(); \
	if (test_failed_asserts == before_) { test_passed++; \
	printf("ok %s\n", #fn); } else { test_failed++; \
	printf("FAIL %s\n", #fn); } } while (0)

#define TEST_REPORT() (printf("%d passed, %d failed\n", test_passed, \
	test_failed), test_failed ? 1 : 0)
