/*
 * RFC 6690 link format: how links are written and how a query filters
 * them (the pure part of /.well-known/core).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "linkformat-internal.h"
#include "testutil.h"

static const struct evudp6__link_attr hello_attrs[] = {
    {"rt", "evudp6.hello core.s"}, {"ct", "0"}, {"title", "hello"}, {"obs", NULL}};
static const struct evudp6__link hello = {"/hello", hello_attrs, 4};
static const struct evudp6__link_attr who_attrs[] = {
    {"rt", "evudp6.whoami"}, {"ct", "0 50"}, {"if", "core.rp"}};
static const struct evudp6__link who = {"/whoami", who_attrs, 3};
static const struct evudp6__link bare = {"/", NULL, 0};

static void write_one(const struct evudp6__link *l, const char *want)
{
	char buf[256];
	size_t pos = 0;
	ck_assert_int_eq(evudp6__lf_append(buf, sizeof(buf), &pos, l), 0);
	ck_assert_uint_eq(pos, strlen(want));
	ck_assert_mem_eq(buf, want, pos);
}

START_TEST(linkformat_writes_numbers_bare_and_strings_quoted)
{
	write_one(&hello, "</hello>;rt=\"evudp6.hello core.s\";ct=0;title=\"hello\";obs");
	write_one(&who, "</whoami>;rt=\"evudp6.whoami\";ct=\"0 50\";if=\"core.rp\"");
	write_one(&bare, "</>");
}
END_TEST

START_TEST(linkformat_separates_links_with_commas)
{
	char buf[256];
	size_t pos = 0;
	ck_assert_int_eq(evudp6__lf_append(buf, sizeof(buf), &pos, &bare), 0);
	ck_assert_int_eq(evudp6__lf_append(buf, sizeof(buf), &pos, &who), 0);
	const char want[] = "</>,</whoami>;rt=\"evudp6.whoami\";ct=\"0 50\";if=\"core.rp\"";
	ck_assert_uint_eq(pos, sizeof(want) - 1);
	ck_assert_mem_eq(buf, want, pos);
}
END_TEST

START_TEST(linkformat_escapes_quotes_and_backslashes_in_values)
{
	static const struct evudp6__link_attr a[] = {{"title", "say \"hi\" \\o/"}, {"sz", "1024"}, {"x", ""}};
	static const struct evudp6__link l = {"/q", a, 3};
	write_one(&l, "</q>;title=\"say \\\"hi\\\" \\\\o/\";sz=1024;x=\"\"");
}
END_TEST

START_TEST(linkformat_percent_encodes_what_a_path_cannot_hold)
{
	static const struct evudp6__link l = {"/a b/%/\xc3\xa4/<>\"/ok-._~!$&'()*+,;=:@", NULL, 0};
	write_one(&l, "</a%20b/%25/%C3%A4/%3C%3E%22/ok-._~!$&'()*+,;=:@>");
}
END_TEST

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Every byte of a target is written as itself or as %XX (uppercase), and
 * the text decodes back to the target; no byte a URI path cannot hold is
 * written bare. */
START_TEST(linkformat_href_round_trips_every_byte)
{
	static const char bare_ok[] = "-._~!$&'()*+,;=:@/";
	for (int c = 1; c < 256; c++) {
		char href[4] = {'/', (char)c, 'x', '\0'};
		struct evudp6__link l = {href, NULL, 0};
		char buf[64];
		size_t pos = 0;
		ck_assert_int_eq(evudp6__lf_append(buf, sizeof(buf), &pos, &l), 0);
		ck_assert_uint_ge(pos, 5);
		ck_assert_int_eq(buf[0], '<');
		ck_assert_int_eq(buf[pos - 1], '>');
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		bool as_is = alnum || (c != 0 && strchr(bare_ok, c) != NULL);
		if (as_is) {
			ck_assert_uint_eq(pos, 5);
			ck_assert_int_eq((unsigned char)buf[2], c);
		} else {
			ck_assert_uint_eq(pos, 7);
			ck_assert_int_eq(buf[2], '%');
			ck_assert_int_eq(hexval(buf[3]) << 4 | hexval(buf[4]), c);
		}
	}
}
END_TEST

/* In a quoted value only '"' and '\\' are escaped, each byte once. */
START_TEST(linkformat_value_escapes_exactly_quote_and_backslash)
{
	for (int c = 0x20; c < 0x7f; c++) {
		char v[3] = {'a', (char)c, '\0'};
		struct evudp6__link_attr a = {"t", v};
		struct evudp6__link l = {"/", &a, 1};
		char buf[64];
		size_t pos = 0;
		ck_assert_int_eq(evudp6__lf_append(buf, sizeof(buf), &pos, &l), 0);
		char want[16];
		int n = snprintf(want, sizeof(want), "</>;t=\"a%s%c\"", c == '"' || c == '\\' ? "\\" : "", c);
		ck_assert_uint_eq(pos, (size_t)n);
		ck_assert_mem_eq(buf, want, pos);
	}
}
END_TEST

/* Every cut short of the whole link is -ENOSPC, and pos does not move. */
START_TEST(linkformat_append_reports_nospace_for_every_short_size)
{
	const char want[] = "</hello>;rt=\"evudp6.hello core.s\";ct=0;title=\"hello\";obs";
	char buf[128];
	for (size_t cap = 0; cap < sizeof(want) - 1; cap++) {
		size_t pos = 0;
		ck_assert_int_eq(evudp6__lf_append(buf, cap, &pos, &hello), -ENOSPC);
		ck_assert_uint_eq(pos, 0);
	}
	size_t pos = 0;
	ck_assert_int_eq(evudp6__lf_append(buf, sizeof(want) - 1, &pos, &hello), 0);
	ck_assert_uint_eq(pos, sizeof(want) - 1);
	/* the comma counts too */
	pos = 3;
	memcpy(buf, "</>", 3);
	ck_assert_int_eq(evudp6__lf_append(buf, 3 + sizeof(want) - 1, &pos, &hello), -ENOSPC);
	ck_assert_uint_eq(pos, 3);
	ck_assert_int_eq(evudp6__lf_append(buf, 3 + sizeof(want), &pos, &hello), 0);
	ck_assert_uint_eq(pos, 3 + sizeof(want));
}
END_TEST

static bool passes(const struct evudp6__link *l, const char *query)
{
	struct evudp6__lf_filter f;
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, query, strlen(query)), 0);
	return evudp6__lf_match(l, &f);
}

START_TEST(linkformat_filter_parses_name_value_and_prefix)
{
	struct evudp6__lf_filter f;
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, "rt=temp*", 8), 0);
	ck_assert_uint_eq(f.name_len, 2);
	ck_assert_mem_eq(f.name, "rt", 2);
	ck_assert(f.has_value);
	ck_assert(f.prefix);
	ck_assert_uint_eq(f.value_len, 4);
	ck_assert_mem_eq(f.value, "temp", 4);
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, "obs", 3), 0);
	ck_assert(!f.has_value);
	ck_assert(!f.prefix);
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, "title=", 6), 0);
	ck_assert(f.has_value);
	ck_assert_uint_eq(f.value_len, 0);
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, "=x", 2), -EINVAL);
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, "", 0), -EINVAL);
	ck_assert_int_eq(evudp6__lf_filter_parse(&f, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(linkformat_filter_matches_any_word_of_rt_if_ct)
{
	ck_assert(passes(&hello, "rt=evudp6.hello"));
	ck_assert(passes(&hello, "rt=core.s"));
	ck_assert(!passes(&hello, "rt=core"));
	ck_assert(!passes(&hello, "rt=evudp6.hello core.s x"));
	ck_assert(passes(&who, "ct=50"));
	ck_assert(passes(&who, "ct=0"));
	ck_assert(!passes(&who, "ct=5"));
	ck_assert(passes(&who, "if=core.rp"));
	ck_assert(!passes(&hello, "if=core.rp"));
}
END_TEST

START_TEST(linkformat_filter_trailing_star_is_a_prefix)
{
	ck_assert(passes(&hello, "rt=evudp6.*"));
	ck_assert(passes(&who, "rt=evudp6.*"));
	ck_assert(passes(&hello, "rt=core*"));
	ck_assert(!passes(&who, "rt=core*"));
	ck_assert(passes(&hello, "rt=*"));
	ck_assert(!passes(&bare, "rt=*"));
	ck_assert(passes(&hello, "title=hel*"));
	ck_assert(!passes(&hello, "title=hello!*"));
	/* a star elsewhere is literal */
	ck_assert(!passes(&hello, "rt=*hello"));
}
END_TEST

START_TEST(linkformat_filter_on_href_compares_the_path)
{
	ck_assert(passes(&hello, "href=/hello"));
	ck_assert(!passes(&hello, "href=/hell"));
	ck_assert(passes(&hello, "href=/hell*"));
	ck_assert(passes(&bare, "href=/"));
	ck_assert(passes(&who, "href=*"));
	ck_assert(passes(&who, "href"));
	ck_assert(!passes(&who, "href=/hello"));
}
END_TEST

START_TEST(linkformat_filter_other_attributes_whole_value_or_presence)
{
	/* title is not a list: its words do not match alone */
	static const struct evudp6__link_attr a[] = {{"title", "two words"}, {"sz", "1024"}};
	static const struct evudp6__link l = {"/t", a, 2};
	ck_assert(passes(&l, "title=two words"));
	ck_assert(!passes(&l, "title=two"));
	ck_assert(passes(&l, "sz=1024"));
	ck_assert(!passes(&l, "sz=102"));
	ck_assert(passes(&l, "sz"));
	ck_assert(passes(&hello, "obs"));
	ck_assert(!passes(&who, "obs"));
	/* a flag has no value: only presence or an empty value pass */
	ck_assert(passes(&hello, "obs="));
	ck_assert(!passes(&hello, "obs=1"));
	/* names are case-sensitive (RFC 6690: parmname is compared as written) */
	ck_assert(!passes(&hello, "RT=core.s"));
	ck_assert(!passes(&hello, "nosuch=1"));
}
END_TEST

static Suite *linkformat_suite(void)
{
	Suite *s = suite_create("linkformat");
	TCase *tc = tcase_create("write");
	tcase_add_test(tc, linkformat_writes_numbers_bare_and_strings_quoted);
	tcase_add_test(tc, linkformat_separates_links_with_commas);
	tcase_add_test(tc, linkformat_escapes_quotes_and_backslashes_in_values);
	tcase_add_test(tc, linkformat_percent_encodes_what_a_path_cannot_hold);
	tcase_add_test(tc, linkformat_href_round_trips_every_byte);
	tcase_add_test(tc, linkformat_value_escapes_exactly_quote_and_backslash);
	tcase_add_test(tc, linkformat_append_reports_nospace_for_every_short_size);
	suite_add_tcase(s, tc);
	tc = tcase_create("filter");
	tcase_add_test(tc, linkformat_filter_parses_name_value_and_prefix);
	tcase_add_test(tc, linkformat_filter_matches_any_word_of_rt_if_ct);
	tcase_add_test(tc, linkformat_filter_trailing_star_is_a_prefix);
	tcase_add_test(tc, linkformat_filter_on_href_compares_the_path);
	tcase_add_test(tc, linkformat_filter_other_attributes_whole_value_or_presence);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(linkformat_suite());
}
