// The text conventions of the key-value service: how it reads numbers from
// arguments, prints scores, and matches glob patterns, each as redis-server 7.0
// does it (a client that compares replies byte for byte sees no difference).
//
//   parse_int64    strict decimal: an optional '-', no '+', no spaces, no
//                  leading zeros ("0" alone), at most 20 characters
//   parse_double   what strtod reads, whole (no leading space, no NaN, no
//                  overflow or underflow to zero); "inf" and "-inf" are fine
//   parse_long_double  the same with strtold (BLPOP's timeout), at most
//                  5120 characters
//   format_double  "inf", "-inf", else printf's %.17g (1.1 prints as
//                  1.1000000000000001, as redis-server 7.0 prints it)
//   glob_match     *, ?, [abc], [^a-z], and \ quoting the next character
//
// Thread rules: none; pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace weft::kv {

bool parse_int64(std::string_view text, std::int64_t* value);
bool parse_double(std::string_view text, double* value);
bool parse_long_double(std::string_view text, long double* value);
// A SCAN cursor: digits with an optional sign (a negative one wraps, as
// strtoull does); false when it is not a number or beyond 64 bits.
bool parse_cursor(std::string_view text, std::uint64_t* value);

std::string format_double(double value);
// Appends the decimal form of `value` to `out`.
void append_int64(std::string& out, std::int64_t value);

bool glob_match(std::string_view pattern, std::string_view text);

// ASCII lower case, and case-insensitive equality (command names, options).
std::string lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

}  // namespace weft::kv
